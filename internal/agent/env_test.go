package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/wardproject/ward/internal/est"
	"github.com/wardproject/ward/internal/fleet"
	"github.com/wardproject/ward/internal/pki"
	"github.com/wardproject/ward/internal/store/sqlite"
	"github.com/wardproject/ward/internal/update"
	"github.com/wardproject/ward/internal/wardtest"
)

// env is a Ward server in miniature, all real: the CA, the device
// registry, EST, and a TUF repository built with internal/update, served
// over HTTPS with mutual TLS; and one enrolled device.
type env struct {
	t       *testing.T
	db      *sqlite.DB
	ca      *pki.CA
	reg     *fleet.Registry
	srv     *httptest.Server
	dataDir string
	repo    *update.Repository
	root1   []byte
	tuf     *update.Handler

	mu    sync.Mutex
	now   time.Time
	hook  func(w http.ResponseWriter, r *http.Request) bool // true: handled
	hits  map[string]int                                    // requests per escaped path
	bytes map[string]int64                                  // body bytes sent per escaped path

	id   string
	cert tls.Certificate
	dir  string // the agent's directory
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{t: t, db: wardtest.SQLite(t), now: time.Now(), hits: map[string]int{}, bytes: map[string]int64{}, dataDir: t.TempDir(), dir: t.TempDir()}
	var err error
	if e.ca, err = pki.Open(ctx, pki.Options{Dir: t.TempDir(), Store: e.db, Now: e.clock}); err != nil {
		t.Fatal(err)
	}
	if e.reg, err = fleet.New(fleet.Options{Store: e.db, CA: e.ca, Now: e.clock}); err != nil {
		t.Fatal(err)
	}
	estH, err := est.New(est.Options{Enroller: e.reg, Chain: e.ca.Chain, Now: e.clock})
	if err != nil {
		t.Fatal(err)
	}
	if e.repo, err = update.InitSite(ctx, e.dataDir, nil, nil, update.Options{}); err != nil {
		t.Fatal(err)
	}
	e.root1 = e.read("root.json")
	if e.tuf, err = update.NewHandler(update.HandlerOptions{Dir: e.repoDir()}); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/.well-known/est/", estH)
	mux.HandleFunc("/tuf/", e.serveTUF)
	crt, key, err := e.ca.ServerCertificate(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewUnstartedServer(mux)
	e.srv.TLS = e.ca.HTTPSConfig(crt, key)
	e.srv.StartTLS()
	t.Cleanup(e.srv.Close)
	e.id = "sensor-1"
	e.cert = e.enroll(e.id, "acme-th1")
	return e
}

func (e *env) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *env) advance(d time.Duration) {
	e.mu.Lock()
	e.now = e.now.Add(d)
	e.mu.Unlock()
}

// enroll adds a device and enrolls it over EST, as ward enroll does.
func (e *env) enroll(id, model string) tls.Certificate {
	e.t.Helper()
	ctx := context.Background()
	_, en, err := e.reg.Add(ctx, fleet.NewDevice{ID: id, Model: model, Firmware: "1.4.2"})
	if err != nil {
		e.t.Fatal(err)
	}
	key, _ := est.NewDeviceKey()
	csr, _ := est.NewCSR(id, key)
	crt, err := e.estClient().Enroll(ctx, id, en.Token.Reveal(), csr)
	if err != nil {
		e.t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{crt.Raw}, PrivateKey: key, Leaf: crt}
}

func (e *env) estClient() *est.Client {
	return &est.Client{Server: e.srv.URL, Roots: e.ca.RootPool()}
}

// serveTUF serves the repository with ward serve's handler
// (update.NewHandler: Range, If-Range, ETag), device certificate required;
// a test's hook may answer first, as a hostile server or network would.
func (e *env) serveTUF(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
		http.Error(w, "a device certificate is required", http.StatusUnauthorized)
		return
	}
	if _, err := e.reg.CheckCertificate(r.Context(), r.TLS.PeerCertificates[0]); err != nil {
		http.Error(w, err.Error(), http.StatusForbidden) // as ward serve: revoked, retired...
		return
	}
	p := strings.TrimPrefix(r.URL.EscapedPath(), "/tuf/")
	e.mu.Lock()
	e.hits[p]++
	hook := e.hook
	e.mu.Unlock()
	cw := &countingWriter{ResponseWriter: w}
	defer func() {
		e.mu.Lock()
		e.bytes[p] += cw.n
		e.mu.Unlock()
	}()
	if hook != nil && hook(cw, r) {
		return
	}
	e.tuf.ServeHTTP(cw, r)
}

type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}

func (c *countingWriter) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (e *env) setHook(h func(w http.ResponseWriter, r *http.Request) bool) {
	e.mu.Lock()
	e.hook = h
	e.mu.Unlock()
}

func (e *env) hitsOf(p string) (int, int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.hits[p], e.bytes[p]
}

// targetRequests counts requests under targets/.
func (e *env) targetRequests() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for p, c := range e.hits {
		if strings.HasPrefix(p, "targets/") {
			n += c
		}
	}
	return n
}

func (e *env) repoDir() string { return filepath.Join(e.dataDir, update.SiteRepoDir) }

func (e *env) read(name string) []byte {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join(e.repoDir(), name))
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

func (e *env) write(name string, b []byte) {
	e.t.Helper()
	if err := os.MkdirAll(filepath.Dir(filepath.Join(e.repoDir(), name)), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.repoDir(), name), b, 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// publish signs firmware for model at version with internal/update.
func (e *env) publish(model, version, minVersion string, content []byte) *metadata.TargetFiles {
	e.t.Helper()
	tf, err := e.repo.AddTarget(context.Background(), update.Target{Custom: update.Custom{Model: model, Version: version, MinVersion: minVersion}, File: "fw.bin"}, bytes.NewReader(content))
	if err != nil {
		e.t.Fatal(err)
	}
	return tf
}

// storedName is the consistent-snapshot name a device downloads.
func storedName(tf *metadata.TargetFiles, hash string) string {
	dir, file := filepath.Split(tf.Path)
	return "targets/" + dir + tf.Hashes[hash].String() + "." + file
}

// httpClient is the device's HTTPS client: its certificate, Ward's CA.
func (e *env) httpClient(cert tls.Certificate) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: pki.ClientConfig(e.ca.RootPool(), &cert)}}
}

// installScript writes an install command that copies its argument to
// DIR/installed.bin and exits with code; ran reports whether it ran.
func (e *env) installScript(code int) []string {
	e.t.Helper()
	p := filepath.Join(e.t.TempDir(), "install.sh")
	script := fmt.Sprintf("#!/bin/sh\necho \"installing $WARD_FIRMWARE_VERSION\"\ncp \"$1\" %q\n[ \"$1\" = \"$WARD_FIRMWARE_FILE\" ] || exit 9\nexit %d\n", e.installedPath(), code)
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		e.t.Fatal(err)
	}
	return []string{p}
}

func (e *env) installedPath() string { return filepath.Join(e.dir, "installed.bin") }

// ran reports whether the install command ran.
func (e *env) ran() bool {
	_, err := os.Stat(e.installedPath())
	return err == nil
}

// sleeps records the waits an installer asked for, without sleeping.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.d)
}

// installer builds the real Installer for model at firmware.
func (e *env) installer(model, firmware string, sl *sleeps, mod func(*InstallerOptions)) *Installer {
	e.t.Helper()
	opts := InstallerOptions{
		Dir: e.dir, Server: e.srv.URL, HTTP: e.httpClient(e.cert), Model: model, Root: e.root1,
		InstallCmd: e.installScript(0), Firmware: firmware, Retry: Retry{Attempts: 3},
		Sleep: sl.sleep, Now: time.Now,
	}
	if mod != nil {
		mod(&opts)
	}
	in, err := NewInstaller(opts)
	if err != nil {
		e.t.Fatal(err)
	}
	return in
}

// statuses collects what an installer reports.
type statuses struct {
	mu  sync.Mutex
	all []update.Status
}

func (s *statuses) report(st update.Status) {
	s.mu.Lock()
	s.all = append(s.all, st)
	s.mu.Unlock()
}

func (s *statuses) last() update.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.all) == 0 {
		return update.Status{}
	}
	return s.all[len(s.all)-1]
}

func (s *statuses) states() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, st := range s.all {
		out = append(out, string(st.State))
	}
	return strings.Join(out, ",")
}

// --- forging metadata, as an attacker holding some keys would ---

// signers loads the site's private keys by key ID.
func (e *env) signers() map[string]signature.Signer {
	e.t.Helper()
	dir := filepath.Join(e.dataDir, update.SiteKeysDir)
	ents, err := os.ReadDir(dir)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]signature.Signer{}
	for _, ent := range ents {
		if !strings.HasSuffix(ent.Name(), ".key") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, ent.Name()))
		if err != nil {
			e.t.Fatal(err)
		}
		blk, _ := pem.Decode(b)
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			e.t.Fatal(err)
		}
		s, err := signature.LoadSigner(k, 0)
		if err != nil {
			e.t.Fatal(err)
		}
		pub, _ := s.PublicKey()
		tk, err := metadata.KeyFromPublicKey(pub)
		if err != nil {
			e.t.Fatal(err)
		}
		id, _ := tk.ID()
		out[id] = s
	}
	return out
}

func signAs[T metadata.Roles](t *testing.T, m *metadata.Metadata[T], signers map[string]signature.Signer, ids []string) {
	t.Helper()
	m.ClearSignatures()
	for _, id := range ids {
		s, ok := signers[id]
		if !ok {
			t.Fatalf("no key %s", id)
		}
		if _, err := m.Sign(s); err != nil {
			t.Fatal(err)
		}
	}
}

// forgeDelegated writes a new version of role's metadata changed by
// mutate and signed by the keys signer (role's own keys when nil), then a
// snapshot and timestamp over it signed with the real online keys: what
// an attacker holding the server can publish.
func (e *env) forgeDelegated(role string, signerIDs []string, mutate func(*metadata.TargetsType)) {
	e.t.Helper()
	keys := e.signers()
	root := e.repo.Root()
	ts, err := (&metadata.Metadata[metadata.TimestampType]{}).FromBytes(e.read("timestamp.json"))
	if err != nil {
		e.t.Fatal(err)
	}
	sv := ts.Signed.Meta["snapshot.json"].Version
	snap, err := (&metadata.Metadata[metadata.SnapshotType]{}).FromBytes(e.read(fmt.Sprintf("%d.snapshot.json", sv)))
	if err != nil {
		e.t.Fatal(err)
	}
	dv := snap.Signed.Meta[role+".json"].Version
	escaped := strings.ReplaceAll(role, "/", "%2F")
	d, err := (&metadata.Metadata[metadata.TargetsType]{}).FromBytes(e.read(fmt.Sprintf("%d.%s.json", dv, escaped)))
	if err != nil {
		e.t.Fatal(err)
	}
	if signerIDs == nil {
		top, err := (&metadata.Metadata[metadata.TargetsType]{}).FromBytes(e.read(fmt.Sprintf("%d.targets.json", snap.Signed.Meta["targets.json"].Version)))
		if err != nil {
			e.t.Fatal(err)
		}
		for _, r := range top.Signed.Delegations.Roles {
			if r.Name == role {
				signerIDs = r.KeyIDs
			}
		}
	}
	mutate(&d.Signed)
	d.Signed.Version = dv + 1
	signAs(e.t, d, keys, signerIDs)
	db, _ := d.ToBytes(true)
	e.write(fmt.Sprintf("%d.%s.json", dv+1, escaped), db)

	snap.Signed.Meta[role+".json"] = metadata.MetaFile(dv + 1)
	snap.Signed.Version = sv + 1
	signAs(e.t, snap, keys, root.Signed.Roles[metadata.SNAPSHOT].KeyIDs)
	sb, _ := snap.ToBytes(true)
	e.write(fmt.Sprintf("%d.snapshot.json", sv+1), sb)

	sum := sha256.Sum256(sb)
	mf := metadata.MetaFile(sv + 1)
	mf.Length = int64(len(sb))
	mf.Hashes = metadata.Hashes{"sha256": sum[:]}
	ts.Signed.Meta["snapshot.json"] = mf
	ts.Signed.Version++
	signAs(e.t, ts, keys, root.Signed.Roles[metadata.TIMESTAMP].KeyIDs)
	tb, _ := ts.ToBytes(true)
	e.write("timestamp.json", tb)
}

// evilTarget stores content under path's consistent name and returns a
// target entry for it.
func (e *env) evilTarget(path string, custom string, content []byte) *metadata.TargetFiles {
	e.t.Helper()
	tf, err := metadata.TargetFile().FromBytes(path, content, "sha256")
	if err != nil {
		e.t.Fatal(err)
	}
	raw := json.RawMessage(custom)
	tf.Custom = &raw
	e.write(storedName(tf, "sha256"), content)
	return tf
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
