package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// updateRun runs "ward update args..." in-process and returns stdout and stderr.
func updateRun(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	cmd := newUpdateCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), errOut.String(), err
}

// TestUpdateSiteInit: ward update init creates every key in the data
// directory (unencrypted with a warning when no passphrase is set) and
// refuses to run twice; resign re-signs snapshot and timestamp.
func TestUpdateSiteInit(t *testing.T) {
	t.Setenv("WARD_CA_PASSPHRASE", "")
	os.Unsetenv("WARD_CA_PASSPHRASE")
	data := t.TempDir()
	out, errOut, err := updateRun(t, "init", "--data-dir", data)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errOut, "warning: no passphrase") || !strings.Contains(out, "Devices trust") {
		t.Fatalf("stdout %q stderr %q", out, errOut)
	}
	keys, _ := filepath.Glob(filepath.Join(data, "tuf-keys", "*.key"))
	if len(keys) != 4 {
		t.Fatalf("%d keys in tuf-keys, want 4", len(keys))
	}
	for _, f := range []string{"root.json", "1.root.json", "1.targets.json", "1.snapshot.json", "timestamp.json"} {
		if _, err := os.Stat(filepath.Join(data, "tuf", f)); err != nil {
			t.Error(err)
		}
	}
	if _, _, err := updateRun(t, "init", "--data-dir", data); err == nil || !strings.Contains(err.Error(), "already") {
		t.Fatalf("second init: %v", err)
	}
	if _, _, err := updateRun(t, "resign", "--data-dir", data); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(data, "tuf", "2.snapshot.json")); err != nil {
		t.Fatal(err)
	}
}

// TestUpdateOfflineKeys: keys init offline, the server finishes with the
// online keys only, and sign adds an offline signature to new targets.
func TestUpdateOfflineKeys(t *testing.T) {
	t.Setenv("WARD_CA_PASSPHRASE", "ceremony")
	dir, data := t.TempDir(), t.TempDir()
	out, errOut, err := updateRun(t, "keys", "init", "--dir", dir, "--root-threshold", "2")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(errOut, "warning") || !strings.Contains(out, "root      threshold 2") {
		t.Fatalf("stdout %q stderr %q", out, errOut)
	}
	cp := func(src, dst string) {
		ents, _ := os.ReadDir(src)
		os.MkdirAll(dst, 0o700)
		for _, e := range ents {
			b, _ := os.ReadFile(filepath.Join(src, e.Name()))
			st, _ := e.Info()
			os.WriteFile(filepath.Join(dst, e.Name()), b, st.Mode().Perm())
		}
	}
	cp(filepath.Join(dir, "repository"), filepath.Join(data, "tuf"))
	cp(filepath.Join(dir, "online"), filepath.Join(data, "tuf-keys"))
	if out, _, err = updateRun(t, "init", "--data-dir", data); err != nil || !strings.Contains(out, "finished with the online keys") {
		t.Fatalf("server init: %q %v", out, err)
	}
	if keys, _ := filepath.Glob(filepath.Join(data, "tuf-keys", "*.key")); len(keys) != 2 {
		t.Fatalf("the server holds %d keys, want the 2 online ones", len(keys))
	}

	// A new targets version, unsigned, carried to the offline machine.
	tg, err := new(metadata.Metadata[metadata.TargetsType]).FromFile(filepath.Join(data, "tuf", "1.targets.json"))
	if err != nil {
		t.Fatal(err)
	}
	tg.Signed.Version = 2
	tg.ClearSignatures()
	path := filepath.Join(t.TempDir(), "2.targets.json")
	b, _ := tg.ToBytes(true)
	os.WriteFile(path, b, 0o644)
	out, _, err = updateRun(t, "sign", "--dir", dir, path)
	if err != nil || !strings.Contains(out, "targets version 2") || !strings.Contains(out, "added 1 signature") {
		t.Fatalf("sign: %q %v", out, err)
	}
	os.Unsetenv("WARD_CA_PASSPHRASE")
	if _, _, err := updateRun(t, "sign", "--dir", dir, path); err == nil || !strings.Contains(err.Error(), "passphrase") {
		t.Fatalf("sign without the passphrase: %v", err)
	}
}

// TestUpdateKeysRotate rotates root offline (N+1 signed by old and new
// keys), and timestamp on a site; both repositories still open.
func TestUpdateKeysRotate(t *testing.T) {
	os.Unsetenv("WARD_CA_PASSPHRASE")
	dir, data := t.TempDir(), t.TempDir()
	if _, _, err := updateRun(t, "keys", "init", "--dir", dir); err != nil {
		t.Fatal(err)
	}
	out, _, err := updateRun(t, "keys", "rotate", "--dir", dir, "--role", "root")
	if err != nil || !strings.Contains(out, "root version 2") {
		t.Fatalf("offline root rotation: %q %v", out, err)
	}
	r2, err := new(metadata.Metadata[metadata.RootType]).FromFile(filepath.Join(dir, "repository", "2.root.json"))
	if err != nil {
		t.Fatal(err)
	}
	r1, err := new(metadata.Metadata[metadata.RootType]).FromFile(filepath.Join(dir, "repository", "1.root.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := r1.VerifyDelegate("root", r2); err != nil {
		t.Fatalf("root 2 not signed by root 1's keys: %v", err)
	}
	if err := r2.VerifyDelegate("root", r2); err != nil {
		t.Fatalf("root 2 not signed by its own keys: %v", err)
	}

	if _, _, err := updateRun(t, "init", "--data-dir", data); err != nil {
		t.Fatal(err)
	}
	if out, _, err = updateRun(t, "keys", "rotate", "--data-dir", data, "--role", "timestamp"); err != nil {
		t.Fatalf("site timestamp rotation: %q %v", out, err)
	}
	if _, _, err := updateRun(t, "resign", "--data-dir", data); err != nil {
		t.Fatal(err)
	}
	if _, _, err := updateRun(t, "keys", "rotate", "--data-dir", data, "--role", "nobody"); err == nil {
		t.Fatal("rotated an unknown role")
	}
}

// TestUpdateDocsNameRealCommands holds docs/updates.md to the command
// tree: every "ward update …" it shows exists, with the flags it uses.
func TestUpdateDocsNameRealCommands(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "updates.md"))
	if err != nil {
		t.Fatal(err)
	}
	cmdRe := regexp.MustCompile("ward (?:update|firmware)[^`\n#]*")
	found := 0
	for _, m := range cmdRe.FindAllString(string(doc), -1) {
		fields := strings.Fields(m)
		var words []string
		for _, f := range fields[1:] {
			if strings.HasPrefix(f, "-") || strings.ToUpper(f) == f || strings.ContainsAny(f, "./<…|") {
				break
			}
			words = append(words, f)
		}
		c, rest, err := newRootCmd().Find(words)
		if err != nil || len(rest) > 0 || c.Runnable() == false {
			t.Errorf("docs/updates.md names %q: no such command (%v)", m, err)
			continue
		}
		for _, f := range fields {
			if name, ok := strings.CutPrefix(f, "--"); ok {
				name, _, _ = strings.Cut(name, "=")
				name = strings.TrimRight(name, ",.)")
				if c.Flags().Lookup(name) == nil {
					t.Errorf("docs/updates.md: %q has no flag --%s", c.CommandPath(), name)
				}
			}
		}
		found++
	}
	if found < 8 {
		t.Fatalf("only %d ward update commands found in docs/updates.md", found)
	}
}

// TestUpdateExpiriesFromConfig: the update.*_expiry settings are what
// ward update signs with: init and resign on the site (flags), keys init
// offline (env), and a bad value is refused before anything is written.
func TestUpdateExpiriesFromConfig(t *testing.T) {
	t.Setenv("WARD_CA_PASSPHRASE", "")
	os.Unsetenv("WARD_CA_PASSPHRASE")
	// expires reads a metadata file's expiry.
	expires := func(t *testing.T, path string) time.Time {
		t.Helper()
		var m struct {
			Signed struct {
				Expires time.Time `json:"expires"`
			} `json:"signed"`
		}
		b, err := os.ReadFile(path)
		if err == nil {
			err = json.Unmarshal(b, &m)
		}
		if err != nil {
			t.Fatal(err)
		}
		return m.Signed.Expires
	}
	// within checks that a role signed between from and to lives d.
	within := func(t *testing.T, path string, from, to time.Time, d time.Duration) {
		t.Helper()
		// go-tuf's expiry is in whole seconds.
		if got := expires(t, path); got.Before(from.Add(d).Truncate(time.Second)) || got.After(to.Add(d)) {
			t.Errorf("%s expires %s, want %s after signing (%s..%s)", filepath.Base(path), got, d, from.Add(d), to.Add(d))
		}
	}
	data := t.TempDir()
	lifetimes := []string{"--update-timestamp-expiry", "48h", "--update-snapshot-expiry", "240h",
		"--update-targets-expiry", "1000h", "--update-root-expiry", "5000h"}
	from := time.Now()
	if _, _, err := updateRun(t, append([]string{"init", "--data-dir", data}, lifetimes...)...); err != nil {
		t.Fatal(err)
	}
	to := time.Now()
	repo := filepath.Join(data, "tuf")
	within(t, filepath.Join(repo, "root.json"), from, to, 5000*time.Hour)
	within(t, filepath.Join(repo, "1.targets.json"), from, to, 1000*time.Hour)
	within(t, filepath.Join(repo, "1.snapshot.json"), from, to, 240*time.Hour)
	within(t, filepath.Join(repo, "timestamp.json"), from, to, 48*time.Hour)

	from = time.Now()
	if _, _, err := updateRun(t, "resign", "--data-dir", data, "--update-timestamp-expiry", "12h", "--update-snapshot-expiry", "100h"); err != nil {
		t.Fatal(err)
	}
	to = time.Now()
	within(t, filepath.Join(repo, "2.snapshot.json"), from, to, 100*time.Hour)
	within(t, filepath.Join(repo, "timestamp.json"), from, to, 12*time.Hour)

	// Offline: the root made at the key ceremony, from the env.
	t.Setenv("WARD_UPDATE_ROOT_EXPIRY", "17520h")
	dir := t.TempDir()
	from = time.Now()
	if _, _, err := updateRun(t, "keys", "init", "--dir", dir); err != nil {
		t.Fatal(err)
	}
	within(t, filepath.Join(dir, "repository", "root.json"), from, time.Now(), 17520*time.Hour)

	// Out of order: refused, naming the key, nothing written.
	bad := t.TempDir()
	_, _, err := updateRun(t, "init", "--data-dir", bad, "--update-timestamp-expiry", "168h", "--update-snapshot-expiry", "120h")
	if err == nil || !strings.Contains(err.Error(), "config update.snapshot_expiry (from flag --update-snapshot-expiry): must be longer than update.timestamp_expiry") {
		t.Fatalf("snapshot shorter than timestamp: %v", err)
	}
	if ents, _ := os.ReadDir(bad); len(ents) != 0 {
		t.Errorf("a refused init wrote %d entries", len(ents))
	}
}
