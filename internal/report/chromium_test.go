package report

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wardproject/ward/internal/audit"
	"github.com/wardproject/ward/internal/wardtest"
)

// TestHTMLInChromium renders the HTML report in headless Chromium, sorts
// two tables by clicking their headers, checks that the page logged no
// errors, and saves a screenshot (to $WARD_TEST_SCREENSHOT when set, for
// people to look at; otherwise to a temporary file).
func TestHTMLInChromium(t *testing.T) {
	wardtest.RequireTool(t, "chromium")
	path, _ := exec.LookPath("chromium")
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	if err := os.WriteFile(page, render(t, "html", audit.StandardCRA), 0o644); err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox, // tests run as root in CI containers
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(filepath.Join(dir, "profile")),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	cctx, cancelCtx := chromedp.NewContext(actx)
	defer cancelCtx()
	// The first call starts the browser, which lives as long as the
	// context of that call: no timeout on it, a watchdog instead.
	watchdog := time.AfterFunc(90*time.Second, cancelCtx)
	defer watchdog.Stop()
	messages := chromedp.Console(cctx)

	cells := func(table string, col int) []string {
		t.Helper()
		out, err := chromedp.Run(cctx, chromedp.Evaluate[[]string](fmt.Sprintf(
			`Array.from(document.querySelectorAll(%q)).map(r => (r.cells[%d].getAttribute("data-sort") ?? r.cells[%d].textContent).trim())`,
			"#"+table+" tbody tr", col, col)))
		if err != nil {
			t.Fatalf("read #%s column %d: %v", table, col, err)
		}
		return out
	}
	click := func(sel string) {
		t.Helper()
		if err := chromedp.Do(cctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
			t.Fatalf("click %s: %v", sel, err)
		}
	}
	if err := chromedp.Do(cctx, chromedp.Navigate("file://"+page), chromedp.WaitReady(chromedp.CSS("#findings-table"))); err != nil {
		t.Fatalf("chromium: load the report: %v", err)
	}
	before := cells("vulns", 7)
	click("#vulns thead th:nth-child(8)")
	asc := cells("vulns", 7)
	click("#vulns thead th:nth-child(8)")
	desc := cells("vulns", 7)
	click("#findings-table thead th:nth-child(1)")
	sevAsc := cells("findings-table", 0)
	click("#findings-table thead th:nth-child(1)") // worst first again for the picture
	png, err := chromedp.Run(cctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	// Drain what the console said so far: a no-op evaluation marks the end.
	if _, err := chromedp.Run(cctx, chromedp.Evaluate[bool](`console.debug("ward-test-end"), true`)); err != nil {
		t.Fatal(err)
	}
	for m, err := range messages {
		if err != nil {
			t.Fatalf("console: %v", err)
		}
		if m.Text == "ward-test-end" {
			break
		}
		if m.IsException() || m.Type == "error" || m.Type == "warning" {
			t.Errorf("page logged %s: %s (%s:%d)", m.Type, m.Text, m.URL, m.Line)
		}
	}
	nums := func(l []string) []float64 {
		out := make([]float64, len(l))
		for i, s := range l {
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				t.Fatalf("cell %q is not a number", s)
			}
			out[i] = f
		}
		return out
	}
	if len(before) < 3 {
		t.Fatalf("vulnerability table has %d rows", len(before))
	}
	if !slices.IsSorted(nums(asc)) {
		t.Errorf("after one click the Devices column is %v, want ascending", asc)
	}
	d := nums(desc)
	slices.Reverse(d)
	if !slices.IsSorted(d) {
		t.Errorf("after two clicks the Devices column is %v, want descending", desc)
	}
	if slices.Equal(asc, before) && slices.Equal(desc, before) {
		t.Errorf("clicking the header did not reorder the rows: %v", before)
	}
	if !slices.IsSorted(nums(sevAsc)) || len(sevAsc) != len(fixtureReport(t, audit.StandardCRA).Findings) {
		t.Errorf("findings by severity after a click: %v", sevAsc)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatal("screenshot is not a PNG")
	}
	shot := os.Getenv("WARD_TEST_SCREENSHOT")
	if shot == "" {
		shot = filepath.Join(dir, "report.png")
	}
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", shot, len(png))
}
