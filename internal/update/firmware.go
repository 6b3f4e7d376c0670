package update

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// Errors of publishing that callers branch on.
var (
	// ErrBadRelease: the model, version, min-version, file name or notes
	// are not valid (the error says which and why).
	ErrBadRelease = errors.New("invalid firmware release")
	// ErrPublished: the model's version is already published with other
	// bytes or another file name. A published version never changes:
	// devices that installed it would run something else than those that
	// install it later. Publish a new version.
	ErrPublished = errors.New("firmware version already published")
)

// Release is a firmware version to publish. Model, Version and File are
// required.
type Release struct {
	Model      string
	Version    string
	MinVersion string // anti-rollback: devices must run at least this (optional)
	Notes      string // release notes, at most 4 KiB of UTF-8 (optional)
	File       string // the file name in the target path <model>/<version>/<file>
}

// Check validates a release: valid names, a version that CompareVersions
// can order (a device refuses what it cannot order), a min-version it can
// order too and that is not above the version.
func (rel Release) Check() error {
	c := Custom{Model: rel.Model, Version: rel.Version, MinVersion: rel.MinVersion, Notes: rel.Notes}
	if err := c.Check(); err != nil {
		return fmt.Errorf("%w: %w", ErrBadRelease, err)
	}
	if _, err := TargetPath(rel.Model, rel.Version, rel.File); err != nil {
		return fmt.Errorf("%w: %w", ErrBadRelease, err)
	}
	if _, err := CompareVersions(rel.Version, rel.Version); err != nil {
		return fmt.Errorf("%w: version %q: %w", ErrBadRelease, rel.Version, err)
	}
	if rel.MinVersion != "" {
		c, err := CompareVersions(rel.MinVersion, rel.Version)
		if err != nil {
			return fmt.Errorf("%w: min-version %q: %w", ErrBadRelease, rel.MinVersion, err)
		}
		if c > 0 {
			return fmt.Errorf("%w: min-version %s is above the version %s", ErrBadRelease, rel.MinVersion, rel.Version)
		}
	}
	return nil
}

// Firmware is one published firmware version, as the targets metadata of
// its model's role says. Its JSON is what ward firmware list|show -o json
// and GET /api/v1/firmware answer.
type Firmware struct {
	Model      string    `json:"model"`
	Version    string    `json:"version"`
	MinVersion string    `json:"min_version,omitempty"`
	Notes      string    `json:"notes,omitempty"`
	File       string    `json:"file"`
	Path       string    `json:"path"` // the target path <model>/<version>/<file>
	Length     int64     `json:"length"`
	SHA256     string    `json:"sha256"`
	SHA512     string    `json:"sha512"`
	Published  time.Time `json:"published,omitzero"` // zero for targets added before Ward recorded it
}

func firmwareOf(path string, tf *metadata.TargetFiles) (Firmware, bool) {
	if tf == nil || tf.Custom == nil {
		return Firmware{}, false
	}
	c, err := ParseCustom(*tf.Custom)
	if err != nil {
		return Firmware{}, false
	}
	return Firmware{Model: c.Model, Version: c.Version, MinVersion: c.MinVersion, Notes: c.Notes,
		File: path[strings.LastIndexByte(path, '/')+1:], Path: path, Length: tf.Length,
		SHA256: tf.Hashes["sha256"].String(), SHA512: tf.Hashes["sha512"].String(), Published: c.Published}, true
}

// Firmware lists the published firmware, by model, newest version first
// (CompareVersions; versions it cannot order come last, by name).
func (r *Repository) Firmware() []Firmware {
	var out []Firmware
	for p, tf := range r.Targets() {
		if fw, ok := firmwareOf(p, tf); ok {
			out = append(out, fw)
		}
	}
	SortFirmware(out)
	return out
}

// SortFirmware sorts by model, then newest version first.
func SortFirmware(fws []Firmware) {
	slices.SortFunc(fws, func(a, b Firmware) int {
		if c := cmp.Compare(a.Model, b.Model); c != 0 {
			return c
		}
		c, err := CompareVersions(b.Version, a.Version)
		if err != nil {
			_, ea := CompareVersions(a.Version, a.Version)
			_, eb := CompareVersions(b.Version, b.Version)
			switch {
			case ea == nil && eb != nil:
				return -1
			case ea != nil && eb == nil:
				return 1
			}
			c = cmp.Compare(a.Version, b.Version)
		}
		if c == 0 {
			c = cmp.Compare(a.Path, b.Path)
		}
		return c
	})
}

// Latest returns the newest published version of each model (by
// CompareVersions; a version it cannot order never counts as newest).
func Latest(fws []Firmware) map[string]Firmware {
	out := map[string]Firmware{}
	for _, fw := range fws {
		if _, err := CompareVersions(fw.Version, fw.Version); err != nil {
			continue
		}
		cur, ok := out[fw.Model]
		if c, _ := CompareVersions(fw.Version, cur.Version); !ok || c > 0 {
			out[fw.Model] = fw
		}
	}
	return out
}

// Publish stores content and signs it as the firmware rel with the
// model's delegated role (creating the delegation with a new key when
// this process holds the targets key), then re-signs snapshot and
// timestamp. Publishing the same bytes under the same name again is a
// no-op; any other change to a published version is ErrPublished.
//
// Nothing half-done is left behind: the content is hashed before anything
// is written, stored atomically (temp file, rename; a cancelled ctx
// removes the temp file), and removed again when signing or writing the
// metadata fails.
func (r *Repository) Publish(ctx context.Context, rel Release, content io.ReadSeeker) (Firmware, error) {
	if err := rel.Check(); err != nil {
		return Firmware{}, err
	}
	path, _ := TargetPath(rel.Model, rel.Version, rel.File)
	var fw Firmware
	err := r.mutate(func() error {
		if r.root == nil {
			return ErrNotInitialized
		}
		if prev, ok := r.published(rel.Model, rel.Version); ok {
			if prev.File != rel.File {
				return fmt.Errorf("%w: %s %s is %s; publish a new version", ErrPublished, rel.Model, rel.Version, prev.Path)
			}
			sum, err := hashAll(ctx, content)
			if err != nil {
				return fmt.Errorf("publish %s: read content: %w", path, err)
			}
			if sum.hex256() != prev.SHA256 || sum.n != prev.Length || prev.MinVersion != rel.MinVersion || prev.Notes != rel.Notes {
				return fmt.Errorf("%w: %s %s was published with other content or fields (sha256 %s); publish a new version", ErrPublished, rel.Model, rel.Version, prev.SHA256)
			}
			fw = prev
			return nil
		}
		t := Target{Custom: Custom{Model: rel.Model, Version: rel.Version, MinVersion: rel.MinVersion, Notes: rel.Notes,
			Published: r.opts.Now().UTC().Truncate(time.Second)}, File: rel.File}
		tf, err := r.addTarget(ctx, t, path, content)
		if err != nil {
			return err
		}
		fw, _ = firmwareOf(path, tf)
		return nil
	})
	return fw, err
}

// published returns the firmware already published as model's version.
func (r *Repository) published(model, version string) (Firmware, bool) {
	d := r.delegated[ModelRole(model)]
	if d == nil {
		return Firmware{}, false
	}
	for p, tf := range d.Signed.Targets {
		if fw, ok := firmwareOf(p, tf); ok && fw.Version == version {
			return fw, true
		}
	}
	return Firmware{}, false
}

// Site is the repository of a server's data directory (<data-dir>/tuf,
// keys in <data-dir>/tuf-keys), opened afresh by each call so that it sees
// what other processes wrote (ward firmware publish, ward update).
type Site struct {
	DataDir    string
	Passphrase []byte           // decrypts the keys
	Expiries   Expiries         // what a publish signs with; zero fields: DefaultExpiries
	Now        func() time.Time // nil: time.Now
	Logger     *slog.Logger     // nil: discard
}

// ListFirmware lists the published firmware (none before ward update init).
func (s Site) ListFirmware(ctx context.Context) ([]Firmware, error) {
	r, err := Open(Options{Dir: filepath.Join(s.DataDir, SiteRepoDir), Keys: &Keyring{}, Offline: true, Now: s.Now, Logger: s.Logger})
	if err != nil {
		return nil, err
	}
	return r.Firmware(), nil
}

// PublishStream publishes a firmware that arrives as a stream (an API
// upload): it is spooled to a temporary dot file in the repository
// directory (on disk, never in memory or a tmpfs, and never served), then
// published with Publish and removed. maxBytes bounds it (0: no bound);
// a longer stream is ErrTooLarge.
func (s Site) PublishStream(ctx context.Context, rel Release, r io.Reader, maxBytes int64) (Firmware, error) {
	if err := rel.Check(); err != nil {
		return Firmware{}, err
	}
	dir := filepath.Join(s.DataDir, SiteRepoDir)
	if _, err := os.Stat(filepath.Join(dir, rootFile)); err != nil {
		return Firmware{}, ErrNotInitialized
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	removeStaleUploads(dir, now(), s.Logger)
	tmp, err := os.CreateTemp(dir, uploadPrefix+"*")
	if err != nil {
		return Firmware{}, fmt.Errorf("spool the firmware upload: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if maxBytes > 0 {
		r = io.LimitReader(r, maxBytes+1)
	}
	n, err := io.Copy(tmp, ctxReader{ctx, r})
	if err != nil {
		return Firmware{}, fmt.Errorf("%w: %w", ErrUpload, err)
	}
	if maxBytes > 0 && n > maxBytes {
		return Firmware{}, fmt.Errorf("%w: over %d bytes", ErrTooLarge, maxBytes)
	}
	if n == 0 {
		return Firmware{}, fmt.Errorf("%w: the firmware file is empty", ErrBadRelease)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return Firmware{}, err
	}
	return s.Publish(ctx, rel, tmp)
}

// uploadPrefix names PublishStream's spool files; staleUpload is the age
// past which one can only be a crash's leftover (an upload in progress is
// younger: its file is written as the bytes arrive).
const (
	uploadPrefix = ".upload-"
	staleUpload  = 24 * time.Hour
)

// removeStaleUploads deletes the spool files of uploads that a crash left
// behind in dir: nothing serves them (dot files), but they hold disk.
func removeStaleUploads(dir string, now time.Time, log *slog.Logger) {
	names, err := filepath.Glob(filepath.Join(dir, uploadPrefix+"*"))
	if err != nil {
		return
	}
	for _, n := range names {
		fi, err := os.Lstat(n)
		if err != nil || !fi.Mode().IsRegular() || now.Sub(fi.ModTime()) <= staleUpload {
			continue
		}
		if err := os.Remove(n); err == nil && log != nil {
			log.Info("removed a firmware upload left by a crash", "file", filepath.Base(n), "bytes", fi.Size(), "modified", fi.ModTime())
		}
	}
}

// Errors of PublishStream.
var (
	// ErrTooLarge: a firmware stream longer than PublishStream's bound.
	ErrTooLarge = errors.New("firmware too large")
	// ErrUpload: the stream broke before its end (the client went away).
	ErrUpload = errors.New("receiving the firmware failed")
)

// Expires returns when each top-level role's current metadata expires
// ("root", "targets", "snapshot", "timestamp"): root and targets as
// verified when the repository is opened, snapshot and timestamp as
// written by the last re-signing. It returns nil before ward update init,
// and only root and targets while the online roles are not signed yet (a
// root made offline, waiting for ward update init on the server).
func (s Site) Expires(ctx context.Context) (map[string]time.Time, error) {
	dir := filepath.Join(s.DataDir, SiteRepoDir)
	r, err := Open(Options{Dir: dir, Keys: &Keyring{}, Offline: true, Now: s.Now, Logger: s.Logger})
	if err != nil {
		return nil, err
	}
	return r.expires(dir)
}

// expires reads the expiries of the repository in dir (see Site.Expires).
func (r *Repository) expires(dir string) (map[string]time.Time, error) {
	r.mu.Lock()
	root, targets := r.root, r.targets
	r.mu.Unlock()
	if root == nil {
		return nil, nil
	}
	out := map[string]time.Time{metadata.ROOT: root.Signed.Expires}
	if targets != nil {
		out[metadata.TARGETS] = targets.Signed.Expires
	}
	ts, snap, err := onlineExpiries(dir)
	switch {
	case errors.Is(err, errNoRepository):
		return out, nil
	case err != nil:
		return nil, err
	}
	out[metadata.TIMESTAMP], out[metadata.SNAPSHOT] = ts, snap
	return out, nil
}

// Publish publishes rel with the keys in <data-dir>/tuf-keys (see
// Repository.Publish): it needs the model's key, or the targets key for a
// model's first firmware; otherwise the error is a *MissingKeyError.
func (s Site) Publish(ctx context.Context, rel Release, content io.ReadSeeker) (Firmware, error) {
	kr, err := LoadKeyring(filepath.Join(s.DataDir, SiteKeysDir), s.Passphrase)
	if err != nil {
		return Firmware{}, err
	}
	r, err := Open(Options{Dir: filepath.Join(s.DataDir, SiteRepoDir), Keys: kr, Expiries: s.Expiries, Now: s.Now, Logger: s.Logger})
	if err != nil {
		return Firmware{}, err
	}
	return r.Publish(ctx, rel, content)
}
