package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/wardproject/ward/internal/store"
)

// TestDetection is the conformance suite of store.Detection.
func TestDetection(t *testing.T, open func(t *testing.T) store.Store) {
	runAll(t, open, []subtest{
		{"alerts", testAlerts},
		{"alert-records", testAlertRecords},
		{"alert-batch", testAlertBatch},
		{"alert-limits", testAlertLimits},
		{"alert-counts", testAlertCounts},
		{"metric-windows", testMetricWindows},
		{"metric-window-keys", testMetricWindowKeys},
		{"blobs", testBlobs},
		{"partial-batches", testPartialBatches},
		{"partial-batches-concurrent", testPartialBatchesConcurrent},
		{"evaluated-window", testEvaluatedWindow},
	})
}

func testAlerts(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := store.AlertRecord{ID: "a1", DeviceID: "d", Rule: "r", State: "open", Severity: "high", RaisedAt: t0, UpdatedAt: t0, JSON: []byte(`{}`)}
	b := store.AlertRecord{ID: "a2", DeviceID: "e", Rule: "r", State: "cleared", Severity: "low", RaisedAt: t0.Add(time.Second), UpdatedAt: t0, JSON: []byte(`{}`)}
	for _, r := range []store.AlertRecord{a, b} {
		if err := s.PutAlert(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	a.State, a.UpdatedAt = "acknowledged", t0.Add(time.Minute)
	s.PutAlert(ctx, a)
	got, err := s.GetAlert(ctx, "a1")
	if err != nil || got.State != "acknowledged" || !got.UpdatedAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("GetAlert = %+v, %v", got, err)
	}
	for _, tt := range []struct {
		f    store.AlertFilter
		want []string
	}{
		{store.AlertFilter{}, []string{"a2", "a1"}},
		{store.AlertFilter{States: []string{"open", "acknowledged"}}, []string{"a1"}},
		{store.AlertFilter{DeviceID: "e"}, []string{"a2"}},
		{store.AlertFilter{Rule: "nope"}, nil},
	} {
		rs, err := s.ListAlerts(ctx, tt.f)
		ids := keysOf(rs, func(r store.AlertRecord) string { return r.ID })
		if err != nil || !cmp.Equal(ids, tt.want) {
			t.Errorf("ListAlerts(%+v) = %v, %v; want %v", tt.f, ids, err, tt.want)
		}
	}
}

func testMetricWindows(t *testing.T, s store.Store) {
	ctx := context.Background()
	var ws []store.MetricWindow
	for i := range 5 {
		ws = append(ws, store.MetricWindow{DeviceID: "d", Window: time.Minute, Start: t0.Add(time.Duration(i) * time.Minute), JSON: []byte(`{"i":1}`)})
	}
	if err := s.AddMetricWindows(ctx, ws); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListMetricWindows(ctx, "d", time.Minute, t0.Add(2*time.Minute))
	if err != nil || len(got) != 3 || !got[0].Start.Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("ListMetricWindows = %d, %v", len(got), err)
	}
	n, err := s.DeleteMetricWindowsBefore(ctx, time.Minute, t0.Add(3*time.Minute))
	if err != nil || n != 3 {
		t.Errorf("DeleteMetricWindowsBefore = %d, %v", n, err)
	}
}

func testBlobs(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.GetBlob(ctx, "x"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing blob: %v", err)
	}
	bin := []byte{0, 0xff, 0xfe, '\n', 0}
	for _, put := range []struct {
		name string
		data []byte
	}{{"x", []byte("one")}, {"x", []byte("two")}, {"profile/acme-th1", bin}, {"empty", []byte{}}} {
		if err := s.PutBlob(ctx, put.name, put.data); err != nil {
			t.Fatalf("PutBlob(%s): %v", put.name, err)
		}
	}
	for name, want := range map[string][]byte{"x": []byte("two"), "profile/acme-th1": bin, "empty": {}} {
		if b, err := s.GetBlob(ctx, name); err != nil || !cmp.Equal(b, want, cmpopts.EquateEmpty()) {
			t.Errorf("GetBlob(%s) = %q, %v; want %q", name, b, err, want)
		}
	}
}

// testAlertRecords: every field round-trips; an unknown ID is
// ErrNotFound; an update keeps the alert's device, rule and raise time;
// alerts raised at one time are ordered by ID; filters combine.
func testAlertRecords(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.GetAlert(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetAlert of an unknown ID: %v, want ErrNotFound", err)
	}
	if as, err := s.ListAlerts(ctx, store.AlertFilter{}); err != nil || len(as) != 0 {
		t.Fatalf("ListAlerts on an empty store = %v, %v", as, err)
	}
	a := store.AlertRecord{ID: "b", DeviceID: "d1", Rule: "mirai-scan", State: "open", Severity: "critical",
		RaisedAt: t0, UpdatedAt: t0, JSON: []byte(`{"id":"b","evidence":["x"]}`)}
	if err := s.PutAlert(ctx, a); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetAlert(ctx, "b"); err != nil || !cmp.Equal(a, got) {
		t.Errorf("GetAlert = %+v, %v; want %+v", got, err, a)
	}
	upd := store.AlertRecord{ID: "b", DeviceID: "other", Rule: "other", State: "resolved", Severity: "low",
		RaisedAt: t0.Add(time.Hour), UpdatedAt: t0.Add(2 * time.Hour), JSON: []byte(`{"id":"b","state":"resolved"}`)}
	if err := s.PutAlert(ctx, upd); err != nil {
		t.Fatal(err)
	}
	want := store.AlertRecord{ID: "b", DeviceID: "d1", Rule: "mirai-scan", State: "resolved", Severity: "low",
		RaisedAt: t0, UpdatedAt: t0.Add(2 * time.Hour), JSON: upd.JSON}
	if got, err := s.GetAlert(ctx, "b"); err != nil || !cmp.Equal(want, got) {
		t.Errorf("after update GetAlert = %+v, %v; want %+v", got, err, want)
	}
	for _, r := range []store.AlertRecord{
		{ID: "c", DeviceID: "d1", Rule: "rate", State: "open", Severity: "high", RaisedAt: t0, UpdatedAt: t0, JSON: []byte(`{}`)},
		{ID: "a", DeviceID: "d2", Rule: "mirai-scan", State: "acknowledged", Severity: "high", RaisedAt: t0, UpdatedAt: t0, JSON: []byte(`{}`)},
	} {
		if err := s.PutAlert(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		f    store.AlertFilter
		want []string
	}{
		{store.AlertFilter{}, []string{"a", "b", "c"}},
		{store.AlertFilter{DeviceID: "d1", Rule: "mirai-scan"}, []string{"b"}},
		{store.AlertFilter{States: []string{"open", "acknowledged"}}, []string{"a", "c"}},
		{store.AlertFilter{DeviceID: "d2", States: []string{"open"}}, nil},
		{store.AlertFilter{Limit: 2}, []string{"a", "b"}},
		{store.AlertFilter{Severities: []string{"high", "critical"}}, []string{"a", "c"}},
		{store.AlertFilter{Severities: []string{"low"}, States: []string{"resolved"}}, []string{"b"}},
	} {
		rs, err := s.ListAlerts(ctx, tt.f)
		ids := keysOf(rs, func(r store.AlertRecord) string { return r.ID })
		if err != nil || !cmp.Equal(ids, tt.want) {
			t.Errorf("ListAlerts(%+v) = %v, %v; want %v", tt.f, ids, err, tt.want)
		}
	}
	// Since: raised at or after, to the millisecond; it combines with
	// the other filters and the limit applies after it.
	d := store.AlertRecord{ID: "d", DeviceID: "d3", Rule: "rate", State: "open", Severity: "medium",
		RaisedAt: t0.Add(time.Hour + time.Millisecond), UpdatedAt: t0, JSON: []byte(`{}`)}
	if err := s.PutAlert(ctx, d); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		f    store.AlertFilter
		want []string
	}{
		{store.AlertFilter{Since: t0.Add(time.Hour + time.Millisecond)}, []string{"d"}},
		{store.AlertFilter{Since: t0.Add(time.Hour + 2*time.Millisecond)}, nil},
		{store.AlertFilter{Since: t0}, []string{"d", "a", "b", "c"}},
		{store.AlertFilter{Since: t0, Limit: 1}, []string{"d"}},
		{store.AlertFilter{Since: t0.Add(time.Millisecond), Severities: []string{"high", "critical"}}, nil},
		{store.AlertFilter{Since: t0.Add(-time.Hour), Severities: []string{"high"}, DeviceID: "d1"}, []string{"c"}},
	} {
		rs, err := s.ListAlerts(ctx, tt.f)
		ids := keysOf(rs, func(r store.AlertRecord) string { return r.ID })
		if err != nil || !cmp.Equal(ids, tt.want) {
			t.Errorf("ListAlerts(%+v) = %v, %v; want %v", tt.f, ids, err, tt.want)
		}
	}
}

// testAlertLimits: with no limit ListAlerts returns the newest 1000.
func testAlertLimits(t *testing.T, s store.Store) {
	ctx := context.Background()
	const n = 1001
	for i := range n {
		r := store.AlertRecord{ID: fmt.Sprintf("a%04d", i), DeviceID: "d", Rule: "r", State: "open", Severity: "low",
			RaisedAt: t0.Add(time.Duration(i) * time.Second), UpdatedAt: t0, JSON: []byte(`{}`)}
		if err := s.PutAlert(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	for _, limit := range []int{0, -1} {
		rs, err := s.ListAlerts(ctx, store.AlertFilter{Limit: limit})
		if err != nil || len(rs) != 1000 || rs[0].ID != "a1000" || rs[999].ID != "a0001" {
			t.Errorf("ListAlerts with limit %d: %d alerts, %v; want the newest 1000", limit, len(rs), err)
		}
	}
	if rs, err := s.ListAlerts(ctx, store.AlertFilter{Limit: 5000}); err != nil || len(rs) != n {
		t.Errorf("ListAlerts with limit 5000: %d alerts, %v; want %d", len(rs), err, n)
	}
}

// testMetricWindowKeys: a window is keyed by device, size and start: a
// second write replaces it; other devices and sizes are apart, the since
// bound is inclusive, and retention deletes one size only.
func testMetricWindowKeys(t *testing.T, s store.Store) {
	ctx := context.Background()
	if err := s.AddMetricWindows(ctx, nil); err != nil {
		t.Fatalf("AddMetricWindows(nil): %v", err)
	}
	w := func(dev string, size time.Duration, start time.Duration, v string) store.MetricWindow {
		return store.MetricWindow{DeviceID: dev, Window: size, Start: t0.Add(start), JSON: []byte(v)}
	}
	if err := s.AddMetricWindows(ctx, []store.MetricWindow{
		w("d", time.Minute, 0, `{"v":1}`), w("d", time.Minute, time.Minute, `{"v":2}`),
		w("d", time.Hour, 0, `{"v":"hour"}`), w("e", time.Minute, 0, `{"v":"e"}`),
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddMetricWindows(ctx, []store.MetricWindow{w("d", time.Minute, 0, `{"v":"again"}`)}); err != nil {
		t.Fatalf("a window stored twice: %v", err)
	}
	got, err := s.ListMetricWindows(ctx, "d", time.Minute, t0)
	want := []store.MetricWindow{w("d", time.Minute, 0, `{"v":"again"}`), w("d", time.Minute, time.Minute, `{"v":2}`)}
	if diff := cmp.Diff(want, got); err != nil || diff != "" {
		t.Errorf("ListMetricWindows (-want +got), %v:\n%s", err, diff)
	}
	if got, err := s.ListMetricWindows(ctx, "d", time.Minute, t0.Add(time.Nanosecond)); err != nil || len(got) != 1 {
		t.Errorf("ListMetricWindows since just after the first = %d windows, %v; want 1", len(got), err)
	}
	if got, err := s.ListMetricWindows(ctx, "ghost", time.Minute, t0); err != nil || len(got) != 0 {
		t.Errorf("ListMetricWindows of an unknown device = %v, %v", got, err)
	}
	n, err := s.DeleteMetricWindowsBefore(ctx, time.Minute, t0.Add(time.Minute))
	if err != nil || n != 2 {
		t.Fatalf("DeleteMetricWindowsBefore = %d, %v; want 2 (d and e at t0, one-minute windows)", n, err)
	}
	if got, _ := s.ListMetricWindows(ctx, "d", time.Hour, t0); len(got) != 1 {
		t.Errorf("retention of one-minute windows deleted an hour window: %d left", len(got))
	}
	if got, _ := s.ListMetricWindows(ctx, "d", time.Minute, t0); len(got) != 1 || !got[0].Start.Equal(t0.Add(time.Minute)) {
		t.Errorf("after retention: %+v, want the window at t0+1m only", got)
	}
	// Twice within one call (the last wins), then a new window with a
	// stored one in one call: both stored.
	if err := s.AddMetricWindows(ctx, []store.MetricWindow{w("f", time.Minute, 0, `{"v":1}`), w("f", time.Minute, 0, `{"v":2}`)}); err != nil {
		t.Fatalf("a window twice in one call: %v", err)
	}
	if err := s.AddMetricWindows(ctx, []store.MetricWindow{w("f", time.Minute, time.Minute, `{"v":3}`), w("f", time.Minute, 0, `{"v":4}`)}); err != nil {
		t.Fatalf("a new and a stored window in one call: %v", err)
	}
	got, err = s.ListMetricWindows(ctx, "f", time.Minute, t0)
	want = []store.MetricWindow{w("f", time.Minute, 0, `{"v":4}`), w("f", time.Minute, time.Minute, `{"v":3}`)}
	if diff := cmp.Diff(want, got); err != nil || diff != "" {
		t.Errorf("ListMetricWindows after repeats (-want +got), %v:\n%s", err, diff)
	}
}

// testAlertCounts: alerts are counted by state and severity, beyond
// ListAlerts' default limit, and an update moves an alert between counts.
func testAlertCounts(t *testing.T, s store.Store) {
	ctx := context.Background()
	got, err := s.CountAlerts(ctx)
	if err != nil || len(got) != 0 {
		t.Fatalf("CountAlerts on an empty store = %v, %v", got, err)
	}
	for i := range 1005 {
		sev := "low"
		if i%5 == 0 {
			sev = "critical"
		}
		r := store.AlertRecord{ID: fmt.Sprintf("a%04d", i), DeviceID: "d", Rule: "r", State: "open", Severity: sev, RaisedAt: t0, UpdatedAt: t0, JSON: []byte(`{}`)}
		if err := s.PutAlert(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	ack := store.AlertRecord{ID: "a0000", DeviceID: "d", Rule: "r", State: "acknowledged", Severity: "critical", RaisedAt: t0, UpdatedAt: t0.Add(time.Minute), JSON: []byte(`{}`)}
	if err := s.PutAlert(ctx, ack); err != nil {
		t.Fatal(err)
	}
	got, err = s.CountAlerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]int{"open": {"critical": 200, "low": 804}, "acknowledged": {"critical": 1}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CountAlerts (-want +got):\n%s", diff)
	}
}

func testPartialBatches(t *testing.T, s store.Store) {
	ctx := context.Background()
	w1, w2 := t0, t0.Add(time.Minute)
	in := []store.PartialBatch{
		{Node: "b", WindowEnd: w1, Seq: 0, Batches: 1, Data: []byte{0, 1, 0xff}},
		{Node: "a", WindowEnd: w1, Seq: 1, Batches: 3, Data: []byte("a1")},
		{Node: "a", WindowEnd: w1, Seq: 0, Batches: 3, Data: []byte("a0")},
		{Node: "a", WindowEnd: w2, Seq: 0, Batches: 1, Data: []byte("next")},
	}
	for _, b := range in {
		if err := s.PutPartialBatch(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	// A redelivered batch, and a hostile one reusing a stored key, change nothing.
	if err := s.PutPartialBatch(ctx, store.PartialBatch{Node: "a", WindowEnd: w1, Seq: 0, Batches: 3, Data: []byte("a0")}); err != nil {
		t.Errorf("PutPartialBatch twice = %v, want nil", err)
	}
	if err := s.PutPartialBatch(ctx, store.PartialBatch{Node: "a", WindowEnd: w1, Seq: 1, Batches: 9, Data: []byte("forged")}); err != nil {
		t.Errorf("PutPartialBatch over a stored key = %v, want nil", err)
	}
	counts, err := s.CountPartialBatches(ctx, w1)
	want := []store.PartialCount{{Node: "a", WindowEnd: w1, Stored: 2, Batches: 3}, {Node: "b", WindowEnd: w1, Stored: 1, Batches: 1}}
	if diff := cmp.Diff(want, counts, cmpopts.EquateApproxTime(0)); err != nil || diff != "" {
		t.Errorf("CountPartialBatches(w1) = %v (-want +got):\n%s", err, diff)
	}
	got, err := s.ListPartialBatches(ctx, w1)
	wantList := []store.PartialBatch{in[2], in[1], in[0]}
	if diff := cmp.Diff(wantList, got, cmpopts.EquateApproxTime(0)); err != nil || diff != "" {
		t.Errorf("ListPartialBatches(w1) = %v (-want +got):\n%s", err, diff)
	}
	if got, _ := s.ListPartialBatches(ctx, w2); len(got) != 4 {
		t.Errorf("ListPartialBatches(w2) = %d batches, want 4", len(got))
	}
	if got, _ := s.ListPartialBatches(ctx, w1.Add(-time.Nanosecond)); len(got) != 0 {
		t.Errorf("ListPartialBatches before the first window = %d batches, want 0", len(got))
	}
	// Delete by key: what was read, and an unknown key.
	n, err := s.DeletePartialBatches(ctx, append(wantList, store.PartialBatch{Node: "zz", WindowEnd: w1}))
	if err != nil || n != 3 {
		t.Errorf("DeletePartialBatches = %d, %v; want 3", n, err)
	}
	got, _ = s.ListPartialBatches(ctx, w2)
	if len(got) != 1 || got[0].Node != "a" || !got[0].WindowEnd.Equal(w2) || string(got[0].Data) != "next" {
		t.Errorf("after delete: %+v, want only the w2 batch", got)
	}
	if n, err := s.DeletePartialBatches(ctx, nil); n != 0 || err != nil {
		t.Errorf("DeletePartialBatches(nil) = %d, %v", n, err)
	}
}

// testPartialBatchesConcurrent stores the same batches from several
// goroutines at once (redelivery to two detector workers): each is stored
// once.
func testPartialBatchesConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	const workers, batches = 4, 20
	errs := make(chan error, workers)
	for range workers {
		go func() {
			var err error
			for i := range batches {
				if e := s.PutPartialBatch(ctx, store.PartialBatch{Node: "n", WindowEnd: t0, Seq: i, Batches: batches, Data: []byte{byte(i)}}); e != nil && err == nil {
					err = e
				}
			}
			errs <- err
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	counts, err := s.CountPartialBatches(ctx, t0)
	if err != nil || len(counts) != 1 || counts[0].Stored != batches {
		t.Errorf("CountPartialBatches = %+v, %v; want %d stored once each", counts, err, batches)
	}
}

// testAlertBatch: PutAlerts stores new alerts and updates stored ones as
// PutAlert does, the later of two records with one ID winning; an empty
// batch is no error.
func testAlertBatch(t *testing.T, s store.Store) {
	ctx := context.Background()
	if err := s.PutAlerts(ctx, nil); err != nil {
		t.Fatalf("PutAlerts(nil) = %v", err)
	}
	old := store.AlertRecord{ID: "x", DeviceID: "d1", Rule: "r", State: "open", Severity: "low", RaisedAt: t0, UpdatedAt: t0, JSON: []byte(`{"n":1}`)}
	if err := s.PutAlert(ctx, old); err != nil {
		t.Fatal(err)
	}
	upd := store.AlertRecord{ID: "x", DeviceID: "other", Rule: "other", State: "open", Severity: "high",
		RaisedAt: t0.Add(time.Hour), UpdatedAt: t0.Add(time.Minute), JSON: []byte(`{"n":2}`)}
	y1 := store.AlertRecord{ID: "y", DeviceID: "d2", Rule: "r", State: "open", Severity: "low", RaisedAt: t0, UpdatedAt: t0, JSON: []byte(`{"n":3}`)}
	y2 := y1
	y2.State, y2.UpdatedAt, y2.JSON = "cleared", t0.Add(2*time.Minute), []byte(`{"n":4}`)
	if err := s.PutAlerts(ctx, []store.AlertRecord{upd, y1, y2}); err != nil {
		t.Fatal(err)
	}
	want := map[string]store.AlertRecord{
		"x": {ID: "x", DeviceID: "d1", Rule: "r", State: "open", Severity: "high", RaisedAt: t0, UpdatedAt: t0.Add(time.Minute), JSON: upd.JSON},
		"y": y2,
	}
	for id, w := range want {
		if got, err := s.GetAlert(ctx, id); err != nil || !cmp.Equal(w, got) {
			t.Errorf("after PutAlerts GetAlert(%s) = %+v, %v; want %+v", id, got, err, w)
		}
	}
}

// testEvaluatedWindow: CommitEvaluatedWindow stores the metric windows
// (replacing a stored one) and the documents and deletes the evaluated
// batches, all or nothing: one write that fails (a window without JSON)
// leaves no window, no document and every batch.
func testEvaluatedWindow(t *testing.T, s store.Store) {
	ctx := context.Background()
	bs := []store.PartialBatch{{Node: "a", WindowEnd: t0, Seq: 0, Batches: 2, Data: []byte("0")}, {Node: "a", WindowEnd: t0, Seq: 1, Batches: 2, Data: []byte("1")}}
	for _, b := range bs {
		if err := s.PutPartialBatch(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	mw := func(dev, v string) store.MetricWindow {
		return store.MetricWindow{DeviceID: dev, Window: time.Minute, Start: t0, JSON: []byte(v)}
	}
	if err := s.AddMetricWindows(ctx, []store.MetricWindow{mw("d", `{"v":0}`)}); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitEvaluatedWindow(ctx, store.EvaluatedWindow{Windows: []store.MetricWindow{mw("d", `{"v":1}`), mw("e", `{"v":2}`)},
		Blobs: map[string][]byte{"outbox": []byte("x")}, Batches: bs[:1]}); err != nil {
		t.Fatal(err)
	}
	check := func(why string, wantBlob string, wantBatches int, want map[string]string) {
		t.Helper()
		if b, err := s.GetBlob(ctx, "outbox"); err != nil || string(b) != wantBlob {
			t.Errorf("%s: blob = %q, %v; want %q", why, b, err, wantBlob)
		}
		if got, err := s.ListPartialBatches(ctx, t0); err != nil || len(got) != wantBatches {
			t.Errorf("%s: %d batches left, %v; want %d", why, len(got), err, wantBatches)
		}
		for dev, v := range want {
			ws, err := s.ListMetricWindows(ctx, dev, time.Minute, t0)
			if err != nil || len(ws) != 1 || string(ws[0].JSON) != v {
				t.Errorf("%s: windows of %s = %v, %v; want %s", why, dev, ws, err, v)
			}
		}
	}
	check("committed", "x", 1, map[string]string{"d": `{"v":1}`, "e": `{"v":2}`})
	err := s.CommitEvaluatedWindow(ctx, store.EvaluatedWindow{Windows: []store.MetricWindow{mw("f", `{"v":3}`), {DeviceID: "g", Window: time.Minute, Start: t0}},
		Blobs: map[string][]byte{"outbox": []byte("y")}, Batches: bs[1:]})
	if err == nil {
		t.Fatal("CommitEvaluatedWindow with a window without JSON: no error")
	}
	check("after a failed commit", "x", 1, map[string]string{"d": `{"v":1}`})
	if ws, err := s.ListMetricWindows(ctx, "f", time.Minute, t0); err != nil || len(ws) != 0 {
		t.Errorf("after a failed commit, windows of f = %v, %v; want none", ws, err)
	}
	if err := s.CommitEvaluatedWindow(ctx, store.EvaluatedWindow{}); err != nil {
		t.Errorf("an empty CommitEvaluatedWindow: %v", err)
	}
}
