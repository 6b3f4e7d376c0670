package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wardproject/ward/internal/store"
)

// TestDevices is the conformance suite of store.Devices: devices, model
// policies, enrollment tokens and events. The lifecycle transitions
// (TransitionDevice, EnrollDevice) have their own suite, TestLifecycle.
func TestDevices(t *testing.T, open func(t *testing.T) store.Store) {
	runAll(t, open, []subtest{
		{"create-get-update", testDevices},
		{"create-fields", testCreateDeviceFields},
		{"update", testUpdateDevice},
		{"list", testListDevices},
		{"device-targets", testDeviceTargets},
		{"query-filters", testQueryFilters},
		{"query-paging", testQueryPaging},
		{"query-empty", testQueryEmpty},
		{"query-search-window", testQuerySearchWindow},
		{"query-text-any-tag", testQueryTextAnyTag},
		{"query-tags-follow-updates", testQueryTagsFollowUpdates},
		{"query-invalid", testQueryInvalid},
		{"query-concurrent", testQueryConcurrent},
		{"count", testCountDevices},
		{"touch", testTouchDevice},
		{"model-policies", testModelPolicies},
		{"update-model-policy", testUpdateModelPolicy},
		{"create-devices", testCreateDevices},
		{"delete-device", testDeleteDevice},
		{"delete-races-enrollment", testDeleteRacesEnrollment},
		{"enroll-tokens", testEnrollTokens},
		{"enroll-token-records", testEnrollTokenRecords},
		{"events", testEvents},
		{"event-order-and-limits", testEventLimits},
		{"event-retention", testEventRetention},
	})
}

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

// testModelPolicies: a model's policy is replaced, not duplicated; the
// list is ordered by model.
func testModelPolicies(t *testing.T, s store.Store) {
	ctx := context.Background()
	if ps, err := s.ListModelPolicies(ctx); err != nil || len(ps) != 0 {
		t.Fatalf("ListModelPolicies on an empty store = %v, %v", ps, err)
	}
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
	other := store.ModelPolicy{Model: "acme-th1", Policy: store.Policy{Publish: []string{"fleet/th/{id}"}, BytesPerSecond: 512}}
	if err := s.PutModelPolicy(ctx, other); err != nil {
		t.Fatal(err)
	}
	got, err = s.ListModelPolicies(ctx)
	if diff := cmp.Diff([]store.ModelPolicy{other, p}, got); err != nil || diff != "" {
		t.Errorf("ListModelPolicies of two models (-want +got), %v:\n%s", err, diff)
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

// testCreateDeviceFields: every field, the lifecycle times too, comes
// back as written; a duplicate ID changes nothing.
func testCreateDeviceFields(t *testing.T, s store.Store) {
	ctx := context.Background()
	d := store.Device{ID: "cam-7", Model: "acme-cam", Firmware: "2.4.1", Tags: []string{"lab", "floor-2"},
		Status: store.StatusQuarantined, Quarantine: store.QuarantineRestrict,
		Policy: store.Policy{Publish: []string{"fleet/{id}/x"}, Subscribe: []string{"fw/#"}, MaxMessageBytes: 4096,
			MessagesPerSecond: 2.5, BytesPerSecond: 1e4, ConnectsPerMinute: 3},
		CreatedAt: t0, UpdatedAt: t0.Add(time.Second), LastSeen: t0.Add(time.Minute),
		RevokedAt: t0.Add(-time.Hour), ReenrolledAt: t0.Add(-time.Minute)}
	if err := s.CreateDevice(ctx, d); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetDevice(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(d, got); diff != "" {
		t.Errorf("GetDevice (-want +got):\n%s", diff)
	}
	other := store.Device{ID: "cam-7", Model: "evil", Status: store.StatusActive, CreatedAt: t0, UpdatedAt: t0}
	if err := s.CreateDevice(ctx, other); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate ID: %v, want ErrConflict", err)
	}
	if got, _ := s.GetDevice(ctx, d.ID); !cmp.Equal(d, got) {
		t.Errorf("a refused duplicate changed the device: %+v", got)
	}
}

// testUpdateDevice: an unknown device is ErrNotFound without calling fn;
// fn cannot rename the device; the returned record is the stored one, and
// fields UpdateDevice does not write are kept.
func testUpdateDevice(t *testing.T, s store.Store) {
	ctx := context.Background()
	called := false
	if _, err := s.UpdateDevice(ctx, "ghost", func(*store.Device) error { called = true; return nil }); !errors.Is(err, store.ErrNotFound) || called {
		t.Fatalf("update of an unknown device: %v (fn called: %v), want ErrNotFound without calling fn", err, called)
	}
	d := store.Device{ID: "d", Model: "m", Firmware: "1", Tags: []string{"x"}, Status: store.StatusPending, CreatedAt: t0, UpdatedAt: t0, LastSeen: t0}
	if err := s.CreateDevice(ctx, d); err != nil {
		t.Fatal(err)
	}
	up, err := s.UpdateDevice(ctx, "d", func(d *store.Device) error {
		d.ID, d.Model, d.Tags, d.UpdatedAt = "renamed", "m2", nil, t0.Add(time.Hour)
		d.Policy.ConnectsPerMinute = 9
		d.CreatedAt, d.LastSeen = t0.Add(99*time.Hour), t0.Add(99*time.Hour)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := store.Device{ID: "d", Model: "m2", Firmware: "1", Status: store.StatusPending, Policy: store.Policy{ConnectsPerMinute: 9},
		CreatedAt: t0, UpdatedAt: t0.Add(time.Hour), LastSeen: t0}
	if diff := cmp.Diff(want, up); diff != "" {
		t.Errorf("UpdateDevice returned (-want +got):\n%s", diff)
	}
	got, err := s.GetDevice(ctx, "d")
	if diff := cmp.Diff(want, got); err != nil || diff != "" {
		t.Errorf("stored after UpdateDevice (-want +got), %v:\n%s", err, diff)
	}
	if _, err := s.GetDevice(ctx, "renamed"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("fn renamed the device: %v", err)
	}
}

// testListDevices: an empty store lists nothing; devices come ordered by
// ID, byte by byte.
func testListDevices(t *testing.T, s store.Store) {
	ctx := context.Background()
	if ds, err := s.ListDevices(ctx); err != nil || len(ds) != 0 {
		t.Fatalf("ListDevices on an empty store = %v, %v", ds, err)
	}
	for _, id := range []string{"b", "a-2", "B", "a-10", "a"} {
		if err := s.CreateDevice(ctx, store.Device{ID: id, Model: "m", Status: store.StatusPending, CreatedAt: t0, UpdatedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	ds, err := s.ListDevices(ctx)
	ids := keysOf(ds, func(d store.Device) string { return d.ID })
	if want := []string{"B", "a", "a-10", "a-2", "b"}; err != nil || !cmp.Equal(ids, want) {
		t.Errorf("ListDevices = %v, %v; want %v", ids, err, want)
	}
}

// testTouchDevice: LastSeen only moves forward; touching an unknown device
// is not an error and creates nothing.
func testTouchDevice(t *testing.T, s store.Store) {
	ctx := context.Background()
	if err := s.TouchDevice(ctx, "ghost", t0); err != nil {
		t.Errorf("TouchDevice of an unknown device: %v", err)
	}
	if _, err := s.GetDevice(ctx, "ghost"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TouchDevice created a device: %v", err)
	}
	if err := s.CreateDevice(ctx, store.Device{ID: "d", Model: "m", Status: store.StatusPending, CreatedAt: t0, UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	for i, tt := range []struct{ seen, want time.Time }{
		{t0.Add(time.Minute), t0.Add(time.Minute)},
		{t0, t0.Add(time.Minute)}, // older: ignored
		{t0.Add(time.Minute), t0.Add(time.Minute)},
		{t0.Add(time.Minute + time.Nanosecond), t0.Add(time.Minute + time.Nanosecond)},
	} {
		if err := s.TouchDevice(ctx, "d", tt.seen); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.GetDevice(ctx, "d"); !got.LastSeen.Equal(tt.want) || !got.UpdatedAt.Equal(t0) {
			t.Errorf("touch %d at %v: LastSeen %v (UpdatedAt %v), want %v (UpdatedAt unchanged)", i, tt.seen, got.LastSeen, got.UpdatedAt, tt.want)
		}
	}
}

// testEnrollTokenRecords: a device without a token is ErrNotFound; a new
// token replaces the old one, whose secret stops working; the list is
// ordered by device and never carries hashes.
func testEnrollTokenRecords(t *testing.T, s store.Store) {
	ctx := context.Background()
	if ts, err := s.ListEnrollTokens(ctx); err != nil || len(ts) != 0 {
		t.Fatalf("ListEnrollTokens on an empty store = %v, %v", ts, err)
	}
	for _, id := range []string{"z", "d"} {
		if err := s.CreateDevice(ctx, store.Device{ID: id, Model: "m", Status: store.StatusPending, CreatedAt: t0, UpdatedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.GetEnrollToken(ctx, "d"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetEnrollToken of a device without a token: %v, want ErrNotFound", err)
	}
	old, fresh := []byte("old-secret-hash-0123456789abcdef"), []byte("new-secret-hash-0123456789abcdef")
	put := func(id string, h []byte, created time.Time) {
		t.Helper()
		if err := s.PutEnrollToken(ctx, store.EnrollToken{DeviceID: id, Hash: h, CreatedAt: created, ExpiresAt: created.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	put("d", old, t0)
	put("d", fresh, t0.Add(time.Minute))
	put("z", fresh, t0)
	got, err := s.GetEnrollToken(ctx, "d")
	want := store.EnrollToken{DeviceID: "d", Hash: fresh, CreatedAt: t0.Add(time.Minute), ExpiresAt: t0.Add(time.Minute + time.Hour)}
	if diff := cmp.Diff(want, got); err != nil || diff != "" {
		t.Errorf("GetEnrollToken after replacement (-want +got), %v:\n%s", err, diff)
	}
	enroll := func(h []byte, serial string) error {
		_, err := s.EnrollDevice(ctx, store.Enrollment{DeviceID: "d", TokenHash: h, Now: t0.Add(2 * time.Minute), Cert: testCert("d", serial, t0),
			Event: store.Event{DeviceID: "d", Time: t0, Kind: "enrolled"}})
		return err
	}
	if err := enroll(old, "7a01"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("enroll with a replaced token: %v, want ErrNotFound", err)
	}
	if err := enroll(fresh, "7a02"); err != nil {
		t.Fatalf("enroll with the current token: %v", err)
	}
	ts, err := s.ListEnrollTokens(ctx)
	if err != nil || len(ts) != 2 || ts[0].DeviceID != "d" || ts[1].DeviceID != "z" {
		t.Fatalf("ListEnrollTokens = %+v, %v; want d then z", ts, err)
	}
	for _, tok := range ts {
		if tok.Hash != nil {
			t.Errorf("ListEnrollTokens exposes the hash of %s", tok.DeviceID)
		}
	}
	if !ts[0].UsedAt.Equal(t0.Add(2*time.Minute)) || !ts[1].UsedAt.IsZero() || !ts[1].ExpiresAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("ListEnrollTokens times: %+v", ts)
	}
}

// testEventLimits: IDs follow the order events were added in; the list is
// newest first per device or for the whole fleet, capped at limit (50 when
// limit <= 0); details round-trip; adding nothing is not an error.
func testEventLimits(t *testing.T, s store.Store) {
	ctx := context.Background()
	if err := s.AddEvents(ctx, nil); err != nil {
		t.Fatalf("AddEvents(nil): %v", err)
	}
	if evs, err := s.ListEvents(ctx, "", 10); err != nil || len(evs) != 0 {
		t.Fatalf("ListEvents on an empty store = %v, %v", evs, err)
	}
	var evs []store.Event
	for i := range 60 {
		// Times run backwards: the order is the order of addition, not of time.
		evs = append(evs, store.Event{DeviceID: fmt.Sprintf("d%d", i%2), Time: t0.Add(-time.Duration(i) * time.Second), Kind: "acl.denied",
			Detail: map[string]string{"n": fmt.Sprint(i), "topic": "devices/x/\"quoted\" ünïcode"}})
	}
	if err := s.AddEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	all, err := s.ListEvents(ctx, "", 0)
	if err != nil || len(all) != 50 {
		t.Fatalf("ListEvents with limit 0 = %d events, %v; want the default 50", len(all), err)
	}
	for i, e := range all {
		want := evs[59-i]
		if e.DeviceID != want.DeviceID || !e.Time.Equal(want.Time) || e.Kind != want.Kind || !cmp.Equal(e.Detail, want.Detail) {
			t.Fatalf("event %d = %+v, want %+v", i, e, want)
		}
		if i > 0 && e.ID >= all[i-1].ID {
			t.Fatalf("event IDs not decreasing newest first: %d after %d", e.ID, all[i-1].ID)
		}
	}
	d1, err := s.ListEvents(ctx, "d1", 3)
	if err != nil || len(d1) != 3 || d1[0].Detail["n"] != "59" || d1[2].Detail["n"] != "55" {
		t.Errorf("ListEvents(d1, 3) = %+v, %v; want events 59, 57, 55", d1, err)
	}
	if none, err := s.ListEvents(ctx, "ghost", 10); err != nil || len(none) != 0 {
		t.Errorf("ListEvents of an unknown device = %v, %v", none, err)
	}
}

// testEventRetention: PruneEvents drops what is older than the cut-off
// and, per device, all but the newest perDevice (0: no cap).
func testEventRetention(t *testing.T, s store.Store) {
	ctx := context.Background()
	var evs []store.Event
	for i := range 10 {
		evs = append(evs, store.Event{DeviceID: "noisy", Time: t0.Add(time.Duration(i) * time.Minute), Kind: "k"})
	}
	evs = append(evs, store.Event{DeviceID: "quiet", Time: t0.Add(-48 * time.Hour), Kind: "old"},
		store.Event{DeviceID: "quiet", Time: t0, Kind: "new"})
	if err := s.AddEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	if n, err := s.PruneEvents(ctx, t0.Add(-72*time.Hour), 0); err != nil || n != 0 {
		t.Fatalf("PruneEvents with nothing old and no cap = %d %v, want 0", n, err)
	}
	n, err := s.PruneEvents(ctx, t0.Add(-24*time.Hour), 4)
	if err != nil || n != 7 {
		t.Fatalf("PruneEvents = %d %v, want 7 (1 too old, 6 over the cap)", n, err)
	}
	noisy, _ := s.ListEvents(ctx, "noisy", 100)
	if len(noisy) != 4 || !noisy[0].Time.Equal(t0.Add(9*time.Minute)) {
		t.Errorf("noisy device kept %d events (newest %v), want its newest 4", len(noisy), noisy)
	}
	if quiet, _ := s.ListEvents(ctx, "quiet", 100); len(quiet) != 1 || quiet[0].Kind != "new" {
		t.Errorf("quiet device kept %+v, want only its recent event", quiet)
	}
	if n, err := s.PruneEvents(ctx, t0.Add(5*time.Minute), 0); err != nil || n != 1 {
		t.Errorf("PruneEvents by age only = %d %v, want 1 (quiet's event at t0)", n, err)
	}
}

// testCountDevices: an empty store counts nothing; each status is counted
// once per device, and statuses without a device are absent.
func testCountDevices(t *testing.T, s store.Store) {
	ctx := context.Background()
	got, err := s.CountDevices(ctx)
	if err != nil || len(got) != 0 {
		t.Fatalf("CountDevices on an empty store = %v, %v", got, err)
	}
	for i, st := range []store.DeviceStatus{store.StatusPending, store.StatusActive, store.StatusActive, store.StatusQuarantined, store.StatusActive} {
		id := fmt.Sprintf("d-%d", i)
		if err := s.CreateDevice(ctx, store.Device{ID: id, Model: "m", Status: st, CreatedAt: t0, UpdatedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	got, err = s.CountDevices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[store.DeviceStatus]int{store.StatusPending: 1, store.StatusActive: 3, store.StatusQuarantined: 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CountDevices (-want +got):\n%s", diff)
	}
}

// testDeviceTargets: the model and tags of the named devices that exist,
// unknown IDs left out, no tags nil.
func testDeviceTargets(t *testing.T, s store.Store) {
	ctx := context.Background()
	if ds, err := s.DeviceTargets(ctx, []string{"ghost"}); err != nil || len(ds) != 0 {
		t.Fatalf("DeviceTargets on an empty store = %v, %v", ds, err)
	}
	for _, d := range []store.Device{{ID: "a", Model: "m1", Tags: []string{"lab", "x"}}, {ID: "b", Model: "m2"}, {ID: "c", Model: "m3"}} {
		d.Status, d.CreatedAt, d.UpdatedAt = store.StatusPending, t0, t0
		if err := s.CreateDevice(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	ds, err := s.DeviceTargets(ctx, []string{"b", "ghost", "a"})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(ds, func(x, y store.DeviceTarget) int { return strings.Compare(x.ID, y.ID) })
	want := []store.DeviceTarget{{ID: "a", Model: "m1", Tags: []string{"lab", "x"}}, {ID: "b", Model: "m2"}}
	if diff := cmp.Diff(want, ds); diff != "" {
		t.Errorf("DeviceTargets (-want +got):\n%s", diff)
	}
	if ds, err := s.DeviceTargets(ctx, nil); err != nil || len(ds) != 0 {
		t.Errorf("DeviceTargets(nil) = %v, %v", ds, err)
	}
}
