package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"

	"github.com/wardproject/ward/internal/pki"
	"github.com/wardproject/ward/internal/update"
)

// Files and directories the installer keeps in the agent's directory.
const (
	TUFRootFile  = "tuf-root.json" // the trusted root the device starts from (--tuf-root)
	tufCacheDir  = "tuf"           // go-tuf's verified metadata, kept between runs
	downloadsDir = "downloads"     // partial (<sha256>.part) and verified firmware files
	partSuffix   = ".part"         // a download in progress
	maxRoot      = 512000          // go-tuf's RootMaxLength
)

// InstallerOptions configure an Installer. Dir, Server, HTTP, Model and
// InstallCmd are required; so is Firmware when Dir has no state file.
type InstallerOptions struct {
	Dir    string       // the agent's directory (state, TUF cache, downloads)
	Server string       // https://HOST:8443: the repository is at /tuf/
	HTTP   *http.Client // mutual TLS with the device certificate, server checked against ca.pem
	Model  string       // this device's model
	// Root is the trusted root.json to start from when the TUF cache has
	// none (LoadTrustedRoot).
	Root []byte
	// InstallCmd is the command (argv, no shell) that installs a verified
	// file; the file's path is appended and set in WARD_FIRMWARE_FILE.
	InstallCmd     []string
	InstallTimeout time.Duration // default 10m
	Firmware       string        // the installed version when there is no state file
	Retry          Retry
	Sleep          Sleeper          // nil: SleepContext
	Now            func() time.Time // nil: time.Now; also go-tuf's reference time
	Logger         *slog.Logger     // nil: discard
}

// Installer installs firmware that Ward's TUF repository signs, one
// order at a time.
type Installer struct {
	opts InstallerOptions
	log  *slog.Logger

	mu        sync.Mutex // guards state and current
	state     State
	current   *update.Order // the order being carried out, nil when idle
	installMu sync.Mutex    // held for a whole install: one at a time
}

// NewInstaller checks opts, loads the installed version from the state
// file (or opts.Firmware) and removes the partial downloads a previous
// run left (see removeParts).
func NewInstaller(opts InstallerOptions) (*Installer, error) {
	if opts.Dir == "" || opts.Server == "" || opts.HTTP == nil || opts.Model == "" || len(opts.InstallCmd) == 0 {
		return nil, errors.New("agent: InstallerOptions.Dir, Server, HTTP, Model and InstallCmd are required")
	}
	if err := update.CheckModel(opts.Model); err != nil {
		return nil, fmt.Errorf("--model: %w", err)
	}
	if len(opts.Root) == 0 {
		return nil, errors.New("agent: InstallerOptions.Root (the trusted root.json) is required")
	}
	opts.Server = strings.TrimSuffix(opts.Server, "/")
	opts.Retry = opts.Retry.withDefaults()
	if opts.InstallTimeout <= 0 {
		opts.InstallTimeout = 10 * time.Minute
	}
	if opts.Sleep == nil {
		opts.Sleep = SleepContext
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	in := &Installer{opts: opts, log: opts.Logger.With("component", "update")}
	st, ok, err := LoadState(opts.Dir)
	if err != nil {
		return nil, err
	}
	switch {
	case ok && st.Model != opts.Model:
		return nil, fmt.Errorf("%s records model %s, but --model is %s: a device does not change model", filepath.Join(opts.Dir, StateFile), st.Model, opts.Model)
	case ok:
		in.state = st
	default:
		if opts.Firmware == "" {
			return nil, fmt.Errorf("no %s in %s: give the running firmware version with --firmware-version", StateFile, opts.Dir)
		}
		if _, err := update.CompareVersions(opts.Firmware, opts.Firmware); err != nil {
			return nil, fmt.Errorf("--firmware-version: %w", err)
		}
		in.state = State{Model: opts.Model, Version: opts.Firmware, At: opts.Now().UTC()}
		if err := SaveState(opts.Dir, in.state); err != nil {
			return nil, err
		}
	}
	in.removeParts()
	return in, nil
}

// removeParts deletes every partial download (*.part) in the downloads
// directory: at start, the order a previous run was carrying out ended
// with that run (the rollout orders again, and the download starts over),
// so its partial file would only take the device's storage. Verified
// files (<sha256>.<file>) are left alone. A file that cannot be removed
// is logged, not fatal: the agent still installs.
func (in *Installer) removeParts() {
	dl := filepath.Join(in.opts.Dir, downloadsDir)
	ents, err := os.ReadDir(dl)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			in.log.Warn("list partial downloads to remove", "dir", dl, "err", err)
		}
		return
	}
	for _, e := range ents {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), partSuffix) {
			continue
		}
		in.removePart(filepath.Join(dl, e.Name()), "left by a previous run")
	}
}

// removePart deletes one partial download, logging why.
func (in *Installer) removePart(part, why string) {
	err := os.Remove(part)
	switch {
	case err == nil:
		in.log.Info("partial download removed", "file", part, "reason", why)
	case !errors.Is(err, os.ErrNotExist):
		in.log.Warn("remove a partial download", "file", part, "err", err)
	}
}

// Installed returns the installed firmware version.
func (in *Installer) Installed() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.state.Version
}

// InProgress reports whether o's version is the one being installed now
// (a duplicate order is answered, not queued again).
func (in *Installer) InProgress(o update.Order) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.current != nil && in.current.Model == o.Model && in.current.Version == o.Version
}

// Reporter receives each step of an order. It must not block for long.
type Reporter func(update.Status)

// Install carries out one order: check it, refresh the TUF metadata, find
// the signed target, stream and verify it, hand it to the install command
// and record the new version. Every step is reported; the returned error
// is the failure already reported with state failed (nil on success or
// when the version is already installed).
func (in *Installer) Install(ctx context.Context, o update.Order, report Reporter) error {
	status := func(s update.State, reason string) {
		report(update.Status{Rollout: o.Rollout, Version: o.Version, State: s, Reason: truncateReason(reason), At: in.opts.Now().UTC()})
	}
	in.mu.Lock()
	if in.current != nil && in.current.Version == o.Version && in.current.Model == o.Model {
		in.mu.Unlock()
		status(update.StateDownloading, "already in progress for rollout "+in.current.Rollout)
		return nil
	}
	in.mu.Unlock()

	in.installMu.Lock()
	defer in.installMu.Unlock()
	in.mu.Lock()
	in.current = &o
	installed := in.state.Version
	in.mu.Unlock()
	idle := func() { in.mu.Lock(); in.current = nil; in.mu.Unlock() }
	defer idle()

	log := in.log.With("rollout", o.Rollout, "version", o.Version)
	fail := func(err error) error {
		log.Warn("firmware update failed", "err", err)
		idle() // a new order for this version is a new attempt
		status(update.StateFailed, err.Error())
		return err
	}
	if err := o.Check(); err != nil {
		return fail(fmt.Errorf("%w: %v", ErrRefused, err))
	}
	if o.Model != in.opts.Model {
		return fail(fmt.Errorf("%w: the order is for model %s, this device is a %s", ErrRefused, o.Model, in.opts.Model))
	}
	c, err := update.CompareVersions(o.Version, installed)
	switch {
	case err != nil:
		return fail(fmt.Errorf("%w: cannot order %s against the installed %s: %v", ErrRefused, o.Version, installed, err))
	case c < 0:
		return fail(fmt.Errorf("%w: %s is older than the installed %s (rollback)", ErrRefused, o.Version, installed))
	case c == 0:
		idle()
		status(update.StateInstalled, "already installed")
		return nil
	}

	status(update.StateDownloading, "")
	tf, err := in.resolve(ctx, o)
	if err != nil {
		return fail(err)
	}
	if err := in.checkTarget(tf, o, installed); err != nil {
		return fail(err)
	}
	file, err := in.download(ctx, tf)
	if err != nil {
		return fail(err)
	}
	defer os.Remove(file)
	status(update.StateVerified, "")
	log.Info("firmware verified", "target", tf.Path, "length", tf.Length)

	status(update.StateInstalling, "")
	if err := runInstallCmd(ctx, in.opts.InstallCmd, file, o, in.opts.InstallTimeout); err != nil {
		return fail(err)
	}
	st := State{Model: in.opts.Model, Version: o.Version, Rollout: o.Rollout, At: in.opts.Now().UTC()}
	if err := SaveState(in.opts.Dir, st); err != nil {
		return fail(fmt.Errorf("installed, but recording the new version failed: %w", err))
	}
	in.mu.Lock()
	in.state, in.current = st, nil
	in.mu.Unlock()
	log.Info("firmware installed")
	status(update.StateInstalled, "")
	return nil
}

// resolve refreshes the metadata (root, timestamp, snapshot, targets) with
// go-tuf and returns the one target the metadata signs for o.
func (in *Installer) resolve(ctx context.Context, o update.Order) (*metadata.TargetFiles, error) {
	var u *updater.Updater
	var err error
	for attempt := 1; ; attempt++ {
		if u, err = in.refresh(ctx); err == nil {
			break
		}
		if attempt >= in.opts.Retry.Attempts || !transient(err) {
			var he *metadata.ErrDownloadHTTP
			if errors.As(err, &he) && (he.StatusCode == http.StatusUnauthorized || he.StatusCode == http.StatusForbidden) {
				return nil, fmt.Errorf("TUF metadata refresh: %s: %w", refusedCert, err)
			}
			return nil, fmt.Errorf("TUF metadata refresh: %w", err)
		}
		if err := in.opts.Sleep(ctx, in.opts.Retry.backoff(attempt)); err != nil {
			return nil, err
		}
	}
	// The order names model and version, not the file: load the model's
	// delegation with a probe path no file can have (names start with a
	// letter or digit), then list what the trusted metadata signs under
	// <model>/<version>/, and look each one up again through go-tuf's
	// delegation walk so only the role trusted for that path counts.
	prefix := o.Model + "/" + o.Version + "/"
	if _, err := u.GetTargetInfo(prefix + ".probe"); err != nil && !isNotFound(err) {
		return nil, fmt.Errorf("TUF metadata for model %s: %w", o.Model, err)
	}
	seen := map[string]bool{}
	for _, role := range u.GetTrustedMetadataSet().Targets {
		for p := range role.Signed.Targets {
			if strings.HasPrefix(p, prefix) {
				seen[p] = true
			}
		}
	}
	var found []*metadata.TargetFiles
	for _, p := range sortedKeys(seen) {
		tf, err := u.GetTargetInfo(p)
		if err != nil {
			in.log.Warn("target listed by a role not trusted for its path: ignored", "target", p, "err", err)
			continue
		}
		found = append(found, tf)
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("%w: the TUF metadata signs no firmware for %s %s", ErrRefused, o.Model, o.Version)
	case 1:
		return found[0], nil
	}
	return nil, fmt.Errorf("%w: the TUF metadata signs %d files for %s %s; this agent installs one", ErrRefused, len(found), o.Model, o.Version)
}

func (in *Installer) refresh(ctx context.Context) (*updater.Updater, error) {
	cacheDir := filepath.Join(in.opts.Dir, tufCacheDir)
	if err := os.MkdirAll(cacheDir, 0o700); err != nil {
		return nil, err
	}
	root, err := os.ReadFile(filepath.Join(cacheDir, "root.json")) // the newest root go-tuf verified
	if err != nil {
		root = in.opts.Root
	}
	cfg, err := config.New(in.opts.Server+"/tuf/", root)
	if err != nil {
		return nil, err
	}
	cfg.LocalMetadataDir = cacheDir
	cfg.LocalTargetsDir = filepath.Join(in.opts.Dir, downloadsDir)
	cfg.RemoteTargetsURL = in.opts.Server + "/tuf/targets/"
	cfg.Fetcher = &metaFetcher{ctx: ctx, http: in.opts.HTTP}
	u, err := updater.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("load the trusted root: %w", err)
	}
	u.UnsafeSetRefTime(in.opts.Now().UTC())
	if err := u.Refresh(); err != nil {
		return nil, err
	}
	return u, nil
}

// checkTarget applies the device's own rules to a signed target.
func (in *Installer) checkTarget(tf *metadata.TargetFiles, o update.Order, installed string) error {
	if tf.Custom == nil {
		return fmt.Errorf("%w: target %s has no custom model and version", ErrRefused, tf.Path)
	}
	c, err := update.ParseCustom(*tf.Custom)
	if err != nil {
		return fmt.Errorf("%w: target %s: %v", ErrRefused, tf.Path, err)
	}
	if c.Model != in.opts.Model || !strings.HasPrefix(tf.Path, in.opts.Model+"/") {
		return fmt.Errorf("%w: target %s is signed for model %s, this device is a %s", ErrRefused, tf.Path, c.Model, in.opts.Model)
	}
	if c.Version != o.Version {
		return fmt.Errorf("%w: target %s is signed as version %s, the order says %s", ErrRefused, tf.Path, c.Version, o.Version)
	}
	if c.MinVersion != "" {
		cmp, err := update.CompareVersions(installed, c.MinVersion)
		if err != nil {
			return fmt.Errorf("%w: cannot order the installed %s against the target's min_version %s: %v", ErrRefused, installed, c.MinVersion, err)
		}
		if cmp < 0 {
			return fmt.Errorf("%w: %s needs at least %s installed first (min_version), this device runs %s", ErrRefused, o.Version, c.MinVersion, installed)
		}
	}
	if _, ok := tf.Hashes["sha256"]; !ok {
		return fmt.Errorf("%w: target %s lists no sha256", ErrRefused, tf.Path)
	}
	if tf.Length <= 0 {
		return fmt.Errorf("%w: target %s has no length", ErrRefused, tf.Path)
	}
	return nil
}

// download streams the target by its consistent-snapshot name
// targets/<model>/<version>/<sha256>.<file> into the downloads directory
// and returns the verified file's path. Within one download a cut is
// resumed from the partial file; when the download fails (retries spent,
// refused, cancelled) the partial file is removed.
func (in *Installer) download(ctx context.Context, tf *metadata.TargetFiles) (string, error) {
	dir, file := path.Split(tf.Path)
	sum := tf.Hashes["sha256"].String()
	u := in.opts.Server + "/tuf/targets/" + escapePath(dir) + url.PathEscape(sum+"."+file)
	dl := filepath.Join(in.opts.Dir, downloadsDir)
	if err := os.MkdirAll(dl, 0o700); err != nil {
		return "", err
	}
	part := filepath.Join(dl, sum+partSuffix)
	d := &downloader{http: in.opts.HTTP, retry: in.opts.Retry, sleep: in.opts.Sleep}
	err := d.fetch(ctx, u, tf, part)
	in.log.Info("firmware download", "url", u, "requests", d.requests, "bytes", d.received, "err", err)
	if err != nil {
		in.removePart(part, "download failed")
		return "", err
	}
	final := filepath.Join(dl, sum+"."+file)
	if err := os.Rename(part, final); err != nil {
		return "", err
	}
	return final, nil
}

func escapePath(dir string) string {
	parts := strings.Split(dir, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

// transient reports whether a metadata refresh may succeed if tried again:
// a network error or a 5xx, not a signature, expiry or 4xx.
func transient(err error) bool {
	var he *metadata.ErrDownloadHTTP
	if errors.As(err, &he) {
		return he.StatusCode >= 500 || he.StatusCode == http.StatusTooManyRequests
	}
	var re *metadata.ErrRepository
	var le *metadata.ErrLengthOrHashMismatch
	var ee *metadata.ErrExpiredMetadata
	var be *metadata.ErrBadVersionNumber
	var ue *metadata.ErrUnsignedMetadata
	if errors.As(err, &re) || errors.As(err, &le) || errors.As(err, &ee) || errors.As(err, &be) || errors.As(err, &ue) {
		return false
	}
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) || strings.Contains(err.Error(), "connection")
}

// isNotFound reports go-tuf's "target X not found" (a plain error).
func isNotFound(err error) bool {
	return strings.HasPrefix(err.Error(), "target ") && strings.HasSuffix(err.Error(), " not found")
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// truncateReason keeps a reason within the protocol's 1 KiB.
func truncateReason(s string) string {
	const limit = 1000
	if len(s) <= limit {
		return s
	}
	s = s[:limit]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

// refusedCert explains a 401/403 from /tuf/.
const refusedCert = "the server refused this device's certificate (revoked, superseded, expired, or the device is retired or quarantined)"

// LoadTrustedRoot returns the root.json the device trusts first: file
// when it exists; otherwise, once, the server's 1.root.json fetched over
// the CA-verified mutual-TLS channel (trust on first use, logged as a
// warning) and kept in file. Shipping the root with the device is better:
// see docs/updates.md.
func LoadTrustedRoot(ctx context.Context, file, server string, hc *http.Client, log *slog.Logger) ([]byte, error) {
	b, err := os.ReadFile(file)
	if err == nil {
		if _, err := (&metadata.Metadata[metadata.RootType]{}).FromBytes(b); err != nil {
			return nil, fmt.Errorf("%s is not a TUF root: %w", file, err)
		}
		return b, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	u := strings.TrimSuffix(server, "/") + "/tuf/1.root.json"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch the first TUF root from %s: %s", u, Explain(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return nil, fmt.Errorf("fetch the first TUF root from %s: %s: %s", u, resp.Status, refusedCert)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch the first TUF root from %s: %s (ship %s with the device, or check that the server runs the update repository)", u, resp.Status, file)
	}
	b, err = io.ReadAll(io.LimitReader(resp.Body, maxRoot+1))
	if err != nil {
		return nil, fmt.Errorf("fetch the first TUF root from %s: %w", u, err)
	}
	if len(b) > maxRoot {
		return nil, fmt.Errorf("fetch the first TUF root from %s: more than %d bytes", u, maxRoot)
	}
	root, err := (&metadata.Metadata[metadata.RootType]{}).FromBytes(b)
	if err != nil {
		return nil, fmt.Errorf("the server's 1.root.json is not a TUF root: %w", err)
	}
	if err := root.VerifyDelegate(metadata.ROOT, root); err != nil {
		return nil, fmt.Errorf("the server's 1.root.json is not signed by its own root keys: %w", err)
	}
	log.Warn("no trusted TUF root on this device: trusting the server's root version 1 on first use (ship tuf-root.json with the device instead)", "file", file, "url", u)
	if err := pki.WritePublicFile(file, b); err != nil {
		return nil, fmt.Errorf("keep the TUF root: %w", err)
	}
	return b, nil
}

// metaFetcher is go-tuf's Fetcher over the device's mutual-TLS client:
// one request per file (the installer retries a whole refresh), bounded
// by go-tuf's maximum length, cancelled with ctx.
type metaFetcher struct {
	ctx  context.Context
	http *http.Client
}

// DownloadFile implements fetcher.Fetcher.
func (f *metaFetcher) DownloadFile(u string, maxLength int64, _ time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(f.ctx, 2*time.Minute) // metadata is small: a stall ends here
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := f.http.Do(req)
	if err != nil {
		return nil, errors.New(Explain(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &metadata.ErrDownloadHTTP{StatusCode: resp.StatusCode, URL: u}
	}
	if resp.ContentLength > maxLength {
		return nil, &metadata.ErrDownloadLengthMismatch{Msg: fmt.Sprintf("%s is %d bytes, more than the %d allowed", u, resp.ContentLength, maxLength)}
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxLength+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > maxLength {
		return nil, &metadata.ErrDownloadLengthMismatch{Msg: fmt.Sprintf("%s sent more than the %d bytes allowed", u, maxLength)}
	}
	return b, nil
}
