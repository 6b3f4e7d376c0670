package presence

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/wardtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// gateway is a node's session table, as the gateway keeps it.
type gateway struct {
	mu    sync.Mutex
	n     map[string]int
	addrs map[string][]string
}

func (g *gateway) setAddrs(id string, addrs ...string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.addrs == nil {
		g.addrs = map[string][]string{}
	}
	g.addrs[id] = addrs
}

func (g *gateway) Addresses(id string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.addrs[id])
}

func (g *gateway) set(id string, n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.n == nil {
		g.n = map[string]int{}
	}
	g.n[id] = n
}

func (g *gateway) Connected(id string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.n[id]
}

func (g *gateway) ConnectedIDs(after string, max int) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var ids []string
	for id, n := range g.n {
		if n > 0 && id > after {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids[:min(len(ids), max)]
}

// counted counts the writes reaching the store and fails them while
// failing is set (the database unreachable).
type counted struct {
	store.Store
	writes  atomic.Int32
	failing atomic.Bool
}

func (c *counted) ReportPresence(ctx context.Context, node string, at time.Time, ch []store.DevicePresence) error {
	if c.failing.Load() {
		return errors.New("connection refused")
	}
	c.writes.Add(1)
	return c.Store.ReportPresence(ctx, node, at, ch)
}

type clock struct{ t atomic.Int64 }

func (c *clock) now() time.Time      { return time.Unix(0, c.t.Load()) }
func (c *clock) add(d time.Duration) { c.t.Add(int64(d)) }
func newClock() *clock {
	c := &clock{}
	c.t.Store(time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func counts(t *testing.T, d *Directory, ids ...string) map[string]int {
	t.Helper()
	m, err := d.ConnectedCounts(context.Background(), ids)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// newNode returns one gateway node's reporter "a" on a fresh SQLite
// store, its session table and a directory reading the store, on a clock
// of their own.
func newNode(t *testing.T) (*counted, *gateway, *Reporter, *Directory) {
	t.Helper()
	db := &counted{Store: wardtest.SQLite(t)}
	clk := newClock()
	gw := &gateway{}
	r, err := NewReporter(ReporterOptions{Node: "a", Store: db, Sessions: gw, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	return db, gw, r, NewDirectory(db, 0, clk.now)
}

func TestBatchedWritesAndResync(t *testing.T) {
	ctx := context.Background()
	db, gw, r, dir := newNode(t)
	// A burst of 2,500 connects is written in three transactions (batches
	// of store.MaxPresenceBatch), not 2,500.
	var ids []string
	for i := range 2500 {
		id := fmt.Sprintf("dev-%04d", i)
		ids = append(ids, id)
		gw.set(id, 1)
		r.Changed(id)
	}
	r.write(ctx)
	if got := db.writes.Load(); got != 3 {
		t.Fatalf("%d writes for 2,500 connects, want 3", got)
	}
	if n, _ := dir.Count(ctx); n != 2500 {
		t.Fatalf("directory counts %d connected, want 2500", n)
	}
	// A device whose count did not change costs no row write; a tick with
	// nothing changed is a heartbeat alone.
	r.Changed("dev-0000")
	db.writes.Store(0)
	r.write(ctx)
	if got := db.writes.Load(); got != 1 {
		t.Fatalf("%d writes for a heartbeat, want 1", got)
	}
	// A disconnect the reporter was not told of (a missed signal) is
	// repaired by the resync.
	gw.set("dev-0001", 0)
	gw.set("dev-9999", 2)
	r.resync(ctx)
	if got := counts(t, dir, "dev-0001", "dev-9999"); got["dev-0001"] != 0 || got["dev-9999"] != 2 {
		t.Fatalf("after resync: %v, want dev-0001 gone and dev-9999 with 2", got)
	}
}

// TestAddressesFollowSessions: the directory carries the addresses of a
// node's sessions of each device, normalised and bounded; a device that
// reconnects from another address with the same count is written again
// (the count alone would not change), and its last session's end drops
// them.
func TestAddressesFollowSessions(t *testing.T) {
	ctx := context.Background()
	_, gw, r, dir := newNode(t)
	addrs := func() map[string][]string {
		t.Helper()
		m, err := dir.Addresses(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	many := make([]string, 0, 40)
	for i := range 40 {
		many = append(many, fmt.Sprintf("198.51.100.%d", 100+i))
	}
	gw.set("d1", 1)
	gw.setAddrs("d1", "192.0.2.1")
	gw.set("d2", 40)
	gw.setAddrs("d2", append(many, "not an address", "2001:DB8::1")...)
	r.Changed("d1")
	r.Changed("d2")
	r.write(ctx)
	got := addrs()
	if d := cmp.Diff([]string{"192.0.2.1"}, got["d1"]); d != "" {
		t.Errorf("d1 (-want +got):\n%s", d)
	}
	if n := len(got["d2"]); n != store.MaxPresenceAddrs || got["d2"][0] != "198.51.100.100" {
		t.Errorf("d2's addresses: %v; want the first %d of its valid ones, sorted", got["d2"], store.MaxPresenceAddrs)
	}
	gw.setAddrs("d1", "192.0.2.77") // reconnected elsewhere: still one session
	r.Changed("d1")
	r.write(ctx)
	if d := cmp.Diff([]string{"192.0.2.77"}, addrs()["d1"]); d != "" {
		t.Errorf("d1 after reconnecting from another address (-want +got):\n%s", d)
	}
	gw.set("d1", 0)
	r.Changed("d1")
	r.write(ctx)
	if a, ok := addrs()["d1"]; ok {
		t.Errorf("d1 disconnected still has addresses %v", a)
	}
}

func TestFailedWriteIsRetriedNotLost(t *testing.T) {
	ctx := context.Background()
	db, gw, r, dir := newNode(t)
	db.failing.Store(true)
	gw.set("d1", 1)
	r.Changed("d1")
	r.write(ctx) // fails: d1 stays pending
	db.failing.Store(false)
	r.write(ctx)
	if got := counts(t, dir, "d1"); got["d1"] != 1 {
		t.Fatalf("after the store came back: %v, want d1 connected", got)
	}
}

func TestSilentNodeStopsCountingAndLeaveRemoves(t *testing.T) {
	ctx := context.Background()
	db := wardtest.SQLite(t)
	clk := newClock()
	ga, gb := &gateway{}, &gateway{}
	ra, _ := NewReporter(ReporterOptions{Node: "a", Store: db, Sessions: ga, Now: clk.now})
	rb, _ := NewReporter(ReporterOptions{Node: "b", Store: db, Sessions: gb, Now: clk.now})
	dir := NewDirectory(db, 0, clk.now)
	ga.set("d1", 1)
	gb.set("d1", 1)
	gb.set("d2", 1)
	ra.resync(ctx)
	rb.resync(ctx)
	if got := counts(t, dir, "d1", "d2"); got["d1"] != 2 || got["d2"] != 1 {
		t.Fatalf("both nodes: %v", got)
	}
	// b dies silently; a keeps heartbeating. Past the expiry only a counts.
	for range 8 {
		clk.add(DefaultInterval)
		ra.write(ctx)
	}
	if got := counts(t, dir, "d1", "d2"); got["d1"] != 1 || got["d2"] != 0 {
		t.Fatalf("after b went silent for %v: %v, want only a's session of d1", 8*DefaultInterval, got)
	}
	ids, err := dir.ConnectedIDs(ctx, "", 10)
	if err != nil || !slices.Equal(ids, []string{"d1"}) {
		t.Fatalf("ConnectedIDs = %v, %v; want [d1]", ids, err)
	}
	// a stops cleanly: Run removes its rows at once.
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- ra.Run(rctx) }()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := counts(t, NewDirectory(db, time.Hour, clk.now), "d1"); got["d1"] != 1 { // b's stale row only
		t.Fatalf("after a left: %v, want b's stale row only", got)
	}
}

func TestNewReporterRefuses(t *testing.T) {
	db := wardtest.SQLite(t)
	if _, err := NewReporter(ReporterOptions{Store: db, Sessions: &gateway{}}); err == nil {
		t.Error("no node name accepted")
	}
	if _, err := NewReporter(ReporterOptions{Node: "a", Store: db, Sessions: &gateway{}, Interval: 10 * time.Second, Expiry: 15 * time.Second}); err == nil {
		t.Error("expiry under twice the interval accepted")
	}
}
