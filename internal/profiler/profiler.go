// Package profiler serves the Go runtime's profiles (net/http/pprof:
// /debug/pprof/heap, goroutine, profile, trace, ...) for `ward serve
// --pprof-addr`. It is off unless asked for, and it listens only on a
// loopback address: profiles show code paths, memory contents such as
// topic names, and the command line, and the listener has no
// authentication, so reaching it from another host must take an SSH tunnel
// or similar that the operator sets up on purpose.
//
// The handlers are registered on the package's own mux; importing
// net/http/pprof also registers them on http.DefaultServeMux, which Ward
// never serves.
package profiler

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// ErrNotLoopback is returned by Listen for an address that is not on a
// loopback interface.
var ErrNotLoopback = errors.New("the pprof listener serves only a loopback address (127.0.0.1, ::1 or localhost)")

// Server is a running pprof listener.
type Server struct {
	ln  net.Listener
	srv *http.Server
}

// CheckAddr reports whether addr (host:port) names a loopback host: an IP
// literal on a loopback network or "localhost". An empty host (all
// interfaces) is refused.
func CheckAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("pprof address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("pprof address %q: %w", addr, ErrNotLoopback)
	}
	return nil
}

// Listen checks addr with CheckAddr, binds it and checks that the bound
// address is loopback too (localhost resolves through the system's
// resolver). Serve must be called to answer requests.
func Listen(addr string) (*Server, error) {
	if err := CheckAddr(addr); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("pprof listener on %s: %w", addr, err)
	}
	if ta, ok := ln.Addr().(*net.TCPAddr); !ok || !ta.IP.IsLoopback() {
		_ = ln.Close()
		return nil, fmt.Errorf("pprof address %q bound %s: %w", addr, ln.Addr(), ErrNotLoopback)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return &Server{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}, nil
}

// Addr is the address the listener is bound to.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve answers requests until Close; it then returns nil.
func (s *Server) Serve() error {
	if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("pprof listener on %s: %w", s.ln.Addr(), err)
	}
	return nil
}

// Close stops the listener and ends open requests (a CPU profile being
// taken is cut short).
func (s *Server) Close() error {
	return s.srv.Close()
}
