package notify_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/notify"
)

// syslogMsg is a parsed RFC 5424 message.
type syslogMsg struct {
	pri                          int
	ts, host, app, procid, msgid string
	sdid                         string
	sd                           map[string]string
	msg                          string
}

// parse5424 parses one RFC 5424 message with at most one SD element,
// failing on anything malformed.
func parse5424(t testing.TB, s string) syslogMsg {
	t.Helper()
	var m syslogMsg
	if !strings.HasPrefix(s, "<") {
		t.Fatalf("no PRI in %q", s)
	}
	end := strings.Index(s, ">1 ")
	if end < 0 {
		t.Fatalf("no version 1 in %q", s)
	}
	pri, err := strconv.Atoi(s[1:end])
	if err != nil || pri < 0 || pri > 191 {
		t.Fatalf("bad PRI in %q", s)
	}
	m.pri = pri
	f := strings.SplitN(s[end+3:], " ", 6)
	if len(f) < 6 {
		t.Fatalf("short header in %q", s)
	}
	m.ts, m.host, m.app, m.procid, m.msgid = f[0], f[1], f[2], f[3], f[4]
	for _, h := range f[:5] {
		if h == "" || strings.ContainsFunc(h, func(r rune) bool { return r < 33 || r > 126 }) {
			t.Fatalf("bad header field %q in %q", h, s)
		}
	}
	rest := f[5]
	m.sd = map[string]string{}
	switch {
	case strings.HasPrefix(rest, "-"):
		rest = rest[1:]
	case strings.HasPrefix(rest, "["):
		i := strings.IndexAny(rest, " ]")
		m.sdid = rest[1:i]
		rest = rest[i:]
		for strings.HasPrefix(rest, " ") {
			eq := strings.Index(rest, `="`)
			if eq < 0 {
				t.Fatalf("bad SD param in %q", s)
			}
			name := rest[1:eq]
			rest = rest[eq+2:]
			var v strings.Builder
			for {
				if rest == "" {
					t.Fatalf("unterminated SD value in %q", s)
				}
				c := rest[0]
				rest = rest[1:]
				if c == '"' {
					break
				}
				if c == '\\' && rest != "" && strings.IndexByte(`"\]`, rest[0]) >= 0 {
					c, rest = rest[0], rest[1:]
				} else if c == ']' {
					t.Fatalf("unescaped ] in SD value in %q", s)
				}
				v.WriteByte(c)
			}
			m.sd[name] = v.String()
		}
		if !strings.HasPrefix(rest, "]") {
			t.Fatalf("unterminated SD element in %q", s)
		}
		rest = rest[1:]
	default:
		t.Fatalf("bad structured data in %q", s)
	}
	if rest != "" {
		if !strings.HasPrefix(rest, " ") {
			t.Fatalf("no space before MSG in %q", s)
		}
		m.msg = strings.TrimPrefix(rest[1:], "\uFEFF")
	}
	return m
}

// readFrame reads one octet-counted frame (RFC 6587).
func readFrame(r *bufio.Reader) (string, error) {
	n, err := r.ReadString(' ')
	if err != nil {
		return "", err
	}
	size, err := strconv.Atoi(strings.TrimSuffix(n, " "))
	if err != nil || size <= 0 {
		return "", errors.New("bad octet count " + strconv.Quote(n))
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", err
	}
	return string(b), nil
}

// streamServer accepts connections and reads frames; each connection
// gets its index so tests can tell a reconnect.
type streamServer struct {
	ln     net.Listener
	conns  chan net.Conn
	frames chan frame
}

type frame struct {
	conn int
	msg  string
}

func newStreamServer(t *testing.T, ln net.Listener) *streamServer {
	s := &streamServer{ln: ln, conns: make(chan net.Conn, 10), frames: make(chan frame, 10)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns <- c
			go func() {
				r := bufio.NewReader(c)
				for {
					m, err := readFrame(r)
					if err != nil {
						return
					}
					s.frames <- frame{conn: i, msg: m}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for {
			select {
			case c := <-s.conns:
				c.Close()
			default:
				return
			}
		}
	})
	return s
}

func newSyslog(t *testing.T, opts notify.SyslogOptions) *notify.Syslog {
	t.Helper()
	opts.Hostname = "ward-1"
	s, err := notify.NewSyslog(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSyslogUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	s := newSyslog(t, notify.SyslogOptions{Network: "udp", Address: pc.LocalAddr().String()})
	if err := s.Send(t.Context(), sample()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	pc.SetReadDeadline(time.Now().Add(wait))
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	m := parse5424(t, string(buf[:n]))
	if m.pri != 4*8+3 || m.host != "ward-1" || m.app != "ward" || m.sdid != notify.SDID || m.sd["device"] != "d-42" ||
		m.msg != sample().Alert.Title+": "+sample().Alert.Description {
		t.Errorf("received %+v", m)
	}
}

func TestSyslogTCPReconnects(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newStreamServer(t, ln)
	s := newSyslog(t, notify.SyslogOptions{Network: "tcp", Address: ln.Addr().String(), Format: notify.MessageCEF})

	if err := s.Send(t.Context(), withID("first")); err != nil {
		t.Fatal(err)
	}
	f := recvTimeout(t, srv.frames, "the first frame")
	if m := parse5424(t, f.msg); f.conn != 0 || !strings.Contains(m.msg, "externalId=first") {
		t.Fatalf("first frame %+v", f)
	}
	// The collector closes the connection; the sink notices before writing.
	c := recvTimeout(t, srv.conns, "the first connection")
	c.Close()
	recvTimeout(t, s.ConnClosed(), "the sink to notice the closed connection")
	if err := s.Send(t.Context(), withID("second")); err != nil {
		t.Fatal(err)
	}
	f = recvTimeout(t, srv.frames, "the second frame")
	if m := parse5424(t, f.msg); f.conn != 1 || !strings.Contains(m.msg, "externalId=second") {
		t.Fatalf("second frame %+v, want it on a new connection", f)
	}
}

func TestSyslogTCPRedialsAfterCollectorRestart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	srv := newStreamServer(t, ln)
	s := newSyslog(t, notify.SyslogOptions{Network: "tcp", Address: addr})
	if err := s.Send(t.Context(), withID("first")); err != nil {
		t.Fatal(err)
	}
	recvTimeout(t, srv.frames, "the first frame")
	ln.Close() // the collector goes away entirely
	c := recvTimeout(t, srv.conns, "the connection")
	c.Close()
	recvTimeout(t, s.ConnClosed(), "the sink to notice the closed connection")
	if err := s.Send(t.Context(), withID("lost")); err == nil {
		t.Fatal("Send to a stopped collector succeeded")
	}
	// The collector comes back on the same address: the next Send (the
	// Dispatcher's retry) dials again.
	ln2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	srv2 := newStreamServer(t, ln2)
	if err := s.Send(t.Context(), withID("again")); err != nil {
		t.Fatal(err)
	}
	if f := recvTimeout(t, srv2.frames, "the frame after the restart"); !strings.Contains(f.msg, `id="again"`) {
		t.Errorf("frame %q", f.msg)
	}
}

func TestSyslogTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	srv := newStreamServer(t, ln)
	s := newSyslog(t, notify.SyslogOptions{Network: "tls", Address: ln.Addr().String(),
		TLS: &tls.Config{RootCAs: pool}})
	n := tricky()
	if err := s.Send(t.Context(), n); err != nil {
		t.Fatal(err)
	}
	f := recvTimeout(t, srv.frames, "the frame")
	m := parse5424(t, f.msg)
	if m.sd["rule"] != n.Alert.Rule || m.sd["device"] != n.Alert.Device {
		t.Errorf("structured data %v", m.sd)
	}
	if !strings.Contains(f.msg, " \uFEFF") {
		t.Errorf("non-ASCII MSG without BOM: %q", f.msg)
	}

	// A collector whose certificate is not trusted is refused.
	bad := newSyslog(t, notify.SyslogOptions{Name: "untrusted", Network: "tls", Address: ln.Addr().String()})
	if err := bad.Send(t.Context(), n); err == nil {
		t.Error("TLS to an untrusted collector succeeded")
	}
}

func TestNewSyslogErrors(t *testing.T) {
	tests := []struct {
		name string
		opts notify.SyslogOptions
		want string
	}{
		{"network", notify.SyslogOptions{Network: "sctp", Address: "h:514"}, `network: unknown network "sctp"`},
		{"address", notify.SyslogOptions{Network: "udp", Address: "h"}, `address: "h" is not host:port`},
		{"format", notify.SyslogOptions{Network: "udp", Address: "h:514", Format: "leef"}, `format: unknown format "leef"`},
		{"insecure", notify.SyslogOptions{Address: "h:6514", TLS: &tls.Config{InsecureSkipVerify: true}}, "InsecureSkipVerify"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := notify.NewSyslog(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// selfSigned returns a certificate for 127.0.0.1 and a pool trusting it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "syslog test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	crt, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(crt)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: crt}, pool
}
