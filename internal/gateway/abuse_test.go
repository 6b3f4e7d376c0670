package gateway_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/wardproject/ward/internal/gwevent"
	"github.com/wardproject/ward/internal/mochi/packets"

	"github.com/wardproject/ward/internal/gateway"
	"github.com/wardproject/ward/internal/pki"
	"github.com/wardproject/ward/internal/store"
)

// The tests in this file are the attacks of issue 9 on the gateway, run
// against a real gateway with real TLS and MQTT clients.

// bound bounds every wait in these tests (they run under -race on a loaded
// machine).
const bound = 15 * time.Second

// legitConnectBound is the bound the tests assert on a legitimate device's
// connect during a flood: generous for -race on two shared cores; the real
// figure (well under 1 s) is measured by bench/abuse.sh.
const legitConnectBound = 3 * time.Second

// raiseNoFile raises RLIMIT_NOFILE to n, or skips the test.
func raiseNoFile(t *testing.T, n uint64) {
	t.Helper()
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		t.Skipf("cannot read RLIMIT_NOFILE: %v", err)
	}
	if l.Cur >= n {
		return
	}
	want := l
	want.Cur = min(n, l.Max)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil || want.Cur < n {
		t.Skipf("this test holds about %d descriptors; RLIMIT_NOFILE is %d (hard %d) and cannot be raised: %v", n, l.Cur, l.Max, err)
	}
}

// floodSources returns n source addresses on the loopback network
// 127.<net>.0.0/16, perAddr connections per address and perPrefix per
// /24, so that a flood stays within the per-address and per-prefix caps
// and reaches the global one.
func floodSources(netByte byte, n, perAddr, perPrefix int) []net.IP {
	out := make([]net.IP, n)
	for i := range n {
		prefix, inPrefix := i/perPrefix, i%perPrefix
		out[i] = net.IPv4(127, netByte, byte(prefix), byte(1+inPrefix/perAddr))
	}
	return out
}

// dialAll dials one connection from each source with dial, 32 at a time,
// and closes them all at the end of the test.
func dialAll(t *testing.T, srcs []net.IP, dial func(d *net.Dialer) (net.Conn, error)) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, len(srcs))
	errs := make(chan error, len(srcs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i, ip := range srcs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := dial(&net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: bound})
			if err != nil {
				errs <- fmt.Errorf("dial from %s: %w", ip, err)
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	})
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return conns
}

// waitFor polls cond until it holds or bound passes (no event exists for
// what the gateway does with a socket that sends nothing).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", bound, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// timedConnect connects a legitimate device and returns how long it took.
func (e *env) timedConnect(t *testing.T, cert *tls.Certificate, clientID string) time.Duration {
	t.Helper()
	start := time.Now()
	if _, err := e.connect(cert, clientID); err != nil {
		t.Fatalf("a legitimate device could not connect during the flood: %v", err)
	}
	return time.Since(start)
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// TestIdleSocketFlood: 1,500 TCP sockets that never send a byte, from
// many addresses (within the per-address and per-prefix caps), fill the
// global handshake cap of 1,024; a legitimate device still connects at
// once, because the oldest stalled handshake is evicted for it.
func TestIdleSocketFlood(t *testing.T) {
	const n = 1500
	raiseNoFile(t, 2*n+1000)
	e := newEnv(t, activeDevices("dev-a"), nil, gateway.Limits{})
	cert := issue(t, e.ca, "dev-a")
	dialAll(t, floodSources(1, n, 4, 60), func(d *net.Dialer) (net.Conn, error) { return d.Dial("tcp", e.addr) })
	waitFor(t, "the gateway has not accepted the whole flood", func() bool {
		return e.metric("ward_gateway_handshake_dropped_total", gateway.DropEvicted)+
			e.metric("ward_gateway_handshake_dropped_total", gateway.DropHelloTimeout) >= n-1024
	})
	took := e.timedConnect(t, &cert, "dev-a")
	t.Logf("legitimate connect with %d idle sockets held: %v (evicted %v, hello timeouts %v)", n, took,
		e.metric("ward_gateway_handshake_dropped_total", gateway.DropEvicted), e.metric("ward_gateway_handshake_dropped_total", gateway.DropHelloTimeout))
	if took > legitConnectBound {
		t.Errorf("legitimate connect took %v during the flood, want under %v", took, legitConnectBound)
	}
	if e.metric("ward_gateway_handshake_dropped_total", gateway.DropEvicted) == 0 {
		t.Error("no stalled handshake was evicted: the flood did not reach the global cap")
	}
}

// TestHandshakeSlotsPerSource: one address holds at most
// HandshakesPerAddress connections that have not sent CONNECT, one /24 at
// most HandshakesPerPrefix; more are closed at once. A socket that sends
// nothing is closed after HelloTimeout.
func TestHandshakeSlotsPerSource(t *testing.T) {
	e := newEnv(t, activeDevices("dev-a"), nil, gateway.Limits{HandshakesPerAddress: 3, HandshakesPerPrefix: 10})
	dial := func(d *net.Dialer) (net.Conn, error) { return d.Dial("tcp", e.addr) }
	one := make([]net.IP, 5)
	for i := range one {
		one[i] = net.IPv4(127, 3, 0, 1)
	}
	dialAll(t, one, dial)
	waitFor(t, "per-address refusals not counted", func() bool {
		return e.metric("ward_gateway_handshake_dropped_total", gateway.DropPerAddress) == 2
	})
	dialAll(t, floodSources(4, 12, 1, 256), dial) // 12 addresses of 127.4.0.0/24
	waitFor(t, "per-prefix refusals not counted", func() bool {
		return e.metric("ward_gateway_handshake_dropped_total", gateway.DropPerPrefix) == 2
	})
	// The held idle sockets are closed after HelloTimeout.
	c := dialAll(t, []net.IP{net.IPv4(127, 5, 0, 1)}, dial)[0]
	_ = c.SetReadDeadline(time.Now().Add(bound))
	start := time.Now()
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("the gateway sent data to a socket that sent nothing")
	}
	if took := time.Since(start); took > bound-time.Second {
		t.Fatalf("idle socket held %v, want about %v", took, gateway.HelloTimeout)
	}
	waitFor(t, "hello timeouts not counted", func() bool {
		return e.metric("ward_gateway_handshake_dropped_total", gateway.DropHelloTimeout) >= 1
	})
}

// TestStalledConnectFlood: a device certificate opens 500 TLS connections
// that declare a CONNECT of almost 1 MiB and stall, and 200 more that declare a
// CONNECT just under the cap and stall. The first are refused as soon as
// their fixed header arrives, the second hold only what they sent; heap
// stays bounded (mochi used to allocate the declared size: 500 MiB) and a
// legitimate device connects meanwhile.
func TestStalledConnectFlood(t *testing.T) {
	const n = 500
	raiseNoFile(t, 4*n+1000)
	e := newEnv(t, activeDevices("dev-a", "dev-x"), nil, gateway.Limits{})
	cert, attacker := issue(t, e.ca, "dev-a"), issue(t, e.ca, "dev-x")
	before := heapInUse()
	stall := func(header []byte) func(d *net.Dialer) (net.Conn, error) {
		return func(d *net.Dialer) (net.Conn, error) {
			c, err := tls.DialWithDialer(d, "tcp", e.addr, e.clientTLS(&attacker))
			if err != nil {
				return nil, err
			}
			_ = c.SetWriteDeadline(time.Now().Add(bound))
			if _, err := c.Write(header); err != nil {
				c.Close()
				return nil, err
			}
			return c, nil
		}
	}
	// CONNECT of remaining length 1 MiB - 16 (under the 1 MiB packet cap,
	// which mochi checked), then the start of the protocol name.
	dialAll(t, floodSources(6, n, 4, 60), stall([]byte{0x10, 0xf0, 0xff, 0x3f, 0x00, 0x04, 'M', 'Q', 'T', 'T'}))
	waitFor(t, "the 1 MiB CONNECTs were not refused", func() bool {
		return e.metric("ward_gateway_handshake_dropped_total", gateway.DropConnectTooBig) >= n
	})
	// CONNECT of MaxConnectBytes-8 declared, 10 bytes sent: held.
	under := []byte{0x10, 0, 0, 0x00, 0x04, 'M', 'Q', 'T', 'T', 4}
	l := gateway.MaxConnectBytes - 8
	under[1], under[2] = byte(l%128)|0x80, byte(l/128)
	dialAll(t, floodSources(7, n*2/5, 4, 60), stall(under))
	took := e.timedConnect(t, &cert, "dev-a")
	grown := int64(heapInUse()) - int64(before)
	t.Logf("legitimate connect with %d stalled CONNECTs held: %v; heap in use grew %d KiB (both ends of %d TLS connections)", n, took, grown>>10, n)
	if took > legitConnectBound {
		t.Errorf("legitimate connect took %v during the flood, want under %v", took, legitConnectBound)
	}
	if grown > 128<<20 {
		t.Errorf("heap in use grew %d MiB during the stalled-CONNECT flood, want under 128 MiB", grown>>20)
	}
}

// connectWith connects a paho 3.1.1 client with extra options.
func (e *env) connectWith(cert *tls.Certificate, clientID string, opt func(*paho.ClientOptions)) (*client, bool, error) {
	cl := &client{msgs: make(chan paho.Message, 1000), lost: make(chan error, 1)}
	o := paho.NewClientOptions().AddBroker("ssl://" + e.addr).SetClientID(clientID).SetTLSConfig(e.clientTLS(cert)).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(bound).SetWriteTimeout(bound).
		SetProtocolVersion(4).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			select {
			case cl.msgs <- m:
			default:
			}
		}).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			select {
			case cl.lost <- err:
			default:
			}
		})
	if opt != nil {
		opt(o)
	}
	cl.c = paho.NewClient(o)
	tok := cl.c.Connect()
	if !tok.WaitTimeout(bound) {
		return nil, false, errors.New("connect timed out")
	}
	if err := tok.Error(); err != nil {
		return nil, false, err
	}
	e.t.Cleanup(func() { cl.c.Disconnect(0) })
	return cl, tok.(*paho.ConnectToken).SessionPresent(), nil
}

// persistent makes a client keep its session (clean session = false).
func persistent(o *paho.ClientOptions) { o.SetCleanSession(false) }

// offlineSession connects clientID with a persistent session, subscribes
// it to the device's tree at QoS 1 and disconnects it.
func (e *env) offlineSession(t *testing.T, cert *tls.Certificate, device, clientID string) {
	t.Helper()
	c, _, err := e.connectWith(cert, clientID, persistent)
	if err != nil {
		t.Fatalf("connect %s: %v", clientID, err)
	}
	c.subscribe(t, "devices/"+device+"/#")
	live := e.gw.Connected(device)
	c.c.Disconnect(0)
	waitFor(t, clientID+" did not end", func() bool { return e.gw.Connected(device) < live })
}

// TestSessionsPerDevice: a device holds at most SessionsPerDevice
// sessions. A further live session is refused (3.1.1: 0x03 server
// unavailable, MQTT 5: 0x97 quota exceeded); reconnecting an existing
// client ID takes its session over; a new session evicts the oldest
// persisted offline session instead of being refused.
func TestSessionsPerDevice(t *testing.T) {
	t.Run("live", func(t *testing.T) {
		e := newEnv(t, activeDevices("dev-a"), nil, gateway.Limits{SessionsPerDevice: 2})
		cert := issue(t, e.ca, "dev-a")
		e.mustConnect(&cert, "dev-a:1")
		e.mustConnect(&cert, "dev-a:2")
		if _, err := e.connect(&cert, "dev-a:3"); err == nil || !strings.Contains(strings.ToLower(err.Error()), "server unavailable") {
			t.Fatalf("third live session: err = %v, want refused (server unavailable)", err)
		}
		_, ack := e.dial5(&cert, "dev-a:4")
		if ack.ReasonCode != packets.ErrQuotaExceeded.Code {
			t.Fatalf("MQTT 5 CONNACK reason = %#x, want 0x97 quota exceeded", ack.ReasonCode)
		}
		if got := e.metric("ward_gateway_refused_total", gwevent.ReasonSessionQuota); got != 2 {
			t.Errorf("session-quota refusals = %v, want 2", got)
		}
		e.mustConnect(&cert, "dev-a:1") // takes its own session over
		waitFor(t, "the taken-over session did not end", func() bool { return e.gw.Connected("dev-a") == 2 })
	})
	t.Run("persisted", func(t *testing.T) {
		e := newEnv(t, activeDevices("dev-a"), nil, gateway.Limits{SessionsPerDevice: 2})
		cert := issue(t, e.ca, "dev-a")
		e.offlineSession(t, &cert, "dev-a", "dev-a:p1")
		e.offlineSession(t, &cert, "dev-a", "dev-a:p2")
		e.offlineSession(t, &cert, "dev-a", "dev-a:p3") // p1 is purged to make room
		if got := e.metric("ward_gateway_sessions_purged_total", ""); got != 1 {
			t.Fatalf("sessions purged = %v, want 1", got)
		}
		for _, tt := range []struct {
			id      string
			present bool
		}{{"dev-a:p3", true}, {"dev-a:p1", false}} {
			c, present, err := e.connectWith(&cert, tt.id, persistent)
			if err != nil {
				t.Fatal(err)
			}
			if present != tt.present {
				t.Errorf("%s: session present = %v, want %v", tt.id, present, tt.present)
			}
			c.c.Disconnect(0)
			waitFor(t, tt.id+" did not end", func() bool { return e.gw.Connected("dev-a") == 0 })
		}
	})
}

// TestOfflineSessionsBoundedAndPurgedOnRevocation: one device opens ten
// persistent sessions subscribed at QoS 1 to its own tree and leaves them
// offline, then publishes 200 messages of 64 KiB (MQTT 5). The broker
// keeps at most SessionsPerDevice sessions and OfflineQueueBytes for each
// (it used to copy every message into every session: 125 MiB here); the
// publishes they cannot hold are refused (PUBACK 0x97), and revoking the
// device releases them.
func TestOfflineSessionsBoundedAndPurgedOnRevocation(t *testing.T) {
	e := newEnv(t, activeDevices("dev-a"), nil, gateway.Limits{MessagesPerSecond: 1e6, BytesPerSecond: 1e12, MaxMessageBytes: 64 << 10})
	cert := issue(t, e.ca, "dev-a")
	for i := range 10 {
		e.offlineSession(t, &cert, "dev-a", fmt.Sprintf("dev-a:s%d", i))
	}
	pub, _ := e.dial5(&cert, "dev-a:pub")
	before := heapInUse()
	payload := make([]byte, 64<<10)
	acked := 0
	for range 200 {
		code, err := pub.publishAcked("devices/dev-a/data", payload)
		if err != nil {
			t.Fatal(err)
		}
		switch code {
		case 0:
			acked++
		case packets.ErrQuotaExceeded.Code:
		default:
			t.Fatalf("PUBACK %#x, want 0 or 0x97", code)
		}
	}
	queued := int64(heapInUse()) - int64(before)
	t.Logf("heap in use grew %d KiB with the offline sessions queueing; %d of 200 publishes acknowledged, the rest refused", queued>>10, acked)
	if acked == 0 || acked == 200 {
		t.Errorf("%d of 200 publishes acknowledged, want the first ones only", acked)
	}
	if limit := int64(4 * gateway.Limits{}.WithDefaults().OfflineQueueBytes * 3 / 2); queued > limit {
		t.Errorf("offline sessions of one device hold %d MiB, want under %d MiB", queued>>20, limit>>20)
	}
	e.gw.SetDevice(store.Device{ID: "dev-a", Model: "m1", Status: store.StatusRevoked})
	waitFor(t, "the offline sessions were not purged", func() bool {
		return e.metric("ward_gateway_sessions_purged_total", "") >= 3
	})
	waitFor(t, "the publisher was not disconnected", func() bool { return e.gw.Connected("dev-a") == 0 })
	released := int64(heapInUse()) - int64(before)
	t.Logf("heap in use after revocation: %+d KiB from before publishing", released>>10)
	if released > 8<<20 {
		t.Errorf("after revocation the device's sessions still hold %d MiB", released>>20)
	}
	// Re-admitted, the device finds none of its old sessions.
	e.gw.SetDevice(store.Device{ID: "dev-a", Model: "m1", Status: store.StatusActive})
	_, present, err := e.connectWith(&cert, "dev-a:s9", persistent)
	if err != nil {
		t.Fatal(err)
	}
	if present {
		t.Error("a session of the revoked device survived the revocation")
	}
}

// willClient connects clientID with a will and returns a function that
// drops its connection abruptly (closes the TCP connection), which makes
// the broker publish the will.
func (e *env) willClient(t *testing.T, cert *tls.Certificate, clientID, topic string, payload []byte, retain bool) (drop func()) {
	t.Helper()
	conns := make(chan net.Conn, 1)
	_, _, err := e.connectWith(cert, clientID, func(o *paho.ClientOptions) {
		o.SetWill(topic, string(payload), 1, retain)
		o.SetCustomOpenConnectionFn(func(uri *url.URL, _ paho.ClientOptions) (net.Conn, error) {
			c, err := tls.Dial("tcp", uri.Host, e.clientTLS(cert))
			if err == nil {
				conns <- c
			}
			return c, err
		})
	})
	if err != nil {
		t.Fatalf("connect %s: %v", clientID, err)
	}
	c := <-conns
	return func() { c.Close() }
}

// TestRetainedWillCharged: a retained will counts against
// MaxRetainedPerDevice, and a will counts against the byte rate.
func TestRetainedWillCharged(t *testing.T) {
	t.Run("retained-cap", func(t *testing.T) {
		e := newEnv(t, activeDevices("dev-a"), nil, gateway.Limits{MessagesPerSecond: 1e6, BytesPerSecond: 1e9})
		cert := issue(t, e.ca, "dev-a")
		pub := e.mustConnect(&cert, "dev-a:pub")
		for i := range gateway.MaxRetainedPerDevice {
			pub.c.Publish(fmt.Sprintf("devices/dev-a/r/%d", i), 1, true, []byte("v")).WaitTimeout(bound)
		}
		e.willClient(t, &cert, "dev-a:will", "devices/dev-a/will", []byte("gone"), true)()
		waitFor(t, "the retained will was not charged", func() bool {
			return e.metric("ward_gateway_limit_hits_total", gwevent.LimitRetained) == 1
		})
		sub := e.mustConnect(&cert, "dev-a:sub")
		sub.subscribe(t, "devices/dev-a/will")
		sub.publish(t, "devices/dev-a/sync", nil) // the retained will, if any, arrives before this PUBACK
		select {
		case m := <-sub.msgs:
			t.Fatalf("the will was retained past the cap: %s", m.Topic())
		default:
		}
	})
	t.Run("byte-rate", func(t *testing.T) {
		e := newEnv(t, activeDevices("dev-a"), nil, gateway.Limits{MaxMessageBytes: 1000, BytesPerSecond: 1000, MessagesPerSecond: 1e6})
		cert := issue(t, e.ca, "dev-a")
		sub := e.mustConnect(&cert, "dev-a:sub")
		sub.subscribe(t, "devices/dev-a/will")
		drop := e.willClient(t, &cert, "dev-a:will", "devices/dev-a/will", make([]byte, 900), false)
		sub.publish(t, "devices/dev-a/x", make([]byte, 1000)) // the clock is frozen: the byte bucket is now empty
		drop()
		waitFor(t, "the will was not charged to the byte rate", func() bool {
			return e.metric("ward_gateway_limit_hits_total", gwevent.LimitByteRate) == 1
		})
	})
}

// TestSysPublishRefused: a QoS 1 or 2 publish to $SYS/... is answered with
// reason 0x87 Not authorized (MQTT 5) instead of never being acknowledged,
// and an MQTT 3.1.1 one is acknowledged and dropped.
func TestSysPublishRefused(t *testing.T) {
	e := newEnv(t, activeDevices("dev-a"), nil, gateway.Limits{})
	cert := issue(t, e.ca, "dev-a")
	c, ack := e.dial5(&cert, "dev-a")
	if ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %#x", ack.ReasonCode)
	}
	for _, tt := range []struct {
		qos  byte
		want byte
	}{{1, packets.Puback}, {2, packets.Pubrec}} {
		c.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: tt.qos}, TopicName: "$SYS/broker/x", PacketID: uint16(tt.qos), Payload: []byte("x")})
		pk := c.read()
		if pk.FixedHeader.Type != tt.want || pk.ReasonCode != packets.ErrNotAuthorized.Code {
			t.Errorf("QoS %d publish to $SYS: got packet type %d reason %#x, want type %d reason 0x87", tt.qos, pk.FixedHeader.Type, pk.ReasonCode, tt.want)
		}
	}
	old := e.mustConnect(&cert, "dev-a:v3")
	tok := old.c.Publish("$SYS/broker/x", 1, false, []byte("x"))
	if !tok.WaitTimeout(bound) || tok.Error() != nil {
		t.Fatalf("MQTT 3.1.1 QoS 1 publish to $SYS not acknowledged: %v", tok.Error())
	}
	if got := e.metric("ward_gateway_acl_denied_total", "publish"); got != 3 {
		t.Errorf("ACL denials = %v, want 3", got)
	}
}

// TestSessionsPurgedOnCertificateRevocationAndRemoval: a persisted offline
// session made with a certificate that is then revoked is purged by
// CertificateRevoked (the device stays active and reconnects with a new
// certificate to an empty session), and RemoveDevice purges the rest.
func TestSessionsPurgedOnCertificateRevocationAndRemoval(t *testing.T) {
	e := newEnv(t, activeDevices("dev-a"), nil, gateway.Limits{})
	old, cur := issue(t, e.ca, "dev-a"), issue(t, e.ca, "dev-a")
	e.offlineSession(t, &old, "dev-a", "dev-a:old")
	e.offlineSession(t, &cur, "dev-a", "dev-a:cur")
	if err := e.ca.Revoke(context.Background(), pki.SerialHex(old.Leaf.SerialNumber), "compromised"); err != nil {
		t.Fatal(err)
	}
	e.gw.CertificateRevoked()
	if got := e.metric("ward_gateway_sessions_purged_total", ""); got != 1 {
		t.Fatalf("sessions purged after the revocation = %v, want 1 (the revoked certificate's)", got)
	}
	for _, tt := range []struct {
		id      string
		present bool
	}{{"dev-a:old", false}, {"dev-a:cur", true}} {
		c, present, err := e.connectWith(&cur, tt.id, persistent)
		if err != nil {
			t.Fatal(err)
		}
		if present != tt.present {
			t.Errorf("%s: session present = %v, want %v", tt.id, present, tt.present)
		}
		c.c.Disconnect(0)
		waitFor(t, tt.id+" did not end", func() bool { return e.gw.Connected("dev-a") == 0 })
	}
	before := e.metric("ward_gateway_sessions_purged_total", "")
	e.gw.RemoveDevice("dev-a")
	if got := e.metric("ward_gateway_sessions_purged_total", "") - before; got != 2 {
		t.Errorf("sessions purged by RemoveDevice = %v, want 2", got)
	}
}
