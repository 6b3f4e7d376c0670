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
	dto "github.com/prometheus/client_model/go"

	"github.com/wardproject/ward/internal/gateway"
	"github.com/wardproject/ward/internal/gwevent"
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

// counter returns the value of the series of name whose labels include all of want.
func (e *env) counter(name string, want map[string]string) float64 {
	e.t.Helper()
	return e.series(name, func(m *dto.Metric) bool {
		n := 0
		for _, l := range m.GetLabel() {
			if v, ok := want[l.GetName()]; ok && v == l.GetValue() {
				n++
			}
		}
		return n == len(want)
	})
}

// TestStalledSubscriberLosesNothingAcknowledged: a device subscribed at
// QoS 1 with a persistent session stops reading while another device
// publishes QoS 1 messages to it. The publisher waits (its PUBACKs are
// late, not lost); the stalled subscriber is disconnected as too slow (a
// limit event slow-subscriber); every message the publisher had a PUBACK
// for is then either received by the subscriber (before the stall, from
// its socket, or resent to its resumed session) or counted as dropped for
// its full offline queue - never silently lost.
func TestStalledSubscriberLosesNothingAcknowledged(t *testing.T) {
	e := newEnv(t, activeDevices("dev-p", "dev-s"), fleetModel, deliveryLimits(16<<10, 300*time.Millisecond, 100*time.Millisecond))
	pcert, scert := issue(t, e.ca, "dev-p"), issue(t, e.ca, "dev-s")
	sub, sc := e.stallable(t, &scert, "dev-s:app", persistent)
	sub.subscribe(t, "fleet/#")
	pub := e.mustConnect(&pcert, "dev-p:app")

	sc.stall()
	const n = 300
	payload := make([]byte, 2<<10)
	for i := 1; i <= n; i++ {
		copy(payload, fmt.Sprintf("%08d", i))
		pub.publish(t, "fleet/data", payload) // waits for the PUBACK
	}
	e.waitEvent(func(ev store.Event) bool {
		return ev.Kind == gwevent.Limit.String() && ev.DeviceID == "dev-s" && ev.Detail["limit"] == gwevent.LimitSlowSubscriber
	})
	dropped := int(e.counter("ward_gateway_delivery_dropped_total", map[string]string{"qos": "1", "reason": gwevent.DropReasonOfflineQueue}))
	if other := e.counter("ward_gateway_delivery_dropped_total", map[string]string{"qos": "1", "reason": gwevent.DropReasonQueueFull}); other != 0 {
		t.Errorf("%v QoS 1 messages dropped for a full queue, want none", other)
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
	for len(got) < n-dropped {
		before := len(got)
		seqs(got, again.msgs, bound/5)
		if len(got) == before {
			break
		}
	}
	t.Logf("published %d (all acknowledged); received %d before the disconnect, %d in all; %d counted as dropped (offline queue full)", n, before, len(got), dropped)
	for i := 1; i <= n-dropped; i++ {
		if !got[i] {
			t.Errorf("message %d was acknowledged to the publisher but neither delivered nor counted as dropped", i)
		}
	}
	if len(got)+dropped != n {
		t.Errorf("received %d + dropped %d != published %d", len(got), dropped, n)
	}
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
