package gateway_test

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/wardproject/ward/internal/gateway"
	"github.com/wardproject/ward/internal/gwevent"
	"github.com/wardproject/ward/internal/mochi/packets"
	"github.com/wardproject/ward/internal/store"
)

// stallConn is a client connection whose reads can be stopped: while
// stalled, the paho client reads nothing (its PUBACKs stop and the broker's
// writes fill the socket), exactly like a device whose application hangs.
type stallConn struct {
	net.Conn
	mu      sync.Mutex
	stalled bool
	resume  chan struct{}
}

func (c *stallConn) stall() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.stalled {
		c.stalled, c.resume = true, make(chan struct{})
	}
}

func (c *stallConn) unstall() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stalled {
		c.stalled = false
		close(c.resume)
	}
}

func (c *stallConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	ch := c.resume
	stalled := c.stalled
	c.mu.Unlock()
	if stalled {
		<-ch
	}
	return c.Conn.Read(p)
}

// stallable connects a paho 3.1.1 client over a stallConn; opt adds options.
func (e *env) stallable(t *testing.T, cert *tls.Certificate, clientID string, opt func(*paho.ClientOptions)) (*client, *stallConn) {
	t.Helper()
	conns := make(chan *stallConn, 1)
	dialTLS := e.clientTLS(cert)
	c, _, err := e.connectWith(cert, clientID, func(o *paho.ClientOptions) {
		o.SetKeepAlive(5 * time.Minute).SetPingTimeout(time.Minute).SetOrderMatters(false)
		o.SetCustomOpenConnectionFn(func(u *url.URL, _ paho.ClientOptions) (net.Conn, error) {
			tc, err := tls.Dial("tcp", u.Host, dialTLS)
			if err != nil {
				return nil, err
			}
			sc := &stallConn{Conn: tc}
			conns <- sc
			return sc, nil
		})
		if opt != nil {
			opt(o)
		}
	})
	if err != nil {
		t.Fatalf("connect %s: %v", clientID, err)
	}
	sc := <-conns
	t.Cleanup(sc.unstall)
	return c, sc
}

// fleetModel lets every device of model m1 publish and subscribe fleet/#.
var fleetModel = []store.ModelPolicy{{Model: "m1", Policy: store.Policy{Publish: []string{"fleet/#"}, Subscribe: []string{"fleet/#"}}}}

// deliveryLimits lifts the rate limits and makes the waits short.
func deliveryLimits(queue int, wait, wait0 time.Duration) gateway.Limits {
	return gateway.Limits{MessagesPerSecond: 1e6, BytesPerSecond: 1e12, MaxMessageBytes: 64 << 10,
		SubscriberQueueBytes: queue, DeliveryWait: wait, DeliveryWaitQoS0: wait0}
}

// seqs collects the sequence numbers of the messages a client received:
// what is there now, then (until > 0) more until none arrives for until.
func seqs(got map[int]bool, msgs <-chan paho.Message, until time.Duration) {
	record := func(m paho.Message) {
		if n, err := strconv.Atoi(string(m.Payload()[:8])); err == nil {
			got[n] = true
		}
	}
	for {
		select {
		case m := <-msgs:
			record(m)
			continue
		default:
		}
		if until <= 0 {
			return
		}
		select {
		case m := <-msgs:
			record(m)
		case <-time.After(until):
			return
		}
	}
}

// counter returns the sum of the counters of name whose labels include all of want.
func (e *env) counter(name string, want map[string]string) float64 {
	e.t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			n := 0
			for _, l := range m.GetLabel() {
				if v, ok := want[l.GetName()]; ok && v == l.GetValue() {
					n++
				}
			}
			if n == len(want) {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// TestStalledSubscriberLosesNothingAcknowledged: a device subscribed at
// QoS 1 with a persistent session stops reading while another device
// publishes QoS 1 messages to it (MQTT 5). The publisher waits (its
// PUBACKs are late, not lost); the stalled subscriber is disconnected as
// too slow (a limit event slow-subscriber), and its session, now offline,
// takes nothing past OfflineQueueBytes: the publishes it cannot hold are
// refused (PUBACK 0x97). Every message the publisher had a positive PUBACK
// for is then received by the subscriber (before the stall, from its
// socket, or resent to its resumed session), and none is dropped.
func TestStalledSubscriberLosesNothingAcknowledged(t *testing.T) {
	lim := deliveryLimits(16<<10, 300*time.Millisecond, 100*time.Millisecond)
	lim.OfflineQueueBytes = 128 << 10
	e := newEnv(t, activeDevices("dev-p", "dev-s"), fleetModel, lim)
	pcert, scert := issue(t, e.ca, "dev-p"), issue(t, e.ca, "dev-s")
	sub, sc := e.stallable(t, &scert, "dev-s:app", persistent)
	sub.subscribe(t, "fleet/#")
	pub, _ := e.dial5(&pcert, "dev-p:app")

	sc.stall()
	const n = 300
	payload := make([]byte, 2<<10)
	acked := map[int]bool{}
	refused := 0
	for i := 1; i <= n; i++ {
		copy(payload, fmt.Sprintf("%08d", i))
		code, err := pub.publishAcked("fleet/data", payload) // waits for the PUBACK
		if err != nil {
			t.Fatal(err)
		}
		switch code {
		case 0:
			acked[i] = true
		case packets.ErrQuotaExceeded.Code:
			refused++
		default:
			t.Fatalf("publish %d: PUBACK %#x, want 0 or 0x97", i, code)
		}
	}
	e.waitEvent(func(ev store.Event) bool {
		return ev.Kind == gwevent.Limit.String() && ev.DeviceID == "dev-s" && ev.Detail["limit"] == gwevent.LimitSlowSubscriber
	})
	if refused == 0 {
		t.Errorf("all %d publishes to the stalled subscriber were acknowledged, want those past its offline bound refused", n)
	}
	if got := e.counter("ward_gateway_delivery_refused_total", map[string]string{"qos": "1", "reason": gwevent.DropReasonOfflineQueue}); int(got) != refused {
		t.Errorf("ward_gateway_delivery_refused_total = %v, want %d", got, refused)
	}
	for _, q := range []string{"1", "2"} {
		if d := e.counter("ward_gateway_delivery_dropped_total", map[string]string{"qos": q}); d != 0 {
			t.Errorf("%v QoS %s messages dropped, want none", d, q)
		}
	}

	// The stalled client reads what its socket holds, then sees the close.
	got := map[int]bool{}
	sc.unstall()
	select {
	case <-sub.lost:
	case <-time.After(bound):
		t.Fatal("the stalled subscriber was not disconnected")
	}
	seqs(got, sub.msgs, 0)
	before := len(got)
	// It resumes its session: the broker resends what the session holds.
	again, present, err := e.connectWith(&scert, "dev-s:app", persistent)
	if err != nil {
		t.Fatal(err)
	}
	if !present {
		t.Fatal("the slow subscriber's persistent session was not kept")
	}
	receiveAll(got, again.msgs, len(acked))
	t.Logf("published %d: %d acknowledged, %d refused; received %d before the disconnect, %d in all", n, len(acked), refused, before, len(got))
	sameMessages(t, acked, got)
}

// sameMessages checks that the messages delivered (got) are exactly those
// acknowledged to their publishers: none lost, none refused yet delivered.
func sameMessages(t *testing.T, acked, got map[int]bool) {
	t.Helper()
	for i := range acked {
		if !got[i] {
			t.Errorf("message %d was acknowledged to its publisher but not delivered", i)
		}
	}
	for i := range got {
		if !acked[i] {
			t.Errorf("message %d was refused to its publisher but delivered", i)
		}
	}
}

// receiveAll collects sequence numbers (seqs) until got holds want of
// them or no message arrives for bound/5.
func receiveAll(got map[int]bool, msgs <-chan paho.Message, want int) {
	for len(got) < want {
		before := len(got)
		seqs(got, msgs, bound/5)
		if len(got) == before {
			return
		}
	}
}

// offlineBackend connects clientID with a persistent session, subscribes it
// to filter at QoS 1 and disconnects it.
func (e *env) offlineBackend(t *testing.T, cert *tls.Certificate, device, clientID, filter string) {
	t.Helper()
	c, _, err := e.connectWith(cert, clientID, persistent)
	if err != nil {
		t.Fatalf("connect %s: %v", clientID, err)
	}
	c.subscribe(t, filter)
	c.c.Disconnect(0)
	waitFor(t, clientID+" did not end", func() bool { return e.gw.Connected(device) == 0 })
}

// TestOfflineSessionFullRefusesPublishers: a backend's persistent session
// is offline and bounded at OfflineQueueBytes (16 KiB). An MQTT 5
// publisher's QoS 1 messages are acknowledged until the session cannot
// hold the next, which gets PUBACK 0x97 Quota exceeded; an MQTT 3.1.1
// publisher, which has no negative PUBACK, gets no acknowledgement: its
// connection is closed, and its client (persistent session, auto
// reconnect) sends the message again after reconnecting until it is taken.
// The refusals are counted (ward_gateway_delivery_refused_total) and
// recorded on both devices (delivery-refused, publish-refused). When the
// backend comes back it receives exactly the messages acknowledged.
func TestOfflineSessionFullRefusesPublishers(t *testing.T) {
	lim := deliveryLimits(1<<20, time.Second, 100*time.Millisecond)
	lim.OfflineQueueBytes = 16 << 10
	lim.ConnectsPerMinute = 1e4
	e := newEnv(t, activeDevices("dev-s", "dev-p5", "dev-p3"), fleetModel, lim)
	scert, p5cert, p3cert := issue(t, e.ca, "dev-s"), issue(t, e.ca, "dev-p5"), issue(t, e.ca, "dev-p3")
	e.offlineBackend(t, &scert, "dev-s", "dev-s:backend", "fleet/#")

	p5, _ := e.dial5(&p5cert, "dev-p5:app")
	acked := map[int]bool{}
	payload := make([]byte, 1<<10)
	publish := func(i int) byte {
		t.Helper()
		copy(payload, fmt.Sprintf("%08d", i))
		code, err := p5.publishAcked("fleet/p5", payload)
		if err != nil {
			t.Fatal(err)
		}
		if code == 0 {
			acked[i] = true
		} else if code != packets.ErrQuotaExceeded.Code {
			t.Fatalf("publish %d: PUBACK %#x, want 0 or 0x97", i, code)
		}
		return code
	}
	first := 0
	for i := 1; i <= 100 && first == 0; i++ {
		if publish(i) != 0 {
			first = i
		}
	}
	if first == 0 {
		t.Fatal("100 publishes of 1 KiB to an offline session bounded at 16 KiB were all acknowledged")
	}
	if code := publish(first + 1); code != packets.ErrQuotaExceeded.Code {
		t.Errorf("a publish to the still full session: PUBACK %#x, want 0x97", code)
	}
	held, _ := e.gw.HeldBytes("dev-s:backend")
	t.Logf("MQTT 5: %d acknowledged, refused from publish %d; the offline session holds %d bytes", len(acked), first, held)
	if held > lim.OfflineQueueBytes {
		t.Errorf("the offline session holds %d bytes, over its bound of %d", held, lim.OfflineQueueBytes)
	}
	e.waitEvent(func(ev store.Event) bool {
		return ev.DeviceID == "dev-s" && ev.Detail["limit"] == gwevent.LimitDeliveryRefused &&
			ev.Detail["reason"] == gwevent.DropReasonOfflineQueue && ev.Detail["qos"] == "1" && ev.Detail["client_id"] == "dev-s:backend"
	})
	e.waitEvent(func(ev store.Event) bool {
		return ev.DeviceID == "dev-p5" && ev.Detail["limit"] == gwevent.LimitPublishRefused && ev.Detail["client_id"] == "dev-p5:app"
	})

	// MQTT 3.1.1: no PUBACK, the connection closes; paho resends it from
	// its session on every reconnection.
	p3, _, err := e.connectWith(&p3cert, "dev-p3:app", func(o *paho.ClientOptions) {
		o.SetCleanSession(false).SetAutoReconnect(true).SetMaxReconnectInterval(200 * time.Millisecond)
	})
	if err != nil {
		t.Fatal(err)
	}
	const p3seq = 90000001
	copy(payload, fmt.Sprintf("%08d", p3seq)) // as large as those refused
	tok := p3.c.Publish("fleet/p3", 1, false, payload)
	select {
	case <-p3.lost:
	case <-tok.Done():
		t.Fatalf("the 3.1.1 publish completed (err %v) while the session it feeds was full, want no PUBACK and the connection closed", tok.Error())
	case <-time.After(bound):
		t.Fatal("the 3.1.1 publisher was not disconnected")
	}
	e.waitEvent(func(ev store.Event) bool {
		return ev.DeviceID == "dev-p3" && ev.Detail["limit"] == gwevent.LimitPublishRefused
	})
	select {
	case <-tok.Done():
		if tok.Error() == nil {
			t.Fatal("the 3.1.1 publish was acknowledged while the session it feeds was full")
		}
	default:
	}
	if got := e.counter("ward_gateway_delivery_refused_total", map[string]string{"qos": "1", "reason": gwevent.DropReasonOfflineQueue}); got < 3 {
		t.Errorf("ward_gateway_delivery_refused_total = %v, want at least 3 (two MQTT 5, one 3.1.1)", got)
	}

	// The backend returns: it receives what was acknowledged, then the
	// 3.1.1 message, resent once the session has room.
	back, present, err := e.connectWith(&scert, "dev-s:backend", persistent)
	if err != nil {
		t.Fatal(err)
	}
	if !present {
		t.Fatal("the backend's persistent session was not kept")
	}
	if !tok.WaitTimeout(bound) || tok.Error() != nil {
		t.Fatalf("the 3.1.1 publish was not taken after the backend returned: %v", tok.Error())
	}
	acked[p3seq] = true
	got := map[int]bool{}
	receiveAll(got, back.msgs, len(acked))
	if len(got) != len(acked) {
		t.Errorf("the backend received %d distinct messages, %d were acknowledged", len(got), len(acked))
	}
	sameMessages(t, acked, got)
}

// TestFloodCannotOverflowOfflineSession: an attacker device (rate limits
// lifted) floods QoS 1 at a topic that feeds a backend's offline session
// while a legitimate device publishes to it too. The session never holds
// more than its bound; each of the legitimate device's publishes is either
// acknowledged or refused with 0x97, never acknowledged and lost: when the
// backend returns it receives every acknowledged message, the attacker's
// and the legitimate device's, and nothing else.
func TestFloodCannotOverflowOfflineSession(t *testing.T) {
	devs := activeDevices("dev-f", "dev-l", "dev-b")
	devs[0].Policy = store.Policy{MessagesPerSecond: 1e6, BytesPerSecond: 1e12}
	lim := gateway.Limits{OfflineQueueBytes: 64 << 10}
	e := newEnv(t, devs, fleetModel, lim)
	fcert, lcert, bcert := issue(t, e.ca, "dev-f"), issue(t, e.ca, "dev-l"), issue(t, e.ca, "dev-b")
	e.offlineBackend(t, &bcert, "dev-b", "dev-b:backend", "fleet/#")

	flooder, _ := e.dial5(&fcert, "dev-f:flood")
	legit, _ := e.dial5(&lcert, "dev-l:app")
	type result struct {
		acked   []int
		refused int
		err     error
	}
	stop := make(chan struct{})
	flood := make(chan result, 1)
	go func() {
		var r result
		payload := make([]byte, 4<<10)
		for i := 1; ; i++ {
			select {
			case <-stop:
				flood <- r
				return
			default:
			}
			copy(payload, fmt.Sprintf("%08d", 10000000+i))
			code, err := flooder.publishAcked("fleet/flood", payload)
			switch {
			case err != nil:
				r.err = err
				flood <- r
				return
			case code == 0:
				r.acked = append(r.acked, 10000000+i)
			case code == packets.ErrQuotaExceeded.Code:
				r.refused++
			default:
				r.err = fmt.Errorf("flood publish: PUBACK %#x", code)
				flood <- r
				return
			}
		}
	}()
	// The flood is on once the backend's session refuses it.
	waitFor(t, "the flood did not fill the offline session", func() bool {
		return e.counter("ward_gateway_delivery_refused_total", map[string]string{"qos": "1"}) > 0
	})
	acked := map[int]bool{}
	legitAcked, legitRefused, maxHeld := 0, 0, 0
	for i := 1; i <= 50; i++ {
		code, err := legit.publishAcked("fleet/legit", []byte(fmt.Sprintf("%08d", i)))
		if err != nil {
			t.Fatal(err)
		}
		switch code {
		case 0:
			acked[i] = true
			legitAcked++
		case packets.ErrQuotaExceeded.Code:
			legitRefused++
		default:
			t.Fatalf("legitimate publish %d: PUBACK %#x, want 0 or 0x97", i, code)
		}
		if held, _ := e.gw.HeldBytes("dev-b:backend"); held > maxHeld {
			maxHeld = held
		}
	}
	close(stop)
	r := <-flood
	if r.err != nil {
		t.Fatal(r.err)
	}
	for _, i := range r.acked {
		acked[i] = true
	}
	t.Logf("flood: %d acknowledged, %d refused; legitimate: %d acknowledged, %d refused; the offline session held at most %d bytes (bound %d)",
		len(r.acked), r.refused, legitAcked, legitRefused, maxHeld, lim.OfflineQueueBytes)
	if maxHeld > lim.OfflineQueueBytes {
		t.Errorf("the offline session held %d bytes, over its bound of %d", maxHeld, lim.OfflineQueueBytes)
	}
	if r.refused == 0 {
		t.Error("nothing of the flood was refused")
	}
	for _, q := range []string{"1", "2"} {
		if d := e.counter("ward_gateway_delivery_dropped_total", map[string]string{"qos": q}); d != 0 {
			t.Errorf("%v QoS %s messages dropped, want none", d, q)
		}
	}

	back, present, err := e.connectWith(&bcert, "dev-b:backend", persistent)
	if err != nil {
		t.Fatal(err)
	}
	if !present {
		t.Fatal("the backend's persistent session was not kept")
	}
	got := map[int]bool{}
	receiveAll(got, back.msgs, len(acked))
	sameMessages(t, acked, got)
}

// TestQoS0OverloadCountedPerDevice: a QoS 0 subscriber that stops reading
// makes publishers wait at most DeliveryWaitQoS0, then its messages are
// dropped; the drops are counted (ward_gateway_delivery_dropped_total
// {qos="0",reason="queue-full"}) and recorded on the subscriber's device
// as a limit event delivery-dropped, and a subscriber that keeps reading
// loses nothing meanwhile.
func TestQoS0OverloadCountedPerDevice(t *testing.T) {
	e := newEnv(t, activeDevices("dev-p", "dev-s", "dev-ok"), fleetModel, deliveryLimits(1<<20, time.Second, 500*time.Millisecond))
	pcert, scert, okcert := issue(t, e.ca, "dev-p"), issue(t, e.ca, "dev-s"), issue(t, e.ca, "dev-ok")
	slow, sc := e.stallable(t, &scert, "dev-s:app", nil)
	if tok := slow.c.Subscribe("fleet/#", 0, nil); !tok.WaitTimeout(bound) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	ok, _, err := e.connectWith(&okcert, "dev-ok:app", nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok := ok.c.Subscribe("fleet/#", 0, nil); !tok.WaitTimeout(bound) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	pub := e.mustConnect(&pcert, "dev-p:app")

	sc.stall()
	// Enough to fill the stalled client's socket buffers and its queue.
	const n = 400
	payload := make([]byte, 32<<10)
	got := map[int]bool{}
	start := time.Now()
	for i := 1; i <= n; i++ {
		copy(payload, fmt.Sprintf("%08d", i))
		if tok := pub.c.Publish("fleet/data", 0, false, payload); !tok.WaitTimeout(bound) || tok.Error() != nil {
			t.Fatalf("publish %d: %v", i, tok.Error())
		}
		if i%50 == 0 {
			// drain the healthy subscriber as we go (its channel holds 1,000)
			seqs(got, ok.msgs, 0)
		}
	}
	t.Logf("%d QoS 0 publishes of 32 KiB in %v with one subscriber stalled", n, time.Since(start).Round(time.Millisecond))
	ev := e.waitEvent(func(ev store.Event) bool {
		return ev.Kind == gwevent.Limit.String() && ev.Detail["limit"] == gwevent.LimitDeliveryDropped
	})
	if ev.DeviceID != "dev-s" || ev.Detail["qos"] != "0" || ev.Detail["reason"] != gwevent.DropReasonQueueFull || ev.Detail["client_id"] != "dev-s:app" {
		t.Errorf("delivery-dropped event %+v, want device dev-s, client dev-s:app, qos 0, reason queue-full", ev)
	}
	dropped := e.counter("ward_gateway_delivery_dropped_total", map[string]string{"qos": "0", "reason": gwevent.DropReasonQueueFull})
	if dropped == 0 {
		t.Error("no QoS 0 drop counted")
	}
	for len(got) < n {
		before := len(got)
		seqs(got, ok.msgs, bound/5)
		if len(got) == before {
			break
		}
	}
	if len(got) != n {
		t.Errorf("the reading subscriber received %d of %d QoS 0 messages", len(got), n)
	}
	t.Logf("stalled subscriber: %v dropped (queue-full); reading subscriber: %d of %d", dropped, len(got), n)
}

// connectRaw opens a mutual-TLS connection, sends an MQTT 3.1.1 CONNECT
// for clientID and reads the CONNACK.
func (e *env) connectRaw(cfg *tls.Config, clientID string) (net.Conn, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: bound}, "tcp", e.addr, cfg)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(bound))
	// protocol name, level 4, clean session, keepalive 60 s, client ID (< 116 bytes)
	body := append([]byte{0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, byte(len(clientID))}, clientID...)
	pk := append([]byte{0x10, byte(len(body))}, body...)
	if _, err := c.Write(pk); err != nil {
		c.Close()
		return nil, err
	}
	ack := make([]byte, 4)
	if _, err := io.ReadFull(c, ack); err != nil {
		c.Close()
		return nil, err
	}
	if ack[0] != 0x20 || ack[3] != 0 {
		c.Close()
		return nil, fmt.Errorf("CONNACK % x", ack)
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// TestShutdownRightAfterMassDisconnect: 1,000 devices' sessions end at
// once and the gateway is stopped at that moment; Run (which closes the
// broker) must return. mochi's Clients.GetByListener took its read lock
// twice and deadlocked against the disconnects' writes (upstream #488).
func TestShutdownRightAfterMassDisconnect(t *testing.T) {
	const n = 1000
	raiseNoFile(t, 2*n+1000)
	lim := gateway.Limits{SessionsPerDevice: n, ConnectsPerMinute: 1e6, HandshakesPerAddress: n, HandshakesPerPrefix: n}
	e := newEnv(t, activeDevices("dev-a"), nil, lim)
	cert := issue(t, e.ca, "dev-a")
	cfg := e.clientTLS(&cert)
	conns := make([]net.Conn, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				c, err := e.connectRaw(cfg, fmt.Sprintf("dev-a:%d", i))
				if err != nil {
					errs <- err
					return
				}
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("connect: %v", err)
	}
	waitFor(t, "not all sessions are live", func() bool { return e.gw.Connected("dev-a") == n })
	for _, c := range conns {
		_ = c.Close()
	}
	start := time.Now()
	err, ok := e.stop()
	if !ok {
		t.Fatalf("the gateway did not stop within %v of the mass disconnect", wait)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stopped %v after %d sessions ended", time.Since(start).Round(time.Millisecond), n)
}

// TestPolicyChangeStopsEarlierSubscriptions: deliveries are not checked
// against the ACL one by one, so a subscription the device's policy no
// longer allows must be removed from its sessions: a withdrawn model grant
// and restricted quarantine both stop an earlier subscription of a
// persistent session, live and offline, and the resumed session receives
// nothing on it (nor anything queued while it was offline).
func TestPolicyChangeStopsEarlierSubscriptions(t *testing.T) {
	devs := activeDevices("dev-a", "dev-b", "ops-1")
	devs[2].Policy = store.Policy{Publish: []string{"quarantine/+/cmd"}}
	e := newEnv(t, devs, fleetModel, gateway.Limits{})
	acert, bcert, ocert := issue(t, e.ca, "dev-a"), issue(t, e.ca, "dev-b"), issue(t, e.ca, "ops-1")
	a, _, err := e.connectWith(&acert, "dev-a:app", persistent)
	if err != nil {
		t.Fatal(err)
	}
	a.subscribe(t, "fleet/#")
	a.subscribe(t, "devices/dev-a/#")
	b := e.mustConnect(&bcert, "dev-b:app")
	b.subscribe(t, "fleet/#")
	b.publish(t, "fleet/1", []byte("before"))
	if m := a.next(t); string(m.Payload()) != "before" {
		t.Fatalf("received %q", m.Payload())
	}
	b.next(t)

	// The grant withdrawn (dev-b keeps it through its own policy).
	e.gw.SetDevice(store.Device{ID: "dev-b", Model: "m1", Status: store.StatusActive, Policy: store.Policy{Publish: []string{"fleet/#"}, Subscribe: []string{"fleet/#"}}})
	e.gw.SetModelPolicy(store.ModelPolicy{Model: "m1"})
	b.publish(t, "fleet/2", []byte("withdrawn")) // PUBACKed: the fan-out is done
	b.next(t)
	// dev-a's own message is queued after anything fleet/2 queued for it.
	a.publish(t, "devices/dev-a/sync", []byte("sync"))
	if m := a.next(t); m.Topic() != "devices/dev-a/sync" {
		t.Fatalf("dev-a received %s %q after its grant was withdrawn", m.Topic(), m.Payload())
	}

	// Granted again, subscribed again; then restricted quarantine, offline.
	e.gw.SetModelPolicy(fleetModel[0])
	a.subscribe(t, "fleet/#")
	b.publish(t, "fleet/3", []byte("again"))
	if m := a.next(t); string(m.Payload()) != "again" {
		t.Fatalf("received %q", m.Payload())
	}
	b.next(t)
	e.gw.SetDevice(store.Device{ID: "dev-a", Model: "m1", Status: store.StatusQuarantined, Quarantine: store.QuarantineRestrict})
	select {
	case <-a.lost:
	case <-time.After(bound):
		t.Fatal("restricted quarantine did not disconnect dev-a")
	}
	b.publish(t, "fleet/4", []byte("while offline"))
	b.next(t)
	again, present, err := e.connectWith(&acert, "dev-a:app", persistent)
	if err != nil {
		t.Fatal(err)
	}
	if !present {
		t.Fatal("the quarantined device's persistent session was not kept")
	}
	if code := again.subscribe(t, "quarantine/dev-a/cmd"); code != 1 {
		t.Fatalf("quarantine subscription: SUBACK %#x", code)
	}
	b.publish(t, "fleet/5", []byte("quarantined"))
	b.next(t)
	// The remediation command arrives after anything fleet/# would have
	// delivered (one connection, in order), and first.
	e.mustConnect(&ocert, "ops-1").publish(t, "quarantine/dev-a/cmd", []byte("fix"))
	if m := again.next(t); m.Topic() != "quarantine/dev-a/cmd" {
		t.Fatalf("the quarantined device received %s %q on an earlier subscription", m.Topic(), m.Payload())
	}
}

// TestLegitimatePublishDuringFlood: one device floods QoS 0 (its rate
// limits lifted) to a topic a stalled subscriber listens on, so every one
// of its publishes meets a full queue; meanwhile a legitimate device's QoS
// 1 publishes to its own tree are acknowledged and delivered promptly (the
// flood's back-pressure is on the flooder's connection only). The bound is
// a failure bound for a loaded machine; the figures are logged.
func TestLegitimatePublishDuringFlood(t *testing.T) {
	devs := activeDevices("dev-f", "dev-s", "dev-l")
	devs[0].Policy = store.Policy{MessagesPerSecond: 1e6, BytesPerSecond: 1e12}
	e := newEnv(t, devs, fleetModel, gateway.Limits{SubscriberQueueBytes: 64 << 10, DeliveryWaitQoS0: 200 * time.Millisecond})
	fcert, scert, lcert := issue(t, e.ca, "dev-f"), issue(t, e.ca, "dev-s"), issue(t, e.ca, "dev-l")
	stalled, sc := e.stallable(t, &scert, "dev-s:app", nil)
	if tok := stalled.c.Subscribe("fleet/#", 0, nil); !tok.WaitTimeout(bound) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	sc.stall()
	legit := e.mustConnect(&lcert, "dev-l:app")
	legit.subscribe(t, "devices/dev-l/#")
	flooder := e.mustConnect(&fcert, "dev-f:app")

	stop := make(chan struct{})
	var flooded sync.WaitGroup
	flooded.Add(1)
	go func() {
		defer flooded.Done()
		payload := make([]byte, 16<<10)
		for {
			select {
			case <-stop:
				return
			default:
			}
			flooder.c.Publish("fleet/flood", 0, false, payload).WaitTimeout(bound)
		}
	}()
	// The flood is on once the stalled subscriber's drops are counted.
	waitFor(t, "the flood did not fill the stalled subscriber's queue", func() bool {
		return e.counter("ward_gateway_delivery_dropped_total", map[string]string{"qos": "0", "reason": gwevent.DropReasonQueueFull}) > 0
	})
	var worst, total time.Duration
	const n = 50
	for i := range n {
		start := time.Now()
		legit.publish(t, "devices/dev-l/x", []byte(strconv.Itoa(i)))
		if m := legit.next(t); string(m.Payload()) != strconv.Itoa(i) {
			t.Fatalf("received %q, want %d", m.Payload(), i)
		}
		d := time.Since(start)
		total += d
		worst = max(worst, d)
	}
	close(stop)
	flooded.Wait()
	t.Logf("legitimate QoS 1 publish to delivery during the flood: mean %v, worst %v", (total / n).Round(time.Microsecond), worst.Round(time.Microsecond))
	if worst > 2*time.Second {
		t.Errorf("a legitimate publish took %v during the flood, want under 2 s", worst)
	}
}
