package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/store"
)

// waitQueued returns a queued hook and a function that waits until n
// writers in all have queued at the gate (since the hook was set).
func waitQueued(t *testing.T) (func(int), func(n int)) {
	var mu sync.Mutex
	cond := sync.NewCond(&mu)
	waiting := 0
	hook := func(int) {
		mu.Lock()
		waiting++
		cond.Broadcast()
		mu.Unlock()
	}
	wait := func(n int) {
		t.Helper()
		timer := time.AfterFunc(30*time.Second, func() { mu.Lock(); waiting = -1; cond.Broadcast(); mu.Unlock() })
		defer timer.Stop()
		mu.Lock()
		defer mu.Unlock()
		for waiting < n && waiting >= 0 {
			cond.Wait()
		}
		if waiting < 0 {
			t.Fatalf("fewer than %d writers queued at the gate after 30 s", n)
		}
	}
	return hook, wait
}

// TestUrgentWriteGoesFirst is the attack on containment through the
// store: while a flood of routine writes (an attacker's enrollments,
// events, audit entries) waits for SQLite's single writer, an operator's
// revocation must not wait behind them. It is served next, and the
// routine writes keep their arrival order.
func TestUrgentWriteGoesFirst(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "ward.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	hook, wait := waitQueued(t)
	db.w.gate.queued = hook

	// A write in progress holds the writer.
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	const flood = 20
	// Each writer takes the next value of one counter: its place in the
	// order the store served them.
	var mu sync.Mutex
	served := map[string]int64{}
	var wg sync.WaitGroup
	write := func(ctx context.Context, name string) {
		defer wg.Done()
		v, err := db.NextCounter(ctx, "seq")
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
		mu.Lock()
		served[name] = v
		mu.Unlock()
	}
	for i := range flood {
		wg.Add(1)
		go write(ctx, fmt.Sprintf("flood-%02d", i))
		wait(i + 1) // queued in this order
	}
	wg.Add(1)
	go write(store.Urgent(ctx), "revoke")
	wait(flood + 1)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if served["revoke"] != 1 {
		t.Fatalf("the urgent write was served %d of %d, after routine writes that queued before it", served["revoke"], flood+1)
	}
	for i := range flood {
		if name := fmt.Sprintf("flood-%02d", i); served[name] != int64(i+2) {
			t.Fatalf("routine write %s was served %d, want %d (arrival order): %v", name, served[name], i+2, served)
		}
	}
}

// TestWriteGateWaiterGivesUp: a writer whose context ends while it waits
// leaves the queue with its context's error, and the gate goes on to the
// next writer; nothing stays held.
func TestWriteGateWaiterGivesUp(t *testing.T) {
	var g writeGate
	hook, wait := waitQueued(t)
	g.queued = hook
	release, err := g.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error, 1)
	go func() {
		_, err := g.acquire(ctx)
		gaveUp <- err
	}()
	wait(1)
	next := make(chan func(), 1)
	go func() {
		r, err := g.acquire(context.Background())
		if err != nil {
			t.Errorf("second waiter: %v", err)
		}
		next <- r
	}()
	wait(2)
	cancel()
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter: %v, want context.Canceled", err)
	}
	release()
	(<-next)()
	// Free again: taken at once.
	r, err := g.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.held || len(g.urgent)+len(g.normal) != 0 {
		t.Fatalf("gate left held=%v with %d waiters", g.held, len(g.urgent)+len(g.normal))
	}
}
