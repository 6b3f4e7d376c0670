// Package storetest is the conformance suite every store.Store backend
// must pass. A backend's test calls Run with a function that opens a fresh,
// empty store.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/wardproject/ward/internal/store"
)

// Run runs the whole suite; open returns a new empty store for each subtest.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"devices", testDevices},
		{"enroll-tokens", testEnrollTokens},
		{"certificates", testCertificates},
		{"api-tokens", testAPITokens},
		{"events", testEvents},
		{"counters", testCounters},
		{"model-policies", testModelPolicies},
		{"blobs", testBlobs},
		{"alerts", testAlerts},
		{"metric-windows", testMetricWindows},
		{"audit-log", testAudit},
		{"sboms-advisories", testSBOMs},
		{"findings", testFindings},
		{"enroll-device", testEnrollDevice},
		{"valid-device-certificates", testValidDeviceCertificates},
		{"lifecycle-matrix", testLifecycleMatrix},
		{"token-after-revocation", testTokenAfterRevocation},
		{"reenroll-limits", testReenrollLimits},
		{"event-retention", testEventRetention},
		{"concurrent-transitions", testConcurrentTransitions},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open(t)) })
	}
	t.Run("updates", func(t *testing.T) { TestUpdates(t, open) })
}

var t0 = time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)

func testDevices(t *testing.T, s store.Store) {
	ctx := context.Background()
	d := store.Device{ID: "sensor-1", Model: "m", Firmware: "1.0", Tags: []string{"a", "b"}, Status: store.StatusPending,
		Policy: store.Policy{Publish: []string{"fleet/x"}, MessagesPerSecond: 5}, CreatedAt: t0, UpdatedAt: t0}
	if err := s.CreateDevice(ctx, d); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateDevice(ctx, d); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate create: got %v, want ErrConflict", err)
	}
	got, err := s.GetDevice(ctx, "sensor-1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(d, got); diff != "" {
		t.Errorf("GetDevice (-want +got):\n%s", diff)
	}
	if _, err := s.GetDevice(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing device: got %v, want ErrNotFound", err)
	}
	// UpdateDevice writes descriptive fields only: a status set by fn is
	// ignored (statuses change through TransitionDevice alone).
	up, err := s.UpdateDevice(ctx, "sensor-1", func(d *store.Device) error {
		d.Firmware, d.Status, d.Quarantine = "1.1", store.StatusActive, store.QuarantineRestrict
		return nil
	})
	if err != nil || up.Firmware != "1.1" || up.Status != store.StatusPending || up.Quarantine != "" {
		t.Fatalf("UpdateDevice: firmware %q status %s mode %q, %v (want 1.1, pending, no mode)", up.Firmware, up.Status, up.Quarantine, err)
	}
	boom := errors.New("boom")
	if _, err := s.UpdateDevice(ctx, "sensor-1", func(d *store.Device) error { d.Firmware = "2"; return boom }); !errors.Is(err, boom) {
		t.Fatalf("UpdateDevice with failing fn: %v", err)
	}
	if got, _ := s.GetDevice(ctx, "sensor-1"); got.Firmware != "1.1" {
		t.Errorf("failed update was applied: firmware %s", got.Firmware)
	}
	if out, err := s.TransitionDevice(ctx, store.Transition{DeviceID: "sensor-1", Op: "quarantine", From: store.QuarantineFrom,
		To: store.StatusQuarantined, Quarantine: store.QuarantineRestrict, Now: t0}); err != nil || out.Device.Quarantine != store.QuarantineRestrict {
		t.Fatalf("quarantine: %+v %v", out.Device, err)
	}
	if got, _ := s.GetDevice(ctx, "sensor-1"); got.Status != store.StatusQuarantined || got.Quarantine != store.QuarantineRestrict {
		t.Errorf("quarantine mode not stored: status %s, mode %q", got.Status, got.Quarantine)
	}
	if out, err := s.TransitionDevice(ctx, store.Transition{DeviceID: "sensor-1", Op: "release", From: store.ReleaseFrom,
		To: store.StatusActive, NeedsCertificate: true, Now: t0}); err != nil || out.Device.Quarantine != "" {
		t.Fatalf("release: %+v %v", out.Device, err)
	}
	if err := s.TouchDevice(ctx, "sensor-1", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.TouchDevice(ctx, "sensor-1", t0); err != nil { // older: ignored
		t.Fatal(err)
	}
	if got, _ := s.GetDevice(ctx, "sensor-1"); !got.LastSeen.Equal(t0.Add(time.Hour)) {
		t.Errorf("LastSeen = %v, want %v", got.LastSeen, t0.Add(time.Hour))
	}
	if err := s.CreateDevice(ctx, store.Device{ID: "a-0", Model: "m", Status: store.StatusPending, CreatedAt: t0, UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	all, err := s.ListDevices(ctx)
	if err != nil || len(all) != 2 || all[0].ID != "a-0" {
		t.Fatalf("ListDevices = %v, %v", all, err)
	}
}

func testEnrollTokens(t *testing.T, s store.Store) {
	ctx := context.Background()
	s.CreateDevice(ctx, store.Device{ID: "d", Model: "m", Status: store.StatusPending, CreatedAt: t0, UpdatedAt: t0})
	h := []byte("0123456789abcdef0123456789abcdef")
	if err := s.PutEnrollToken(ctx, store.EnrollToken{DeviceID: "d", Hash: h, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	enroll := func(hash []byte, now time.Time, serial string) error {
		_, err := s.EnrollDevice(ctx, store.Enrollment{DeviceID: "d", TokenHash: hash, Now: now,
			Cert:  store.Certificate{Serial: serial, DeviceID: "d", Subject: "CN=d", Kind: "device", DER: []byte{1}, IssuedAt: now},
			Event: store.Event{DeviceID: "d", Time: now, Kind: "enrolled"}})
		return err
	}
	if err := enroll([]byte("wrong"), t0, "e0"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("wrong hash: %v", err)
	}
	if err := enroll(h, t0.Add(2*time.Hour), "e1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("expired token: %v", err)
	}
	// Concurrent uses of one token: exactly one wins.
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = enroll(h, t0, fmt.Sprintf("c%d", i)) }()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		}
	}
	if ok != 1 {
		t.Errorf("%d concurrent uses of one token succeeded, want 1 (%v)", ok, errs)
	}
	tok, err := s.GetEnrollToken(ctx, "d")
	if err != nil || tok.UsedAt.IsZero() {
		t.Errorf("GetEnrollToken after use: %+v %v", tok, err)
	}
	if certs, _ := s.ListCertificates(ctx, "d"); len(certs) != 1 {
		t.Errorf("%d certificates recorded by concurrent enrollments, want 1", len(certs))
	}
	// A new token (PutEnrollToken replaces the used one) can be used again.
	s.PutEnrollToken(ctx, store.EnrollToken{DeviceID: "d", Hash: h, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)})
	if err := enroll(h, t0, "e2"); err != nil {
		t.Errorf("use of a renewed token: %v", err)
	}
}

func testCertificates(t *testing.T, s store.Store) {
	ctx := context.Background()
	c := store.Certificate{Serial: "4a01", DeviceID: "d", Subject: "CN=d", Kind: "device", NotBefore: t0, NotAfter: t0.Add(time.Hour),
		Fingerprint: "ff", DER: []byte{1, 2, 3}, IssuedAt: t0}
	if err := s.PutCertificate(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := s.PutCertificate(ctx, c); !errors.Is(err, store.ErrConflict) {
		t.Errorf("duplicate serial: %v", err)
	}
	got, err := s.GetCertificate(ctx, "4a01")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(c, got); diff != "" {
		t.Errorf("GetCertificate (-want +got):\n%s", diff)
	}
	if err := s.RevokeCertificate(ctx, "4a01", "keyCompromise", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeCertificate(ctx, "4a01", "other", t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeCertificate(ctx, "dead", "x", t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoke unknown: %v", err)
	}
	rev, err := s.ListRevoked(ctx)
	if err != nil || len(rev) != 1 || rev[0].RevokeReason != "keyCompromise" || !rev[0].RevokedAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("ListRevoked = %+v, %v (first revocation must be kept)", rev, err)
	}
	s.PutCertificate(ctx, store.Certificate{Serial: "4a02", Kind: "server", Subject: "CN=s", DER: []byte{1}, IssuedAt: t0.Add(time.Second)})
	dev, _ := s.ListCertificates(ctx, "d")
	all, _ := s.ListCertificates(ctx, "")
	if len(dev) != 1 || len(all) != 2 || all[0].Serial != "4a02" {
		t.Errorf("ListCertificates: device %d, all %d (%v)", len(dev), len(all), all)
	}
}

func testAPITokens(t *testing.T, s store.Store) {
	ctx := context.Background()
	tok := store.APIToken{ID: "0011223344556677", Name: "ops", Role: store.RoleOperator, Hash: []byte("h"), CreatedAt: t0}
	if err := s.PutAPIToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetAPIToken(ctx, tok.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tok, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("GetAPIToken (-want +got):\n%s", diff)
	}
	if err := s.RevokeAPIToken(ctx, tok.ID, t0); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetAPIToken(ctx, tok.ID); got.RevokedAt.IsZero() {
		t.Error("token not revoked")
	}
	if err := s.RevokeAPIToken(ctx, "ffffffffffffffff", t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoke unknown token: %v", err)
	}
	ts, _ := s.ListAPITokens(ctx)
	if len(ts) != 1 {
		t.Errorf("ListAPITokens = %d tokens", len(ts))
	}
}

func testEvents(t *testing.T, s store.Store) {
	ctx := context.Background()
	var evs []store.Event
	for i := range 5 {
		evs = append(evs, store.Event{DeviceID: "d", Time: t0.Add(time.Duration(i) * time.Second), Kind: "k", Detail: map[string]string{"i": string(rune('0' + i))}})
	}
	evs = append(evs, store.Event{DeviceID: "other", Time: t0, Kind: "x"})
	if err := s.AddEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListEvents(ctx, "d", 3)
	if err != nil || len(got) != 3 || got[0].Detail["i"] != "4" {
		t.Fatalf("ListEvents newest first: %+v %v", got, err)
	}
	all, _ := s.ListEvents(ctx, "", 100)
	if len(all) != 6 || all[0].Detail != nil {
		t.Errorf("ListEvents all = %d (first detail %v)", len(all), all[0].Detail)
	}
}

func testCounters(t *testing.T, s store.Store) {
	ctx := context.Background()
	for want := int64(1); want <= 3; want++ {
		if got, err := s.NextCounter(ctx, "crl"); err != nil || got != want {
			t.Fatalf("NextCounter = %d, %v; want %d", got, err, want)
		}
	}
}

func testModelPolicies(t *testing.T, s store.Store) {
	ctx := context.Background()
	p := store.ModelPolicy{Model: "cam", Policy: store.Policy{Subscribe: []string{"fw/cam/#"}}}
	if err := s.PutModelPolicy(ctx, p); err != nil {
		t.Fatal(err)
	}
	p.Policy.MaxMessageBytes = 10
	if err := s.PutModelPolicy(ctx, p); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListModelPolicies(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]store.ModelPolicy{p}, got); diff != "" {
		t.Errorf("ListModelPolicies (-want +got):\n%s", diff)
	}
}

func testBlobs(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.GetBlob(ctx, "x"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing blob: %v", err)
	}
	s.PutBlob(ctx, "x", []byte("one"))
	s.PutBlob(ctx, "x", []byte("two"))
	if b, err := s.GetBlob(ctx, "x"); err != nil || string(b) != "two" {
		t.Errorf("GetBlob = %q, %v", b, err)
	}
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
		var ids []string
		for _, r := range rs {
			ids = append(ids, r.ID)
		}
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

func testAudit(t *testing.T, s store.Store) {
	ctx := context.Background()
	for i := range 3 {
		if _, err := s.AppendAudit(ctx, store.AuditEntry{Time: t0.Add(time.Duration(i) * time.Second), Actor: "tok", Action: "device.revoke", Target: "d",
			Detail: map[string]string{"reason": "x"}}); err != nil {
			t.Fatal(err)
		}
	}
	es, err := s.ListAudit(ctx, 10)
	if err != nil || len(es) != 3 {
		t.Fatalf("ListAudit = %d, %v", len(es), err)
	}
	oldestFirst := []store.AuditEntry{es[2], es[1], es[0]}
	if err := store.VerifyAudit(oldestFirst); err != nil {
		t.Errorf("fresh chain does not verify: %v", err)
	}
	oldestFirst[1].Target = "other"
	if err := store.VerifyAudit(oldestFirst); err == nil {
		t.Error("altered entry verified")
	}
	appendAudit(t, s, 22)
	page, err := s.ListAuditFrom(ctx, 10, 5)
	if err != nil || len(page) != 5 || page[0].Seq != 10 || page[4].Seq != 14 {
		t.Fatalf("ListAuditFrom(10, 5) = %d entries from %v, %v; want 10 to 14", len(page), page, err)
	}
	if rest, err := s.ListAuditFrom(ctx, 24, 0); err != nil || len(rest) != 2 || rest[1].Seq != 25 {
		t.Errorf("ListAuditFrom(24, 0) = %d entries, %v; want 24 and 25", len(rest), err)
	}
	if none, err := s.ListAuditFrom(ctx, 26, 10); err != nil || len(none) != 0 {
		t.Errorf("ListAuditFrom past the head = %d entries, %v", len(none), err)
	}
	rep, err := store.VerifyAuditChain(ctx, s, &store.AuditAnchor{Seq: 25, Hash: es[0].Hash}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || rep.Problem != store.AuditAnchorMismatch {
		t.Errorf("an anchor with another hash: %+v, want anchor-mismatch", rep)
	}
	head, _ := s.ListAudit(ctx, 1)
	for _, size := range []int{1, 7, 25, 1000} {
		rep, err := store.VerifyAuditChain(ctx, s, &store.AuditAnchor{Seq: 25, Hash: head[0].Hash}, size)
		if err != nil || !rep.OK || rep.Entries != 25 || rep.HeadSeq != 25 || rep.HeadHash != head[0].Hash {
			t.Errorf("page size %d: %+v, %v; want 25 entries verified", size, rep, err)
		}
	}
}

// appendAudit appends n entries.
func appendAudit(t *testing.T, s store.Store, n int) []store.AuditEntry {
	t.Helper()
	var out []store.AuditEntry
	for i := range n {
		e, err := s.AppendAudit(context.Background(), store.AuditEntry{Time: t0.Add(time.Duration(i) * time.Minute), Actor: "token:0011223344556677",
			Action: "device.revoke", Target: fmt.Sprintf("d-%d", i), Detail: map[string]string{"reason": "keyCompromise"}})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// Exec runs one SQL statement on a backend's database directly, as an
// attacker with write access to it would.
type Exec func(ctx context.Context, stmt string) error

// RunAuditAttacks tampers with the audit log behind the store's back, as
// an attacker with write access to the database would, and checks that
// VerifyAuditChain, anchored at the head recorded before the attack,
// catches each attack. open returns a new empty store and a way to run
// SQL on it.
func RunAuditAttacks(t *testing.T, open func(t *testing.T) (store.Store, Exec)) {
	tests := []struct {
		name     string
		attack   []string
		reappend int // entries appended through the store after the attack
		problem  string
	}{
		{"untouched", nil, 0, ""},
		{"truncated-tail", []string{"DELETE FROM audit_log WHERE seq > 7"}, 0, store.AuditTruncated},
		{"truncated-tail-then-appended", []string{"DELETE FROM audit_log WHERE seq > 7"}, 1, store.AuditTruncated},
		{"truncated-tail-then-appended-past-the-anchor", []string{"DELETE FROM audit_log WHERE seq > 7"}, 5, store.AuditAnchorMismatch},
		{"everything-deleted", []string{"DELETE FROM audit_log"}, 0, store.AuditTruncated},
		{"middle-deleted", []string{"DELETE FROM audit_log WHERE seq = 4"}, 0, store.AuditGap},
		{"start-deleted", []string{"DELETE FROM audit_log WHERE seq <= 2"}, 0, store.AuditMissingStart},
		{"entry-altered", []string{"UPDATE audit_log SET target = 'd-99' WHERE seq = 5"}, 0, store.AuditAltered},
		{"head-altered", []string{"UPDATE audit_log SET actor = 'system' WHERE seq = 10"}, 0, store.AuditAltered},
		{"hash-replaced", []string{"UPDATE audit_log SET hash = 'ab' WHERE seq = 3"}, 0, store.AuditAltered},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			s, exec := open(t)
			es := appendAudit(t, s, 10)
			anchor := &store.AuditAnchor{Seq: es[9].Seq, Hash: es[9].Hash}
			for _, stmt := range tt.attack {
				if err := exec(ctx, stmt); err != nil {
					t.Fatalf("%s: %v", stmt, err)
				}
			}
			appendAudit(t, s, tt.reappend)
			rep, err := store.VerifyAuditChain(ctx, s, anchor, 3)
			if err != nil {
				t.Fatal(err)
			}
			if tt.problem == "" {
				if !rep.OK || rep.Entries != 10 {
					t.Errorf("untouched log: %+v", rep)
				}
				return
			}
			if rep.OK || rep.Problem != tt.problem || rep.Message == "" {
				t.Errorf("after %q: %+v, want problem %s", tt.attack, rep, tt.problem)
			}
		})
	}
}

func testSBOMs(t *testing.T, s store.Store) {
	ctx := context.Background()
	if err := s.PutSBOM(ctx, store.SBOMRecord{Model: "m", Firmware: "1.0", Format: "CycloneDX 1.5", Source: "a.json", Components: 3, ImportedAt: t0, Data: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetSBOM(ctx, "m", "1.0")
	if err != nil || got.Components != 3 || string(got.Data) != "{}" {
		t.Errorf("GetSBOM = %+v, %v", got, err)
	}
	if _, err := s.GetSBOM(ctx, "m", "2.0"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing SBOM: %v", err)
	}
	if ls, _ := s.ListSBOMs(ctx); len(ls) != 1 || ls[0].Data != nil {
		t.Errorf("ListSBOMs = %+v", ls)
	}
	s.PutAdvisories(ctx, []store.AdvisoryRecord{{ID: "GO-1", Source: "x", ImportedAt: t0, Data: []byte("a")}, {ID: "GO-2", Data: []byte("b")}})
	s.PutAdvisories(ctx, []store.AdvisoryRecord{{ID: "GO-1", Data: []byte("c")}})
	var ids []string
	s.EachAdvisory(ctx, func(a store.AdvisoryRecord) error { ids = append(ids, a.ID+"="+string(a.Data)); return nil })
	if !cmp.Equal(ids, []string{"GO-1=c", "GO-2=b"}) {
		t.Errorf("advisories %v", ids)
	}
	s.PutModelInfo(ctx, "m", []byte(`{"x":1}`))
	if mi, _ := s.ListModelInfo(ctx); string(mi["m"]) != `{"x":1}` {
		t.Errorf("model info %v", mi)
	}
	s.CreateDevice(ctx, store.Device{ID: "d", Model: "m", Status: store.StatusPending})
	s.PutEnrollToken(ctx, store.EnrollToken{DeviceID: "d", Hash: []byte("h"), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)})
	if ts, err := s.ListEnrollTokens(ctx); err != nil || len(ts) != 1 || ts[0].Hash != nil || !ts[0].ExpiresAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("ListEnrollTokens = %+v, %v", ts, err)
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

func testEnrollDevice(t *testing.T, s store.Store) {
	ctx := context.Background()
	s.CreateDevice(ctx, store.Device{ID: "d", Model: "m", Status: store.StatusPending, CreatedAt: t0, UpdatedAt: t0})
	h := []byte("0123456789abcdef0123456789abcdef")
	s.PutEnrollToken(ctx, store.EnrollToken{DeviceID: "d", Hash: h, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)})
	ev := store.Event{DeviceID: "d", Time: t0, Kind: "enrolled"}
	// A wrong token writes nothing.
	if _, err := s.EnrollDevice(ctx, store.Enrollment{DeviceID: "d", TokenHash: []byte("wrong"), Now: t0, Cert: testCert("d", "aa01", t0), Event: ev}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("wrong token: %v", err)
	}
	if _, err := s.GetCertificate(ctx, "aa01"); !errors.Is(err, store.ErrNotFound) {
		t.Error("certificate recorded although the token was refused")
	}
	out, err := s.EnrollDevice(ctx, store.Enrollment{DeviceID: "d", TokenHash: h, Now: t0.Add(time.Minute), Cert: testCert("d", "aa02", t0), Event: ev})
	if err != nil || out.Device.Status != store.StatusActive {
		t.Fatalf("enroll: %+v %v", out, err)
	}
	if tok, _ := s.GetEnrollToken(ctx, "d"); tok.UsedAt.IsZero() {
		t.Error("token not used")
	}
	if evs, _ := s.ListEvents(ctx, "d", 10); len(evs) != 1 || evs[0].Kind != "enrolled" {
		t.Errorf("events %+v", evs)
	}
	// A re-enrollment whose new serial is a duplicate rolls everything back.
	if _, err := s.EnrollDevice(ctx, store.Enrollment{DeviceID: "d", Current: "aa02", Now: t0.Add(2 * time.Minute), Cert: testCert("d", "aa02", t0), Event: ev}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate serial: %v", err)
	}
	if c, _ := s.GetCertificate(ctx, "aa02"); !c.SupersededAt.IsZero() {
		t.Errorf("certificate superseded by a failed re-enrollment")
	}
	if got, _ := s.GetDevice(ctx, "d"); !got.ReenrolledAt.IsZero() {
		t.Errorf("re-enrollment time set by a failed re-enrollment")
	}
	if evs, _ := s.ListEvents(ctx, "d", 10); len(evs) != 1 {
		t.Errorf("event written by a failed enrollment: %d events", len(evs))
	}
	if _, err := s.EnrollDevice(ctx, store.Enrollment{DeviceID: "ghost", Current: "aa02", Now: t0, Cert: testCert("ghost", "aa03", t0), Event: ev}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown device: %v", err)
	}
	if _, err := s.GetCertificate(ctx, "aa03"); !errors.Is(err, store.ErrNotFound) {
		t.Error("certificate of an unknown device recorded")
	}
}

// testValidDeviceCertificates: only device certificates that are neither
// revoked nor expired are streamed, with serial, device and expiry only.
func testValidDeviceCertificates(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, c := range []store.Certificate{
		{Serial: "4b01", DeviceID: "d1", Kind: "device", NotAfter: t0.Add(time.Hour)},                       // valid
		{Serial: "4b02", DeviceID: "d1", Kind: "device", NotAfter: t0.Add(-time.Second)},                    // expired
		{Serial: "4b03", DeviceID: "d2", Kind: "device", NotAfter: t0.Add(time.Hour)},                       // revoked below
		{Serial: "4b04", Kind: "server", NotAfter: t0.Add(time.Hour)},                                       // not a device's
		{Serial: "4b05", DeviceID: "d2", Kind: "device", NotAfter: t0.Add(2 * time.Hour), Subject: "CN=d2"}, // valid
	} {
		c.DER, c.IssuedAt, c.NotBefore = []byte{1}, t0, t0.Add(-time.Hour)
		if err := s.PutCertificate(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RevokeCertificate(ctx, "4b03", "keyCompromise", t0); err != nil {
		t.Fatal(err)
	}
	var got []store.Certificate
	if err := s.EachValidDeviceCertificate(ctx, t0, func(c store.Certificate) error { got = append(got, c); return nil }); err != nil {
		t.Fatal(err)
	}
	sort.Slice(got, func(i, j int) bool { return got[i].Serial < got[j].Serial })
	want := []store.Certificate{
		{Serial: "4b01", DeviceID: "d1", NotAfter: t0.Add(time.Hour)},
		{Serial: "4b05", DeviceID: "d2", NotAfter: t0.Add(2 * time.Hour)},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("EachValidDeviceCertificate (-want +got):\n%s", diff)
	}
	stop := errors.New("stop")
	n := 0
	if err := s.EachValidDeviceCertificate(ctx, t0, func(store.Certificate) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Errorf("an error from fn: %v after %d calls, want it returned after 1", err, n)
	}
}
