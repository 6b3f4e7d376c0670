// Package web is Ward's operator console: a static single-page client of
// the JSON API (/api/v1), embedded in the binary and served by ward serve
// at /. It holds no server-side rendering and no authorisation of its own:
// every read and every action is an /api/v1 request made by the browser
// with the user's session cookie and CSRF header, so the API's
// authentication, role checks, validation and audit trail are the only
// ones (see web/README.md for why this stack).
//
// The console is plain HTML, CSS and JavaScript ES modules (no build
// step), plus the vendored uPlot chart library (web/vendor/README.md).
// Data is rendered with DOM APIs only (createElement, textContent), never
// parsed as HTML; TestNoHTMLSinks enforces it.
//
// Console serves:
//   - the shell page (index.html) at every console path ([Console.Patterns]):
//     the JavaScript router picks the page from location.pathname. It is
//     never cached (Cache-Control: no-store).
//   - the embedded files under /assets/, each with a strong ETag (its
//     SHA-256). The shell page links its entry points with ?v=<hash>: such
//     a request of the current hash is cacheable for a year (immutable);
//     any other revalidates (no-cache) and gets 304 when unchanged.
//
// Every response carries [CSP], which allows scripts, styles, images,
// fonts and connections from the console's own origin only: no inline
// script or style, no framing, no form posting elsewhere.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"regexp"
	"strings"
	"time"
)

// CSP is the Content-Security-Policy of every console response.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"font-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// pages are the console's paths (ServeMux patterns) that answer the shell
// page; the router in assets/js/router.js knows the same list.
var pages = []string{"/{$}", "/login", "/devices", "/devices/{id}", "/alerts", "/audit", "/vulnerabilities", "/sensor", "/rollouts", "/rollouts/{id}", "/admin"}

//go:embed static
var static embed.FS

// asset is one embedded file, ready to serve.
type asset struct {
	body  []byte
	ctype string
	hash  string // hex SHA-256 of body, first 16 bytes
}

// Console is the console's HTTP handler.
type Console struct {
	assets map[string]asset // by URL path, /assets/...
	shell  []byte           // index.html with versioned asset URLs
}

// linkRE finds the asset URLs the shell page links.
var linkRE = regexp.MustCompile(`(?:src|href)="(/assets/[^"?#]+)"`)

// New loads the embedded files. It fails only if the embedded tree is
// broken (a shell page that links a file not embedded).
func New() (*Console, error) {
	c := &Console{assets: map[string]asset{}}
	err := fs.WalkDir(static, "static/assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			ct = "application/octet-stream"
		}
		c.assets[strings.TrimPrefix(p, "static")] = asset{body: b, ctype: ct, hash: hex.EncodeToString(sum[:16])}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("web: read embedded assets: %w", err)
	}
	index, err := static.ReadFile("static/index.html")
	if err != nil {
		return nil, fmt.Errorf("web: read embedded index.html: %w", err)
	}
	var missing []string
	c.shell = linkRE.ReplaceAllFunc(index, func(m []byte) []byte {
		u := string(linkRE.FindSubmatch(m)[1])
		a, ok := c.assets[u]
		if !ok {
			missing = append(missing, u)
			return m
		}
		return bytes.Replace(m, []byte(u), []byte(u+"?v="+a.hash), 1)
	})
	if len(missing) > 0 {
		return nil, fmt.Errorf("web: index.html links files that are not embedded: %s", strings.Join(missing, ", "))
	}
	return c, nil
}

// Patterns returns the ServeMux patterns the console serves: GET (and so
// HEAD) of each page path and of /assets/.
func (c *Console) Patterns() []string {
	out := make([]string, 0, len(pages)+1)
	for _, p := range pages {
		out = append(out, "GET "+p)
	}
	return append(out, "GET /assets/")
}

// ServeHTTP serves an asset under /assets/ and the shell page anywhere
// else (the caller routes only [Console.Patterns] here).
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	if !strings.HasPrefix(r.URL.Path, "/assets/") {
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		http.ServeContent(w, r, "index.html", time.Time{}, bytes.NewReader(c.shell))
		return
	}
	a, ok := c.assets[r.URL.Path]
	if !ok {
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, "no such file: %s\n", r.URL.Path)
		return
	}
	h.Set("Content-Type", a.ctype)
	h.Set("ETag", `"`+a.hash+`"`)
	if r.URL.Query().Get("v") == a.hash {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}
