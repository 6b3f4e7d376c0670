package storetest

// The device listing's cases (store.Devices.QueryDevices), part of
// TestDevices, and the per-page certificate reads of TestCertificates.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wardproject/ward/internal/store"
)

// queryFleet creates a small fleet with every filter's values: 30
// devices d-00..d-29, models cam (even) and th1 (odd), tags "lab" on
// every third and "Floor-2" on every fifth, statuses rotating through
// pending, active, quarantined, revoked.
func queryFleet(t *testing.T, s store.Store) []store.Device {
	t.Helper()
	ctx := context.Background()
	statuses := []store.DeviceStatus{store.StatusPending, store.StatusActive, store.StatusQuarantined, store.StatusRevoked}
	var out []store.Device
	for i := range 30 {
		d := store.Device{ID: fmt.Sprintf("d-%02d", i), Model: "th1", Firmware: "1", Status: statuses[i%4], CreatedAt: t0, UpdatedAt: t0}
		if i%2 == 0 {
			d.Model = "cam"
		}
		if i%3 == 0 {
			d.Tags = append(d.Tags, "lab")
		}
		if i%5 == 0 {
			d.Tags = append(d.Tags, "Floor-2")
		}
		if err := s.CreateDevice(ctx, d); err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

// idsWhere lists the IDs of the devices keep accepts, in ID order.
func idsWhere(ds []store.Device, keep func(store.Device) bool) []string {
	var out []string
	for _, d := range ds {
		if keep(d) {
			out = append(out, d.ID)
		}
	}
	return out
}

// queryAll follows QueryDevices' cursor to the end and returns every ID
// in order; it fails the test when a page is larger than the limit or a
// cursor does not advance.
func queryAll(t *testing.T, s store.Store, q store.DeviceQuery) []string {
	t.Helper()
	var out []string
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatalf("query %+v: more than 1000 pages", q)
		}
		ds, next, err := s.QueryDevices(context.Background(), q)
		if err != nil {
			t.Fatalf("query %+v: %v", q, err)
		}
		if q.Limit > 0 && len(ds) > q.Limit {
			t.Fatalf("query %+v: %d devices on a page of %d", q, len(ds), q.Limit)
		}
		for _, d := range ds {
			out = append(out, d.ID)
		}
		if next == "" {
			return out
		}
		// A text search's cursor may be its window's end, past the
		// page's last device (the page then holds fewer devices, or none).
		windowed := q.Text != ""
		if next <= q.After || (!windowed && next != ds[len(ds)-1].ID) || (len(ds) > 0 && next < ds[len(ds)-1].ID) {
			t.Fatalf("query %+v: cursor %q after a page of %d", q, next, len(ds))
		}
		q.After = next
	}
}

func testQueryFilters(t *testing.T, s store.Store) {
	fleet := queryFleet(t, s)
	has := func(tag string) func(store.Device) bool {
		return func(d store.Device) bool { return slices.Contains(d.Tags, tag) }
	}
	tests := []struct {
		name string
		q    store.DeviceQuery
		want []string
	}{
		{"none", store.DeviceQuery{}, idsWhere(fleet, func(store.Device) bool { return true })},
		{"status", store.DeviceQuery{Status: store.StatusQuarantined},
			idsWhere(fleet, func(d store.Device) bool { return d.Status == store.StatusQuarantined })},
		{"model", store.DeviceQuery{Model: "cam"}, idsWhere(fleet, func(d store.Device) bool { return d.Model == "cam" })},
		{"model-is-exact", store.DeviceQuery{Model: "CAM"}, nil},
		{"tag", store.DeviceQuery{Tag: "lab"}, idsWhere(fleet, has("lab"))},
		{"tag-is-exact", store.DeviceQuery{Tag: "floor-2"}, nil},
		{"tag-and-status", store.DeviceQuery{Tag: "lab", Status: store.StatusPending},
			idsWhere(fleet, func(d store.Device) bool { return has("lab")(d) && d.Status == store.StatusPending })},
		{"every-filter", store.DeviceQuery{Tag: "Floor-2", Model: "cam", Status: store.StatusQuarantined, Text: "1"},
			[]string{"d-10"}},
		{"ids", store.DeviceQuery{IDs: []string{"d-07", "d-03", "nope", "d-03"}}, []string{"d-03", "d-07"}},
		{"ids-empty-matches-nothing", store.DeviceQuery{IDs: []string{}}, nil},
		{"ids-and-model", store.DeviceQuery{IDs: []string{"d-02", "d-03"}, Model: "th1"}, []string{"d-03"}},
		{"text-in-id", store.DeviceQuery{Text: "d-2"}, idsWhere(fleet, func(d store.Device) bool { return d.ID >= "d-20" })},
		{"text-case-insensitive-id", store.DeviceQuery{Text: "D-0"}, idsWhere(fleet, func(d store.Device) bool { return d.ID < "d-10" })},
		{"text-in-model", store.DeviceQuery{Text: "TH"}, idsWhere(fleet, func(d store.Device) bool { return d.Model == "th1" })},
		{"text-in-tag-case-insensitive", store.DeviceQuery{Text: "floor"}, idsWhere(fleet, has("Floor-2"))},
		{"text-substring-of-tag", store.DeviceQuery{Text: "oor-"}, idsWhere(fleet, has("Floor-2"))},
		{"text-wildcards-are-literal", store.DeviceQuery{Text: "d_0"}, nil},
		{"text-percent-is-literal", store.DeviceQuery{Text: "%"}, nil},
		{"text-backslash-is-literal", store.DeviceQuery{Text: `\`}, nil},
		{"text-quote", store.DeviceQuery{Text: `'"`}, nil},
		{"no-match", store.DeviceQuery{Text: "zzz"}, nil},
		{"after-last", store.DeviceQuery{After: "d-29"}, nil},
		{"after-between-ids", store.DeviceQuery{After: "d-27x"}, []string{"d-28", "d-29"}},
		{"tag-after", store.DeviceQuery{Tag: "lab", After: "d-20"}, []string{"d-21", "d-24", "d-27"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds, next, err := s.QueryDevices(context.Background(), tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if next != "" {
				t.Errorf("next = %q on a page under the limit", next)
			}
			var got []string
			for _, d := range ds {
				got = append(got, d.ID)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("IDs (-want +got):\n%s", diff)
			}
		})
	}
	// A page carries whole devices, as GetDevice returns them.
	ds, _, err := s.QueryDevices(context.Background(), store.DeviceQuery{IDs: []string{"d-15"}})
	if err != nil || len(ds) != 1 {
		t.Fatalf("d-15: %v %v", ds, err)
	}
	if diff := cmp.Diff(fleet[15], ds[0]); diff != "" {
		t.Errorf("device on a page (-want +got):\n%s", diff)
	}
}

func testQueryPaging(t *testing.T, s store.Store) {
	fleet := queryFleet(t, s)
	all := idsWhere(fleet, func(store.Device) bool { return true })
	cams := idsWhere(fleet, func(d store.Device) bool { return d.Model == "cam" })
	labs := idsWhere(fleet, func(d store.Device) bool { return slices.Contains(d.Tags, "lab") })
	tests := []struct {
		name string
		q    store.DeviceQuery
		want []string
	}{
		{"page-of-1", store.DeviceQuery{Limit: 1}, all},
		{"page-of-7", store.DeviceQuery{Limit: 7}, all},
		{"page-divides-total", store.DeviceQuery{Limit: 10}, all}, // the third page is full: a fourth, empty one must not be announced
		{"page-equals-total", store.DeviceQuery{Limit: 30}, all},
		{"page-above-total", store.DeviceQuery{Limit: 31}, all},
		{"model-pages", store.DeviceQuery{Model: "cam", Limit: 4}, cams},
		{"tag-pages", store.DeviceQuery{Tag: "lab", Limit: 3}, labs},
		{"text-pages", store.DeviceQuery{Text: "d-1", Limit: 4}, all[10:20]},
		{"text-windows-shorter-than-matches", store.DeviceQuery{Text: "d-1", Limit: 4, Scan: 4}, all[10:20]},
		{"text-windows-rare-match", store.DeviceQuery{Text: "d-29", Limit: 1, Scan: 3}, all[29:]},
		{"text-windows-no-match", store.DeviceQuery{Text: "zzz", Limit: 2, Scan: 7}, nil},
		{"text-windows-with-tag", store.DeviceQuery{Text: "d-2", Tag: "lab", Limit: 2, Scan: 2}, []string{"d-21", "d-24", "d-27"}},
		{"text-windows-with-status", store.DeviceQuery{Text: "d-1", Status: store.StatusActive, Limit: 1, Scan: 2}, []string{"d-13", "d-17"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, queryAll(t, s, tt.q)); diff != "" {
				t.Errorf("IDs across pages (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("last-page-has-no-cursor", func(t *testing.T) {
		_, next, err := s.QueryDevices(context.Background(), store.DeviceQuery{Limit: 10, After: all[19]})
		if err != nil || next != "" {
			t.Errorf("exactly full last page: next %q, %v (want no cursor)", next, err)
		}
		_, next, err = s.QueryDevices(context.Background(), store.DeviceQuery{Limit: 10, After: all[18]})
		if err != nil || next != all[28] {
			t.Errorf("page before the last: next %q, %v (want %s)", next, err, all[28])
		}
	})
	t.Run("device-added-behind-cursor", func(t *testing.T) {
		// Keyset paging: a device created before the cursor does not
		// shift the next page, one created after it appears on it.
		ctx := context.Background()
		ds, next, err := s.QueryDevices(ctx, store.DeviceQuery{Limit: 5})
		if err != nil || len(ds) != 5 {
			t.Fatal(ds, err)
		}
		for _, id := range []string{"d-00a", "d-05a"} {
			if err := s.CreateDevice(ctx, store.Device{ID: id, Model: "cam", Firmware: "1", Status: store.StatusPending, CreatedAt: t0, UpdatedAt: t0}); err != nil {
				t.Fatal(err)
			}
		}
		ds, _, err = s.QueryDevices(ctx, store.DeviceQuery{Limit: 2, After: next})
		if got := keysOf(ds, func(d store.Device) string { return d.ID }); err != nil || !cmp.Equal(got, []string{"d-05", "d-05a"}) {
			t.Errorf("next page: %v, %v (want d-05, d-05a)", got, err)
		}
	})
}

func testQueryTextAnyTag(t *testing.T, s store.Store) {
	// The search finds a tag whatever characters it holds, and never
	// matches the way tags are stored (JSON quotes, commas, spaces).
	ctx := context.Background()
	tagged := map[string][]string{
		"a": {"x<y", "Büro 2"}, "b": {`q"uote`, `back\slash`}, "c": {"one", "two"}, "d": {"a,b", "[x]", "&amp"},
	}
	for _, id := range []string{"a", "b", "c", "d"} {
		if err := s.CreateDevice(ctx, store.Device{ID: id, Model: "m", Firmware: "1", Tags: tagged[id], Status: store.StatusPending, CreatedAt: t0, UpdatedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		text string
		want []string
	}{
		{"<y", []string{"a"}}, {"büro 2", []string{"a"}}, {"BüRO", []string{"a"}}, {"ro 2", []string{"a"}}, {`q"u`, []string{"b"}}, {`k\s`, []string{"b"}},
		{"ONE", []string{"c"}}, {`","`, nil}, {`", "`, nil}, {"e,t", nil}, {" ", []string{"a"}}, {"a,b", []string{"d"}}, {"[x]", []string{"d"}},
		{"&amp", []string{"d"}}, {"[", []string{"d"}}, {`"`, []string{"b"}}, {`\`, []string{"b"}},
	}
	for _, tt := range tests {
		ds, _, err := s.QueryDevices(ctx, store.DeviceQuery{Text: tt.text})
		if err != nil {
			t.Fatal(err)
		}
		if got := keysOf(ds, func(d store.Device) string { return d.ID }); !cmp.Equal(got, tt.want) {
			t.Errorf("search %q: %v, want %v", tt.text, got, tt.want)
		}
	}
}

func testQuerySearchWindow(t *testing.T, s store.Store) {
	// One call of a search reads at most Scan devices: a window without
	// a match answers no device and the window's end as the cursor.
	queryFleet(t, s)
	ctx := context.Background()
	ds, next, err := s.QueryDevices(ctx, store.DeviceQuery{Text: "zzz", Limit: 2, Scan: 10})
	if err != nil || len(ds) != 0 || next != "d-09" {
		t.Fatalf("first window: %d devices, next %q, %v (want none, d-09)", len(ds), next, err)
	}
	ds, next, err = s.QueryDevices(ctx, store.DeviceQuery{Text: "zzz", Limit: 2, Scan: 10, After: "d-19"})
	if err != nil || len(ds) != 0 || next != "d-29" {
		t.Fatalf("last full window: %d devices, next %q, %v (want none, d-29)", len(ds), next, err)
	}
	ds, next, err = s.QueryDevices(ctx, store.DeviceQuery{Text: "zzz", Limit: 2, Scan: 10, After: "d-25"})
	if err != nil || len(ds) != 0 || next != "" {
		t.Fatalf("short last window: %d devices, next %q, %v (want none, no cursor)", len(ds), next, err)
	}
	// A page that fills inside its window ends at its last device.
	ds, next, err = s.QueryDevices(ctx, store.DeviceQuery{Text: "d-0", Limit: 2, Scan: 10})
	if err != nil || len(ds) != 2 || next != "d-01" {
		t.Fatalf("full page: %d devices, next %q, %v (want 2, d-01)", len(ds), next, err)
	}
}

func testQueryEmpty(t *testing.T, s store.Store) {
	for _, q := range []store.DeviceQuery{{}, {Limit: 1}, {Tag: "x"}, {Text: "x"}, {IDs: []string{"a"}}, {After: "z"}} {
		ds, next, err := s.QueryDevices(context.Background(), q)
		if err != nil || len(ds) != 0 || next != "" {
			t.Errorf("empty store, query %+v: %d devices, next %q, %v", q, len(ds), next, err)
		}
	}
}

func testQueryTagsFollowUpdates(t *testing.T, s store.Store) {
	ctx := context.Background()
	if err := s.CreateDevice(ctx, store.Device{ID: "d", Model: "m", Firmware: "1", Tags: []string{"old", "keep", "old"}, Status: store.StatusPending, CreatedAt: t0, UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateDevice(ctx, "d", func(d *store.Device) error { d.Tags = []string{"keep", "new"}; return nil }); err != nil {
		t.Fatal(err)
	}
	for tag, want := range map[string]int{"old": 0, "keep": 1, "new": 1} {
		if ds, _, err := s.QueryDevices(ctx, store.DeviceQuery{Tag: tag}); err != nil || len(ds) != want {
			t.Errorf("tag %q after update: %d devices, %v (want %d)", tag, len(ds), err, want)
		}
	}
	// A refused update leaves the tag rows as they were.
	boom := errors.New("boom")
	if _, err := s.UpdateDevice(ctx, "d", func(d *store.Device) error { d.Tags = []string{"gone"}; return boom }); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if ds, _, err := s.QueryDevices(ctx, store.DeviceQuery{Tag: "gone"}); err != nil || len(ds) != 0 {
		t.Errorf("tag of a refused update: %d devices, %v", len(ds), err)
	}
	// A duplicate create writes no tag rows.
	if err := s.CreateDevice(ctx, store.Device{ID: "d", Model: "m", Firmware: "1", Tags: []string{"dup"}, Status: store.StatusPending}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate create: %v", err)
	}
	if ds, _, err := s.QueryDevices(ctx, store.DeviceQuery{Tag: "dup"}); err != nil || len(ds) != 0 {
		t.Errorf("tag of a refused create: %d devices, %v", len(ds), err)
	}
}

func testQueryInvalid(t *testing.T, s store.Store) {
	long := string(make([]byte, store.MaxDeviceQueryText+1))
	tests := []struct {
		name string
		q    store.DeviceQuery
	}{
		{"negative-limit", store.DeviceQuery{Limit: -1}},
		{"limit-too-large", store.DeviceQuery{Limit: store.MaxDeviceQueryLimit + 1}},
		{"unknown-status", store.DeviceQuery{Status: "sleeping"}},
		{"long-text", store.DeviceQuery{Text: long}},
		{"long-after", store.DeviceQuery{After: long}},
		{"too-many-ids", store.DeviceQuery{IDs: make([]string, store.MaxDeviceQueryIDs+1)}},
		{"scan-below-limit", store.DeviceQuery{Text: "x", Limit: 10, Scan: 9}},
		{"negative-scan", store.DeviceQuery{Scan: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := s.QueryDevices(context.Background(), tt.q); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("got %v, want ErrInvalid", err)
			}
		})
	}
}

func testQueryConcurrent(t *testing.T, s store.Store) {
	// Readers page through the fleet while a writer adds devices and
	// retags existing ones: every page is ordered, no device appears
	// twice, and every device that existed throughout is seen.
	ctx := context.Background()
	fleet := queryFleet(t, s)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			id := fmt.Sprintf("n-%03d", i)
			if err := s.CreateDevice(ctx, store.Device{ID: id, Model: "cam", Firmware: "1", Tags: []string{"new"}, Status: store.StatusPending, CreatedAt: t0, UpdatedAt: t0}); err != nil {
				t.Error(err)
				return
			}
			if _, err := s.UpdateDevice(ctx, fleet[i%len(fleet)].ID, func(d *store.Device) error { d.Tags = append(d.Tags, "x"); return nil }); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var readers sync.WaitGroup
	for range 4 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for range 5 {
				var seen []string
				q := store.DeviceQuery{Limit: 4}
				for {
					ds, next, err := s.QueryDevices(ctx, q)
					if err != nil {
						t.Error(err)
						return
					}
					for _, d := range ds {
						seen = append(seen, d.ID)
					}
					if next == "" {
						break
					}
					q.After = next
				}
				if !slices.IsSorted(seen) || len(slices.Compact(slices.Clone(seen))) != len(seen) {
					t.Errorf("pages not strictly ordered: %v", seen)
				}
				for _, d := range fleet {
					if !slices.Contains(seen, d.ID) {
						t.Errorf("device %s missing from a paged read", d.ID)
					}
				}
			}
		}()
	}
	readers.Wait()
	close(stop)
	wg.Wait()
}

func testListDeviceCertificates(t *testing.T, s store.Store) {
	ctx := context.Background()
	for i, c := range []struct{ serial, dev string }{{"01", "a"}, {"02", "b"}, {"03", "a"}, {"04", "c"}, {"05", ""}} {
		if err := s.PutCertificate(ctx, store.Certificate{Serial: c.serial, DeviceID: c.dev, Subject: "CN=" + c.dev, Kind: "device",
			NotBefore: t0, NotAfter: t0.Add(time.Hour), Fingerprint: "f", DER: []byte{1}, IssuedAt: t0.Add(time.Duration(i) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		ids  []string
		want []string
	}{
		{"page", []string{"a", "c"}, []string{"04", "03", "01"}},
		{"unknown", []string{"zz"}, nil},
		{"none", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs, err := s.ListDeviceCertificates(ctx, tt.ids)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, keysOf(cs, func(c store.Certificate) string { return c.Serial })); diff != "" {
				t.Errorf("serials (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := s.ListDeviceCertificates(ctx, make([]string, store.MaxDeviceQueryIDs+1)); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("too many devices: %v, want ErrInvalid", err)
	}
}

func testSoonestExpiryByModel(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, d := range []struct{ id, model string }{{"a1", "cam"}, {"a2", "cam"}, {"b1", "th1"}, {"c1", "old"}} {
		if err := s.CreateDevice(ctx, store.Device{ID: d.id, Model: d.model, Firmware: "1", Status: store.StatusActive, CreatedAt: t0, UpdatedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	certs := []struct {
		serial, dev, kind string
		notAfter          time.Duration
		revoked           bool
	}{
		{"01", "a1", "device", 48 * time.Hour, false},
		{"02", "a2", "device", 24 * time.Hour, false}, // cam's soonest
		{"03", "a2", "device", time.Hour, true},       // revoked: not counted
		{"04", "b1", "device", 72 * time.Hour, false}, // th1's only one
		{"05", "c1", "device", -time.Hour, false},     // expired: model old has none valid
		{"06", "a1", "server", time.Minute, false},    // not a device certificate
	}
	for _, c := range certs {
		if err := s.PutCertificate(ctx, store.Certificate{Serial: c.serial, DeviceID: c.dev, Subject: "CN=" + c.dev, Kind: c.kind,
			NotBefore: t0.Add(-48 * time.Hour), NotAfter: t0.Add(c.notAfter), Fingerprint: "f", DER: []byte{1}, IssuedAt: t0.Add(-48 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if c.revoked {
			if err := s.RevokeCertificate(ctx, c.serial, "keyCompromise", t0); err != nil {
				t.Fatal(err)
			}
		}
	}
	got, err := s.SoonestExpiryByModel(ctx, t0)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.ModelExpiry{{Model: "cam", NotAfter: t0.Add(24 * time.Hour)}, {Model: "th1", NotAfter: t0.Add(72 * time.Hour)}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("soonest expiry by model (-want +got):\n%s", diff)
	}
}
