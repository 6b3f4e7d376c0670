package wardtest

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// NATSServer is a nats-server process of the test's own, with JetStream
// in a temporary directory, that the test may stop and start again on
// the same port (the shared server on 4222 must never be touched).
type NATSServer struct {
	t    testing.TB
	bin  string
	port int
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

// StartNATS starts a private nats-server (-js) on a free loopback port,
// stopped at cleanup. It skips like RequireTool when nats-server is not
// installed.
func StartNATS(t testing.TB) *NATSServer {
	t.Helper()
	bin := "/usr/sbin/nats-server"
	if _, err := os.Stat(bin); err != nil {
		if p, err := exec.LookPath("nats-server"); err == nil {
			bin = p
		} else {
			RequireTool(t, "nats-server")
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	n := &NATSServer{t: t, bin: bin, port: port, dir: filepath.Join(t.TempDir(), "nats")}
	n.Start()
	t.Cleanup(n.Stop)
	return n
}

// URL is the server's client URL.
func (n *NATSServer) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.port) }

// Start starts the server (again) on its port and store directory and
// returns once it accepts connections.
func (n *NATSServer) Start() {
	n.t.Helper()
	if n.cmd != nil {
		n.t.Fatal("wardtest: nats-server already running")
	}
	cmd := exec.Command(n.bin, "-a", "127.0.0.1", "-p", fmt.Sprint(n.port), "-js", "-sd", n.dir)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		n.t.Fatalf("start nats-server: %v", err)
	}
	n.cmd, n.done = cmd, make(chan struct{})
	go func() { cmd.Wait(); close(n.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", n.port), time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-n.done:
			n.cmd = nil
			n.t.Fatalf("nats-server on port %d exited at start (port taken?)", n.port)
		default:
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("nats-server on port %d does not accept connections: %v", n.port, err)
		}
		time.Sleep(20 * time.Millisecond) // polling a port that is not open yet: no event to wait on
	}
}

// Stop stops the server (SIGTERM, then SIGKILL after 10 s) and waits for
// it to exit; stopping a stopped server does nothing.
func (n *NATSServer) Stop() {
	if n.cmd == nil {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
	case <-time.After(10 * time.Second):
		_ = n.cmd.Process.Kill()
		<-n.done
	}
	n.cmd = nil
}

// Proxy forwards TCP connections to a target, and can cut them: a
// network partition of one client, while the others keep their
// connections to the same server.
type Proxy struct {
	t      testing.TB
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// NewProxy listens on a free loopback port and forwards to target until
// cleanup.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{t: t, target: target, addr: ln.Addr().String(), conns: map[net.Conn]struct{}{}}
	p.serve(ln)
	t.Cleanup(func() { p.Cut(); p.wg.Wait() })
	return p
}

// Addr is the proxy's listening address.
func (p *Proxy) Addr() string { return p.addr }

// Cut closes every forwarded connection and stops listening: new
// connections are refused until Restore.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// Restore listens again on the same address.
func (p *Proxy) Restore() {
	p.t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("proxy: listen again on %s: %v", p.addr, err)
	}
	p.serve(ln)
}

func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			if p.ln != ln { // cut meanwhile
				p.mu.Unlock()
				c.Close()
				up.Close()
				continue
			}
			p.conns[c], p.conns[up] = struct{}{}, struct{}{}
			p.mu.Unlock()
			for _, pair := range [][2]net.Conn{{c, up}, {up, c}} {
				p.wg.Add(1)
				go func() {
					defer p.wg.Done()
					_, _ = io.Copy(pair[0], pair[1]) // an error (reset, cut) ends the pair like EOF
					pair[0].Close()
					pair[1].Close()
					p.mu.Lock()
					delete(p.conns, pair[0])
					delete(p.conns, pair[1])
					p.mu.Unlock()
				}()
			}
		}
	}()
}
