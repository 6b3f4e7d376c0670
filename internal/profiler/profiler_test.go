package profiler_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"testing"

	"github.com/wardproject/ward/internal/profiler"
)

func TestListenRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:6060", "example.com:6060", "10.0.0.1:0"} {
		s, err := profiler.Listen(addr)
		if err == nil {
			_ = s.Close()
			t.Fatalf("Listen(%q) bound %s; want it refused", addr, s.Addr())
		}
		if !errors.Is(err, profiler.ErrNotLoopback) {
			t.Errorf("Listen(%q): %v; want ErrNotLoopback", addr, err)
		}
	}
	if _, err := profiler.Listen("127.0.0.1"); err == nil || errors.Is(err, profiler.ErrNotLoopback) {
		t.Errorf("Listen without a port: %v; want an address error", err)
	}
}

// TestServesHeapProfileOnLoopback fetches /debug/pprof/heap: a profile
// with the inuse_space sample type bench/connections.sh reads.
func TestServesHeapProfileOnLoopback(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", "localhost:0"} {
		s, err := profiler.Listen(addr)
		if err != nil {
			t.Fatalf("Listen(%q): %v", addr, err)
		}
		done := make(chan error, 1)
		go func() { done <- s.Serve() }()
		resp, err := http.Get("http://" + s.Addr().String() + "/debug/pprof/heap")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET heap: %d %v", resp.StatusCode, err)
		}
		// A profile is a gzipped protobuf whose string table names its
		// sample types.
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("heap profile is not gzip: %v (%q)", err, body[:min(len(body), 64)])
		}
		raw, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("heap profile: %v", err)
		}
		if !bytes.Contains(raw, []byte("inuse_space")) {
			t.Errorf("heap profile from %s has no inuse_space sample type", addr)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("Serve after Close: %v", err)
		}
	}
}
