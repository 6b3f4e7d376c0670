package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wardproject/ward/internal/audit"
	"github.com/wardproject/ward/internal/update"
	"github.com/wardproject/ward/internal/wardtest"
)

// TestPatchLoop is issue 10's loop end to end, every part real: the audit
// finds known vulnerabilities in a model's firmware from its SBOM (OSV,
// CISA KEV); the operator publishes a signed release whose SBOM no longer
// has the vulnerable components (ward firmware publish --sbom) and rolls
// it out (ward rollout create); the device's agent downloads it from
// /tuf/ over mutual TLS, verifies it and installs it; the next audit shows
// the device patched: no vulnerability, no outdated firmware, no missing
// signed update path, and the report's patch level counts it on latest.
func TestPatchLoop(t *testing.T) {
	kev := wardtest.SharedData(t, "vuln/kev/known_exploited_vulnerabilities.json")
	osv := wardtest.SharedData(t, "vuln/osv")
	w := startForCLI(t)
	ctx := context.Background()
	w.must("kev", "import", kev)
	w.must("advisories", "import", osv)
	vulnerable := filepath.Join("..", "..", "internal", "vuln", "testdata", "sbom", "gateway-fw.cdx.json")
	w.must("sbom", "import", "--model", "acme-gw1", "--firmware", "3.2.0", vulnerable)

	var res struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal([]byte(w.must("device", "add", "--id", "gw-1", "--model", "acme-gw1", "--firmware", "3.2.0", "--output", "json")), &res); err != nil {
		t.Fatal(err)
	}
	devDir := t.TempDir()
	dev := wardCLI{t: t, env: []string{w.env[0], w.env[1], w.env[4], w.env[5]}}
	dev.must("enroll", "--id", "gw-1", "--token", res.Token, "--dir", devDir)

	findings := func() map[string][]audit.Finding {
		t.Helper()
		var fs []audit.Finding
		if err := json.Unmarshal([]byte(w.must("audit", "run", "--output", "json")), &fs); err != nil {
			t.Fatal(err)
		}
		out := map[string][]audit.Finding{}
		for _, f := range fs {
			if slices.Contains(f.Resources, "device:gw-1") || slices.Contains(f.Resources, "model:acme-gw1") {
				out[f.Check] = append(out[f.Check], f)
			}
		}
		return out
	}
	before := findings()
	for _, c := range []string{audit.CheckFirmwareVulnerable, audit.CheckModelNoSignedUpdates} {
		if len(before[c]) == 0 {
			t.Fatalf("before the release: no %s finding for gw-1 (findings: %v)", c, keys(before))
		}
	}

	// The release's SBOM: the firmware without the components the audit
	// found vulnerable.
	var exposure []struct {
		Vulnerabilities []struct {
			Package string `json:"package"`
		} `json:"vulnerabilities"`
	}
	if err := json.Unmarshal([]byte(w.must("vuln", "list", "--device", "gw-1", "--output", "json")), &exposure); err != nil || len(exposure) != 1 {
		t.Fatalf("vuln list: %v", err)
	}
	bad := map[string]bool{}
	for _, v := range exposure[0].Vulnerabilities {
		bad[v.Package] = true
	}
	var sbom map[string]any
	raw, err := os.ReadFile(vulnerable)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &sbom); err != nil {
		t.Fatal(err)
	}
	if removed := prune(sbom, bad); removed == 0 {
		t.Fatalf("the vulnerable packages %v are not components of the SBOM", bad)
	}
	tmp := t.TempDir()
	fixed := filepath.Join(tmp, "gateway-fw-3.3.0.cdx.json")
	b, _ := json.Marshal(sbom)
	os.WriteFile(fixed, b, 0o644)
	image := filepath.Join(tmp, "gw-3.3.0.bin")
	fw := bytes.Repeat([]byte("acme-gw1 firmware 3.3.0\n"), 20000)
	os.WriteFile(image, fw, 0o644)

	if _, err := update.InitSite(ctx, w.dir, nil, nil, update.Options{}); err != nil {
		t.Fatal(err)
	}
	w.must("firmware", "publish", "--data-dir", w.dir, "--model", "acme-gw1", "--version", "3.3.0", "--min-version", "3.0.0",
		"--notes", "removes the components with known vulnerabilities", "--sbom", fixed, image)

	flashed := filepath.Join(devDir, "flashed.bin")
	script := filepath.Join(tmp, "flash.sh")
	os.WriteFile(script, []byte(fmt.Sprintf("#!/bin/sh\ncp \"$WARD_FIRMWARE_FILE\" %q\n", flashed)), 0o755)
	logs := startAgent(t, w, devDir, "acme-gw1", "3.2.0", script)
	waitFor(t, "the agent's subscription", func() bool { return strings.Contains(logs.String(), "connected") })
	w.must("rollout", "create", "--model", "acme-gw1", "--version", "3.3.0", "--waves", "100%")
	waitFor(t, "gw-1 on 3.3.0", func() bool {
		var d struct{ Firmware string }
		json.Unmarshal([]byte(w.must("device", "show", "gw-1", "--output", "json")), &d)
		return d.Firmware == "3.3.0"
	})
	if got, _ := os.ReadFile(flashed); !bytes.Equal(got, fw) {
		t.Fatal("the install command did not get the published firmware")
	}

	after := findings()
	for _, c := range []string{audit.CheckFirmwareVulnerable, audit.CheckKEVExposure, audit.CheckFirmwareOutdated, audit.CheckModelNoSignedUpdates,
		audit.CheckModelUpdatesUnconfirmed, audit.CheckUpdateFailed, audit.CheckReleaseNotesMissing, audit.CheckSBOMMissing} {
		if len(after[c]) > 0 {
			t.Errorf("after the rollout: %s still open: %s", c, after[c][0].Evidence)
		}
	}
	out := filepath.Join(tmp, "report.json")
	w.must("report", "--standard", audit.StandardETSI, "--format", "json", "-o", out)
	rb, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Fleet struct {
			Models []struct {
				Name           string `json:"name"`
				LatestFirmware string `json:"latest_firmware"`
				PatchLevel     *struct {
					OnLatest int `json:"on_latest"`
					Behind   int `json:"behind"`
				} `json:"patch_level"`
			}
		}
	}
	if err := json.Unmarshal(rb, &rep); err != nil {
		t.Fatal(err)
	}
	ok := false
	for _, m := range rep.Fleet.Models {
		if m.Name == "acme-gw1" {
			ok = m.LatestFirmware == "3.3.0" && m.PatchLevel != nil && m.PatchLevel.OnLatest == 1 && m.PatchLevel.Behind == 0
			t.Logf("report: %+v patch level %+v", m, m.PatchLevel)
		}
	}
	if !ok {
		t.Errorf("the report does not show acme-gw1 patched (latest 3.3.0, 1 device on it):\n%s", rb)
	}
}

// prune removes, at every depth, the CycloneDX components named in bad
// (by name, or by the upstream qualifier of their package URL: OS
// packages such as libcrypto3 are advised as their upstream, openssl)
// from the object's "components", and returns how many it removed.
func prune(obj map[string]any, bad map[string]bool) int {
	comps, _ := obj["components"].([]any)
	n := len(comps)
	comps = slices.DeleteFunc(comps, func(c any) bool {
		m, _ := c.(map[string]any)
		name, _ := m["name"].(string)
		purl, _ := m["purl"].(string)
		_, upstream, _ := strings.Cut(purl, "upstream=")
		upstream, _, _ = strings.Cut(upstream, "&")
		return bad[name] || bad[upstream]
	})
	removed := n - len(comps)
	for _, c := range comps {
		if m, ok := c.(map[string]any); ok {
			removed += prune(m, bad)
		}
	}
	if obj["components"] != nil {
		obj["components"] = comps
	}
	return removed
}
