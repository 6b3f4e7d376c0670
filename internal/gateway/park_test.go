//go:build linux

package gateway_test

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/gateway"
)

// sessionGoroutines counts the goroutines inside mochi's read loop (a
// session that waits for its next packet on a goroutine, or handles one).
func sessionGoroutines() int {
	buf := make([]byte, 8<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Count(string(buf), "mochi.(*Server).serveClient")
}

// waitParked waits until n sessions are parked (the gauge) and no
// goroutine is left in a session's read loop.
func (e *env) waitParked(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		p, g := int(e.metric("ward_gateway_sessions_parked", "")), sessionGoroutines()
		if p == n && g == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %d sessions parked (want %d), %d goroutines in a session's read loop (want 0)", wait, p, n, g)
		}
		time.Sleep(5 * time.Millisecond) // poll: sessions park on their own
	}
}

// TestIdleSessionsHoldNoGoroutine: an idle session parks on the poller
// with no goroutine at all (issue 13: a goroutine's stack was a quarter of
// an idle session's memory), and a parked session still receives, sends,
// answers pings and is cut when its device is revoked.
func TestIdleSessionsHoldNoGoroutine(t *testing.T) {
	const n = 40
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("dev-%02d", i)
	}
	e := newEnv(t, activeDevices(ids...), nil, gateway.Limits{})
	clients := make([]*client, n)
	for i, id := range ids {
		cert := issue(t, e.ca, id)
		clients[i] = e.mustConnect(&cert, id)
		if code := clients[i].subscribe(t, "devices/"+id+"/#"); code != 1 {
			t.Fatalf("%s: SUBACK %#x", id, code)
		}
	}
	e.waitParked(t, n)
	// Parked, each has given back the TLS handshake's leftovers, the
	// client certificate among them (tlsidle.Release).
	for _, id := range ids {
		if certs, ok := e.gw.PeerCertificates(id); !ok || certs != 0 {
			t.Fatalf("%s parked: session found %v, %d peer certificates kept; want 0", id, ok, certs)
		}
	}

	// Every parked session wakes for its device's publish, and the
	// message comes back to it through its own subscription.
	for round := range 2 {
		for i, c := range clients {
			c.publish(t, "devices/"+ids[i]+"/status", []byte{byte(round), byte(i)})
		}
		for i, c := range clients {
			if m := c.next(t); m.Topic() != "devices/"+ids[i]+"/status" || m.Payload()[0] != byte(round) || m.Payload()[1] != byte(i) {
				t.Fatalf("%s round %d: got %s % x", ids[i], round, m.Topic(), m.Payload())
			}
		}
		e.waitParked(t, n)
	}

	// A parked session is cut when its device is disconnected.
	if got := e.gw.Disconnect(ids[0]); got != 1 {
		t.Fatalf("Disconnect closed %d sessions, want 1", got)
	}
	waitLost(t, clients[0])
	e.waitParked(t, n-1)
}

// connectKeepalive opens a mutual-TLS connection with an MQTT 3.1.1
// CONNECT whose keep-alive is keepalive seconds and reads the CONNACK.
func (e *env) connectKeepalive(t *testing.T, cert *tls.Certificate, clientID string, keepalive byte) net.Conn {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: wait}, "tcp", e.addr, e.clientTLS(cert))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	body := append([]byte{0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, keepalive, 0, byte(len(clientID))}, clientID...)
	if _, err := c.Write(append([]byte{0x10, byte(len(body))}, body...)); err != nil {
		t.Fatalf("CONNECT: %v", err)
	}
	ack := make([]byte, 4)
	_ = c.SetReadDeadline(time.Now().Add(wait))
	if _, err := io.ReadFull(c, ack); err != nil || ack[0] != 0x20 || ack[3] != 0 {
		t.Fatalf("CONNACK % x: %v", ack, err)
	}
	return c
}

// TestParkedSessionKeepaliveExpires: a device that goes silent while its
// session is parked is still cut at 1.5 times its keep-alive, as a
// waiting read's deadline would cut it ([MQTT-3.1.2-22]); and one that
// pings in time is not.
func TestParkedSessionKeepaliveExpires(t *testing.T) {
	e := newEnv(t, activeDevices("dev-silent", "dev-pinging"), nil, gateway.Limits{})
	silentCert, pingCert := issue(t, e.ca, "dev-silent"), issue(t, e.ca, "dev-pinging")
	silent := e.connectKeepalive(t, &silentCert, "dev-silent", 2)
	pinging := e.connectKeepalive(t, &pingCert, "dev-pinging", 2)
	e.waitParked(t, 2)

	// dev-pinging pings every second: well inside 3 s.
	stop := make(chan struct{})
	pingErr := make(chan error, 1)
	go func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		resp := make([]byte, 2)
		for {
			select {
			case <-stop:
				pingErr <- nil
				return
			case <-tick.C:
			}
			_ = pinging.SetDeadline(time.Now().Add(wait))
			if _, err := pinging.Write([]byte{0xc0, 0}); err != nil {
				pingErr <- fmt.Errorf("PINGREQ: %w", err)
				return
			}
			if _, err := io.ReadFull(pinging, resp); err != nil || resp[0] != 0xd0 {
				pingErr <- fmt.Errorf("PINGRESP % x: %w", resp, err)
				return
			}
		}
	}()

	start := time.Now()
	_ = silent.SetReadDeadline(start.Add(wait))
	_, err := silent.Read(make([]byte, 1))
	took := time.Since(start)
	var ne net.Error
	if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("silent session still open after %s (read: %v); want it cut at 3 s", took, err)
	}
	if took < 2*time.Second {
		t.Fatalf("silent session cut after %s, before 1.5 x its 2 s keep-alive", took)
	}
	t.Logf("silent parked session cut after %s (keep-alive 2 s)", took)
	close(stop)
	if err := <-pingErr; err != nil {
		t.Fatalf("pinging device: %v", err)
	}
}

// TestParkedSessionsChurn: devices publish, disconnect, are cut by the
// gateway and reconnect at once, many at a time, so that wakes, parks and
// closes race; afterwards every session has ended or parked, and the
// gateway stops with no goroutine left behind (TestMain's leak check).
func TestParkedSessionsChurn(t *testing.T) {
	const n, rounds = 16, 8
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("churn-%02d", i)
	}
	e := newEnv(t, activeDevices(ids...), nil, gateway.Limits{ConnectsPerMinute: 1e6, HandshakesPerAddress: n, HandshakesPerPrefix: n})
	certs := make([]tls.Certificate, n)
	for i, id := range ids {
		certs[i] = issue(t, e.ca, id)
	}
	var wg sync.WaitGroup
	errs := make(chan error, n*rounds)
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				c, err := e.connect(&certs[i], id)
				if err != nil {
					errs <- fmt.Errorf("%s round %d: connect: %w", id, r, err)
					return
				}
				tok := c.c.Publish("devices/"+id+"/status", 1, false, []byte("x"))
				if !tok.WaitTimeout(wait) || tok.Error() != nil {
					errs <- fmt.Errorf("%s round %d: publish: %v", id, r, tok.Error())
					return
				}
				switch r % 3 {
				case 0:
					c.c.Disconnect(0) // the device leaves
				case 1:
					e.gw.Disconnect(id) // the gateway cuts it, parked or not
					<-c.lost
				case 2:
					// left connected: the next connect takes the session over
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		for len(e.events) > 0 {
			ev := <-e.events
			t.Logf("event %s %s %v", ev.DeviceID, ev.Kind, ev.Detail)
		}
	}
	// The last round (r = 7, 7 % 3 == 1) cut every device.
	e.waitParked(t, 0)
}

// TestSessionParksAtOnceAfterPing: a device that pings has nothing else
// to send, so its session parks as soon as the PINGRESP is out instead of
// lingering for a next packet (idle CPU: the linger's timer and reads
// were paid on every keep-alive of every idle device). The linger is set
// to an hour here: only the ping can have parked the session.
func TestSessionParksAtOnceAfterPing(t *testing.T) {
	e := newEnv(t, activeDevices("dev-ping"), nil, gateway.Limits{})
	e.gw.SetParkLinger(time.Hour)
	cert := issue(t, e.ca, "dev-ping")
	c := e.connectKeepalive(t, &cert, "dev-ping", 60)
	for range 3 {
		_ = c.SetDeadline(time.Now().Add(wait))
		if _, err := c.Write([]byte{0xc0, 0}); err != nil {
			t.Fatalf("PINGREQ: %v", err)
		}
		resp := make([]byte, 2)
		if _, err := io.ReadFull(c, resp); err != nil || resp[0] != 0xd0 {
			t.Fatalf("PINGRESP % x: %v", resp, err)
		}
		e.waitParked(t, 1)
	}
}
