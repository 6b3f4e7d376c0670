package leader

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/wardproject/ward/internal/wardtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// bound is the failure bound of every wait: generous, since the machine
// may be loaded; the tests wait for events, never for time.
const bound = 30 * time.Second

func randName(t *testing.T) string {
	b := make([]byte, 5)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", b)
}

func TestLocalLeadsAndRestartsWork(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runs := make(chan struct{}, 10)
	done := make(chan error, 1)
	go func() {
		done <- local{pause: time.Millisecond}.Lead(ctx, "audit", func(ctx context.Context) error {
			runs <- struct{}{}
			return errors.New("boom")
		})
	}()
	for range 3 { // work that returns early runs again
		select {
		case <-runs:
		case <-time.After(bound):
			t.Fatal("local elector did not run the work again")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Lead after cancel = %v, want nil", err)
	}
}

func TestInvalidName(t *testing.T) {
	p, err := NewPostgres(PostgresOptions{DSN: "postgres://127.0.0.1:1/x"})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []Elector{Local(), p} {
		for _, name := range []string{"", "Audit", "a b", "x;drop", strings.Repeat("a", 64)} {
			err := e.Lead(context.Background(), name, func(context.Context) error { t.Error("work ran"); return nil })
			if !errors.Is(err, ErrInvalidName) {
				t.Errorf("%T.Lead(%q) = %v, want ErrInvalidName", e, name, err)
			}
		}
	}
}

func TestNewPostgresRefusesShortTakeover(t *testing.T) {
	_, err := NewPostgres(PostgresOptions{DSN: "postgres://x", Poll: time.Second, Takeover: 2 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "takeover") {
		t.Fatalf("NewPostgres with takeover = 2×poll: %v, want a refusal", err)
	}
}

// TestNewPostgresPoolParams: the DSN is parsed as the store parses it
// (pgxpool.ParseConfig), so a DSN the store opens is one the elector
// connects with (the pool's parameters are not sent to the server as
// run-time parameters), and a malformed pool parameter is refused at
// start-up rather than on every connection attempt.
func TestNewPostgresPoolParams(t *testing.T) {
	tests := []struct {
		name    string
		dsn     string
		wantErr string
	}{
		{name: "url", dsn: "postgres://u@127.0.0.1:5432/db?sslmode=disable&pool_max_conns=5&pool_min_conns=1"},
		{name: "keyword-value", dsn: "host=127.0.0.1 dbname=db pool_max_conns=5 pool_max_conn_idle_time=1m"},
		{name: "bad-max-conns", dsn: "postgres://u@127.0.0.1/db?pool_max_conns=five", wantErr: "pool_max_conns"},
		{name: "zero-max-conns", dsn: "postgres://u@127.0.0.1/db?pool_max_conns=0", wantErr: "pool_max_conns"},
		{name: "bad-duration", dsn: "postgres://u@127.0.0.1/db?pool_max_conn_lifetime=soon", wantErr: "pool_max_conn_lifetime"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewPostgres(PostgresOptions{DSN: tt.dsn})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("NewPostgres(%q) = %v, want an error naming %s", tt.dsn, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for k := range p.cfg.RuntimeParams {
				if strings.HasPrefix(k, "pool_") {
					t.Errorf("run-time parameter %s would be sent to the server", k)
				}
			}
		})
	}
}

// TestPostgresLeadsWithPoolParams: an elector on the test server leads
// with a DSN that carries pool parameters.
func TestPostgresLeadsWithPoolParams(t *testing.T) {
	dsn := wardtest.Postgres(t) + "&pool_max_conns=5"
	n := newNode(t, dsn, "ward_leader_test_"+randName(t), "a"+randName(t), 100*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	c := &cluster{t: t}
	defer func() { cancel(); c.wg.Wait() }()
	c.start(ctx, n, "audit")
	waitOn(t, n.started, "the elector to lead with pool_max_conns in its DSN")
}

func TestKeyDependsOnSchemaAndName(t *testing.T) {
	keys := map[int64]string{}
	for _, s := range []string{"", "public", "ward_a", "ward_b"} {
		for _, n := range []string{"audit", "crl", "rollouts"} {
			k := Key(s, n)
			if prev, ok := keys[k]; ok {
				t.Fatalf("Key(%q, %q) = Key of %s", s, n, prev)
			}
			keys[k] = s + "/" + n
		}
	}
	if Key("s", "ab") == Key("sa", "b") {
		t.Fatal("schema and name are not separated in the key")
	}
}

func TestMeteredGauge(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := Metered(local{pause: time.Hour}, reg, nil)
	ctx, cancel := context.WithCancel(context.Background())
	running := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.Lead(ctx, "crl", func(ctx context.Context) error {
			close(running)
			<-ctx.Done()
			return nil
		})
	}()
	<-running
	if v := wardtest.Gauge(t, reg, "ward_leader", "job", "crl"); v != 1 {
		t.Fatalf("ward_leader{job=crl} while leading = %v, want 1", v)
	}
	cancel()
	<-done
	if v := wardtest.Gauge(t, reg, "ward_leader", "job", "crl"); v != 0 {
		t.Fatalf("ward_leader{job=crl} after = %v, want 0", v)
	}
}

// node is one elector under test with its own bookkeeping.
type node struct {
	name    string
	p       *Postgres
	started chan struct{} // a value per work start
	stopped chan struct{} // a value per work end (its context cancelled)
	tries   chan bool     // every try of the lock, when set
}

// cluster runs electors for one job on a shared counter that fails the
// test if two of them ever work at once.
type cluster struct {
	t      *testing.T
	active atomic.Int32
	wg     sync.WaitGroup
}

func (c *cluster) start(ctx context.Context, n *node, job string) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		n.p.Lead(ctx, job, func(ctx context.Context) error {
			if a := c.active.Add(1); a != 1 {
				c.t.Errorf("%s started working while %d node(s) already were: two leaders at once", n.name, a-1)
			}
			n.started <- struct{}{}
			<-ctx.Done()
			c.active.Add(-1)
			n.stopped <- struct{}{}
			return ctx.Err()
		})
	}()
}

func newNode(t *testing.T, dsn, schema, name string, poll time.Duration) *node {
	t.Helper()
	p, err := NewPostgres(PostgresOptions{DSN: dsn, Schema: schema, Node: name, Poll: poll, Pause: poll})
	if err != nil {
		t.Fatal(err)
	}
	n := &node{name: name, p: p, started: make(chan struct{}, 16), stopped: make(chan struct{}, 16), tries: make(chan bool, 1024)}
	p.tried = func(got bool) {
		select {
		case n.tries <- got:
		default:
		}
	}
	return n
}

func waitOn(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(bound):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// waitFailedTries waits until n has tried the lock and been refused k times.
func waitFailedTries(t *testing.T, n *node, k int) {
	t.Helper()
	n.drainTries()
	deadline := time.After(bound)
	for k > 0 {
		select {
		case got := <-n.tries:
			if got {
				t.Fatalf("%s acquired the lock held by the other node", n.name)
			}
			k--
		case <-deadline:
			t.Fatalf("%s did not keep trying the lock", n.name)
		}
	}
}

func (n *node) drainTries() {
	for {
		select {
		case <-n.tries:
		default:
			return
		}
	}
}

// terminate ends n's dedicated connections from the server side, as a
// crashed network or an operator's pg_terminate_backend would.
func terminate(t *testing.T, dsn string, n *node) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var killed int
	if err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name LIKE $1`,
		"ward leader % "+n.name).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if killed == 0 {
		t.Fatalf("no connection of %s to terminate", n.name)
	}
}

func TestPostgresOneLeaderAndTakeover(t *testing.T) {
	dsn := wardtest.Postgres(t)
	schema := "ward_leader_test_" + randName(t)
	poll := 200 * time.Millisecond
	a := newNode(t, dsn, schema, "a"+randName(t), poll)
	b := newNode(t, dsn, schema, "b"+randName(t), poll)
	ctx, cancel := context.WithCancel(context.Background())
	c := &cluster{t: t}
	defer func() { cancel(); c.wg.Wait() }()
	c.start(ctx, a, "audit")
	waitOn(t, a.started, "a to lead")
	bctx, bcancel := context.WithCancel(ctx)
	defer bcancel()
	c.start(bctx, b, "audit")
	// b competes and is refused while a leads.
	waitFailedTries(t, b, 3)
	if got := c.active.Load(); got != 1 {
		t.Fatalf("%d nodes working, want 1", got)
	}

	// Kill a's session: b takes over, and a's work stops first.
	killed := time.Now()
	terminate(t, dsn, a)
	waitOn(t, a.stopped, "a's work context to be cancelled after its connection was terminated")
	waitOn(t, b.started, "b to take over")
	took := time.Since(killed)
	t.Logf("takeover %v after the leader's connection was terminated (poll %v, takeover wait %v)", took, poll, b.p.opts.Takeover)
	if max := b.p.opts.Takeover + 10*poll; took > max*5 { // 5×: a loaded machine
		t.Errorf("takeover took %v, want about %v", took, max)
	}
	// a reconnects and is refused: b keeps the lead.
	waitFailedTries(t, a, 3)

	// Shutting b down hands the job back to a.
	bcancel()
	waitOn(t, b.stopped, "b's work to stop at shutdown")
	waitOn(t, a.started, "a to lead again after b shut down")
}

func TestPostgresHandsOverOnShutdownAndEarlyReturn(t *testing.T) {
	dsn := wardtest.Postgres(t)
	schema := "ward_leader_test_" + randName(t)
	poll := 100 * time.Millisecond
	a := newNode(t, dsn, schema, "a"+randName(t), poll)
	b := newNode(t, dsn, schema, "b"+randName(t), poll)
	c := &cluster{t: t}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); c.wg.Wait() }()

	// a's work returns at once, the first time: a releases the lock, and
	// b, competing meanwhile, takes the job.
	var aRuns atomic.Int32
	actx, acancel := context.WithCancel(ctx)
	aDone := make(chan struct{})
	go func() {
		defer close(aDone)
		a.p.Lead(actx, "crl", func(ctx context.Context) error {
			if c.active.Add(1) != 1 {
				t.Error("a worked while b did")
			}
			defer c.active.Add(-1)
			a.started <- struct{}{}
			if aRuns.Add(1) == 1 {
				return errors.New("first run fails")
			}
			<-ctx.Done()
			return nil
		})
	}()
	waitOn(t, a.started, "a to lead")
	c.start(ctx, b, "crl")
	select {
	case <-b.started: // b took the job while a paused
	case <-a.started:
		// a competed again first after its pause; b must still be refused
		waitFailedTries(t, b, 2)
	case <-time.After(bound):
		t.Fatal("nobody led after a's work returned")
	}
	// Whoever leads now, stopping a (its Lead returns) leaves b leading.
	acancel()
	<-aDone
	if c.active.Load() == 0 {
		waitOn(t, b.started, "b to lead after a stopped")
	}
	if got := c.active.Load(); got != 1 {
		t.Fatalf("%d nodes working after a stopped, want 1", got)
	}
}

func TestPostgresSchemasDoNotCollide(t *testing.T) {
	dsn := wardtest.Postgres(t)
	poll := 100 * time.Millisecond
	a := newNode(t, dsn, "ward_leader_test_"+randName(t), "a"+randName(t), poll)
	b := newNode(t, dsn, "ward_leader_test_"+randName(t), "b"+randName(t), poll)
	ctx, cancel := context.WithCancel(context.Background())
	ca, cb := &cluster{t: t}, &cluster{t: t}
	defer func() { cancel(); ca.wg.Wait(); cb.wg.Wait() }()
	ca.start(ctx, a, "rollouts")
	cb.start(ctx, b, "rollouts")
	waitOn(t, a.started, "a to lead in its schema")
	waitOn(t, b.started, "b to lead in its schema")
}

func TestPostgresUnreachable(t *testing.T) {
	// A closed port: Lead keeps retrying (logging) and returns when ctx ends.
	p, err := NewPostgres(PostgresOptions{DSN: "postgres://postgres@127.0.0.1:1/test?connect_timeout=1", Poll: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tries := make(chan struct{}, 1)
	p.connectFailed = func() {
		select {
		case tries <- struct{}{}:
		default:
		}
	}
	done := make(chan error, 1)
	go func() {
		done <- p.Lead(ctx, "audit", func(context.Context) error { t.Error("work ran without a lock"); return nil })
	}()
	waitOn(t, tries, "a failed connection attempt")
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Lead = %v, want nil after cancel", err)
	}
}
