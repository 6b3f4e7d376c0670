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

// TestCompliance is the conformance suite of store.Compliance.
func TestCompliance(t *testing.T, open func(t *testing.T) store.Store) {
	runAll(t, open, []subtest{
		{"sboms", testSBOMs},
		{"advisories", testAdvisories},
		{"model-info", testModelInfo},
		{"findings", testFindings},
		{"finding-runs", testFindingRuns},
		{"suppressions", testSuppressions},
		{"trend", testTrend},
	})
}

// testSBOMs: every field round-trips; a second import of one model's
// firmware replaces the first; the list is ordered by model and firmware,
// without data; an unknown pair is ErrNotFound.
func testSBOMs(t *testing.T, s store.Store) {
	ctx := context.Background()
	if ls, err := s.ListSBOMs(ctx); err != nil || len(ls) != 0 {
		t.Fatalf("ListSBOMs on an empty store = %v, %v", ls, err)
	}
	rec := func(model, fw, source string, n int) store.SBOMRecord {
		return store.SBOMRecord{Model: model, Firmware: fw, Format: "CycloneDX 1.5", Source: source, Components: n, ImportedAt: t0.Add(time.Duration(n) * time.Minute),
			Data: []byte(`{"bomFormat":"CycloneDX","n":` + fmt.Sprint(n) + `}`)}
	}
	for _, r := range []store.SBOMRecord{rec("m", "1.0", "a.json", 3), rec("b-model", "2.0", "b.json", 1), rec("m", "0.9", "c.json", 2)} {
		if err := s.PutSBOM(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.GetSBOM(ctx, "m", "1.0")
	if diff := cmp.Diff(rec("m", "1.0", "a.json", 3), got); err != nil || diff != "" {
		t.Errorf("GetSBOM (-want +got), %v:\n%s", err, diff)
	}
	repl := rec("m", "1.0", "a-fixed.spdx.json", 7)
	repl.Format = "SPDX-2.3"
	if err := s.PutSBOM(ctx, repl); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetSBOM(ctx, "m", "1.0"); err != nil || !cmp.Equal(repl, got) {
		t.Errorf("GetSBOM after re-import = %+v, %v; want %+v", got, err, repl)
	}
	for _, k := range [][2]string{{"m", "2.0"}, {"x", "1.0"}} {
		if _, err := s.GetSBOM(ctx, k[0], k[1]); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetSBOM(%s, %s): %v, want ErrNotFound", k[0], k[1], err)
		}
	}
	ls, err := s.ListSBOMs(ctx)
	var keys []string
	for _, r := range ls {
		keys = append(keys, r.Model+"@"+r.Firmware)
		if r.Data != nil {
			t.Errorf("ListSBOMs carries the data of %s %s", r.Model, r.Firmware)
		}
	}
	if want := []string{"b-model@2.0", "m@0.9", "m@1.0"}; err != nil || !cmp.Equal(keys, want) {
		t.Errorf("ListSBOMs = %v, %v; want %v", keys, err, want)
	}
	if len(ls) == 3 {
		want := repl
		want.Data = nil
		if diff := cmp.Diff(want, ls[2]); diff != "" {
			t.Errorf("listed SBOM (-want +got):\n%s", diff)
		}
	}
}

// testAdvisories: advisories are replaced by ID, walked in ID order, a
// large import crosses any batch size, and fn's error stops the walk.
func testAdvisories(t *testing.T, s store.Store) {
	ctx := context.Background()
	if err := s.PutAdvisories(ctx, nil); err != nil {
		t.Fatalf("PutAdvisories(nil): %v", err)
	}
	if err := s.PutAdvisories(ctx, []store.AdvisoryRecord{{ID: "GO-1", Source: "x", ImportedAt: t0, Data: []byte("a")}, {ID: "GO-2", Data: []byte("b")}}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutAdvisories(ctx, []store.AdvisoryRecord{{ID: "GO-1", Source: "osv.dev", ImportedAt: t0.Add(time.Hour), Data: []byte("c")}}); err != nil {
		t.Fatal(err)
	}
	var got []store.AdvisoryRecord
	if err := s.EachAdvisory(ctx, func(a store.AdvisoryRecord) error { got = append(got, a); return nil }); err != nil {
		t.Fatal(err)
	}
	want := []store.AdvisoryRecord{{ID: "GO-1", Source: "osv.dev", ImportedAt: t0.Add(time.Hour), Data: []byte("c")}, {ID: "GO-2", Data: []byte("b")}}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("EachAdvisory (-want +got):\n%s", diff)
	}
	const n = 2500
	big := make([]store.AdvisoryRecord, n)
	for i := range big {
		big[i] = store.AdvisoryRecord{ID: fmt.Sprintf("OSV-%05d", n-i), Source: "osv", ImportedAt: t0, Data: []byte(fmt.Sprint(i))}
	}
	if err := s.PutAdvisories(ctx, big); err != nil {
		t.Fatal(err)
	}
	var ids []string
	if err := s.EachAdvisory(ctx, func(a store.AdvisoryRecord) error { ids = append(ids, a.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(ids) != n+2 || ids[0] != "GO-1" || ids[2] != "OSV-00001" || ids[n+1] != fmt.Sprintf("OSV-%05d", n) {
		t.Fatalf("EachAdvisory after a %d-record import: %d records (first %v), want %d in ID order", n, len(ids), ids[:min(3, len(ids))], n+2)
	}
	stop := errors.New("stop")
	calls := 0
	if err := s.EachAdvisory(ctx, func(store.AdvisoryRecord) error { calls++; return stop }); !errors.Is(err, stop) || calls != 1 {
		t.Errorf("an error from fn: %v after %d calls, want it returned after 1", err, calls)
	}
}

// testModelInfo: documents are replaced by name and all listed.
func testModelInfo(t *testing.T, s store.Store) {
	ctx := context.Background()
	if mi, err := s.ListModelInfo(ctx); err != nil || len(mi) != 0 {
		t.Fatalf("ListModelInfo on an empty store = %v, %v", mi, err)
	}
	for _, p := range []struct {
		name string
		data string
	}{{"m", `{"x":1}`}, {"acme-th1", `{"vendor":"acme"}`}, {"m", `{"x":2}`}} {
		if err := s.PutModelInfo(ctx, p.name, []byte(p.data)); err != nil {
			t.Fatal(err)
		}
	}
	mi, err := s.ListModelInfo(ctx)
	want := map[string][]byte{"m": []byte(`{"x":2}`), "acme-th1": []byte(`{"vendor":"acme"}`)}
	if diff := cmp.Diff(want, mi); err != nil || diff != "" {
		t.Errorf("ListModelInfo (-want +got), %v:\n%s", err, diff)
	}
}

func testFindings(t *testing.T, s store.Store) {
	ctx := context.Background()
	f := func(k string) store.FindingRecord {
		return store.FindingRecord{Key: k, Check: "c", Severity: "high", JSON: []byte(`{}`)}
	}
	if err := s.PutFindings(ctx, []store.FindingRecord{f("a"), f("b")}, t0); err != nil {
		t.Fatal(err)
	}
	if err := s.PutFindings(ctx, []store.FindingRecord{f("a")}, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	active, _ := s.ListFindings(ctx, false)
	all, _ := s.ListFindings(ctx, true)
	if len(active) != 1 || active[0].Key != "a" || !active[0].FirstSeen.Equal(t0) || !active[0].LastSeen.Equal(t0.Add(time.Hour)) || len(all) != 2 {
		t.Fatalf("after second run: active %+v, all %d", active, len(all))
	}
	for _, r := range all {
		if r.Key == "b" && !r.ResolvedAt.Equal(t0.Add(time.Hour)) {
			t.Errorf("b not resolved: %+v", r)
		}
	}
	// b comes back: reopened with a new first-seen.
	s.PutFindings(ctx, []store.FindingRecord{f("a"), f("b")}, t0.Add(2*time.Hour))
	active, _ = s.ListFindings(ctx, false)
	if len(active) != 2 || active[1].Key != "b" || !active[1].FirstSeen.Equal(t0.Add(2*time.Hour)) || !active[1].ResolvedAt.IsZero() {
		t.Errorf("reopened: %+v", active)
	}
	s.PutSuppression(ctx, store.Suppression{ID: "s1", Check: "c", Resource: "device:d", Reason: "accepted risk", CreatedBy: "t", CreatedAt: t0, ExpiresAt: t0.Add(24 * time.Hour)})
	if ss, _ := s.ListSuppressions(ctx); len(ss) != 1 || ss[0].Reason != "accepted risk" {
		t.Errorf("suppressions %+v", ss)
	}
	s.AddTrendPoint(ctx, t0, map[string]int{"high": 2})
	s.AddTrendPoint(ctx, t0.Add(time.Hour), map[string]int{"high": 1})
	if tr, _ := s.ListTrend(ctx, t0.Add(time.Minute)); len(tr) != 1 || tr[0].Counts["high"] != 1 {
		t.Errorf("trend %+v", tr)
	}
}

// testFindingRuns: findings are ordered by check and key; a known key
// takes the new run's severity and JSON; a run that finds nothing
// resolves every active finding, and a resolved finding keeps its
// resolution time through later runs.
func testFindingRuns(t *testing.T, s store.Store) {
	ctx := context.Background()
	if fs, err := s.ListFindings(ctx, true); err != nil || len(fs) != 0 {
		t.Fatalf("ListFindings on an empty store = %v, %v", fs, err)
	}
	f := func(check, key, sev string) store.FindingRecord {
		return store.FindingRecord{Key: key, Check: check, Severity: sev, JSON: []byte(`{"key":"` + key + `","severity":"` + sev + `"}`)}
	}
	if err := s.PutFindings(ctx, []store.FindingRecord{f("z-check", "k1", "low"), f("a-check", "k9", "high"), f("a-check", "k2", "medium")}, t0); err != nil {
		t.Fatal(err)
	}
	if err := s.PutFindings(ctx, []store.FindingRecord{f("z-check", "k1", "critical"), f("a-check", "k9", "high"), f("a-check", "k2", "medium")}, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListFindings(ctx, false)
	keys := keysOf(got, func(r store.FindingRecord) string { return r.Check + "/" + r.Key })
	if want := []string{"a-check/k2", "a-check/k9", "z-check/k1"}; err != nil || !cmp.Equal(keys, want) {
		t.Fatalf("ListFindings = %v, %v; want %v", keys, err, want)
	}
	want := store.FindingRecord{Key: "k1", Check: "z-check", Severity: "critical", FirstSeen: t0, LastSeen: t0.Add(time.Hour), JSON: f("z-check", "k1", "critical").JSON}
	if diff := cmp.Diff(want, got[2]); diff != "" {
		t.Errorf("updated finding (-want +got):\n%s", diff)
	}
	if err := s.PutFindings(ctx, nil, t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if active, err := s.ListFindings(ctx, false); err != nil || len(active) != 0 {
		t.Fatalf("after an empty run: %d active, %v; want none", len(active), err)
	}
	if err := s.PutFindings(ctx, nil, t0.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	all, err := s.ListFindings(ctx, true)
	if err != nil || len(all) != 3 {
		t.Fatalf("ListFindings(includeResolved) = %d, %v; want 3", len(all), err)
	}
	for _, r := range all {
		if !r.ResolvedAt.Equal(t0.Add(2 * time.Hour)) {
			t.Errorf("%s resolved at %v, want %v (the run that stopped finding it)", r.Key, r.ResolvedAt, t0.Add(2*time.Hour))
		}
	}
}

// testSuppressions: every field round-trips, one ID is replaced, the list
// is oldest first (then by ID) with expired suppressions kept, and one
// is deleted by ID.
func testSuppressions(t *testing.T, s store.Store) {
	ctx := context.Background()
	if ss, err := s.ListSuppressions(ctx); err != nil || len(ss) != 0 {
		t.Fatalf("ListSuppressions on an empty store = %v, %v", ss, err)
	}
	s1 := store.Suppression{ID: "s1", Check: "weak-tls", Resource: "device:d", Reason: "accepted risk", CreatedBy: "token:a1", CreatedAt: t0.Add(time.Hour), ExpiresAt: t0.Add(24 * time.Hour)}
	s2 := store.Suppression{ID: "s2", Check: "default-creds", Reason: "lab fleet", CreatedBy: "token:a1", CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)} // expired below
	s9 := store.Suppression{ID: "s9", Check: "open-port", Reason: "vendor port", CreatedBy: "token:a1", CreatedAt: t0.Add(time.Hour), ExpiresAt: t0.Add(time.Hour)}
	for _, x := range []store.Suppression{s1, s2, s9} {
		if err := s.PutSuppression(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	s1.Reason, s1.ExpiresAt = "accepted risk until the 1.5 rollout", t0.Add(48*time.Hour)
	if err := s.PutSuppression(ctx, s1); err != nil {
		t.Fatal(err)
	}
	ss, err := s.ListSuppressions(ctx)
	if diff := cmp.Diff([]store.Suppression{s2, s1, s9}, ss); err != nil || diff != "" {
		t.Errorf("ListSuppressions (-want +got), %v:\n%s", err, diff)
	}
	if err := s.DeleteSuppression(ctx, "s1"); err != nil {
		t.Fatalf("DeleteSuppression: %v", err)
	}
	if err := s.DeleteSuppression(ctx, "s1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteSuppression twice: %v, want ErrNotFound", err)
	}
	if after, err := s.ListSuppressions(ctx); err != nil || !cmp.Equal(after, []store.Suppression{s2, s9}) {
		t.Errorf("after DeleteSuppression: %+v, %v", after, err)
	}
}

// testTrend: points since a time (inclusive), oldest first; a point at
// the same time replaces the earlier one.
func testTrend(t *testing.T, s store.Store) {
	ctx := context.Background()
	if tr, err := s.ListTrend(ctx, time.Time{}); err != nil || len(tr) != 0 {
		t.Fatalf("ListTrend on an empty store = %v, %v", tr, err)
	}
	for _, p := range []struct {
		at     time.Duration
		counts map[string]int
	}{
		{2 * time.Hour, map[string]int{"high": 1}},
		{0, map[string]int{"high": 2, "low": 5}},
		{time.Hour, map[string]int{"critical": 1}},
		{time.Hour, map[string]int{"critical": 0, "medium": 3}},
	} {
		if err := s.AddTrendPoint(ctx, t0.Add(p.at), p.counts); err != nil {
			t.Fatal(err)
		}
	}
	tr, err := s.ListTrend(ctx, t0.Add(time.Hour))
	want := []store.TrendPoint{
		{Time: t0.Add(time.Hour), Counts: map[string]int{"critical": 0, "medium": 3}},
		{Time: t0.Add(2 * time.Hour), Counts: map[string]int{"high": 1}},
	}
	if diff := cmp.Diff(want, tr); err != nil || diff != "" {
		t.Errorf("ListTrend (-want +got), %v:\n%s", err, diff)
	}
	if all, err := s.ListTrend(ctx, time.Time{}); err != nil || len(all) != 3 || !all[0].Time.Equal(t0) {
		t.Errorf("ListTrend since the zero time = %+v, %v; want 3 from t0", all, err)
	}
}
