package update

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// Each test below is an attack on a device that runs go-tuf's client
// against a Ward repository; each must fail at the client.

// forgeOnline re-signs snapshot and timestamp over the given targets and
// delegated metadata with the real online keys: what an attacker holding
// the server (and so the snapshot and timestamp keys) can do.
func (f *fixture) forgeOnline(targets *metadata.Metadata[metadata.TargetsType], delegated map[string]*metadata.Metadata[metadata.TargetsType]) {
	f.t.Helper()
	f.repo.mu.Lock()
	defer f.repo.mu.Unlock()
	if targets != nil {
		f.repo.targets = targets
	}
	for k, v := range delegated {
		f.repo.delegated[k] = v
	}
	if err := f.repo.resignOnline(); err != nil {
		f.t.Fatal(err)
	}
}

// roleSigner returns the first held signer of role.
func (f *fixture) roleSigner(role string) []string {
	f.t.Helper()
	f.repo.mu.Lock()
	defer f.repo.mu.Unlock()
	ids, _, err := f.repo.roleKeys(role)
	if err != nil {
		f.t.Fatal(err)
	}
	return ids
}

func (f *fixture) delegatedMeta(role string) *metadata.Metadata[metadata.TargetsType] {
	f.repo.mu.Lock()
	defer f.repo.mu.Unlock()
	c, err := clone(f.repo.delegated[role])
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

func (f *fixture) topTargets() *metadata.Metadata[metadata.TargetsType] {
	f.repo.mu.Lock()
	defer f.repo.mu.Unlock()
	c, err := clone(f.repo.targets)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// evilTarget stores evil under path's consistent names and returns its info.
func (f *fixture) evilTarget(path string, evil []byte) *metadata.TargetFiles {
	f.t.Helper()
	s256, s512 := sha256.Sum256(evil), sha512.Sum512(evil)
	tf := metadata.TargetFile()
	tf.Path, tf.Length = path, int64(len(evil))
	tf.Hashes = metadata.Hashes{"sha256": s256[:], "sha512": s512[:]}
	names, _ := storedNames(path, tf.Hashes["sha256"].String(), tf.Hashes["sha512"].String())
	if err := (DirStorage{Dir: filepath.Join(f.dir(), targetsDir)}).Put(context.Background(), names, bytes.NewReader(evil)); err != nil {
		f.t.Fatal(err)
	}
	return tf
}

// signWith replaces m's signatures with those of the held keys ids.
func signWith[T metadata.Roles](t *testing.T, kr *Keyring, m *metadata.Metadata[T], ids []string) {
	t.Helper()
	m.ClearSignatures()
	for _, s := range kr.signersFor(ids) {
		if _, err := m.Sign(s); err != nil {
			t.Fatal(err)
		}
	}
}

func writeMeta[T metadata.Roles](f *fixture, name string, m *metadata.Metadata[T]) {
	f.t.Helper()
	b, err := m.ToBytes(true)
	if err != nil {
		f.t.Fatal(err)
	}
	f.write(name, b)
}

func mustFail(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: the client accepted it", what)
	}
	t.Logf("%s: refused: %v", what, err)
}

func TestAttackTamperedTarget(t *testing.T) {
	f := newFixture(t, nil)
	tf := f.addFirmware("1.5.0", fwBytes)
	evil := bytes.Repeat([]byte("X"), len(fwBytes)) // same length
	for _, h := range []string{"sha256", "sha512"} {
		f.write("targets/acme-th1/1.5.0/"+tf.Hashes[h].String()+".fw.bin", evil)
	}
	_, _, err := fetch(f.client(f.root1, ""), fwPath)
	mustFail(t, "tampered firmware bytes", err)
}

func TestAttackTamperedMetadata(t *testing.T) {
	t.Run("delegated target swapped", func(t *testing.T) {
		f := newFixture(t, nil)
		f.addFirmware("1.5.0", fwBytes)
		d := f.delegatedMeta("models/acme-th1")
		d.Signed.Targets[fwPath] = f.evilTarget(fwPath, []byte("evil firmware"))
		writeMeta(f, versionedName("models/acme-th1", d.Signed.Version), d) // signatures kept, now broken
		_, _, err := fetch(f.client(f.root1, ""), fwPath)
		mustFail(t, "delegated metadata edited after signing", err)
	})
	t.Run("timestamp expiry extended", func(t *testing.T) {
		f := newFixture(t, nil)
		f.addFirmware("1.5.0", fwBytes)
		b := f.read(timestampFile)
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		doc["signed"].(map[string]any)["expires"] = "2099-01-01T00:00:00Z"
		b, _ = json.Marshal(doc)
		f.write(timestampFile, b)
		_, _, err := fetch(f.client(f.root1, ""), fwPath)
		mustFail(t, "timestamp edited after signing", err)
	})
}

func TestAttackRollback(t *testing.T) {
	f := newFixture(t, nil)
	f.addFirmware("1.5.0", fwBytes)
	oldTS := f.read(timestampFile)
	cache := t.TempDir()
	if _, _, err := fetch(f.client(f.root1, cache), fwPath); err != nil {
		t.Fatal(err)
	}
	f.addFirmware("1.6.0", []byte("firmware 1.6.0"))
	if _, _, err := fetch(f.client(f.root1, cache), "acme-th1/1.6.0/fw.bin"); err != nil {
		t.Fatal(err)
	}
	// Replay the older, validly signed timestamp to the device.
	f.write(timestampFile, oldTS)
	err := f.client(f.root1, cache).Refresh()
	mustFail(t, "older timestamp replayed", err)
	if !strings.Contains(err.Error(), "version") {
		t.Errorf("want a version error, got %v", err)
	}
}

func TestAttackFreeze(t *testing.T) {
	t.Run("repository frozen two days ago", func(t *testing.T) {
		past := time.Now().Add(-48 * time.Hour)
		f := newFixture(t, func() time.Time { return past })
		f.addFirmware("1.5.0", fwBytes)
		_, _, err := fetch(f.client(f.root1, ""), fwPath)
		mustFail(t, "expired timestamp", err)
	})
	t.Run("device clock past the timestamp", func(t *testing.T) {
		f := newFixture(t, nil)
		f.addFirmware("1.5.0", fwBytes)
		u := f.client(f.root1, "")
		u.UnsafeSetRefTime(time.Now().Add(DefaultExpiries.Timestamp + time.Hour))
		_, _, err := fetch(u, fwPath)
		mustFail(t, "expired timestamp (device clock)", err)
	})
}

func TestAttackMixAndMatch(t *testing.T) {
	t.Run("old snapshot under the new timestamp", func(t *testing.T) {
		f := newFixture(t, nil)
		f.addFirmware("1.5.0", fwBytes)
		f.addFirmware("1.6.0", []byte("firmware 1.6.0")) // snapshot 3
		f.write("3.snapshot.json", f.read("2.snapshot.json"))
		_, _, err := fetch(f.client(f.root1, ""), fwPath)
		mustFail(t, "snapshot 2 served as 3", err)
	})
	t.Run("old delegated metadata under the new snapshot", func(t *testing.T) {
		f := newFixture(t, nil)
		f.addFirmware("1.5.0", fwBytes)
		f.addFirmware("1.6.0", []byte("firmware 1.6.0")) // models/acme-th1 3
		f.write("3.models%2Facme-th1.json", f.read("2.models%2Facme-th1.json"))
		_, _, err := fetch(f.client(f.root1, ""), "acme-th1/1.6.0/fw.bin")
		mustFail(t, "models/acme-th1 version 2 served as 3", err)
	})
}

// TestAttackOnlineKeyAddsTarget: the snapshot and timestamp keys (on the
// server) cannot make a device accept a target.
func TestAttackOnlineKeyAddsTarget(t *testing.T) {
	online := func(f *fixture) []string {
		return append(f.roleSigner(metadata.SNAPSHOT), f.roleSigner(metadata.TIMESTAMP)...)
	}
	t.Run("top-level targets", func(t *testing.T) {
		f := newFixture(t, nil)
		f.addFirmware("1.5.0", fwBytes)
		tg := f.topTargets()
		const p = "acme-th1/6.6.6/fw.bin"
		tg.Signed.Targets[p] = f.evilTarget(p, []byte("evil"))
		tg.Signed.Version++
		signWith(t, f.keys, tg, online(f))
		writeMeta(f, versionedName(metadata.TARGETS, tg.Signed.Version), tg)
		f.forgeOnline(tg, nil)
		_, _, err := fetch(f.client(f.root1, ""), p)
		mustFail(t, "targets signed by the online keys", err)
	})
	t.Run("delegated role", func(t *testing.T) {
		f := newFixture(t, nil)
		f.addFirmware("1.5.0", fwBytes)
		d := f.delegatedMeta("models/acme-th1")
		const p = "acme-th1/6.6.6/fw.bin"
		d.Signed.Targets[p] = f.evilTarget(p, []byte("evil"))
		d.Signed.Version++
		signWith(t, f.keys, d, online(f))
		writeMeta(f, versionedName("models/acme-th1", d.Signed.Version), d)
		f.forgeOnline(nil, map[string]*metadata.Metadata[metadata.TargetsType]{"models/acme-th1": d})
		_, _, err := fetch(f.client(f.root1, ""), p)
		mustFail(t, "models/acme-th1 signed by the online keys", err)
	})
}

// TestAttackDelegationSignsOtherModel: models/acme-th1's key signs a path
// of model other; the device must not find it, and Open refuses the file.
func TestAttackDelegationSignsOtherModel(t *testing.T) {
	f := newFixture(t, nil)
	f.addFirmware("1.5.0", fwBytes)
	if _, err := f.repo.AddTarget(context.Background(), Target{Custom: Custom{Model: "other", Version: "1.0.0"}, File: "fw.bin"}, bytes.NewReader([]byte("other 1.0"))); err != nil {
		t.Fatal(err)
	}
	const p = "other/9.9.9/fw.bin"
	d := f.delegatedMeta("models/acme-th1")
	d.Signed.Targets[p] = f.evilTarget(p, []byte("evil"))
	d.Signed.Version++
	signWith(t, f.keys, d, f.roleSigner("models/acme-th1")) // acme's own, valid key
	writeMeta(f, versionedName("models/acme-th1", d.Signed.Version), d)
	f.forgeOnline(nil, map[string]*metadata.Metadata[metadata.TargetsType]{"models/acme-th1": d})
	_, _, err := fetch(f.client(f.root1, ""), p)
	mustFail(t, "models/acme-th1 signing other/…", err)
	if _, err := Open(Options{Dir: f.dir(), Keys: f.keys}); err == nil || !strings.Contains(err.Error(), "outside its paths") {
		t.Fatalf("Open on the forged repository: %v, want a paths error", err)
	}
}

func TestRootRotationWalk(t *testing.T) {
	f := newFixture(t, nil)
	f.addFirmware("1.5.0", fwBytes)
	k, err := f.keys.Generate(metadata.ROOT)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.repo.Rotate(context.Background(), metadata.ROOT, []*metadata.Key{k}, 1); err != nil {
		t.Fatal(err)
	}
	u := f.client(f.root1, "") // the device shipped with root 1
	if _, _, err := fetch(u, fwPath); err != nil {
		t.Fatalf("client holding root 1 after a rotation: %v", err)
	}
	if v := u.GetTrustedMetadataSet().Root.Signed.Version; v != 2 {
		t.Fatalf("client trusts root version %d, want 2", v)
	}

	// Root 3 signed only by a key root 2 does not list: refused.
	r3, err := clone(f.repo.Root())
	if err != nil {
		t.Fatal(err)
	}
	rogue, err := f.keys.Generate("rogue")
	if err != nil {
		t.Fatal(err)
	}
	r3.Signed.Version = 3
	old := r3.Signed.Roles[metadata.ROOT].KeyIDs[0]
	if err := r3.Signed.RevokeKey(old, metadata.ROOT); err != nil {
		t.Fatal(err)
	}
	if err := r3.Signed.AddKey(rogue, metadata.ROOT); err != nil {
		t.Fatal(err)
	}
	rid, _ := rogue.ID()
	signWith(t, f.keys, r3, []string{rid})
	writeMeta(f, "3.root.json", r3)
	writeMeta(f, rootFile, r3)
	_, _, err = fetch(f.client(f.root1, ""), fwPath)
	mustFail(t, "root 3 not signed by root 2's threshold", err)
	// The repository refuses to work on it either.
	if _, err := Open(Options{Dir: f.dir(), Keys: f.keys}); err == nil {
		t.Fatal("Open accepted root 3 not signed by root 2")
	}
}

// TestRotateEveryRole rotates each role to a new key; a device that
// shipped with root 1, and one that cached the metadata before, still
// verify the firmware, and the old key is gone from the metadata.
func TestRotateEveryRole(t *testing.T) {
	for _, role := range []string{metadata.ROOT, metadata.TARGETS, metadata.SNAPSHOT, metadata.TIMESTAMP, "models/acme-th1"} {
		t.Run(strings.ReplaceAll(role, "/", "-"), func(t *testing.T) {
			f := newFixture(t, nil)
			f.addFirmware("1.5.0", fwBytes)
			cache := t.TempDir()
			if _, _, err := fetch(f.client(f.root1, cache), fwPath); err != nil {
				t.Fatal(err)
			}
			oldIDs := f.roleSigner(role)
			k, err := f.keys.Generate(role)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.repo.Rotate(context.Background(), role, []*metadata.Key{k}, 1); err != nil {
				t.Fatal(err)
			}
			newID, _ := k.ID()
			if got := f.roleSigner(role); len(got) != 1 || got[0] != newID {
				t.Fatalf("%s keys after rotation: %v, want [%s] (old %v)", role, got, newID, oldIDs)
			}
			f.addFirmware("1.6.0", []byte("firmware 1.6.0"))
			for name, c := range map[string]string{"fresh device": "", "device with a cache": cache} {
				if _, _, err := fetch(f.client(f.root1, c), "acme-th1/1.6.0/fw.bin"); err != nil {
					t.Fatalf("%s after rotating %s: %v", name, role, err)
				}
			}
			if _, err := Open(Options{Dir: f.dir(), Keys: f.keys}); err != nil {
				t.Fatalf("reopen after rotating %s: %v", role, err)
			}
		})
	}
}

func TestOfflineCeremony(t *testing.T) {
	ctx := context.Background()
	offlineDir, dataDir := t.TempDir(), t.TempDir()
	pass := []byte("ceremony passphrase")
	off, err := InitOffline(ctx, offlineDir, pass, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for sub, n := range map[string]int{OfflineKeysDir: 2, OfflineOnlineDir: 2} {
		ents, _ := filepath.Glob(filepath.Join(offlineDir, sub, "*.key"))
		if len(ents) != n {
			t.Fatalf("%s holds %d keys, want %d", sub, len(ents), n)
		}
	}
	// The server receives the repository and the online keys only.
	copyDir(t, filepath.Join(offlineDir, OfflineRepoDir), filepath.Join(dataDir, SiteRepoDir))
	copyDir(t, filepath.Join(offlineDir, OfflineOnlineDir), filepath.Join(dataDir, SiteKeysDir))
	onlineKeys, err := LoadKeyring(filepath.Join(dataDir, SiteKeysDir), pass)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := Open(Options{Dir: filepath.Join(dataDir, SiteRepoDir), Keys: onlineKeys})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Init(ctx, nil); err != nil {
		t.Fatalf("server finishing the offline repository: %v", err)
	}

	// Offline: publish a model's first firmware (delegation + target).
	if _, err := off.AddTarget(ctx, Target{Custom: Custom{Model: "acme-th1", Version: "1.5.0"}, File: "fw.bin"}, bytes.NewReader(fwBytes)); err != nil {
		t.Fatal(err)
	}
	copyDir(t, filepath.Join(offlineDir, OfflineRepoDir), filepath.Join(dataDir, SiteRepoDir))
	if err := srv.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, dataDir: dataDir, root1: mustRead(t, filepath.Join(offlineDir, OfflineRepoDir, "1.root.json"))}
	f.srv = newServer(t, f.dir())
	data, _, err := fetch(f.client(f.root1, ""), fwPath)
	if err != nil || !bytes.Equal(data, fwBytes) {
		t.Fatalf("device after the offline ceremony: %v", err)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// copyDir copies src's files into dst (recursively), keeping modes.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		st, _ := d.Info()
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, st.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}
