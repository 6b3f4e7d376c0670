package update

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// serveFixture is a repository with one firmware, served by NewHandler
// under /tuf/ as ward serve mounts it.
func serveFixture(t *testing.T) (*fixture, *Handler, string) {
	t.Helper()
	f := newFixture(t, nil)
	tf := f.addFirmware("1.5.0", fwBytes)
	h, err := NewHandler(HandlerOptions{Dir: f.dir()})
	if err != nil {
		t.Fatal(err)
	}
	return f, h, "targets/acme-th1/1.5.0/" + tf.Hashes["sha256"].String() + ".fw.bin"
}

// get sends a request for the raw (already escaped) path to h.
func get(t *testing.T, h http.Handler, method, rawPath string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, "http://ward.test/tuf/x", nil)
	// Set the raw path as a client sends it, escapes and all.
	r.URL.RawPath = "/tuf/" + rawPath
	if p, err := url.PathUnescape("/tuf/" + rawPath); err == nil {
		r.URL.Path = p
	} else {
		r.URL.RawPath, r.URL.Path = "", "/tuf/"+rawPath
	}
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestHandlerServesLayout(t *testing.T) {
	f, h, target := serveFixture(t)
	delegated := versionedName(ModelRole("acme-th1"), 1)
	tests := []struct {
		name, path, ctype string
		want              []byte
	}{
		{"root", "root.json", "application/json", f.read("root.json")},
		{"versioned root", "1.root.json", "application/json", f.read("1.root.json")},
		{"timestamp", "timestamp.json", "application/json", f.read("timestamp.json")},
		{"delegated role by its escaped name", delegated, "application/json", f.read(delegated)},
		{"target by sha256", target, "application/octet-stream", fwBytes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := get(t, h, http.MethodGet, tt.path, nil)
			if w.Code != http.StatusOK {
				t.Fatalf("GET %s: %d %s", tt.path, w.Code, w.Body)
			}
			if !bytes.Equal(w.Body.Bytes(), tt.want) {
				t.Fatalf("GET %s: body differs from the file", tt.path)
			}
			if got := w.Header().Get("Content-Type"); got != tt.ctype {
				t.Errorf("Content-Type = %q, want %q", got, tt.ctype)
			}
			etag := w.Header().Get("ETag")
			if !strings.HasPrefix(etag, `"`) || len(etag) < 66 || w.Header().Get("Last-Modified") == "" {
				t.Errorf("ETag %q, Last-Modified %q: want a strong hash ETag and a date", etag, w.Header().Get("Last-Modified"))
			}
			if w := get(t, h, http.MethodGet, tt.path, map[string]string{"If-None-Match": etag}); w.Code != http.StatusNotModified {
				t.Errorf("If-None-Match its ETag: %d, want 304", w.Code)
			}
			head := get(t, h, http.MethodHead, tt.path, nil)
			if head.Code != http.StatusOK || head.Body.Len() != 0 || head.Header().Get("Content-Length") != w.Header().Get("Content-Length") {
				t.Errorf("HEAD: %d, %d body bytes, length %q (GET %q)", head.Code, head.Body.Len(), head.Header().Get("Content-Length"), w.Header().Get("Content-Length"))
			}
		})
	}
}

// TestHandlerRangeResume cuts a download and resumes it with Range and
// If-Range, as a device does after a dropped connection: the two parts
// are the file.
func TestHandlerRangeResume(t *testing.T) {
	_, h, target := serveFixture(t)
	full := get(t, h, http.MethodGet, target, nil)
	cut := 4321
	part := get(t, h, http.MethodGet, target, map[string]string{"Range": "bytes=0-" + strconv.Itoa(cut-1)})
	if part.Code != http.StatusPartialContent || part.Body.Len() != cut {
		t.Fatalf("first part: %d, %d bytes", part.Code, part.Body.Len())
	}
	rest := get(t, h, http.MethodGet, target, map[string]string{"Range": "bytes=" + strconv.Itoa(cut) + "-", "If-Range": full.Header().Get("ETag")})
	if rest.Code != http.StatusPartialContent {
		t.Fatalf("resume: %d", rest.Code)
	}
	if got := append(part.Body.Bytes(), rest.Body.Bytes()...); !bytes.Equal(got, fwBytes) {
		t.Fatal("the resumed download differs from the firmware")
	}
	// A stale If-Range (the object changed) gets the whole file, not a
	// part of something else.
	stale := get(t, h, http.MethodGet, target, map[string]string{"Range": "bytes=10-", "If-Range": `"0000"`})
	if stale.Code != http.StatusOK || !bytes.Equal(stale.Body.Bytes(), fwBytes) {
		t.Fatalf("stale If-Range: %d, want 200 and the whole file", stale.Code)
	}
	if w := get(t, h, http.MethodGet, target, map[string]string{"Range": "bytes=999999999-"}); w.Code != http.StatusRequestedRangeNotSatisfiable {
		t.Fatalf("range past the end: %d, want 416", w.Code)
	}
}

// TestAttackHandlerPaths asks for everything a repository directory holds
// or could be tricked into reaching that is not a file of the layout.
func TestAttackHandlerPaths(t *testing.T) {
	f, h, target := serveFixture(t)
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("server secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Symlinks out of the directory, under names of the layout.
	if err := os.Symlink(secret, filepath.Join(f.dir(), "99.targets.json")); err != nil {
		t.Fatal(err)
	}
	evilTarget := "targets/acme-th1/1.5.0/" + strings.Repeat("ab", 32) + ".fw.bin"
	if err := os.Symlink(secret, filepath.Join(f.dir(), filepath.FromSlash(evilTarget))); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Dir(secret), filepath.Join(f.dir(), "targets", "evil")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{
		".ward-update.lock", "%2eward-update.lock", "targets/.put-1", "targets/acme-th1/1.5.0/.put-1",
		"", "targets", "targets/", "targets/acme-th1", "targets/acme-th1/", "targets/acme-th1/1.5.0", "targets/acme-th1/1.5.0/",
		"..", "../ward.db", "%2e%2e/ward.db", "%2e%2e%2fward.db", "..%2fward.db", "..%2F..%2Fetc%2Fpasswd",
		"targets/..%2F..%2Ftuf-keys/x", "targets/%2e%2e/%2e%2e/" + strings.Repeat("ab", 32) + ".fw.bin",
		"targets/acme-th1%2F1.5.0/" + strings.Repeat("ab", 32) + ".fw.bin",
		"targets/acme-th1/1.5.0%2F" + strings.Repeat("ab", 32) + ".fw.bin",
		"targets/evil/1/" + strings.Repeat("ab", 32) + ".secret",
		strings.Replace(target, "acme-th1", "acme-th2", 1), // another model's path: absent
		"99.targets.json", evilTarget, // symlinks out
		"1.models%2facme-th1.json", "1.models/acme-th1.json", "01.root.json", "1.timestamp.json", "snapshot.json", "targets.json",
		"3.models%2F..%2Fx.json", "/etc/passwd", "//etc/passwd", "1.root.json/", "root.json%00", "root.json.bak",
		"../tuf-keys/root.key", "%2e%2e/tuf-keys/root.key",
	} {
		t.Run(p, func(t *testing.T) {
			w := get(t, h, http.MethodGet, p, nil)
			if w.Code != http.StatusNotFound {
				t.Fatalf("GET /tuf/%s: %d, want 404 (body %q)", p, w.Code, w.Body)
			}
			if strings.Contains(w.Body.String(), "secret") {
				t.Fatal("the body leaks the file outside the repository")
			}
		})
	}
	if w := get(t, h, http.MethodPost, "root.json", nil); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", w.Code)
	}
}

func TestParseRequestPath(t *testing.T) {
	h64 := strings.Repeat("0f", 32)
	tests := []struct {
		name, in string
		want     Request
		err      bool
	}{
		{"root", "root.json", Request{Metadata: "root.json"}, false},
		{"versioned root", "7.root.json", Request{Metadata: "7.root.json"}, false},
		{"snapshot", "12.snapshot.json", Request{Metadata: "12.snapshot.json"}, false},
		{"delegated", "3.models%2Facme-th1.json", Request{Metadata: "3.models%2Facme-th1.json"}, false},
		{"target", "targets/acme-th1/1.5.0+b1/" + h64 + ".fw.bin", Request{Target: "acme-th1/1.5.0+b1/" + h64 + ".fw.bin", Hash: h64}, false},
		{"sha512 target", "targets/m/1/" + h64 + h64 + ".f", Request{Target: "m/1/" + h64 + h64 + ".f", Hash: h64 + h64}, false},
		{"escaped plus in a target", "targets/m/1%2B2/" + h64 + ".f", Request{Target: "m/1+2/" + h64 + ".f", Hash: h64}, false},
		{"upper-case hash", "targets/m/1/" + strings.ToUpper(h64) + ".f", Request{}, true},
		{"short hash", "targets/m/1/abcd.f", Request{}, true},
		{"unversioned targets", "targets.json", Request{}, true},
		{"versioned timestamp", "2.timestamp.json", Request{}, true},
		{"zero-padded version", "03.snapshot.json", Request{}, true},
		{"unknown role", "1.foo.json", Request{}, true},
		{"bad escape", "targets/m/1/%zz", Request{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRequestPath(tt.in)
			if (err != nil) != tt.err {
				t.Fatalf("ParseRequestPath(%q) error = %v, want error %v", tt.in, err, tt.err)
			}
			if got != tt.want {
				t.Fatalf("ParseRequestPath(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzParseRequestPath(f *testing.F) {
	for _, s := range []string{"root.json", "3.models%2Facme-th1.json", "targets/acme-th1/1.5.0/" + strings.Repeat("ab", 32) + ".fw.bin",
		"targets/%2e%2e/x/y", "..%2f", ".ward-update.lock", "1.models%2F..%2Fx.json"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		req, err := ParseRequestPath(in)
		if err != nil {
			return
		}
		name := req.Metadata
		if req.Target != "" {
			name = req.Target
			if len(strings.Split(name, "/")) != 3 {
				t.Fatalf("%q → target %q: not <model>/<version>/<file>", in, name)
			}
		} else if strings.Contains(name, "/") {
			t.Fatalf("%q → metadata %q with a /", in, name)
		}
		if name == "" || (req.Metadata != "") == (req.Target != "") {
			t.Fatalf("%q → %+v: want exactly one name", in, req)
		}
		for _, seg := range strings.Split(name, "/") {
			if seg == "" || seg[0] == '.' || strings.Contains(seg, "\\") || strings.ContainsRune(seg, 0) {
				t.Fatalf("%q → %q: segment %q could leave the directory or name a dot file", in, name, seg)
			}
		}
	})
}
