package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wardproject/ward/internal/fleet"
	"github.com/wardproject/ward/internal/store"
)

// TestDevicePolicyCLI: ward device policy changes only the flags given
// (a rate keeps the grants), refuses a call that changes nothing, adds
// and removes grants, prints a dry run's change without applying it,
// replaces the whole policy with --replace, and shows it.
func TestDevicePolicyCLI(t *testing.T) {
	w := startForCLI(t)
	w.must("device", "add", "--id", "d1", "--model", "cam", "--allow-publish", "a/#", "--allow-subscribe", "s/1")
	show := func() devicePolicy {
		t.Helper()
		var p devicePolicy
		if err := json.Unmarshal([]byte(w.must("device", "policy", "show", "d1", "-o", "json")), &p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	squash := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	out := squash(w.must("device", "policy", "d1", "--messages-per-second", "5"))
	if !strings.Contains(out, "messages_per_second:") || !strings.Contains(out, "messages_per_second: default -> 5") {
		t.Errorf("patch printed:\n%s", out)
	}
	want := store.Policy{Publish: []string{"a/#"}, Subscribe: []string{"s/1"}, MessagesPerSecond: 5}
	if got := show(); !cmp.Equal(got.Policy, want) || got.Model != "cam" {
		t.Fatalf("after setting a rate (-want +got):\n%s", cmp.Diff(want, got.Policy))
	}
	if out, err := w.run("device", "policy", "d1"); err == nil || !strings.Contains(err.Error(), "nothing to change") {
		t.Errorf("no flags: %v\n%s", err, out)
	}
	if got := show(); !cmp.Equal(got.Policy, want) {
		t.Fatalf("a call with no flags changed the policy: %+v", got.Policy)
	}
	out = squash(w.must("device", "policy", "d1", "--remove-publish", "a/#", "--allow-publish", "b/+", "--dry-run"))
	if !strings.Contains(out, "dry run") || !strings.Contains(out, "publish: a/# -> b/+") {
		t.Errorf("dry run printed:\n%s", out)
	}
	if got := show(); !cmp.Equal(got.Policy, want) {
		t.Fatalf("the dry run changed the policy: %+v", got.Policy)
	}
	w.must("device", "policy", "d1", "--remove-publish", "a/#", "--allow-publish", "b/+", "--messages-per-second", "0")
	want = store.Policy{Publish: []string{"b/+"}, Subscribe: []string{"s/1"}}
	if got := show(); !cmp.Equal(got.Policy, want) {
		t.Fatalf("after add, remove and a reset (-want +got):\n%s", cmp.Diff(want, got.Policy))
	}
	out = squash(w.must("device", "policy", "d1", "--replace", "--connects-per-minute", "3", "--dry-run"))
	if !strings.Contains(out, "publish: b/+ -> - subscribe: s/1 -> - connects_per_minute: default -> 3") {
		t.Errorf("replace dry run printed:\n%s", out)
	}
	w.must("device", "policy", "d1", "--replace", "--connects-per-minute", "3")
	if got := show(); !cmp.Equal(got.Policy, store.Policy{ConnectsPerMinute: 3}) {
		t.Fatalf("after --replace: %+v", got.Policy)
	}
	w.must("device", "policy", "cam", "--model", "--allow-publish", "fleet/cam/#")
	w.must("device", "policy", "cam", "--model", "--bytes-per-second", "100")
	if got := show(); !cmp.Equal(got.ModelPolicy, store.Policy{Publish: []string{"fleet/cam/#"}, BytesPerSecond: 100}) {
		t.Errorf("model policy after two patches: %+v", got.ModelPolicy)
	}
	if out := w.must("device", "policy", "show", "d1"); !strings.Contains(out, "model cam (applies too)") || !strings.Contains(out, "fleet/cam/#") {
		t.Errorf("policy show:\n%s", out)
	}
	for _, bad := range [][]string{{"device", "policy", "d1", "--allow-publish", "a/#/b"}, {"device", "policy", "ghost", "--allow-publish", "x"},
		{"device", "policy", "d1", "--replace", "--remove-publish", "x"}} {
		if out, err := w.run(bad...); err == nil {
			t.Errorf("%v: no error\n%s", bad, out)
		}
	}
}

// TestDeviceImportCLI: a 1,000-device CSV imports with its tokens in a
// 0600 file (a token enrolls); a file with bad lines imports nothing and
// names every bad line; a file repeating an ID or naming an existing
// device imports nothing; delete removes a pending device and refuses an
// enrolled one.
func TestDeviceImportCLI(t *testing.T) {
	w := startForCLI(t)
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("id,model,firmware,tags,token_ttl\n")
	for i := range 1000 {
		fmt.Fprintf(&b, "f-%04d,acme-th1,1.4.2,line-3;batch-%d,%s\n", i, i/100, map[bool]string{true: "72h"}[i%2 == 0])
	}
	good := filepath.Join(dir, "devices.csv")
	os.WriteFile(good, []byte(b.String()), 0o644)
	tokens := filepath.Join(dir, "tokens.csv")
	out := w.must("device", "import", good, "--tokens-out", tokens, "--batch", "400")
	if !strings.Contains(out, "imported 1000 devices") {
		t.Errorf("import printed %q", out)
	}
	if strings.Contains(out, "ward_") || strings.Count(out, "\n") > 2 {
		t.Errorf("import printed tokens: %q", out)
	}
	st, err := os.Stat(tokens)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("tokens file: %v %v", st, err)
	}
	f, _ := os.Open(tokens)
	recs, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil || len(recs) != 1001 || !cmp.Equal(recs[0], []string{"id", "token", "expires_at"}) || recs[1000][0] != "f-0999" {
		t.Fatalf("tokens file: %d records, %v", len(recs), err)
	}
	var vs []fleet.View
	json.Unmarshal([]byte(w.must("device", "list", "-o", "json")), &vs)
	if len(vs) != 1000 || !cmp.Equal(vs[5].Tags, []string{"line-3", "batch-0"}) {
		t.Fatalf("devices after import: %d", len(vs))
	}
	dev := wardCLI{t: t, env: []string{w.env[0], w.env[1], w.env[4], w.env[5]}}
	dev.must("enroll", "--id", recs[17][0], "--token", recs[17][1], "--dir", t.TempDir())

	if out, err := w.run("device", "import", good, "--tokens-out", tokens); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("tokens file reused: %v %s", err, out)
	}
	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("id,model,firmware,tags\ng-1,cam,1,\ng 2,cam,1,\ng-3,,1,\ng-4,cam,1,\n"), 0o644)
	out, err = w.run("device", "import", bad, "--tokens-out", filepath.Join(dir, "t2.csv"))
	if err == nil || !strings.Contains(err.Error(), "line 3:") || !strings.Contains(err.Error(), "line 4: model is required") || !strings.Contains(err.Error(), "nothing was imported") {
		t.Errorf("bad file: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "t2.csv")); !os.IsNotExist(err) {
		t.Errorf("a refused file created the tokens file: %v", err)
	}
	dup := filepath.Join(dir, "dup.csv")
	os.WriteFile(dup, []byte("id,model,firmware,tags\nh-1,cam,1,\nh-1,cam,1,\n"), 0o644)
	if _, err := w.run("device", "import", dup); err == nil || !strings.Contains(err.Error(), "line 3: device h-1 is already on line 2") {
		t.Errorf("duplicate in the file: %v", err)
	}
	existing := filepath.Join(dir, "existing.csv")
	os.WriteFile(existing, []byte("id,model,firmware,tags\nh-2,cam,1,\nf-0001,cam,1,\n"), 0o644)
	if _, err := w.run("device", "import", existing); err == nil || !strings.Contains(err.Error(), "f-0001") || !strings.Contains(err.Error(), "409") {
		t.Errorf("existing device: %v", err)
	}
	json.Unmarshal([]byte(w.must("device", "list", "-o", "json")), &vs)
	if len(vs) != 1000 {
		t.Errorf("refused imports registered devices: %d", len(vs))
	}
	// The token goes to stdout with a warning when there is no --tokens-out.
	one := filepath.Join(dir, "one.csv")
	os.WriteFile(one, []byte("id,model,firmware,tags\nk-1,cam,1,\n"), 0o644)
	cmd := newRootCmd()
	var stdout, stderr strings.Builder
	cmd.SetOut(&stdout)
	cmd.SetErr(&stderr)
	cmd.SetArgs(append([]string{"device", "import", one}, w.env...))
	if err := cmd.Execute(); err != nil || !strings.Contains(stdout.String(), "k-1,") || !strings.Contains(stderr.String(), "warning:") {
		t.Errorf("tokens to stdout: %v\nstdout %s\nstderr %s", err, stdout.String(), stderr.String())
	}

	if out := w.must("device", "delete", "k-1"); !strings.Contains(out, "device k-1 deleted") {
		t.Errorf("delete printed %q", out)
	}
	if _, err := w.run("device", "delete", recs[17][0]); err == nil || !strings.Contains(err.Error(), "has enrolled; retire it instead") {
		t.Errorf("delete an enrolled device: %v", err)
	}
	if out := w.must("audit", "log", "-o", "json"); !strings.Contains(out, `"device.delete"`) || !strings.Contains(out, `"device.import"`) {
		t.Errorf("audit log lacks the import or the delete")
	}
}
