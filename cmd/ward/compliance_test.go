package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/wardproject/ward/internal/audit"
	"github.com/wardproject/ward/internal/compliance"
	"github.com/wardproject/ward/internal/config"
	"github.com/wardproject/ward/internal/server"
	"github.com/wardproject/ward/internal/wardtest"
)

// wardCLI runs the ward command against a server and returns stdout.
type wardCLI struct {
	t   *testing.T
	env []string // --server, --token, --ca
	srv *server.Server
	dir string // the server's data directory
}

func (c wardCLI) run(args ...string) (string, error) {
	cmd := newRootCmd()
	var out, errb bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	all := append(args, c.env...)
	cmd.SetArgs(all)
	err := cmd.ExecuteContext(context.Background())
	if err != nil {
		return out.String() + errb.String(), err
	}
	return out.String(), nil
}

func (c wardCLI) must(args ...string) string {
	c.t.Helper()
	out, err := c.run(args...)
	if err != nil {
		c.t.Fatalf("ward %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func startForCLI(t *testing.T) wardCLI {
	t.Helper()
	dir := t.TempDir()
	srv, _ := startServeAt(t, dir, "127.0.0.1:0", "127.0.0.1:0")
	return cliFor(t, srv, dir)
}

// cliFor is the CLI of a running server with its admin token.
func cliFor(t *testing.T, srv *server.Server, dir string) wardCLI {
	tok, _ := os.ReadFile(filepath.Join(dir, server.AdminTokenFile))
	return wardCLI{t: t, srv: srv, dir: dir, env: []string{"--server", "https://" + srv.HTTPSAddr().String(), "--token", strings.TrimSpace(string(tok)),
		"--ca", filepath.Join(dir, server.CAFile)}}
}

// startServeAt runs ward serve's server on a data directory and addresses
// until stop (or the test's end) and returns it once ready.
func startServeAt(t *testing.T, data, httpsAddr, mqttAddr string) (*server.Server, func()) {
	t.Helper()
	cfg, err := config.Load(nil, append(os.Environ(), "WARD_DATA_DIR="+data, "WARD_HTTPS_ADDR="+httpsAddr, "WARD_MQTT_ADDR="+mqttAddr))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, server.Options{Config: cfg, ManualWindows: true})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	<-srv.Ready()
	return srv, stop
}

// TestComplianceCLI drives the audit and vulnerability interfaces the way
// an operator does: KEV, OSV and SBOM imports (real data), devices on a
// vulnerable firmware, `ward audit run`, `ward vuln list`, and every
// report format; bad documents get clear errors.
func TestComplianceCLI(t *testing.T) { runComplianceCLI(t) }

// TestComplianceCLIOnPostgres runs the same with the PostgreSQL store.
func TestComplianceCLIOnPostgres(t *testing.T) {
	wardtest.PostgresStore(t)
	runComplianceCLI(t)
}

func runComplianceCLI(t *testing.T) {
	kev := wardtest.SharedData(t, "vuln/kev/known_exploited_vulnerabilities.json")
	osv := wardtest.SharedData(t, "vuln/osv")
	w := startForCLI(t)

	if out := w.must("kev", "import", kev); !strings.Contains(out, "entries") {
		t.Errorf("kev import: %s", out)
	}
	out, err := w.run("advisories", "import", osv)
	if err != nil || !strings.Contains(out, "imported 93 OSV records") {
		t.Errorf("advisories import: %v %s", err, out)
	}
	fw := filepath.Join("..", "..", "internal", "vuln", "testdata", "sbom", "gateway-fw.cdx.json")
	w.must("sbom", "import", "--model", "acme-gw1", "--firmware", "3.2.0", fw)
	for _, id := range []string{"gw-1", "gw-2"} {
		var res struct {
			Token string `json:"token"`
		}
		if err := json.Unmarshal([]byte(w.must("device", "add", "--id", id, "--model", "acme-gw1", "--firmware", "3.2.0", "--output", "json")), &res); err != nil || res.Token == "" {
			t.Fatalf("device add: %v", err)
		}
		// The reference device client enrolls over EST.
		dev := wardCLI{t: t, env: []string{w.env[0], w.env[1], w.env[4], w.env[5]}} // no operator token
		dev.must("enroll", "--id", id, "--token", res.Token, "--dir", t.TempDir())
	}
	w.must("device", "add", "--id", "th-1", "--model", "acme-th1", "--firmware", "1.0")
	w.must("model", "set", "acme-gw1", "--support-ends", "2031-12-31", "--latest-firmware", "3.3.0", "--released", "2026-01-10")

	// Bad documents: a clear error, nothing stored.
	for _, bad := range []string{"malformed-truncated.json", "malformed-wrong-specversion.json", "malformed-component-missing-fields.json"} {
		out, err := w.run("sbom", "import", "--model", "acme-gw1", "--firmware", "9.9", wardtest.SharedData(t, "vuln/sbom/"+bad))
		if err == nil {
			t.Errorf("bad SBOM %s accepted", bad)
		} else if !strings.Contains(err.Error(), bad) && !strings.Contains(err.Error(), "spec") && !strings.Contains(err.Error(), "line") {
			t.Errorf("bad SBOM %s: unclear error %v", bad, err)
		}
		_ = out
	}
	if out := w.must("sbom", "list"); strings.Contains(out, "9.9") {
		t.Errorf("a rejected SBOM was stored: %s", out)
	}
	if _, err := w.run("kev", "import", fw); err == nil {
		t.Error("an SBOM was accepted as a KEV catalogue")
	}

	var ex []compliance.DeviceExposure
	if err := json.Unmarshal([]byte(w.must("vuln", "list", "--device", "gw-1", "--output", "json")), &ex); err != nil {
		t.Fatal(err)
	}
	if len(ex) != 1 || len(ex[0].Vulnerabilities) == 0 {
		t.Fatalf("vuln list gw-1: %+v", ex)
	}
	kevs := 0
	for _, v := range ex[0].Vulnerabilities {
		if v.ID == "" || v.Package == "" || v.Installed == "" || v.Severity == "" || v.Aliases == nil {
			t.Errorf("vulnerability with missing fields: %+v", v)
		}
		if v.KEV {
			kevs++
		}
	}
	if kevs < 2 {
		t.Errorf("%d KEV vulnerabilities on gw-1, want the fixture's 2 (glibc CVE-2023-4911, git CVE-2025-48384)", kevs)
	}
	var raw []map[string]any
	json.Unmarshal([]byte(w.must("vuln", "list", "--device", "gw-1", "--output", "json")), &raw)
	v0 := raw[0]["vulnerabilities"].([]any)[0].(map[string]any)
	for _, k := range []string{"id", "aliases", "package", "installed", "fixed", "severity", "kev"} {
		if _, ok := v0[k]; !ok {
			t.Errorf("vuln list JSON lacks %q: %v", k, v0)
		}
	}

	t.Log("\n" + w.must("audit", "run"))
	var fs []audit.Finding
	if err := json.Unmarshal([]byte(w.must("audit", "run", "--output", "json")), &fs); err != nil {
		t.Fatal(err)
	}
	checks := map[string]audit.Finding{}
	for _, f := range fs {
		checks[f.Check] = f
		if f.Check == "" || f.Severity == "" || len(f.Resources) == 0 || f.Evidence == "" || f.Remediation == "" || len(f.Standards) == 0 {
			t.Errorf("finding with missing fields: %+v", f)
		}
	}
	var rawF []map[string]any
	json.Unmarshal([]byte(w.must("audit", "findings", "--output", "json")), &rawF)
	for _, k := range []string{"check", "severity", "resources", "evidence", "remediation", "standards"} {
		if len(rawF) == 0 {
			t.Fatal("no stored findings")
		}
		if _, ok := rawF[0][k]; !ok {
			t.Errorf("finding JSON lacks %q", k)
		}
	}
	vulnFinding := false
	for c, f := range checks {
		if strings.Contains(c, "vuln") || strings.Contains(c, "kev") {
			vulnFinding = vulnFinding || strings.Contains(strings.Join(f.Resources, ","), "gw-1") || strings.Contains(f.Evidence, "gw-1")
		}
	}
	if !vulnFinding {
		t.Errorf("no vulnerability finding naming gw-1 among %d checks: %v", len(checks), keys(checks))
	}

	for _, std := range []string{"etsi-en-303-645", "nist-ir-8259a", "cra"} {
		for _, format := range []string{"html", "json", "sarif", "csv"} {
			out := filepath.Join(t.TempDir(), "r."+format)
			w.must("report", "--standard", std, "--format", format, "-o", out)
			b, err := os.ReadFile(out)
			if err != nil || len(b) < 200 {
				t.Fatalf("%s %s report: %d bytes %v", std, format, len(b), err)
			}
			switch format {
			case "json", "sarif":
				if !json.Valid(b) {
					t.Errorf("%s %s report is not JSON", std, format)
				}
			case "csv":
				if _, err := csv.NewReader(bytes.NewReader(b)).ReadAll(); err != nil {
					t.Errorf("%s csv: %v", std, err)
				}
			case "html":
				if !bytes.Contains(b, []byte("<html")) || bytes.Contains(b, []byte("src=\"http")) {
					t.Errorf("%s html report is not a self-contained page", std)
				}
			}
		}
	}
	if _, err := w.run("report", "--standard", "iso-9001"); err == nil {
		t.Error("unknown standard accepted")
	}
}

func keys[M ~map[string]V, V any](m M) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
