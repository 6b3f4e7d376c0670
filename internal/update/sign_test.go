package update

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// TestSignFileRootThresholdTwoHolders: root 2 moves to two new root keys
// (threshold 2) held on two machines; each adds its signatures with
// SignFile, and the result passes go-tuf's checks against root 1 and 2.
func TestSignFileRootThresholdTwoHolders(t *testing.T) {
	f := newFixture(t, nil)
	a, _ := LoadKeyring(t.TempDir(), nil)
	b, _ := LoadKeyring(t.TempDir(), nil)
	ka, _ := a.Generate("root")
	kb, _ := b.Generate("root")
	a.Merge(onlyKeys(t, f, metadata.ROOT)) // machine A also holds the current root key

	r1 := f.repo.Root()
	r2, _ := clone(r1)
	r2.Signed.Version = 2
	for _, id := range r1.Signed.Roles[metadata.ROOT].KeyIDs {
		r2.Signed.RevokeKey(id, metadata.ROOT)
	}
	r2.Signed.AddKey(ka, metadata.ROOT)
	r2.Signed.AddKey(kb, metadata.ROOT)
	r2.Signed.Roles[metadata.ROOT].Threshold = 2
	r2.ClearSignatures()
	path := filepath.Join(t.TempDir(), "2.root.json")
	b2, _ := r2.ToBytes(true)
	os.WriteFile(path, b2, 0o644)

	for i, kr := range []*Keyring{a, b} {
		repo, err := Open(Options{Dir: f.dir(), Keys: kr, Offline: true})
		if err != nil {
			t.Fatal(err)
		}
		res, err := repo.SignFile(path)
		if err != nil {
			t.Fatalf("holder %d: %v", i, err)
		}
		if want := []int{2, 1}[i]; len(res.Added) != want || res.Role != "root" || res.Version != 2 || res.Threshold != 2 {
			t.Fatalf("holder %d: %+v, want %d signatures added", i, res, want)
		}
		if res.Root == nil || res.Root.Signed.Roles[metadata.ROOT].Threshold != 2 {
			t.Fatalf("holder %d: SignResult does not show the root being signed", i)
		}
		if _, err := repo.SignFile(path); err == nil {
			t.Fatalf("holder %d signed twice", i)
		}
	}
	signed, err := new(metadata.Metadata[metadata.RootType]).FromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := r1.VerifyDelegate(metadata.ROOT, signed); err != nil {
		t.Fatalf("root 1's threshold: %v", err)
	}
	if err := signed.VerifyDelegate(metadata.ROOT, signed); err != nil {
		t.Fatalf("root 2's threshold: %v", err)
	}
}

func TestSignFileDelegatedAndRefusals(t *testing.T) {
	f := newFixture(t, nil)
	f.addFirmware("1.5.0", fwBytes)
	d := f.delegatedMeta("models/acme-th1")
	d.Signed.Version++
	d.ClearSignatures()
	dir := t.TempDir()
	path := filepath.Join(dir, versionedName("models/acme-th1", d.Signed.Version))
	b, _ := d.ToBytes(true)
	os.WriteFile(path, b, 0o644)
	res, err := f.repo.SignFile(path)
	if err != nil || len(res.Added) != 1 || res.Role != "models/acme-th1" || len(res.Targets) != 1 || res.Targets[0] != fwPath {
		t.Fatalf("sign delegated: %+v %v", res, err)
	}
	signed, _ := new(metadata.Metadata[metadata.TargetsType]).FromFile(path)
	if err := f.topTargets().VerifyDelegate("models/acme-th1", signed); err != nil {
		t.Fatal(err)
	}

	for name, tc := range map[string]struct{ file, content, want string }{
		"name and content disagree": {"3.snapshot.json", string(b), "the name says snapshot"},
		"not metadata":              {"3.targets.json", `{"a":1}`, "not TUF metadata"},
		"unknown role name":         {"3.evil.json", string(b), "unknown TUF role"},
		"trailing data":             {"3.targets.json", string(b) + "{}", "trailing data"},
	} {
		p := filepath.Join(t.TempDir(), tc.file)
		os.WriteFile(p, []byte(tc.content), 0o644)
		if _, err := f.repo.SignFile(p); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	// Keys that may not sign targets add nothing.
	online := onlyKeys(t, f, metadata.SNAPSHOT, metadata.TIMESTAMP)
	r, _ := Open(Options{Dir: f.dir(), Keys: online})
	tg := f.topTargets()
	tg.ClearSignatures()
	p := filepath.Join(t.TempDir(), "9.targets.json")
	b, _ = tg.ToBytes(true)
	os.WriteFile(p, b, 0o644)
	if _, err := r.SignFile(p); err == nil || !strings.Contains(err.Error(), "none of the keys") {
		t.Fatalf("online keys signing targets: %v", err)
	}
	_ = context.Background
}
