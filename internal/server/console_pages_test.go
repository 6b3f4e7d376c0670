package server

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wardproject/ward/internal/api"
	"github.com/wardproject/ward/internal/audit"
	"github.com/wardproject/ward/internal/client"
	"github.com/wardproject/ward/internal/rollout"
	"github.com/wardproject/ward/internal/store"
)

// The documents the vulnerability page is checked with: a firmware SBOM
// of two npm packages, an advisory for each (one critical, one low) and a
// KEV catalogue that lists the low one, which must therefore come first.
const (
	pagesSBOM = `{"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1, "components": [
  {"type": "library", "bom-ref": "lodash", "name": "lodash", "version": "4.17.20", "purl": "pkg:npm/lodash@4.17.20"},
  {"type": "library", "bom-ref": "left-pad", "name": "left-pad", "version": "1.3.0", "purl": "pkg:npm/left-pad@1.3.0"}]}`
	pagesOSVCritical = `{"schema_version": "1.6.0", "id": "GHSA-ward-crit-0001", "modified": "2026-01-01T00:00:00Z", "published": "2026-01-01T00:00:00Z",
  "aliases": ["CVE-2099-0001"], "summary": "Prototype pollution in lodash (test record)",
  "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
  "affected": [{"package": {"ecosystem": "npm", "name": "lodash", "purl": "pkg:npm/lodash"},
    "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "4.17.21"}]}]}]}`
	pagesOSVLow = `{"schema_version": "1.6.0", "id": "GHSA-ward-kev-0002", "modified": "2026-01-01T00:00:00Z", "published": "2026-01-01T00:00:00Z",
  "aliases": ["CVE-2099-0002"], "summary": "Padding confusion in left-pad (test record)",
  "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N"}],
  "affected": [{"package": {"ecosystem": "npm", "name": "left-pad", "purl": "pkg:npm/left-pad"},
    "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.3.1"}]}]}]}`
	pagesKEV = `{"title": "test catalogue", "catalogVersion": "2026.12.01", "dateReleased": "2026-12-01T00:00:00.000Z", "count": 1,
  "vulnerabilities": [{"cveID": "CVE-2099-0002", "vendorProject": "left-pad", "product": "left-pad", "vulnerabilityName": "left-pad padding confusion",
    "dateAdded": "2026-11-30", "shortDescription": "Test entry.", "requiredAction": "Update.", "dueDate": "2026-12-21",
    "knownRansomwareCampaignUse": "Unknown", "notes": "", "cwes": []}]}`
)

// consolePages visits the compliance, vulnerability, network, rollout and
// admin pages in the browser of TestConsoleInBrowser (signed in as the
// viewer vic when it starts), each with a screenshot, an axe-core check
// and one action done end to end and checked through the API.
func consolePages(t *testing.T, c *console, w *ward, step func(string, func(*testing.T)), password string) {
	ctx := context.Background()
	if err := w.api.Post(ctx, "/api/v1/users", api.CreateUserRequest{Name: "ada", Role: store.RoleAdmin, Password: password}, nil); err != nil {
		t.Fatalf("add admin user: %v", err)
	}
	for _, d := range []struct{ path, ctype, body string }{
		{"/api/v1/sboms?model=acme-th1&firmware=1.4.2", "application/json", pagesSBOM},
		{"/api/v1/advisories", "application/json", pagesOSVCritical},
		{"/api/v1/advisories", "application/json", pagesOSVLow},
		{"/api/v1/kev", "application/json", pagesKEV},
	} {
		if err := w.api.DoRaw(ctx, "POST", d.path, d.ctype, []byte(d.body), nil); err != nil {
			t.Fatalf("import %s: %v", d.path, err)
		}
	}
	// A rollout to pause: a published release and an active device of
	// the model (enrolled, not connected: its order stays pending).
	w.enroll(t, "fw-1")
	(&rig{ward: w}).publishRelease(t, "1.5.0")
	var ro rollout.View
	if err := w.api.Post(ctx, "/api/v1/rollouts", rollout.Spec{Model: "acme-th1", Version: "1.5.0", Waves: []float64{50, 100}, MaxFailure: 10}, &ro); err != nil {
		t.Fatalf("create rollout: %v", err)
	}

	step("viewer-sees-no-admin", func(t *testing.T) {
		c.forgive(t, "status of 403", 1) // viewer-cannot-act's forged release, refused as it should be
		if hidden := eval[bool](t, c, `document.querySelector('#nav [data-role="admin"]').hidden`); !hidden {
			t.Error("a viewer sees the Admin link")
		}
		c.run(t, "open /admin", chromedp.Navigate(c.base+"/admin"), chromedp.WaitVisible(chromedp.CSS("main p.error")))
		if n := eval[int](t, c, `document.querySelectorAll("#token-form, #user-form").length`); n != 0 {
			t.Errorf("a viewer gets %d admin forms", n)
		}
		// Forged from the page: the API refuses whatever the page shows.
		got := eval[string](t, c, `(async () => { const s = await (await fetch("/api/v1/session")).json();
			const h = {"X-CSRF-Token": s.csrf_token, "Content-Type": "application/json"};
			const a = await fetch("/api/v1/tokens", {method: "POST", headers: h, body: JSON.stringify({name: "x", role: "admin"})});
			const b = await fetch("/api/v1/users");
			const c = await fetch("/api/v1/audit/suppressions", {method: "POST", headers: h, body: JSON.stringify({check: "x", reason: "x", expires_at: "2099-01-01T00:00:00Z"})});
			return [a.status, b.status, c.status].join(","); })()`)
		if got != "403,403,403" {
			t.Errorf("viewer's token creation, user list, suppression from the page: %s, want 403,403,403", got)
		}
		c.forgive(t, "status of 403", 3) // the browser logs each refusal
		c.run(t, "open /audit", chromedp.Navigate(c.base+"/audit"), chromedp.WaitVisible(chromedp.CSS("#report-html")))
		c.waitFor(t, "the scorecard", `!document.querySelector("#scorecard[aria-busy]")`)
		if n := eval[int](t, c, `document.querySelectorAll("#run-audit, button[data-suppress]").length`); n != 0 {
			t.Errorf("a viewer sees %d compliance actions", n)
		}
	})

	step("sign-in-as-admin", func(t *testing.T) {
		c.run(t, "sign out", chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#username")))
		c.run(t, "sign in as ada", chromedp.SendKeys(chromedp.CSS("#username"), "ada"), chromedp.SendKeys(chromedp.CSS("#password"), password+"\r"))
		c.waitFor(t, "overview", `!!document.getElementById("ov-devices")`)
		if hidden := eval[bool](t, c, `document.querySelector('#nav [data-role="admin"]').hidden`); hidden {
			t.Error("an admin does not see the Admin link")
		}
	})

	step("compliance-suppress-a-finding", func(t *testing.T) {
		c.run(t, "open compliance", chromedp.Click(chromedp.CSS(`#nav a[href="/audit"]`)), chromedp.WaitVisible(chromedp.CSS("#run-audit")))
		c.run(t, "run an audit", chromedp.Click(chromedp.CSS("#run-audit")))
		c.waitFor(t, "findings after the audit", `!!document.querySelector("button[data-suppress]") && !document.querySelector("#run-audit").disabled`)
		var before []audit.Finding
		if err := w.api.Get(ctx, "/api/v1/audit/findings", &before); err != nil || len(before) == 0 {
			t.Fatalf("findings after the console's audit run: %d, %v", len(before), err)
		}
		check := eval[string](t, c, `document.querySelector("button[data-suppress]").closest("tr").querySelector(".mono").textContent`)
		c.run(t, "suppress", chromedp.Click(chromedp.CSS("button[data-suppress]")), chromedp.WaitVisible(chromedp.CSS("#suppress-dialog")))
		if id := eval[string](t, c, `document.activeElement.id`); id != "sup-resource" {
			t.Errorf("the suppress dialog opened with #%s focused, want #sup-resource", id)
		}
		c.check(t, "audit-suppress")
		c.run(t, "reason and submit", chromedp.SendKeys(chromedp.CSS("#sup-reason"), "isolated VLAN, TICKET-42"), chromedp.Click(chromedp.CSS("#suppress-dialog-ok")))
		c.waitFor(t, "the suppression listed", `!document.getElementById("suppress-dialog") && [...document.querySelectorAll("tr[data-suppression]")].some(r => r.textContent.includes("TICKET-42"))`)
		var sups []store.Suppression
		if err := w.api.Get(ctx, "/api/v1/audit/suppressions", &sups); err != nil || len(sups) != 1 || sups[0].Check != check ||
			sups[0].Reason != "isolated VLAN, TICKET-42" || sups[0].CreatedBy != "user:ada" || sups[0].ExpiresAt.Before(time.Now().Add(29*24*time.Hour)) {
			t.Errorf("suppressions after the console's: %+v, %v; want one of %s by user:ada for 30 days", sups, err, check)
		}
		if n := eval[int](t, c, `document.querySelectorAll("tr[data-suppressed-finding]").length`); n == 0 {
			t.Error("the suppressed finding is not shown apart")
		}
		c.check(t, "audit")
		// Report links are plain same-origin GETs: no token in them.
		hrefs := eval[[]string](t, c, `[...document.querySelectorAll("#report-links a")].map(a => a.getAttribute("href"))`)
		for _, h := range hrefs {
			if !strings.HasPrefix(h, "/api/v1/report?standard=etsi-en-303-645&format=") || strings.Contains(strings.ToLower(h), "token") {
				t.Errorf("report link %q", h)
			}
		}
		if len(hrefs) != 4 {
			t.Errorf("%d report links, want html, json, csv, sarif", len(hrefs))
		}
		c.run(t, "download the JSON report", chromedp.Click(chromedp.CSS("#report-json")))
		if rep := c.downloaded(t); !strings.Contains(rep, `"scorecard"`) || !strings.Contains(rep, "TICKET-42") && !strings.Contains(rep, `"suppressed"`) {
			t.Errorf("JSON report download:\n%.500s", rep)
		}

		// Lift it again from the page, behind the confirmation.
		c.run(t, "lift the suppression", chromedp.Click(chromedp.CSS("button[data-lift]")), chromedp.WaitVisible(chromedp.CSS("#confirm")),
			chromedp.Click(chromedp.CSS("#confirm-ok")))
		c.waitFor(t, "the suppression gone from the page", `!document.querySelector("tr[data-suppression]")`)
		var left []store.Suppression
		if err := w.api.Get(ctx, "/api/v1/audit/suppressions", &left); err != nil || len(left) != 0 {
			t.Errorf("suppressions after lifting it from the console: %+v, %v; want none", left, err)
		}
	})

	step("vulnerabilities-kev-first", func(t *testing.T) {
		c.run(t, "open vulnerabilities", chromedp.Click(chromedp.CSS(`#nav a[href="/vulnerabilities"]`)), chromedp.WaitVisible(chromedp.CSS("tr[data-vuln]")))
		if got := eval[string](t, c, `[...document.querySelectorAll("tr[data-vuln]")].map(r => r.dataset.vuln).join(",")`); got != "GHSA-ward-kev-0002,GHSA-ward-crit-0001" {
			t.Errorf("vulnerability order %s, want the KEV (low) one before the critical one", got)
		}
		if got := eval[string](t, c, `[...document.querySelectorAll("#by-device-h ~ .table-wrap tr[data-device]")].map(r => r.dataset.device + ":" + r.querySelector(".kev-count")?.textContent).join(",")`); !strings.Contains(got, "fw-1:1") {
			t.Errorf("devices by exposure: %s, want fw-1 with 1 KEV", got)
		}
		c.check(t, "vulnerabilities")
	})

	step("sensor-host-appears-live", func(t *testing.T) {
		c.run(t, "open network", chromedp.Click(chromedp.CSS(`#nav a[href="/sensor"]`)), chromedp.WaitVisible(chromedp.CSS("#hosts-h")))
		c.waitFor(t, "the live stream", `document.getElementById("live").textContent === "Live"`)
		a := map[string]any{"device": "net:10.9.8.7", "rule": "netids-mud-violation", "source": "netids", "severity": "high",
			"title": "Traffic outside the MUD profile", "evidence": map[string]any{"detail": map[string]string{"flow": "tcp 10.9.8.7:40000 -> 203.0.113.9:23"}}}
		if err := w.api.Post(ctx, "/api/v1/alerts", a, nil); err != nil {
			t.Fatalf("raise a sensor alert: %v", err)
		}
		c.waitFor(t, "the unknown host", `(() => { const r = document.querySelector('tr[data-host="net:10.9.8.7"]'); return !!r && r.textContent.includes("unknown host"); })()`)
		if got := eval[string](t, c, `document.querySelector("#sensor-alerts tbody tr")?.textContent || ""`); !strings.Contains(got, "MUD") || !strings.Contains(got, "203.0.113.9:23") {
			t.Errorf("sensor alert row: %q", got)
		}
		c.check(t, "sensor")
	})

	step("rollout-pause", func(t *testing.T) {
		c.run(t, "open rollouts", chromedp.Click(chromedp.CSS(`#nav a[href="/rollouts"]`)), chromedp.WaitVisible(chromedp.CSS(`tr[data-rollout="`+ro.ID+`"]`)))
		c.check(t, "rollouts")
		c.run(t, "open the rollout", chromedp.Click(chromedp.CSS(`a[href="/rollouts/`+ro.ID+`"]`)), chromedp.WaitVisible(chromedp.CSS("#act-pause")))
		c.check(t, "rollout")
		c.run(t, "pause", chromedp.Click(chromedp.CSS("#act-pause")), chromedp.WaitVisible(chromedp.CSS("#confirm")))
		c.run(t, "confirm", chromedp.Click(chromedp.CSS("#confirm-ok")))
		c.waitFor(t, "paused", `document.getElementById("ro-status")?.textContent.includes("paused") && !!document.getElementById("act-resume")`)
		var v rollout.View
		if err := w.api.Get(ctx, "/api/v1/rollouts/"+ro.ID, &v); err != nil || v.Status != string(store.RolloutPaused) {
			t.Errorf("rollout after the console's pause: %s, %v", v.Status, err)
		}
	})

	step("admin-token-once-and-revoke", func(t *testing.T) {
		c.run(t, "open admin", chromedp.Click(chromedp.CSS(`#nav a[href="/admin"]`)), chromedp.WaitVisible(chromedp.CSS("#token-form")))
		c.run(t, "create a token", chromedp.SendKeys(chromedp.CSS("#t-name"), "ci-pipeline"), chromedp.SetValue(chromedp.CSS("#t-role"), "viewer"),
			chromedp.Click(chromedp.CSS("#token-create")), chromedp.WaitVisible(chromedp.CSS("#token-dialog")))
		secret := eval[string](t, c, `document.getElementById("new-token").value`)
		if !strings.HasPrefix(secret, "ward_") {
			t.Fatalf("the dialog shows %q, want the new token", secret)
		}
		c.check(t, "admin-token")
		tc, err := client.New(client.Options{Server: c.base, Token: secret, Roots: w.srv.CA().RootPool()})
		if err != nil {
			t.Fatal(err)
		}
		var who api.Whoami
		if err := tc.Get(ctx, "/api/v1/whoami", &who); err != nil || who.Role != store.RoleViewer {
			t.Errorf("the console's new token: %+v, %v; want a viewer", who, err)
		}
		c.run(t, "done", chromedp.Click(chromedp.CSS("#token-done")))
		c.waitFor(t, "the dialog gone", `!document.getElementById("token-dialog")`)
		if in := eval[bool](t, c, `document.documentElement.outerHTML.includes(`+jsString(secret)+`)`); in {
			t.Error("the token's secret is still in the page after the dialog closed")
		}
		var ts []store.APIToken
		if err := w.api.Get(ctx, "/api/v1/tokens", &ts); err != nil {
			t.Fatal(err)
		}
		id := ""
		for _, x := range ts {
			if x.Name == "ci-pipeline" {
				id = x.ID
			}
		}
		c.run(t, "revoke", chromedp.Click(chromedp.CSS(`button[data-revoke="`+id+`"]`)), chromedp.WaitVisible(chromedp.CSS("#confirm")), chromedp.Click(chromedp.CSS("#confirm-ok")))
		c.waitFor(t, "revoked", `document.querySelector('tr[data-token="`+id+`"]')?.textContent.includes("revoked")`)
		var apiErr *client.Error
		if err := tc.Get(ctx, "/api/v1/whoami", &who); !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnauthorized {
			t.Errorf("the revoked token: %v, want 401", err)
		}
	})

	step("admin-disable-user", func(t *testing.T) {
		c.run(t, "disable vic", chromedp.Click(chromedp.CSS(`button[data-disable="vic"]`)), chromedp.WaitVisible(chromedp.CSS("#confirm")), chromedp.Click(chromedp.CSS("#confirm-ok")))
		c.waitFor(t, "vic disabled", `document.querySelector('tr[data-user="vic"]')?.textContent.includes("disabled") && !!document.querySelector('button[data-enable="vic"]')`)
		var us []api.User
		if err := w.api.Get(ctx, "/api/v1/users", &us); err != nil {
			t.Fatal(err)
		}
		for _, u := range us {
			if u.Name == "vic" && u.DisabledAt.IsZero() {
				t.Error("vic is not disabled after the console's disable")
			}
		}
		// A disabled account cannot sign in, even with the right password.
		anon, err := client.New(client.Options{Server: c.base, Roots: w.srv.CA().RootPool()})
		if err != nil {
			t.Fatal(err)
		}
		if err := anon.Post(ctx, "/api/v1/session", map[string]string{"username": "vic", "password": password}, nil); err == nil {
			t.Error("disabled vic signed in with the right password")
		}
		c.check(t, "admin")
	})
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}

// forgive drops the n browser problems so far that contain what: the
// failures a step provoked on purpose (a forged request's 403). It fails
// when fewer than n are found, so that nothing else is hidden.
func (c *console) forgive(t *testing.T, what string, n int) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	kept := c.problems[:0]
	for _, p := range c.problems {
		if n > 0 && strings.Contains(p, what) {
			n--
			continue
		}
		kept = append(kept, p)
	}
	c.problems = kept
	if n > 0 {
		t.Errorf("%d fewer browser reports of %q than expected", n, what)
	}
}
