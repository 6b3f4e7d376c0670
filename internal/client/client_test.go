package client

import (
	"context"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/wardproject/ward/internal/buildinfo"
)

// TestUserAgent: every request of the CLI's client says which Ward sent
// it, so a server's log tells CLI versions apart.
func TestUserAgent(t *testing.T) {
	got := make(chan string, 2)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("User-Agent")
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	c, err := New(Options{Server: srv.URL, Token: "t", Roots: roots})
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := c.Get(context.Background(), "/api/v1/info", &v); err != nil {
		t.Fatal(err)
	}
	if ua := <-got; ua != "ward/"+buildinfo.Version {
		t.Errorf("User-Agent %q, want ward/%s", ua, buildinfo.Version)
	}
}
