package detect

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wardproject/ward/internal/alert"
	"github.com/wardproject/ward/internal/bus"
	natsbus "github.com/wardproject/ward/internal/bus/nats"
	"github.com/wardproject/ward/internal/gwevent"
	"github.com/wardproject/ward/internal/leader"
	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/store/sqlite"
	"github.com/wardproject/ward/internal/wardtest"
)

// clusterHarness is a detection cluster in one process, with real parts:
// two gateway nodes (a collector and a shipper each, with their own NATS
// connection), detector workers consuming the queue into a real SQLite
// store, and the detect leader's engine. Windows are closed by hand.
type clusterHarness struct {
	t       *testing.T
	db      *sqlite.DB
	eng     *Engine
	alerts  *alert.Manager
	cols    map[string]*Collector
	ships   map[string]*Shipper
	stored  chan struct{} // one per batch stored
	url, ns string
	now     time.Time
	reg     *prometheus.Registry
	// handle is the workers' handler (tests wrap it to kill a worker).
	handle func(context.Context, bus.Message) error
	in     *Ingester
	dl     *natsbus.Bus
}

const clusterWindow = 10 * time.Second

func newClusterHarness(t *testing.T, url string, devices ...string) *clusterHarness {
	t.Helper()
	ctx := context.Background()
	h := &clusterHarness{t: t, db: wardtest.SQLite(t), cols: map[string]*Collector{}, ships: map[string]*Shipper{},
		stored: make(chan struct{}, 1024), url: url, ns: "test_" + rand.Text()[:12],
		now: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), reg: prometheus.NewPedanticRegistry()}
	t.Cleanup(func() { wardtest.DeleteNATSStream(t, url, h.ns+"_queues") })
	clock := func() time.Time { return h.now }
	for _, id := range devices {
		h.db.CreateDevice(ctx, store.Device{ID: id, Model: "acme-th1", Status: store.StatusActive, CreatedAt: h.now, UpdatedAt: h.now})
	}
	var err error
	if h.alerts, err = alert.NewManager(ctx, alert.Options{Store: h.db, Now: clock}); err != nil {
		t.Fatal(err)
	}
	if h.eng, err = New(ctx, Options{Collector: NewCollector(), Store: h.db, Partials: h.db, Alerts: h.alerts, Window: clusterWindow,
		Now: clock, Metrics: h.reg}); err != nil {
		t.Fatal(err)
	}
	// The detector node: its own connection, the group declared at start.
	h.dl = h.newBus("detector")
	if err := h.dl.DeclareGroup(ctx, WindowsQueue, DetectGroup); err != nil {
		t.Fatal(err)
	}
	if h.in, err = NewIngester(IngesterOptions{Partials: h.db, DeadLetters: h.dl, Window: clusterWindow, Metrics: h.reg,
		Stored: func() { h.stored <- struct{}{} }}); err != nil {
		t.Fatal(err)
	}
	h.handle = h.in.Handle
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 2)
	for range 2 {
		go func() {
			done <- h.dl.Consume(cctx, WindowsQueue, DetectGroup, func(ctx context.Context, m bus.Message) error { return h.handle(ctx, m) })
		}()
	}
	t.Cleanup(func() {
		cancel()
		for range 2 {
			if err := <-done; err != nil {
				t.Errorf("Consume: %v", err)
			}
		}
	})
	return h
}

// newBus connects one node to NATS in the test's namespace.
func (h *clusterHarness) newBus(name string) *natsbus.Bus {
	h.t.Helper()
	b, err := natsbus.New(natsbus.Options{URL: h.url, Namespace: h.ns, Name: name, Backoff: []time.Duration{10 * time.Millisecond},
		ReconnectWait: 100 * time.Millisecond})
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { b.Close() })
	return b
}

// gateway adds a gateway node with its shipper running.
func (h *clusterHarness) gateway(node string, b Enqueuer, spool int64) {
	h.t.Helper()
	if b == nil {
		b = h.newBus(node)
	}
	c := NewCollector()
	s, err := NewShipper(ShipperOptions{Collector: c, Bus: b, Node: node, Window: clusterWindow, Manual: true, SpoolBytes: spool,
		Retry: 20 * time.Millisecond, Now: func() time.Time { return h.now }})
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	h.t.Cleanup(func() {
		cancel()
		<-done
	})
	h.cols[node], h.ships[node] = c, s
}

func (h *clusterHarness) obs(node string, o gwevent.Event) {
	o.Time = h.now
	h.cols[node].Observe(o)
}

func (h *clusterHarness) publish(node, dev string, n int) {
	for range n {
		h.obs(node, gwevent.Event{Kind: gwevent.Published, Device: dev, Topic: "devices/" + dev + "/telemetry", Bytes: 40, Payload: []byte(`{"t":21.5}`)})
	}
}

// ship closes the window on every gateway node and returns its end.
func (h *clusterHarness) ship() time.Time {
	h.now = h.now.Add(clusterWindow)
	for _, s := range h.ships {
		s.Ship(h.now)
	}
	return h.now
}

// waitStored waits until n batches more have been stored.
func (h *clusterHarness) waitStored(n int) {
	h.t.Helper()
	for i := range n {
		select {
		case <-h.stored:
		case <-time.After(30 * time.Second):
			h.t.Fatalf("only %d of %d window batches stored after 30 s", i, n)
		}
	}
}

func (h *clusterHarness) evaluate(end time.Time) {
	h.t.Helper()
	if err := h.eng.EvaluatePartials(context.Background(), end); err != nil {
		h.t.Fatal(err)
	}
}

// window returns the device's stored base window ending at end.
func (h *clusterHarness) window(dev string, end time.Time) Datapoint {
	h.t.Helper()
	ws, err := h.db.ListMetricWindows(context.Background(), dev, clusterWindow, end.Add(-clusterWindow))
	if err != nil || len(ws) == 0 {
		h.t.Fatalf("no stored window of %s ending %s: %v", dev, end, err)
	}
	var dp Datapoint
	if err := json.Unmarshal(ws[0].JSON, &dp); err != nil {
		h.t.Fatal(err)
	}
	return dp
}

func (h *clusterHarness) active(dev string) map[string]alert.Alert {
	h.t.Helper()
	as, err := h.alerts.List(context.Background(), alert.Filter{Device: dev, States: []alert.State{alert.Open, alert.Acknowledged}})
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]alert.Alert{}
	for _, a := range as {
		out[a.Rule] = a
	}
	return out
}

// fleetFlood alerts on a device sending 5x the fleet's p90, with no static
// threshold: without the fleet's datapoints it cannot fire at all.
var fleetFlood = Profile{Name: "fleet", Rules: []Rule{{Name: "fleet-flood", Metric: MessagesSent, Window: "1m", Comparison: ">",
	Statistic: "p90", Factor: 5, Severity: alert.High}}}

// TestClusterAttackThroughOtherNode: a device attacks through gateway node
// A while its 40 peers are on node B. The percentile threshold, computed
// over the whole fleet by the detect leader, raises the alert; a node that
// evaluated only its own sessions would have no statistic to compare with.
// A device with sessions on both nodes is counted once, in full.
func TestClusterAttackThroughOtherNode(t *testing.T) {
	url := wardtest.NATS(t)
	peers := make([]string, 40)
	for i := range peers {
		peers[i] = fmt.Sprintf("peer-%02d", i)
	}
	h := newClusterHarness(t, url, append(peers, "attacker", "roamer")...)
	if err := h.eng.SetProfiles(context.Background(), []Profile{fleetFlood}); err != nil {
		t.Fatal(err)
	}
	h.gateway("node-a", nil, 0)
	h.gateway("node-b", nil, 0)
	for w := range 3 {
		for i, p := range peers {
			h.publish("node-b", p, 10+i%5)
		}
		h.publish("node-a", "attacker", 12)
		h.publish("node-a", "roamer", 7)
		h.publish("node-b", "roamer", 5)
		end := h.ship()
		h.waitStored(2)
		h.evaluate(end)
		if n := len(h.active("")); n != 0 {
			t.Fatalf("window %d: %d alerts on benign traffic: %v", w, n, h.active(""))
		}
		if got := h.window("roamer", end).Values[MessagesSent]; got != 12 {
			t.Errorf("window %d: roamer sent 7 via A and 5 via B; stored messages_sent = %v", w, got)
		}
	}
	h.publish("node-a", "attacker", 400)
	for _, p := range peers {
		h.publish("node-b", p, 12)
	}
	end := h.ship()
	h.waitStored(2)
	h.evaluate(end)
	a := h.active("attacker")["fleet-flood"]
	if a.ID == "" {
		t.Fatalf("no fleet-flood alert for the attacker on node A: %v", h.active(""))
	}
	if a.Evidence.Value != 400 || a.Evidence.Threshold < 50 || a.Evidence.Threshold > 100 {
		t.Errorf("evidence %+v: want 400 against 5 x the fleet's p90 (about 14)", a.Evidence)
	}
	if n := len(h.active("")); n != 1 {
		t.Errorf("%d alerts, want only the attacker's: %v", n, h.active(""))
	}
	// Every evaluated batch is deleted.
	if left, _ := h.db.ListPartialBatches(context.Background(), end); len(left) != 0 {
		t.Errorf("%d batches left after evaluation", len(left))
	}
	if got := h.eng.lag(); got != 0 {
		t.Errorf("ward_detect_lag_seconds = %v after the leader evaluated the current window, want 0", got)
	}
}

// TestClusterRedeliveryAndKilledWorker: a worker killed after it stored a
// batch and before the ack (its handler fails after storing), and the same
// batch enqueued twice by a gateway retrying after a lost reply: the
// window counts each observation once.
func TestClusterRedeliveryAndKilledWorker(t *testing.T) {
	url := wardtest.NATS(t)
	h := newClusterHarness(t, url, "d1")
	var killed atomic.Int32
	h.handle = func(ctx context.Context, m bus.Message) error {
		if err := h.in.Handle(ctx, m); err != nil {
			return err
		}
		if killed.Add(1) == 1 {
			return errors.New("worker killed between store and ack")
		}
		return nil
	}
	nb := h.newBus("node-a")
	h.gateway("node-a", nb, 0)
	h.publish("node-a", "d1", 9)
	end := h.ship()
	h.waitStored(2) // the first delivery and its redelivery
	// The gateway's retry of a batch the bus had already taken.
	data, _ := h.db.ListPartialBatches(context.Background(), end)
	if len(data) != 1 {
		t.Fatalf("%d batches stored, want 1", len(data))
	}
	if err := nb.Enqueue(context.Background(), WindowsQueue, data[0].Data); err != nil {
		t.Fatal(err)
	}
	h.waitStored(1)
	h.evaluate(end)
	if got := h.window("d1", end).Values[MessagesSent]; got != 9 {
		t.Errorf("messages_sent = %v after a redelivery and a duplicate, want 9", got)
	}
	if got := testutil.ToFloat64(h.in.mResult.WithLabelValues("stored")); got != 3 {
		t.Errorf("batches handled = %v, want 3 (one stored, twice again without effect)", got)
	}
}

// TestClusterHostileBatch: garbage and a batch of another window size on
// the queue are dead-lettered and logged; the window's real batches are
// evaluated as if they were not there.
func TestClusterHostileBatch(t *testing.T) {
	url := wardtest.NATS(t)
	h := newClusterHarness(t, url, "d1")
	dead := make(chan bus.Message, 4)
	sub, err := h.dl.Subscribe(bus.DeadLetterSubject(WindowsQueue), func(m bus.Message) { dead <- m })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	nb := h.newBus("node-a")
	h.gateway("node-a", nb, 0)
	hostile := [][]byte{
		[]byte("WDB\x01 definitely not a batch"),
		EncodeBatches("node-x", h.now.Add(clusterWindow), time.Minute, []Datapoint{{Device: "d1", Values: map[string]float64{MessagesSent: 1e6}}}, 0)[0],
	}
	for _, b := range hostile {
		if err := nb.Enqueue(context.Background(), WindowsQueue, b); err != nil {
			t.Fatal(err)
		}
	}
	h.publish("node-a", "d1", 4)
	end := h.ship()
	h.waitStored(1)
	for i := range hostile {
		select {
		case <-dead:
		case <-time.After(30 * time.Second):
			t.Fatalf("%d of %d hostile batches dead-lettered after 30 s", i, len(hostile))
		}
	}
	h.evaluate(end)
	if got := h.window("d1", end).Values[MessagesSent]; got != 4 {
		t.Errorf("messages_sent = %v, want 4 (the hostile batch's 1e6 refused)", got)
	}
	if got := testutil.ToFloat64(h.in.mResult.WithLabelValues("refused")); got != 2 {
		t.Errorf("refused = %v, want 2", got)
	}
}

// TestClusterLatePartials: a gateway cut off during a window ships it
// after the leader evaluated that window: its datapoints are evaluated with
// the next window and counted as late, never dropped.
func TestClusterLatePartials(t *testing.T) {
	url := wardtest.NATS(t)
	h := newClusterHarness(t, url, "d1", "d2")
	h.gateway("node-a", nil, 0)
	h.publish("node-a", "d1", 3)
	first := h.ship()
	h.waitStored(1)
	// node-b's window ends too, but its batch reaches the bus later.
	h.cols["node-b"] = NewCollector()
	h.obs("node-b", gwevent.Event{Kind: gwevent.Published, Device: "d2", Topic: "devices/d2/t", Bytes: 10})
	late := EncodeBatches("node-b", first, clusterWindow, h.cols["node-b"].Swap(first.Add(-clusterWindow), first, time.Hour), 0)
	h.evaluate(first)
	h.publish("node-a", "d1", 2)
	second := h.ship()
	nb := h.newBus("node-b")
	if err := nb.Enqueue(context.Background(), WindowsQueue, late[0]); err != nil {
		t.Fatal(err)
	}
	h.waitStored(2)
	h.evaluate(second)
	if got := h.window("d2", second).Values[MessagesSent]; got != 1 {
		t.Errorf("d2's late messages_sent = %v in the next window, want 1", got)
	}
	if got := h.window("d1", second).Values[MessagesSent]; got != 2 {
		t.Errorf("d1 messages_sent = %v, want 2", got)
	}
	if got := testutil.ToFloat64(h.eng.mLate); got != 1 {
		t.Errorf("ward_detect_late_partials_total = %v, want 1", got)
	}
}

// ownNATS is a nats-server of the test's own, which it may stop and start
// again (never the shared one).
type ownNATS struct {
	t         *testing.T
	port, dir string
	cmd       *exec.Cmd
}

func startOwnNATS(t *testing.T) *ownNATS {
	t.Helper()
	wardtest.RequireTool(t, "nats-server")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	n := &ownNATS{t: t, port: port, dir: t.TempDir()}
	n.start()
	t.Cleanup(n.stop)
	return n
}

func (n *ownNATS) url() string { return "nats://127.0.0.1:" + n.port }

func (n *ownNATS) start() {
	n.t.Helper()
	path, _ := exec.LookPath("nats-server")
	n.cmd = exec.Command(path, "-a", "127.0.0.1", "-p", n.port, "-js", "-sd", n.dir)
	if err := n.cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.Dial("tcp", "127.0.0.1:"+n.port)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("own nats-server not listening on %s after 30 s: %v", n.port, err)
		}
		time.Sleep(20 * time.Millisecond) // polling a port: no event to wait on
	}
}

func (n *ownNATS) stop() {
	if n.cmd == nil {
		return
	}
	n.cmd.Process.Signal(os.Interrupt)
	n.cmd.Wait()
	n.cmd = nil
}

// TestClusterNATSDown: the bus goes down while a gateway node keeps
// closing windows. Its batches are spooled up to the bound, then further
// windows are merged into a carry (counted as spool-full); when NATS is
// back everything is shipped, and every observation the gateway made is
// evaluated.
func TestClusterNATSDown(t *testing.T) {
	n := startOwnNATS(t)
	h := newClusterHarness(t, n.url(), "d1", "d2")
	h.gateway("node-a", nil, 1200)
	s := h.ships["node-a"]
	h.publish("node-a", "d1", 5)
	end := h.ship()
	h.waitStored(1)
	h.evaluate(end)
	shippedBefore := testutil.ToFloat64(s.mShipped)

	n.stop()
	want := 0.0
	for w := range 6 {
		// Two devices with many topics: each window's batch is ~500 bytes.
		for i := range 10 {
			h.obs("node-a", gwevent.Event{Kind: gwevent.Published, Device: "d1", Topic: fmt.Sprintf("devices/d1/t/%d/%d", w, i), Bytes: 10})
			h.obs("node-a", gwevent.Event{Kind: gwevent.Published, Device: "d2", Topic: fmt.Sprintf("devices/d2/t/%d/%d", w, i), Bytes: 10})
		}
		want += 10
		h.ship()
		if b, _ := s.Spooled(); b > 1200 {
			t.Fatalf("spool holds %d bytes, over its 1200-byte bound", b)
		}
	}
	if got := testutil.ToFloat64(s.mSpoolFull); got == 0 {
		t.Fatal("six windows into a 1200-byte spool with NATS down: spool never full")
	}
	n.start()
	// The carry goes with the next window once the spool has drained.
	h.publish("node-a", "d1", 1)
	want++
	h.drained(s)
	last := h.ship()
	h.drained(s)
	if s.carry != nil {
		t.Fatal("carry not shipped with the first window after NATS came back")
	}
	// Every batch shipped since the first window stored (the queue has no
	// order, and a window whose only batch is still in flight has no row
	// yet: count them all against what the shipper shipped).
	shipped := int(testutil.ToFloat64(s.mShipped) - shippedBefore)
	deadline := time.Now().Add(60 * time.Second)
	for {
		counts, err := h.db.CountPartialBatches(context.Background(), last)
		if err != nil {
			t.Fatal(err)
		}
		ok := len(counts) > 0 && counts[len(counts)-1].WindowEnd.Equal(last)
		stored := 0
		for _, c := range counts {
			ok = ok && c.Stored == c.Batches
			stored += c.Stored
		}
		if ok && stored == shipped {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("batches not all stored 60 s after NATS came back (%d shipped): %+v", shipped, counts)
		}
		select {
		case <-h.stored:
		case <-time.After(time.Second):
		}
	}
	h.evaluate(last)
	if got := h.window("d1", last).Values[MessagesSent]; got != want {
		t.Errorf("d1: %v messages evaluated after the outage, want every one of %v", got, want)
	}
	if got := h.window("d2", last).Values[MessagesSent]; got != want-1 {
		t.Errorf("d2: %v messages evaluated after the outage, want %v", got, want-1)
	}
	if left, _ := h.db.ListPartialBatches(context.Background(), last); len(left) != 0 {
		t.Errorf("%d batches left", len(left))
	}
}

// drained waits until the shipper's spool is empty. Polled: the
// shipper has no event for it.
func (h *clusterHarness) drained(s *Shipper) {
	h.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		s.mu.Lock()
		empty := len(s.spool) == 0
		s.mu.Unlock()
		if empty {
			return
		}
		if time.Now().After(deadline) {
			b, k := s.Spooled()
			h.t.Fatalf("spool not drained 60 s after NATS came back: %d batches, %d bytes", k, b)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestClusterWindowComplete: the leader evaluates a window early only when
// every gateway node seen in the last three windows has all its batches
// in; a node silent for longer is no longer waited for.
func TestClusterWindowComplete(t *testing.T) {
	ctx := context.Background()
	db := wardtest.SQLite(t)
	al, err := alert.NewManager(ctx, alert.Options{Store: db})
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(ctx, Options{Collector: NewCollector(), Store: db, Partials: db, Alerts: al, Window: clusterWindow})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	put := func(node string, end time.Time, seq, n int) {
		t.Helper()
		if err := db.PutPartialBatch(ctx, store.PartialBatch{Node: node, WindowEnd: end, Seq: seq, Batches: n,
			Data: EncodeBatches(node, end, clusterWindow, nil, 0)[0]}); err != nil {
			t.Fatal(err)
		}
	}
	check := func(end time.Time, want bool, why string) {
		t.Helper()
		got, err := e.complete(ctx, end)
		if err != nil || got != want {
			t.Errorf("%s: complete = %v, %v; want %v", why, got, err, want)
		}
	}
	w1 := t0.Add(clusterWindow)
	check(w1, false, "no batch at all")
	put("a", w1, 0, 1)
	put("b", w1, 0, 1)
	check(w1, true, "both nodes in, none known before")
	if err := e.EvaluatePartials(ctx, w1); err != nil {
		t.Fatal(err)
	}
	w2 := w1.Add(clusterWindow)
	put("a", w2, 0, 1)
	check(w2, false, "node b, seen in the last window, not in yet")
	put("b", w2, 1, 2)
	check(w2, false, "node b has 1 of its 2 batches")
	put("b", w2, 0, 2)
	check(w2, true, "every batch of both nodes")
	if err := e.EvaluatePartials(ctx, w2); err != nil {
		t.Fatal(err)
	}
	// Node b goes silent: waited for during three windows, then not.
	end := w2
	for i := range 4 {
		end = end.Add(clusterWindow)
		put("a", end, 0, 1)
		check(end, i == 3, fmt.Sprintf("%d windows after node b's last batch", i+1))
		if err := e.EvaluatePartials(ctx, end); err != nil {
			t.Fatal(err)
		}
	}
}

// TestClusterLead: under an elector that always leads, the leader
// evaluates each window from the stored batches on the wall clock.
func TestClusterLead(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db := wardtest.SQLite(t)
	db.CreateDevice(ctx, store.Device{ID: "d1", Model: "m", Status: store.StatusActive})
	al, err := alert.NewManager(ctx, alert.Options{Store: db})
	if err != nil {
		t.Fatal(err)
	}
	const w = time.Second
	e, err := New(ctx, Options{Collector: NewCollector(), Store: db, Partials: db, Alerts: al, Window: w})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- e.Lead(ctx, leader.Local()) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	// A batch for a window a little ahead.
	end := time.Now().Truncate(w).Add(3 * w)
	dp := Datapoint{Device: "d1", Values: map[string]float64{MessagesSent: 42}}
	if err := db.PutPartialBatch(ctx, store.PartialBatch{Node: "a", WindowEnd: end, Seq: 0, Batches: 1,
		Data: EncodeBatches("a", end, w, []Datapoint{dp}, 0)[0]}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ws, err := db.ListMetricWindows(ctx, "d1", w, end.Add(-w))
		if err != nil {
			t.Fatal(err)
		}
		if len(ws) > 0 {
			var got Datapoint
			json.Unmarshal(ws[0].JSON, &got)
			if got.Values[MessagesSent] != 42 || !got.End.Equal(end) {
				t.Errorf("evaluated window %+v, want 42 messages ending %s", got, end)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the leader did not evaluate the window within 30 s")
		}
		time.Sleep(50 * time.Millisecond) // the store has no event to wait on
	}
	if !e.Leading() {
		t.Error("Leading() = false while Lead runs under an elector that always leads")
	}
}

// TestClusterFollowerReadsLeaderState: a node that is not the detect
// leader answers the API and the audit with the leader's state: device
// facts and baselines as the leader stored them; and profiles set through
// it reach the leader at its next window.
func TestClusterFollowerReadsLeaderState(t *testing.T) {
	ctx := context.Background()
	db := wardtest.SQLite(t)
	db.CreateDevice(ctx, store.Device{ID: "cam", Model: "m", Status: store.StatusActive})
	al, err := alert.NewManager(ctx, alert.Options{Store: db})
	if err != nil {
		t.Fatal(err)
	}
	newEngine := func() *Engine {
		e, err := New(ctx, Options{Collector: NewCollector(), Store: db, Partials: db, Alerts: al, Window: clusterWindow})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	lead, follow := newEngine(), newEngine()
	// The leader evaluates a window in which the camera reported its ports.
	c := NewCollector()
	end := time.Date(2026, 11, 25, 0, 0, 10, 0, time.UTC)
	c.Observe(gwevent.Event{Kind: gwevent.Published, Device: "cam", Topic: "devices/cam/metrics", Time: end.Add(-time.Second),
		Payload: []byte(`{"version":1,"listening_tcp_ports":[23,80]}`)})
	data := EncodeBatches("a", end, clusterWindow, c.Swap(end.Add(-clusterWindow), end, time.Hour), 0)[0]
	if err := db.PutPartialBatch(ctx, store.PartialBatch{Node: "a", WindowEnd: end, Seq: 0, Batches: 1, Data: data}); err != nil {
		t.Fatal(err)
	}
	if err := lead.EvaluatePartials(ctx, end); err != nil {
		t.Fatal(err)
	}
	lead.saveBaseline(ctx) // what the leader does every 10 windows and when it stops
	if err := follow.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if f := follow.Facts()["cam"]; fmt.Sprint(f.ListeningTCP) != "[23 80]" {
		t.Errorf("follower's facts of cam = %+v, want the ports 23 and 80 the leader saw", f)
	}
	if got, want := len(follow.Baselines()), len(lead.Baselines()); got != want || got == 0 {
		t.Errorf("follower has %d baseline groups, the leader %d", got, want)
	}
	// A profile set through the follower's API is the leader's at its next window.
	if err := follow.SetProfiles(ctx, []Profile{fleetFlood}); err != nil {
		t.Fatal(err)
	}
	if err := lead.reload(ctx, false); err != nil {
		t.Fatal(err)
	}
	if ps := lead.Profiles(); len(ps) != 1 || ps[0].Name != "fleet" {
		t.Errorf("leader's profiles after a change through another node: %+v", ps)
	}
}

// TestIngestWindowBoundaries: a worker stores a batch whose window ends on
// a boundary as the shippers compute it, for any window size (a 7 s
// window's ends are not multiples of 7 s in Unix time), and refuses one
// that does not.
func TestIngestWindowBoundaries(t *testing.T) {
	ctx := context.Background()
	db := wardtest.SQLite(t)
	var dead int
	for _, w := range []time.Duration{7 * time.Second, time.Minute, 90 * time.Second} {
		in, err := NewIngester(IngesterOptions{Partials: db, Window: w,
			DeadLetters: publisherFunc(func(context.Context, string, []byte) error { dead++; return nil })})
		if err != nil {
			t.Fatal(err)
		}
		end := time.Date(2026, 11, 25, 10, 0, 3, 0, time.UTC).Truncate(w)
		before := dead
		if err := in.Handle(ctx, bus.Message{Data: EncodeBatches("n", end, w, nil, 0)[0]}); err != nil || dead != before {
			t.Errorf("window %s ending %s: Handle = %v, dead-lettered %d; want stored", w, end, err, dead-before)
		}
		if err := in.Handle(ctx, bus.Message{Data: EncodeBatches("n", end.Add(time.Second), w, nil, 0)[0]}); err != nil || dead != before+1 {
			t.Errorf("window %s ending off its boundary: Handle = %v, dead-lettered %d; want refused", w, err, dead-before)
		}
	}
}
