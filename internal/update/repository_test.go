package update

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"
)

const fwPath = "acme-th1/1.5.0/fw.bin"

var fwBytes = bytes.Repeat([]byte("firmware 1.5.0 "), 1000)

// fixture is a site repository (every key held) served over HTTP.
type fixture struct {
	t       *testing.T
	dataDir string
	repo    *Repository
	keys    *Keyring
	srv     *httptest.Server
	root1   []byte // root.json version 1, what a device ships with
}

func newFixture(t *testing.T, now func() time.Time) *fixture {
	t.Helper()
	f := &fixture{t: t, dataDir: t.TempDir()}
	r, err := InitSite(context.Background(), f.dataDir, nil, nil, Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	f.repo, f.keys = r, r.opts.Keys
	f.root1 = f.read("root.json")
	f.srv = newServer(t, f.dir())
	return f
}

// newServer serves dir with the repository's own handler (NewHandler), so
// every client test goes through what ward serve mounts at /tuf/.
func newServer(t *testing.T, dir string) *httptest.Server {
	h, err := NewHandler(HandlerOptions{Dir: dir, Prefix: "/"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func (f *fixture) dir() string { return filepath.Join(f.dataDir, SiteRepoDir) }

func (f *fixture) read(name string) []byte {
	f.t.Helper()
	b, err := os.ReadFile(filepath.Join(f.dir(), name))
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

func (f *fixture) write(name string, b []byte) {
	f.t.Helper()
	if err := os.WriteFile(filepath.Join(f.dir(), name), b, 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) addFirmware(version string, content []byte) *metadata.TargetFiles {
	f.t.Helper()
	tf, err := f.repo.AddTarget(context.Background(), Target{Custom: Custom{Model: "acme-th1", Version: version, MinVersion: "1.4.0", Notes: "fixes CVE-2026-0001"}, File: "fw.bin"}, bytes.NewReader(content))
	if err != nil {
		f.t.Fatal(err)
	}
	return tf
}

// client is go-tuf's updater trusting root (and the metadata cached in
// cache, when not empty, as a device keeps it between runs).
func (f *fixture) client(root []byte, cache string) *updater.Updater {
	f.t.Helper()
	cfg, err := config.New(f.srv.URL, root)
	if err != nil {
		f.t.Fatal(err)
	}
	if cache == "" {
		cache = f.t.TempDir()
	}
	cfg.LocalMetadataDir = cache
	cfg.LocalTargetsDir = f.t.TempDir()
	u, err := updater.New(cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	return u
}

// fetch refreshes and downloads path, as a device would.
func fetch(u *updater.Updater, path string) ([]byte, *metadata.TargetFiles, error) {
	if err := u.Refresh(); err != nil {
		return nil, nil, err
	}
	tf, err := u.GetTargetInfo(path)
	if err != nil {
		return nil, nil, err
	}
	_, data, err := u.DownloadTarget(tf, "", "")
	return data, tf, err
}

func TestClientDownloadsTarget(t *testing.T) {
	f := newFixture(t, nil)
	f.addFirmware("1.5.0", fwBytes)
	data, tf, err := fetch(f.client(f.root1, ""), fwPath)
	if err != nil {
		t.Fatalf("go-tuf client: %v", err)
	}
	if !bytes.Equal(data, fwBytes) {
		t.Fatal("downloaded bytes differ from the published firmware")
	}
	c, err := ParseCustom(*tf.Custom)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Custom{Model: "acme-th1", Version: "1.5.0", MinVersion: "1.4.0", Notes: "fixes CVE-2026-0001"}); c != want {
		t.Fatalf("custom = %+v, want %+v", c, want)
	}
	if _, ok := tf.Hashes["sha512"]; !ok || len(tf.Hashes) != 2 || tf.Length != int64(len(fwBytes)) {
		t.Fatalf("target info %+v: want length, sha256 and sha512", tf)
	}
}

// TestLayout holds the file names to the contract in the package doc.
func TestLayout(t *testing.T) {
	f := newFixture(t, nil)
	tf := f.addFirmware("1.5.0", fwBytes)
	var got []string
	filepath.WalkDir(f.dir(), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(f.dir(), p)
			got = append(got, filepath.ToSlash(rel))
		}
		return nil
	})
	h256, h512 := tf.Hashes["sha256"].String(), tf.Hashes["sha512"].String()
	// init: targets 1, snapshot 1; the first firmware of a model: targets 2
	// (its delegation), models/acme-th1 1 (empty) and 2, snapshot 2.
	want := []string{
		lockFile, // writers' flock(2); a server must not serve dot files
		"1.models%2Facme-th1.json", "1.root.json", "1.snapshot.json", "1.targets.json",
		"2.models%2Facme-th1.json", "2.snapshot.json", "2.targets.json",
		"root.json", "targets/acme-th1/1.5.0/" + h256 + ".fw.bin", "targets/acme-th1/1.5.0/" + h512 + ".fw.bin", "timestamp.json",
	}
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("layout:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Both hash names are the one object (go-tuf picks either).
	for _, h := range []string{h256, h512} {
		b := f.read("targets/acme-th1/1.5.0/" + h + ".fw.bin")
		if !bytes.Equal(b, fwBytes) {
			t.Fatalf("targets/…/%s.fw.bin differs from the firmware", h[:8])
		}
	}
	for name, mode := range map[string]os.FileMode{"root.json": 0o644} {
		st, _ := os.Stat(filepath.Join(f.dir(), name))
		if st.Mode().Perm() != mode {
			t.Errorf("%s mode %v, want %v", name, st.Mode().Perm(), mode)
		}
	}
}

// TestReopen: a repository opened again continues its version numbers.
func TestReopen(t *testing.T) {
	f := newFixture(t, nil)
	f.addFirmware("1.5.0", fwBytes)
	kr, err := LoadKeyring(filepath.Join(f.dataDir, SiteKeysDir), nil)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := Open(Options{Dir: f.dir(), Keys: kr})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r2.AddTarget(context.Background(), Target{Custom: Custom{Model: "acme-th1", Version: "1.6.0"}, File: "fw.bin"}, bytes.NewReader([]byte("v1.6"))); err != nil {
		t.Fatal(err)
	}
	if err := r2.Resign(context.Background()); err != nil {
		t.Fatal(err)
	}
	u := f.client(f.root1, "")
	for _, p := range []string{fwPath, "acme-th1/1.6.0/fw.bin"} {
		if _, _, err := fetch(u, p); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		u = f.client(f.root1, "")
	}
	if got := len(r2.Targets()); got != 2 {
		t.Fatalf("%d targets, want 2", got)
	}
}

func TestMissingKeyNamesRoleAndCommand(t *testing.T) {
	f := newFixture(t, nil)
	f.addFirmware("1.5.0", fwBytes)
	// The server of an offline set-up: only the online keys.
	online := onlyKeys(t, f, metadata.SNAPSHOT, metadata.TIMESTAMP)
	r, err := Open(Options{Dir: f.dir(), Keys: online})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		model, role string
	}{{"acme-th1", "models/acme-th1"}, {"other", "targets"}} {
		_, err := r.AddTarget(context.Background(), Target{Custom: Custom{Model: tc.model, Version: "9.0.0"}, File: "fw.bin"}, bytes.NewReader([]byte("x")))
		var mk *MissingKeyError
		if !errors.As(err, &mk) || mk.Role != tc.role {
			t.Fatalf("add %s with online keys only: %v, want a MissingKeyError for %s", tc.model, err, tc.role)
		}
		if !strings.Contains(err.Error(), "ward update sign --dir DIR") {
			t.Errorf("error %q does not name the offline command", err)
		}
	}
	if err := r.Rotate(context.Background(), metadata.ROOT, []*metadata.Key{newKey(t, t.TempDir())}, 1); err == nil {
		t.Fatal("root rotated without the root key")
	}
	if err := r.Resign(context.Background()); err != nil {
		t.Fatalf("the online keys alone must re-sign snapshot and timestamp: %v", err)
	}
}

// onlyKeys returns a keyring holding f's keys for roles only.
func onlyKeys(t *testing.T, f *fixture, roles ...string) *Keyring {
	t.Helper()
	kr := &Keyring{signers: map[string]signature.Signer{}, files: map[string]string{}}
	root := f.repo.Root()
	for _, role := range roles {
		for _, id := range root.Signed.Roles[role].KeyIDs {
			kr.signers[id] = f.keys.signers[id]
		}
	}
	return kr
}

func newKey(t *testing.T, dir string) *metadata.Key {
	t.Helper()
	kr, err := LoadKeyring(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	k, err := kr.Generate("test")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestTwoWritersOneDirectory: two Repository values (two processes: the
// server and a cron resign, say) opened on one directory before either
// writes; each write builds on the other's instead of reusing its
// version numbers, and a device sees both firmware files.
func TestTwoWritersOneDirectory(t *testing.T) {
	f := newFixture(t, nil)
	f.addFirmware("1.5.0", fwBytes)
	kr, err := LoadKeyring(filepath.Join(f.dataDir, SiteKeysDir), nil)
	if err != nil {
		t.Fatal(err)
	}
	other, err := Open(Options{Dir: f.dir(), Keys: kr})
	if err != nil {
		t.Fatal(err)
	}
	f.addFirmware("1.6.0", []byte("firmware 1.6.0")) // the first writer moves on
	if _, err := other.AddTarget(context.Background(), Target{Custom: Custom{Model: "acme-th1", Version: "1.7.0"}, File: "fw.bin"}, bytes.NewReader([]byte("firmware 1.7.0"))); err != nil {
		t.Fatal(err)
	}
	if err := f.repo.Resign(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"1.5.0", "1.6.0", "1.7.0"} {
		if _, _, err := fetch(f.client(f.root1, ""), "acme-th1/"+v+"/fw.bin"); err != nil {
			t.Fatalf("firmware %s after two writers: %v", v, err)
		}
	}
}
