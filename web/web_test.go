package web

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// serve mounts the console on a ServeMux at its patterns, as the API does.
func serve(t *testing.T) (*Console, *httptest.Server) {
	t.Helper()
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for _, p := range c.Patterns() {
		mux.Handle(p, c)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return c, srv
}

func fetch(t *testing.T, method, url string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// TestShellPages: every console path answers the shell page (GET and
// HEAD), never cached, with the console's exact CSP.
func TestShellPages(t *testing.T) {
	_, srv := serve(t)
	for _, path := range []string{"/", "/login", "/devices", "/devices/sensor-17", "/alerts", "/audit", "/vulnerabilities", "/sensor", "/rollouts", "/admin"} {
		for _, method := range []string{"GET", "HEAD"} {
			t.Run(method+path, func(t *testing.T) {
				resp, body := fetch(t, method, srv.URL+path, nil)
				if resp.StatusCode != 200 {
					t.Fatalf("status %d", resp.StatusCode)
				}
				for k, want := range map[string]string{"Content-Security-Policy": CSP, "Cache-Control": "no-store",
					"Content-Type": "text/html; charset=utf-8", "X-Content-Type-Options": "nosniff"} {
					if got := resp.Header.Get(k); got != want {
						t.Errorf("%s = %q, want %q", k, got, want)
					}
				}
				if method == "GET" && !strings.Contains(string(body), `<main id="main"`) {
					t.Errorf("body is not the shell page:\n%.300s", body)
				}
			})
		}
	}
	if CSP != "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'" {
		t.Errorf("CSP changed: %s", CSP)
	}
}

// TestAssets: every embedded file is served with its type and a strong
// ETag (304 on If-None-Match); the current ?v= hash is cacheable for a
// year, anything else revalidates; an unknown file is a 404.
func TestAssets(t *testing.T) {
	c, srv := serve(t)
	if len(c.assets) < 10 {
		t.Fatalf("%d assets embedded", len(c.assets))
	}
	for p, a := range c.assets {
		resp, body := fetch(t, "GET", srv.URL+p, nil)
		sum := sha256.Sum256(body)
		if resp.StatusCode != 200 || resp.Header.Get("ETag") != `"`+hex.EncodeToString(sum[:16])+`"` || resp.Header.Get("Cache-Control") != "no-cache" {
			t.Errorf("%s: %d, ETag %s, Cache-Control %s", p, resp.StatusCode, resp.Header.Get("ETag"), resp.Header.Get("Cache-Control"))
		}
		if resp.Header.Get("Content-Security-Policy") != CSP {
			t.Errorf("%s: CSP %q", p, resp.Header.Get("Content-Security-Policy"))
		}
		resp, _ = fetch(t, "GET", srv.URL+p+"?v="+a.hash, nil)
		if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
			t.Errorf("%s?v=hash: Cache-Control %q", p, cc)
		}
		resp, _ = fetch(t, "GET", srv.URL+p, map[string]string{"If-None-Match": `"` + a.hash + `"`})
		if resp.StatusCode != http.StatusNotModified {
			t.Errorf("%s with If-None-Match: %d, want 304", p, resp.StatusCode)
		}
	}
	for p, want := range map[string]string{"/assets/js/app.js": "text/javascript; charset=utf-8", "/assets/css/console.css": "text/css; charset=utf-8"} {
		if resp, _ := fetch(t, "GET", srv.URL+p, nil); resp.Header.Get("Content-Type") != want {
			t.Errorf("%s: Content-Type %q, want %q", p, resp.Header.Get("Content-Type"), want)
		}
	}
	for _, p := range []string{"/assets/nope.js", "/assets/../web.go", "/assets/js/"} {
		if resp, _ := fetch(t, "GET", srv.URL+p, nil); resp.StatusCode != 404 && resp.StatusCode != 301 {
			t.Errorf("%s: %d, want 404", p, resp.StatusCode)
		}
	}
}

// TestShellLinksHashedAssets: the served shell links each asset with the
// hash of the embedded file, so a new binary's assets are never mixed
// with a browser's cached old ones.
func TestShellLinksHashedAssets(t *testing.T) {
	c, srv := serve(t)
	_, body := fetch(t, "GET", srv.URL+"/", nil)
	links := regexp.MustCompile(`(?:src|href)="(/assets/[^"?]+)\?v=([0-9a-f]+)"`).FindAllStringSubmatch(string(body), -1)
	if len(links) < 4 {
		t.Fatalf("%d hashed asset links in the shell:\n%s", len(links), body)
	}
	for _, l := range links {
		if c.assets[l[1]].hash != l[2] {
			t.Errorf("%s linked with v=%s, file hash %s", l[1], l[2], c.assets[l[1]].hash)
		}
	}
	if n := strings.Count(string(body), `"/assets/`); n != len(links) {
		t.Errorf("%d asset links, %d of them hashed", n, len(links))
	}
}

// TestNoInlineScriptOrStyle: the shell page has no inline script, event
// handler attribute or style attribute (the CSP would refuse them: this
// test says why the page broke).
func TestNoInlineScriptOrStyle(t *testing.T) {
	b, err := os.ReadFile("static/index.html")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, m := range regexp.MustCompile(`<script[^>]*>`).FindAllString(s, -1) {
		if !strings.Contains(m, ` src="`) {
			t.Errorf("inline script: %s", m)
		}
	}
	for _, re := range []string{`<script[^>]*>[^<\s]`, `(?i)\son[a-z]+\s*=`, `(?i)\sstyle\s*=`, `<style`, `javascript:`} {
		if m := regexp.MustCompile(re).FindString(s); m != "" {
			t.Errorf("index.html has %q (matched %s)", m, re)
		}
	}
}

// TestNoHTMLSinks: no console file (the vendored uPlot included) parses
// data as HTML or code: innerHTML, outerHTML, insertAdjacentHTML,
// document.write, eval, new Function, string timers. Data reaches the DOM
// as text only (dom.js).
func TestNoHTMLSinks(t *testing.T) {
	sinks := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\s*\(|new Function\s*\(|set(?:Timeout|Interval)\s*\(\s*['"\x60]|createContextualFragment|DOMParser`)
	n := 0
	err := filepath.WalkDir("static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(p, ".js") || strings.HasSuffix(p, ".html")) {
			return err
		}
		n++
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<22)
		for line := 1; sc.Scan(); line++ {
			if m := sinks.FindString(sc.Text()); m != "" {
				t.Errorf("%s:%d: %s (render data with dom.js: textContent, createElement)", p, line, m)
			}
		}
		return sc.Err()
	})
	if err != nil || n < 10 {
		t.Fatalf("walked %d files: %v", n, err)
	}
}

// TestVendoredFiles: each vendored file matches the SHA-256 recorded in
// vendor/README.md, and every file under a vendor directory is recorded.
func TestVendoredFiles(t *testing.T) {
	b, err := os.ReadFile("vendor/README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := regexp.MustCompile(`(?m)^\| ((?:static|testdata)/\S+) \| [^|]+ \| ([0-9a-f]{64}) \|$`).FindAllStringSubmatch(string(b), -1)
	recorded := map[string]bool{}
	for _, r := range rows {
		recorded[r[1]] = true
		f, err := os.ReadFile(r[1])
		if err != nil {
			t.Errorf("%s: %v", r[1], err)
			continue
		}
		if sum := sha256.Sum256(f); hex.EncodeToString(sum[:]) != r[2] {
			t.Errorf("%s: sha256 %x, README records %s", r[1], sum, r[2])
		}
	}
	for _, dir := range []string{"static/assets/vendor", "testdata/axe-core"} {
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && !recorded[p] {
				t.Errorf("%s is not recorded in vendor/README.md", p)
			}
			return err
		})
	}
	if len(rows) < 5 {
		t.Errorf("%d files recorded", len(rows))
	}
}

// TestRouterKnowsEveryPage: each console path the server answers has a
// route and a page module in the JavaScript router, and back.
func TestRouterKnowsEveryPage(t *testing.T) {
	b, err := os.ReadFile("static/assets/js/router.js")
	if err != nil {
		t.Fatal(err)
	}
	routes := regexp.MustCompile(`\{path: /\^(.*?)\$/, page: '([a-z]+)'`).FindAllStringSubmatch(string(b), -1)
	if len(routes) != len(pages) {
		t.Errorf("router.js has %d routes, web.go %d pages", len(routes), len(pages))
	}
	for _, r := range routes {
		if _, err := os.Stat("static/assets/js/pages/" + r[2] + ".js"); err != nil {
			t.Errorf("route %s: %v", r[1], err)
		}
	}
	for _, p := range pages {
		re := regexp.QuoteMeta(strings.ReplaceAll(strings.ReplaceAll(p, "{$}", ""), "{id}", "X"))
		re = strings.ReplaceAll(strings.ReplaceAll(re, "/", `\/`), "X", `([^/]+)`)
		found := false
		for _, r := range routes {
			found = found || r[1] == re
		}
		if !found {
			t.Errorf("page %s (route /^%s$/) not in router.js", p, re)
		}
	}
}
