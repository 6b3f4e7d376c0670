package agent

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/wardproject/ward/internal/update"
)

// recorder is a Publisher that keeps what was published.
type recorder struct {
	mu   sync.Mutex
	msgs []update.Status
	ch   chan update.Status
}

func (r *recorder) Publish(_ context.Context, topic string, b []byte) error {
	s, err := update.ParseStatus(b)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.msgs = append(r.msgs, s)
	r.mu.Unlock()
	if r.ch != nil {
		r.ch <- s
	}
	return nil
}

func mustJSON(t testing.TB, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOrdersMalformedAndDuplicate(t *testing.T) {
	e := newEnv(t)
	e.publish("acme-th1", "1.5.0", "", fw150)
	var sl sleeps
	in := e.installer("acme-th1", "1.4.2", &sl, nil)
	rec := &recorder{ch: make(chan update.Status, 32)}
	o := NewOrders(e.id, in, rec, discard())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Malformed: answered when it names a rollout and version, never a crash.
	for _, p := range []string{`{"rollout":"r-9","version":"2.0.0","model":"acme th1"}`, `not json`, `{"rollout":"r-9"} trailing`, ``, strings.Repeat("x", 10000)} {
		o.Handle(ctx, []byte(p))
	}
	if len(rec.msgs) != 1 || rec.msgs[0].State != update.StateFailed || !strings.Contains(rec.msgs[0].Reason, "malformed order") {
		t.Fatalf("malformed orders answered with %+v, want one failed status (the one naming rollout and version)", rec.msgs)
	}
	<-rec.ch
	go o.Run(ctx)
	o.Handle(ctx, mustJSON(t, order("acme-th1", "1.5.0")))
	for s := range rec.ch {
		if s.State == update.StateInstalled {
			break
		}
		if s.State == update.StateFailed {
			t.Fatalf("failed: %s", s.Reason)
		}
	}
	// The same order again: answered installed, not re-done.
	o.Handle(ctx, mustJSON(t, order("acme-th1", "1.5.0")))
	if s := <-rec.ch; s.State != update.StateInstalled || s.Reason != "already installed" {
		t.Fatalf("duplicate answered %+v", s)
	}
}
