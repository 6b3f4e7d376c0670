package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/update"
)

// repoFiles lists <data-dir>/tuf's files: what a refused publish must not change.
func repoFiles(t *testing.T, dataDir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(filepath.Join(dataDir, update.SiteRepoDir), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return err
	})
	return out
}

// TestFirmwareCLI publishes a release with its SBOM the way an operator
// does, lists and shows it over the API, and checks that a corrupt SBOM,
// a bad version, a path into another model and an unreachable server each
// refuse the whole publish with nothing written.
func TestFirmwareCLI(t *testing.T) {
	t.Setenv("WARD_CA_PASSPHRASE", "")
	os.Unsetenv("WARD_CA_PASSPHRASE")
	w := startForCLI(t)
	dataDir := w.dir
	if _, err := update.InitSite(context.Background(), dataDir, nil, nil, update.Options{}); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	fw := filepath.Join(tmp, "th1-1.5.0.bin")
	if err := os.WriteFile(fw, bytes.Repeat([]byte("firmware 1.5.0\n"), 5000), 0o644); err != nil {
		t.Fatal(err)
	}
	sbom := filepath.Join("..", "..", "internal", "vuln", "testdata", "sbom", "gateway-fw.cdx.json")
	corrupt := filepath.Join(tmp, "corrupt.cdx.json")
	os.WriteFile(corrupt, []byte(`{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{"name":`), 0o644)

	before := repoFiles(t, dataDir)
	for name, args := range map[string][]string{
		"corrupt SBOM":          {"--sbom", corrupt},
		"absent SBOM":           {"--sbom", filepath.Join(tmp, "nope.json")},
		"bad version":           {"--version", "1.5a"},
		"another model's path":  {"--version", "../acme-gw1/9.9"},
		"min-version too high":  {"--min-version", "2.0.0"},
		"model with a slash":    {"--model", "acme-th1/x"},
		"notes too long":        {"--notes", strings.Repeat("n", 5000)},
		"unorderable min":       {"--min-version", "latest"},
		"version with a dotdot": {"--version", ".."},
	} {
		base := []string{"firmware", "publish", "--data-dir", dataDir, "--model", "acme-th1", "--version", "1.5.0"}
		out, err := w.run(append(append(base, args...), fw)...)
		if err == nil {
			t.Errorf("%s: publish succeeded: %s", name, out)
			continue
		}
		t.Logf("%s: %v", name, err)
		if strings.Contains(name, "SBOM") && !strings.Contains(err.Error(), "nothing was published") {
			t.Errorf("%s: %v, want it to say nothing was published", name, err)
		}
	}
	away := w
	away.env = []string{"--server", "https://127.0.0.1:1", "--token", "ward_0123456789abcdef_x"}
	if out, err := away.run("firmware", "publish", "--data-dir", dataDir, "--model", "acme-th1", "--version", "1.5.0", "--sbom", sbom, fw); err == nil ||
		!strings.Contains(err.Error(), "nothing was published") {
		t.Errorf("server out of reach: %v %s", err, out)
	}
	if after := repoFiles(t, dataDir); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Fatalf("refused publishes changed the repository:\nbefore %v\nafter  %v", before, after)
	}
	if out := w.must("sbom", "list"); strings.Contains(out, "acme-th1") {
		t.Fatalf("a refused publish imported an SBOM:\n%s", out)
	}

	out := w.must("firmware", "publish", "--data-dir", dataDir, "--model", "acme-th1", "--version", "1.5.0", "--min-version", "1.4.0",
		"--notes", "fixes CVE-2026-0001", "--sbom", sbom, fw)
	if !strings.Contains(out, "published acme-th1 1.5.0") || !strings.Contains(out, "SBOM") {
		t.Fatalf("publish output: %s", out)
	}
	var recs []store.SBOMRecord
	if err := json.Unmarshal([]byte(w.must("sbom", "list", "-o", "json")), &recs); err != nil || len(recs) != 1 || recs[0].Model != "acme-th1" || recs[0].Firmware != "1.5.0" {
		t.Fatalf("SBOMs after publish: %+v, %v", recs, err)
	}
	var fws []update.Firmware
	if err := json.Unmarshal([]byte(w.must("firmware", "list", "-o", "json")), &fws); err != nil || len(fws) != 1 {
		t.Fatalf("firmware list: %+v, %v", fws, err)
	}
	got := fws[0]
	if got.Model != "acme-th1" || got.Version != "1.5.0" || got.MinVersion != "1.4.0" || got.File != "th1-1.5.0.bin" || got.Length != 75000 || got.Published.IsZero() {
		t.Fatalf("listed %+v", got)
	}
	var one update.Firmware
	if err := json.Unmarshal([]byte(w.must("firmware", "show", "acme-th1", "1.5.0", "-o", "json")), &one); err != nil || one != got {
		t.Fatalf("show: %+v, %v", one, err)
	}
	if table := w.must("firmware", "list"); !strings.Contains(table, "acme-th1") || !strings.Contains(table, "MIN VERSION") {
		t.Fatalf("table:\n%s", table)
	}
	if out, err := w.run("firmware", "show", "acme-th1", "9.9.9"); err == nil || !strings.Contains(out+err.Error(), "no firmware") {
		t.Fatalf("show of an unpublished version: %v %s", err, out)
	}
	// The same release again is a no-op; other bytes for it are refused.
	w.must("firmware", "publish", "--data-dir", dataDir, "--model", "acme-th1", "--version", "1.5.0", "--min-version", "1.4.0", "--notes", "fixes CVE-2026-0001", fw)
	evil := filepath.Join(tmp, "evil", "th1-1.5.0.bin")
	os.MkdirAll(filepath.Dir(evil), 0o755)
	os.WriteFile(evil, []byte("evil"), 0o644)
	if out, err := w.run("firmware", "publish", "--data-dir", dataDir, "--model", "acme-th1", "--version", "1.5.0", "--min-version", "1.4.0", "--notes", "fixes CVE-2026-0001", evil); err == nil {
		t.Fatalf("republishing 1.5.0 with other bytes: %s", out)
	}
}
