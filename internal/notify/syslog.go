package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/wardproject/ward/internal/alert"
)

// Syslog transports.
const (
	NetworkUDP = "udp" // RFC 5426: one message per datagram
	NetworkTCP = "tcp" // RFC 6587 octet counting
	NetworkTLS = "tls" // RFC 5425: octet counting over TLS
)

// maxSyslogBytes bounds one message; longer ones are cut (at a rune
// boundary). It is below the largest IPv4 UDP payload.
const maxSyslogBytes = 60 << 10

// SyslogOptions configure a Syslog sink. Address is required.
type SyslogOptions struct {
	// Name is the sink's name in metrics, logs and dead letters; "" means
	// "syslog".
	Name string
	// Network is NetworkUDP, NetworkTCP or NetworkTLS; "" means NetworkTLS.
	Network string
	// Address is the collector's host:port.
	Address string
	// Format is the MSG format; "" means MessageRFC5424.
	Format MessageFormat
	// AppName is the APP-NAME header field; "" means "ward".
	AppName string
	// Hostname is the HOSTNAME header field; "" means os.Hostname.
	Hostname string
	// Facility is the syslog facility 1-23; 0 means FacilityAuth (the
	// kernel's facility 0 is not for applications).
	Facility int
	// TLS is the client TLS configuration for NetworkTLS; nil means the
	// system roots. TLS 1.2 is the floor; InsecureSkipVerify is refused.
	TLS *tls.Config
	// Timeout bounds connecting and each write; 0 means 10s.
	Timeout time.Duration
}

// Syslog is a Sink that writes RFC 5424 messages to a collector over UDP,
// TCP or TLS. It keeps one connection and replaces it when it breaks: a
// failed write closes it and the next Send (the Dispatcher's retry)
// dials again; a connection the collector closed is noticed before the
// next write. It is safe for concurrent use.
type Syslog struct {
	opts   SyslogOptions
	header SyslogHeader
	tls    *tls.Config

	mu   sync.Mutex // guards conn; held while writing
	conn *syslogConn
}

// syslogConn is one connection and, for a stream, the goroutine that
// notices the collector closing it.
type syslogConn struct {
	net.Conn
	stream bool
	// closed is closed by the reader once the peer closed the connection
	// or it failed; done once the reader has returned.
	closed, done chan struct{}
}

// NewSyslog checks opts and returns a Syslog sink. It does not connect:
// the first Send does.
func NewSyslog(opts SyslogOptions) (*Syslog, error) {
	if opts.Name == "" {
		opts.Name = "syslog"
	}
	if opts.Network == "" {
		opts.Network = NetworkTLS
	}
	if opts.Format == "" {
		opts.Format = MessageRFC5424
	}
	if opts.AppName == "" {
		opts.AppName = "ward"
	}
	if opts.Hostname == "" {
		opts.Hostname, _ = os.Hostname()
	}
	if opts.Facility == 0 {
		opts.Facility = FacilityAuth
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	s := &Syslog{opts: opts, header: SyslogHeader{
		Facility: opts.Facility, Hostname: opts.Hostname, AppName: opts.AppName, Message: opts.Format,
	}}
	var errs []error
	bad := func(key, problem, hint string) {
		errs = append(errs, &ConfigError{Kind: "syslog", Name: opts.Name, Key: key, Problem: problem, Hint: hint})
	}
	switch opts.Network {
	case NetworkUDP, NetworkTCP:
	case NetworkTLS:
		c, err := clientTLS(opts.TLS, "syslog", opts.Name)
		if err != nil {
			errs = append(errs, err)
		}
		s.tls = c
	default:
		bad("network", fmt.Sprintf("unknown network %q", opts.Network), "use udp, tcp or tls")
	}
	if _, _, err := net.SplitHostPort(opts.Address); err != nil || opts.Address == "" {
		bad("address", fmt.Sprintf("%q is not host:port", opts.Address), "e.g. siem.example.com:6514")
	}
	switch opts.Format {
	case MessageRFC5424, MessageCEF:
	default:
		bad("format", fmt.Sprintf("unknown format %q", opts.Format), "use rfc5424 or cef")
	}
	if opts.Facility < 0 || opts.Facility > 23 {
		bad("facility", fmt.Sprintf("%d is not 0-23", opts.Facility), "")
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

// Name returns the sink's name.
func (s *Syslog) Name() string { return s.opts.Name }

// Send writes n as one message.
func (s *Syslog) Send(ctx context.Context, n alert.Notification) error {
	msg := truncateUTF8(FormatRFC5424(s.header, n), maxSyslogBytes)
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.conn
	if c != nil && c.broken() {
		s.closeLocked()
		c = nil
	}
	if c == nil {
		var err error
		if c, err = s.dial(ctx); err != nil {
			return err
		}
		s.conn = c
	}
	deadline := time.Now().Add(s.opts.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = c.SetWriteDeadline(deadline)
	// Unblock the write when ctx ends first (Run's drain deadline).
	stop := context.AfterFunc(ctx, func() { _ = c.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	var frame []byte
	if c.stream {
		frame = strconv.AppendInt(frame, int64(len(msg)), 10)
		frame = append(frame, ' ')
	}
	frame = append(frame, msg...)
	if _, err := c.Write(frame); err != nil {
		s.closeLocked()
		return fmt.Errorf("write to syslog %s %s: %w", s.opts.Network, s.opts.Address, err)
	}
	return nil
}

// dial connects to the collector.
func (s *Syslog) dial(ctx context.Context) (*syslogConn, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	var (
		conn net.Conn
		err  error
	)
	switch s.opts.Network {
	case NetworkTLS:
		d := &tls.Dialer{NetDialer: &net.Dialer{}, Config: s.tls}
		conn, err = d.DialContext(ctx, "tcp", s.opts.Address)
	default:
		var d net.Dialer
		conn, err = d.DialContext(ctx, s.opts.Network, s.opts.Address)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to syslog %s %s: %w", s.opts.Network, s.opts.Address, err)
	}
	c := &syslogConn{Conn: conn, stream: s.opts.Network != NetworkUDP, closed: make(chan struct{}), done: make(chan struct{})}
	if c.stream {
		go c.watch()
	} else {
		close(c.closed)
		close(c.done)
	}
	return c, nil
}

// watch reads from the connection until it fails: a collector sends
// nothing, so a read returning means the collector closed the connection
// (or sent garbage) and the next message must go over a new one. Reading
// also lets a TLS connection process post-handshake messages.
func (c *syslogConn) watch() {
	defer close(c.done)
	_, _ = io.Copy(io.Discard, c.Conn)
	close(c.closed)
}

// broken reports whether the collector closed a stream connection.
func (c *syslogConn) broken() bool {
	if !c.stream {
		return false
	}
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// closeLocked closes the connection and waits for its reader.
func (s *Syslog) closeLocked() {
	if s.conn == nil {
		return
	}
	_ = s.conn.Close()
	<-s.conn.done
	s.conn = nil
}

// Close closes the connection.
func (s *Syslog) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeLocked()
	return nil
}

// truncateUTF8 cuts s to at most n bytes without splitting a rune.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
