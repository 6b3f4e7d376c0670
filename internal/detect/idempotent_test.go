package detect

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/alert"
	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/store/sqlite"
	"github.com/wardproject/ward/internal/wardtest"
)

// dyingPartials is the store of a detect leader that dies at the step
// named by die: its writes from then on never happen.
type dyingPartials struct {
	*sqlite.DB
	die bool
}

var errDied = errors.New("leader died here")

func (d *dyingPartials) CommitEvaluatedWindow(ctx context.Context, w store.EvaluatedWindow) error {
	if d.die {
		return errDied
	}
	return d.DB.CommitEvaluatedWindow(ctx, w)
}

// TestLeaderDiesAfterEvaluating: a detect leader that dies after
// evaluating a window but before its batches are gone leaves the next
// leader to evaluate the window again; that window's breach must count
// once: one alert, raised once (count 1), and every datapoint counted in
// one stored metric window only. (Before the window's results and the
// deletion of its batches were one transaction, the alert had count 2
// and the stored windows 500 and 510 messages for 510 sent.)
func TestLeaderDiesAfterEvaluating(t *testing.T) {
	ctx := context.Background()
	db := wardtest.SQLite(t)
	if err := db.CreateDevices(ctx, []store.Device{{ID: "d1", Model: "m", Status: store.StatusActive}}, []store.EnrollToken{{DeviceID: "d1", Hash: []byte("d1")}}); err != nil {
		t.Fatal(err)
	}
	profiles := []Profile{{Name: "p", Rules: []Rule{{Name: "chatty", Metric: MessagesSent, Window: "1m", Comparison: ">", Value: 100,
		RaiseAfter: 1, ClearAfter: 3, Severity: alert.High}}}}
	t0 := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	w1, w2 := t0.Add(clusterWindow), t0.Add(2*clusterWindow)
	put := func(end time.Time, sent float64) {
		t.Helper()
		dp := Datapoint{Device: "d1", Start: end.Add(-clusterWindow), End: end, Window: clusterWindow, Values: map[string]float64{MessagesSent: sent}}
		if err := db.PutPartialBatch(ctx, store.PartialBatch{Node: "a", WindowEnd: end, Seq: 0, Batches: 1,
			Data: EncodeBatches("a", end, clusterWindow, []Datapoint{dp}, 0)[0]}); err != nil {
			t.Fatal(err)
		}
	}
	leader := func(parts *dyingPartials) *Engine {
		t.Helper()
		al, err := alert.NewManager(ctx, alert.Options{Store: db, Now: func() time.Time { return w2 }})
		if err != nil {
			t.Fatal(err)
		}
		e, err := New(ctx, Options{Collector: NewCollector(), Store: db, Partials: parts, Alerts: al, Window: clusterWindow})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.SetProfiles(ctx, profiles); err != nil {
			t.Fatal(err)
		}
		return e
	}
	put(w1, 500) // a breach
	first := leader(&dyingPartials{DB: db, die: true})
	if err := first.EvaluatePartials(ctx, w1); !errors.Is(err, errDied) {
		t.Fatalf("first leader: %v, want it to die", err)
	}
	put(w2, 10) // quiet
	next := leader(&dyingPartials{DB: db})
	if err := next.EvaluatePartials(ctx, w2); err != nil {
		t.Fatal(err)
	}
	as, err := db.ListAlerts(ctx, store.AlertFilter{DeviceID: "d1", Rule: "chatty"})
	if err != nil || len(as) != 1 {
		t.Fatalf("alerts of d1: %d, %v; want 1", len(as), err)
	}
	al, _ := alert.NewManager(ctx, alert.Options{Store: db})
	a, err := al.Get(ctx, as[0].ID)
	if err != nil || a.Count != 1 {
		t.Errorf("the alert of the one breaching window: count %d, %v; want 1 (raised again by the next leader)", a.Count, err)
	}
	ws, err := db.ListMetricWindows(ctx, "d1", clusterWindow, w1.Add(-clusterWindow))
	if err != nil {
		t.Fatal(err)
	}
	var sent []float64
	for _, w := range ws {
		var dp Datapoint
		if err := json.Unmarshal(w.JSON, &dp); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, dp.Values[MessagesSent])
	}
	total := 0.0
	for _, v := range sent {
		total += v
	}
	if total != 510 {
		t.Errorf("messages_sent of d1's stored windows %v: %v in all, want 510 (each datapoint counted once)", sent, total)
	}
}

// failingAlerter is the Alerter of a leader that dies before it applies
// a window's alert changes.
type failingAlerter struct{}

func (failingAlerter) RaiseAll(context.Context, []alert.Alert) error { return errDied }
func (failingAlerter) Resolve(context.Context, string, string) error { return errDied }

// TestLeaderDiesBeforeAlerting: a leader that committed a window and
// died before raising its alerts leaves them to the next leader, which
// raises them when it takes over; a leader that dies after raising them
// but before clearing them has them raised again by the next: still one
// alert, count 1. No batch of the window is evaluated again.
func TestLeaderDiesBeforeAlerting(t *testing.T) {
	ctx := context.Background()
	db := wardtest.SQLite(t)
	if err := db.CreateDevices(ctx, []store.Device{{ID: "d1", Model: "m", Status: store.StatusActive}}, []store.EnrollToken{{DeviceID: "d1", Hash: []byte("d1")}}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	w1 := t0.Add(clusterWindow)
	dp := Datapoint{Device: "d1", Start: t0, End: w1, Window: clusterWindow, Values: map[string]float64{MessagesSent: 500}}
	if err := db.PutPartialBatch(ctx, store.PartialBatch{Node: "a", WindowEnd: w1, Seq: 0, Batches: 1,
		Data: EncodeBatches("a", w1, clusterWindow, []Datapoint{dp}, 0)[0]}); err != nil {
		t.Fatal(err)
	}
	profiles := []Profile{{Name: "p", Rules: []Rule{{Name: "chatty", Metric: MessagesSent, Window: "1m", Comparison: ">", Value: 100,
		RaiseAfter: 1, ClearAfter: 3, Severity: alert.High}}}}
	engine := func(al Alerter) *Engine {
		t.Helper()
		e, err := New(ctx, Options{Collector: NewCollector(), Store: db, Partials: db, Alerts: al, Window: clusterWindow})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.SetProfiles(ctx, profiles); err != nil {
			t.Fatal(err)
		}
		return e
	}
	if err := engine(failingAlerter{}).EvaluatePartials(ctx, w1); err != nil {
		t.Fatal(err)
	}
	if left, _ := db.ListPartialBatches(ctx, w1); len(left) != 0 {
		t.Fatalf("%d batches left after the commit", len(left))
	}
	outbox, err := db.GetBlob(ctx, OutboxBlob)
	if err != nil {
		t.Fatal(err)
	}
	for i, why := range []string{"a leader that died before raising", "a leader that died after raising, before clearing"} {
		if i == 1 {
			if err := db.PutBlob(ctx, OutboxBlob, outbox); err != nil {
				t.Fatal(err)
			}
		}
		al, err := alert.NewManager(ctx, alert.Options{Store: db})
		if err != nil {
			t.Fatal(err)
		}
		if err := engine(al).replayOutbox(ctx); err != nil {
			t.Fatal(err)
		}
		as, err := al.List(ctx, alert.Filter{Device: "d1"})
		if err != nil || len(as) != 1 || as[0].Count != 1 || as[0].Rule != "chatty" {
			t.Fatalf("after %s: alerts of d1 = %+v, %v; want one chatty alert, count 1", why, as, err)
		}
		if b, _ := db.GetBlob(ctx, OutboxBlob); string(b) != "[]" {
			t.Errorf("after %s: the applied alert changes are still stored: %s", why, b)
		}
	}
}

// FuzzOutbox: stored alert changes that are not what the leader wrote
// are an error, never a panic; what it wrote reads back.
func FuzzOutbox(f *testing.F) {
	b, _ := json.Marshal([]alertAction{{Raise: alert.Alert{Device: "d", Rule: "r", Severity: alert.High}}, {Resolve: true, Device: "d", Rule: "r"}})
	f.Add(b)
	f.Add([]byte("[]"))
	f.Add([]byte(`[{"raise":{"device":1}}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		acts, err := decodeOutbox(b)
		if err != nil {
			return
		}
		again, err := json.Marshal(acts)
		if err != nil {
			t.Fatalf("decoded alert changes do not encode: %v", err)
		}
		if _, err := decodeOutbox(again); err != nil {
			t.Fatalf("re-encoded alert changes do not decode: %v", err)
		}
	})
}

// TestLeaderResumesRuleStates: a new leader goes on from the rule states
// and reservoirs the last one committed: a breach before the takeover
// and one after make the two a rule with raise_after 2 needs, and the
// alert then clears on the next leader after its clean window.
func TestLeaderResumesRuleStates(t *testing.T) {
	ctx := context.Background()
	db := wardtest.SQLite(t)
	if err := db.CreateDevices(ctx, []store.Device{{ID: "d1", Model: "m", Status: store.StatusActive}}, []store.EnrollToken{{DeviceID: "d1", Hash: []byte("d1")}}); err != nil {
		t.Fatal(err)
	}
	profiles := []Profile{{Name: "p", Rules: []Rule{
		{Name: "chatty", Metric: MessagesSent, Window: "1m", Comparison: ">", Value: 100, RaiseAfter: 2, ClearAfter: 1, Severity: alert.High},
		{Name: "odd", Metric: BytesSent, Window: "1m", Comparison: ">", Statistic: "p99", Factor: 10, RaiseAfter: 1, ClearAfter: 1, Severity: alert.Low}}}}
	t0 := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	var res map[string]*ring
	for i, sent := range []float64{500, 500, 10} {
		end := t0.Add(time.Duration(i+1) * clusterWindow)
		dp := Datapoint{Device: "d1", Start: end.Add(-clusterWindow), End: end, Window: clusterWindow, Values: map[string]float64{MessagesSent: sent, BytesSent: 7}}
		if err := db.PutPartialBatch(ctx, store.PartialBatch{Node: "a", WindowEnd: end, Seq: 0, Batches: 1,
			Data: EncodeBatches("a", end, clusterWindow, []Datapoint{dp}, 0)[0]}); err != nil {
			t.Fatal(err)
		}
		al, err := alert.NewManager(ctx, alert.Options{Store: db})
		if err != nil {
			t.Fatal(err)
		}
		e, err := New(ctx, Options{Collector: NewCollector(), Store: db, Partials: db, Alerts: al, Window: clusterWindow})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.SetProfiles(ctx, profiles); err != nil {
			t.Fatal(err)
		}
		if err := e.loadLeaderState(ctx); err != nil { // what leadWindows does on takeover
			t.Fatal(err)
		}
		if i > 0 && e.reservoir["p|odd|1"].len() != i {
			t.Errorf("leader %d: the percentile reservoir holds %d values, want %d", i+1, e.reservoir["p|odd|1"].len(), i)
		}
		if err := e.EvaluatePartials(ctx, end); err != nil {
			t.Fatal(err)
		}
		res = e.reservoir
		as, _ := al.List(ctx, alert.Filter{Device: "d1", Rule: "chatty"})
		switch {
		case i == 0 && len(as) != 0:
			t.Fatalf("one breaching window raised %+v; raise_after is 2", as)
		case i == 1 && (len(as) != 1 || as[0].State != alert.Open):
			t.Fatalf("the second breaching window, on the next leader: %+v, want an open alert", as)
		case i == 2 && (len(as) != 1 || as[0].State != alert.Cleared):
			t.Fatalf("the clean window, on a third leader: %+v, want the alert cleared", as)
		}
	}
	if res["p|odd|1"].len() != 3 {
		t.Errorf("after three windows on three leaders the reservoir holds %d values, want 3", res["p|odd|1"].len())
	}
}

// FuzzLeaderState: a stored leader state that is not what a leader wrote
// is an error, never a panic, never a reservoir past its size; what a
// leader wrote reads back.
func FuzzLeaderState(f *testing.F) {
	f.Add([]byte(`{"states":{"p|r":{"d1":[1,0,1]}},"reservoirs":{"p|r|1":[1,2,3]}}`))
	f.Add([]byte(`{"states":{"p|r":{"d1":[-1,0,7]}}}`))
	f.Add([]byte(`{"reservoirs":{"x":[1e400]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		states, res, err := decodeLeaderState(b)
		if err != nil {
			return
		}
		for key, r := range res {
			if len(r.vals) != reservoirSize || r.len() > reservoirSize {
				t.Fatalf("reservoir %q: %d values kept", key, r.len())
			}
		}
		e := &Engine{states: states, reservoir: res}
		again, err := e.encodeLeaderState()
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := decodeLeaderState(again); err != nil {
			t.Fatalf("a re-encoded state does not decode: %v", err)
		}
	})
}

// TestCommitFailureRewinds: a leader whose commit of a window fails
// evaluates the window's batches again with the next window, from the
// state of its last commit: one breaching window is one breach, not two
// (a rule with raise_after 2 raises nothing), and the next commit stores
// each datapoint once.
func TestCommitFailureRewinds(t *testing.T) {
	ctx := context.Background()
	db := wardtest.SQLite(t)
	if err := db.CreateDevices(ctx, []store.Device{{ID: "d1", Model: "m", Status: store.StatusActive}}, []store.EnrollToken{{DeviceID: "d1", Hash: []byte("d1")}}); err != nil {
		t.Fatal(err)
	}
	al, err := alert.NewManager(ctx, alert.Options{Store: db})
	if err != nil {
		t.Fatal(err)
	}
	parts := &dyingPartials{DB: db, die: true}
	e, err := New(ctx, Options{Collector: NewCollector(), Store: db, Partials: parts, Alerts: al, Window: clusterWindow})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.SetProfiles(ctx, []Profile{{Name: "p", Rules: []Rule{{Name: "chatty", Metric: MessagesSent, Window: "1m", Comparison: ">", Value: 100,
		RaiseAfter: 2, ClearAfter: 1, Severity: alert.High}}}}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	for i, sent := range []float64{500, 10} {
		end := t0.Add(time.Duration(i+1) * clusterWindow)
		dp := Datapoint{Device: "d1", Start: end.Add(-clusterWindow), End: end, Window: clusterWindow, Values: map[string]float64{MessagesSent: sent}}
		if err := db.PutPartialBatch(ctx, store.PartialBatch{Node: "a", WindowEnd: end, Seq: 0, Batches: 1,
			Data: EncodeBatches("a", end, clusterWindow, []Datapoint{dp}, 0)[0]}); err != nil {
			t.Fatal(err)
		}
		err := e.EvaluatePartials(ctx, end)
		if i == 0 && !errors.Is(err, errDied) {
			t.Fatalf("the failing commit: %v", err)
		}
		if i == 1 && err != nil {
			t.Fatal(err)
		}
		parts.die = false
	}
	if as, _ := al.List(ctx, alert.Filter{Device: "d1"}); len(as) != 0 {
		t.Errorf("one breaching window, evaluated again after a failed commit, raised %+v; raise_after is 2", as)
	}
	ws, err := db.ListMetricWindows(ctx, "d1", clusterWindow, t0)
	if err != nil || len(ws) != 1 {
		t.Fatalf("stored windows of d1: %d, %v; want 1", len(ws), err)
	}
	var dp Datapoint
	if err := json.Unmarshal(ws[0].JSON, &dp); err != nil || dp.Values[MessagesSent] != 510 {
		t.Errorf("the stored window: %s, %v; want 510 messages", ws[0].JSON, err)
	}
}
