package server

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/fleet"
)

// listedIDs pages through GET /api/v1/devices?connected=... one device at
// a time (limit=1), following the Link header to the end.
func (w *ward) listedIDs(t *testing.T, connected, extra string) []string {
	t.Helper()
	var ids []string
	path := "/api/v1/devices?limit=1&connected=" + connected + extra
	for pages := 0; path != ""; pages++ {
		if pages > 10 {
			t.Fatal("more than 10 pages of 1 for 4 devices")
		}
		var page []fleet.View
		next, err := w.api.GetPage(context.Background(), path, &page)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 1 {
			t.Fatalf("page of %d for limit=1", len(page))
		}
		for _, v := range page {
			ids = append(ids, v.ID)
			if (v.Connected > 0) != (connected == "true") {
				t.Errorf("%s listed under connected=%s with %d sessions", v.ID, connected, v.Connected)
			}
		}
		path = next
	}
	return ids
}

// TestDeviceListConnectedFilter: connected=true lists exactly the devices
// with a live MQTT session on the gateway, connected=false the others,
// across pages, alone or with other filters; a disconnection moves a device from one list to the other.
func TestDeviceListConnectedFilter(t *testing.T) {
	w := start(t, t.TempDir())
	a, c := w.enroll(t, "cam-a"), w.enroll(t, "cam-c")
	w.enroll(t, "cam-b")
	w.enroll(t, "cam-d")
	// The gateway registers a session before it sends CONNACK: once
	// connect returns, the device is connected.
	ca, err := w.connect(&a, "cam-a", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Disconnect(0)
	cc, err := w.connect(&c, "cam-c", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := w.listedIDs(t, "true", ""); !slices.Equal(got, []string{"cam-a", "cam-c"}) {
		t.Errorf("connected=true: %v, want [cam-a cam-c]", got)
	}
	if got := w.listedIDs(t, "false", ""); !slices.Equal(got, []string{"cam-b", "cam-d"}) {
		t.Errorf("connected=false: %v, want [cam-b cam-d]", got)
	}
	// With another filter the store drives and the gateway's state filters.
	if got := w.listedIDs(t, "true", "&model=acme-th1&q=cam"); !slices.Equal(got, []string{"cam-a", "cam-c"}) {
		t.Errorf("connected=true&model=acme-th1&q=cam: %v, want [cam-a cam-c]", got)
	}
	// The session ends on the server after the client's DISCONNECT:
	// nothing to wait on from outside but the gateway's state.
	cc.Disconnect(0)
	deadline := time.Now().Add(wait)
	for w.srv.gw.Connected("cam-c") > 0 {
		if time.Now().After(deadline) {
			t.Fatal("cam-c still connected after DISCONNECT")
		}
		time.Sleep(10 * time.Millisecond) // polling the gateway
	}
	if got := w.listedIDs(t, "true", ""); !slices.Equal(got, []string{"cam-a"}) {
		t.Errorf("connected=true after cam-c left: %v, want [cam-a]", got)
	}
	if got := w.listedIDs(t, "false", ""); !slices.Equal(got, []string{"cam-b", "cam-c", "cam-d"}) {
		t.Errorf("connected=false after cam-c left: %v, want [cam-b cam-c cam-d]", got)
	}
}
