package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wardproject/ward/internal/store"
)

// TestPresence is the conformance suite of store.Presence.
func TestPresence(t *testing.T, open func(t *testing.T) store.Store) {
	runAll(t, open, []subtest{
		{"report-count-list", testPresenceReport},
		{"silent-nodes-stop-counting-then-forgotten", testPresenceExpiry},
		{"keyset-pages", testPresencePages},
		{"refused-batch-changes-nothing", testPresenceRefused},
		{"concurrent-nodes", testPresenceConcurrent},
		{"addresses-over-live-nodes", testPresenceAddresses},
	})
}

// manyAddrs returns n distinct IPv4 addresses.
func manyAddrs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("192.0.2.%d", i+1)
	}
	return out
}

// testPresenceAddresses: each device's addresses merge over the live
// nodes, sorted and without duplicates; a report replaces a node's
// addresses; the last session's end, a silent node and RemoveNode drop
// them; ListPresence shows each node's.
func testPresenceAddresses(t *testing.T, s store.Store) {
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.ReportPresence(ctx, "a", t0, []store.DevicePresence{
		{DeviceID: "d1", Sessions: 2, Addrs: []string{"192.0.2.9", "2001:db8::1"}},
		{DeviceID: "d2", Sessions: 1, Addrs: []string{"192.0.2.2"}},
		{DeviceID: "d3", Sessions: 1}, // no address known: absent
	}))
	must(s.ReportPresence(ctx, "b", t0, []store.DevicePresence{{DeviceID: "d1", Sessions: 1, Addrs: []string{"192.0.2.9", "10.0.0.1"}}}))
	got, err := s.ConnectedAddresses(ctx, t0)
	must(err)
	want := map[string][]string{"d1": {"10.0.0.1", "192.0.2.9", "2001:db8::1"}, "d2": {"192.0.2.2"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("ConnectedAddresses (-want +got):\n%s", d)
	}
	rows, err := s.ListPresence(ctx, "d1", t0)
	must(err)
	if d := cmp.Diff([][]string{{"192.0.2.9", "2001:db8::1"}, {"192.0.2.9", "10.0.0.1"}}, [][]string{rows[0].Addrs, rows[1].Addrs}); len(rows) != 2 || d != "" {
		t.Fatalf("ListPresence addresses of d1 (-want +got):\n%s", d)
	}
	// a's d1 moves to another address; d2's session ends; b goes silent.
	must(s.ReportPresence(ctx, "a", t0.Add(30e9), []store.DevicePresence{
		{DeviceID: "d1", Sessions: 1, Addrs: []string{"192.0.2.10"}}, pres("d2", 0)}))
	got, err = s.ConnectedAddresses(ctx, t0.Add(15e9))
	must(err)
	if d := cmp.Diff(map[string][]string{"d1": {"192.0.2.10"}}, got); d != "" {
		t.Fatalf("ConnectedAddresses after the changes, without silent b (-want +got):\n%s", d)
	}
	must(s.RemoveNode(ctx, "a"))
	got, err = s.ConnectedAddresses(ctx, time.Time{})
	must(err)
	if d := cmp.Diff(map[string][]string{"d1": {"10.0.0.1", "192.0.2.9"}}, got); d != "" {
		t.Fatalf("ConnectedAddresses after a left, b's rows kept (-want +got):\n%s", d)
	}
}

func pres(id string, n int) store.DevicePresence {
	return store.DevicePresence{DeviceID: id, Sessions: n}
}

// testPresenceReport: counts sum over nodes, a count changes in place
// keeping Since, 0 removes the row, RemoveNode removes a node's rows.
func testPresenceReport(t *testing.T, s store.Store) {
	ctx := context.Background()
	if err := s.ReportPresence(ctx, "a", t0, []store.DevicePresence{pres("d1", 1), pres("d2", 2)}); err != nil {
		t.Fatal(err)
	}
	if err := s.ReportPresence(ctx, "b", t0.Add(1), []store.DevicePresence{pres("d1", 3)}); err != nil {
		t.Fatal(err)
	}
	counts, err := s.ConnectedCounts(ctx, []string{"d1", "d2", "d3"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(map[string]int{"d1": 4, "d2": 2}, counts); d != "" {
		t.Fatalf("ConnectedCounts (-want +got):\n%s", d)
	}
	// a's count of d1 changes later: Since stays the first report's.
	if err := s.ReportPresence(ctx, "a", t0.Add(10), []store.DevicePresence{pres("d1", 2)}); err != nil {
		t.Fatal(err)
	}
	rows, err := s.ListPresence(ctx, "d1", t0)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.DevicePresence{{DeviceID: "d1", Node: "a", Sessions: 2, Since: t0}, {DeviceID: "d1", Node: "b", Sessions: 3, Since: t0.Add(1)}}
	if d := cmp.Diff(want, rows); d != "" {
		t.Fatalf("ListPresence (-want +got):\n%s", d)
	}
	if n, err := s.CountConnected(ctx, t0); err != nil || n != 2 {
		t.Fatalf("CountConnected = %d, %v; want 2", n, err)
	}
	// 0 removes a's row of d2: d2 is no longer connected.
	if err := s.ReportPresence(ctx, "a", t0.Add(20), []store.DevicePresence{pres("d2", 0)}); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.CountConnected(ctx, t0); n != 1 {
		t.Fatalf("CountConnected after d2's last session = %d, want 1", n)
	}
	// Node b leaves cleanly: only a's sessions of d1 count.
	if err := s.RemoveNode(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveNode(ctx, "never-was"); err != nil {
		t.Fatalf("RemoveNode of an unknown node: %v", err)
	}
	counts, _ = s.ConnectedCounts(ctx, []string{"d1"}, t0)
	if counts["d1"] != 2 {
		t.Fatalf("d1 after node b left: %d sessions, want 2", counts["d1"])
	}
	if counts, err := s.ConnectedCounts(ctx, nil, t0); err != nil || len(counts) != 0 {
		t.Fatalf("ConnectedCounts(nil) = %v, %v; want empty", counts, err)
	}
}

// testPresenceExpiry: a node that stops heartbeating stops counting for a
// reader whose alive bound is past its last heartbeat; a heartbeat alone
// (nil changes) keeps a node's rows counting; ForgetNodes deletes the
// silent node and its rows only.
func testPresenceExpiry(t *testing.T, s store.Store) {
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.ReportPresence(ctx, "live", t0, []store.DevicePresence{pres("d1", 1)}))
	must(s.ReportPresence(ctx, "dead", t0, []store.DevicePresence{pres("d1", 1), pres("d2", 1)}))
	must(s.ReportPresence(ctx, "live", t0.Add(30e9), nil)) // heartbeat only
	alive := t0.Add(15e9)
	counts, err := s.ConnectedCounts(ctx, []string{"d1", "d2"}, alive)
	must(err)
	if d := cmp.Diff(map[string]int{"d1": 1}, counts); d != "" {
		t.Fatalf("counts without the silent node (-want +got):\n%s", d)
	}
	ids, err := s.ConnectedDevices(ctx, "", 10, alive)
	must(err)
	if d := cmp.Diff([]string{"d1"}, ids); d != "" {
		t.Fatalf("ConnectedDevices without the silent node (-want +got):\n%s", d)
	}
	if rows, _ := s.ListPresence(ctx, "d2", alive); len(rows) != 0 {
		t.Fatalf("ListPresence of d2 shows the silent node: %v", rows)
	}
	n, err := s.ForgetNodes(ctx, alive)
	must(err)
	if n != 1 {
		t.Fatalf("ForgetNodes = %d, want 1 (the silent node)", n)
	}
	// Even with no alive bound, the forgotten node's rows are gone.
	if rows, _ := s.ListPresence(ctx, "d2", t0.Add(-1)); len(rows) != 0 {
		t.Fatalf("rows of a forgotten node remain: %v", rows)
	}
	if n, _ := s.CountConnected(ctx, t0.Add(-1)); n != 1 {
		t.Fatalf("CountConnected after forgetting = %d, want 1", n)
	}
}

// testPresencePages: ConnectedDevices pages in ID order from after, each
// device once however many nodes hold it, and refuses a bad limit.
func testPresencePages(t *testing.T, s store.Store) {
	ctx := context.Background()
	var all []string
	var a, b []store.DevicePresence
	for i := range 25 {
		id := fmt.Sprintf("dev-%02d", i)
		all = append(all, id)
		a = append(a, pres(id, 1))
		if i%2 == 0 {
			b = append(b, pres(id, 1))
		}
	}
	if err := s.ReportPresence(ctx, "a", t0, a); err != nil {
		t.Fatal(err)
	}
	if err := s.ReportPresence(ctx, "b", t0, b); err != nil {
		t.Fatal(err)
	}
	var got []string
	after := ""
	for {
		page, err := s.ConnectedDevices(ctx, after, 10, t0)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		if len(page) > 10 {
			t.Fatalf("page of %d, limit 10", len(page))
		}
		got = append(got, page...)
		after = page[len(page)-1]
	}
	if d := cmp.Diff(all, got); d != "" {
		t.Fatalf("pages (-want +got):\n%s", d)
	}
	for _, limit := range []int{0, -1, store.MaxDeviceQueryIDs + 1} {
		if _, err := s.ConnectedDevices(ctx, "", limit, t0); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("ConnectedDevices limit %d: %v, want ErrInvalid", limit, err)
		}
	}
	if _, err := s.ConnectedCounts(ctx, make([]string, store.MaxDeviceQueryIDs+1), t0); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("ConnectedCounts of too many IDs: %v, want ErrInvalid", err)
	}
}

// testPresenceRefused: a batch with one bad change is refused whole, and
// leaves the node's previous rows and heartbeat as they were.
func testPresenceRefused(t *testing.T, s store.Store) {
	ctx := context.Background()
	if err := s.ReportPresence(ctx, "a", t0, []store.DevicePresence{pres("d1", 1)}); err != nil {
		t.Fatal(err)
	}
	for name, changes := range map[string][]store.DevicePresence{
		"negative":        {pres("d2", 1), pres("d1", -1)},
		"empty-id":        {pres("d2", 1), pres("", 1)},
		"too-many":        make([]store.DevicePresence, store.MaxPresenceBatch+1),
		"empty-node":      nil,
		"not-an-ip":       {pres("d2", 1), {DeviceID: "d1", Sessions: 1, Addrs: []string{"192.0.2.1 x"}}},
		"ip-unnormalised": {{DeviceID: "d1", Sessions: 1, Addrs: []string{"2001:DB8::1"}}},
		"too-many-addrs":  {{DeviceID: "d1", Sessions: 1, Addrs: manyAddrs(store.MaxPresenceAddrs + 1)}},
	} {
		node := "a"
		if name == "empty-node" {
			node = ""
		}
		if err := s.ReportPresence(ctx, node, t0.Add(60e9), changes); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: ReportPresence = %v, want ErrInvalid", name, err)
		}
	}
	counts, err := s.ConnectedCounts(ctx, []string{"d1", "d2"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(map[string]int{"d1": 1}, counts); d != "" {
		t.Fatalf("after refused batches (-want +got):\n%s", d)
	}
	// The refused batches did not heartbeat either.
	if counts, _ := s.ConnectedCounts(ctx, []string{"d1"}, t0.Add(1)); len(counts) != 0 {
		t.Fatalf("a refused batch counted as a heartbeat: %v", counts)
	}
}

// testPresenceConcurrent: nodes reporting at once each keep their rows.
func testPresenceConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	var wg sync.WaitGroup
	for n := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			node := fmt.Sprintf("node-%d", n)
			for i := range 10 {
				if err := s.ReportPresence(ctx, node, t0.Add(time.Duration(i)), []store.DevicePresence{pres(fmt.Sprintf("d%d", i%3), i+1)}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	counts, err := s.ConnectedCounts(ctx, []string{"d0", "d1", "d2"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	// Each node's last report of d0, d1, d2 was i = 9, 7, 8.
	if d := cmp.Diff(map[string]int{"d0": 40, "d1": 32, "d2": 36}, counts); d != "" {
		t.Fatalf("counts (-want +got):\n%s", d)
	}
}
