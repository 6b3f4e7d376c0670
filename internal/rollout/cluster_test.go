package rollout

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wardproject/ward/internal/alert"
	natsbus "github.com/wardproject/ward/internal/bus/nats"
	"github.com/wardproject/ward/internal/gwevent"
	"github.com/wardproject/ward/internal/presence"
	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/wardtest"
)

// TestForwardOnlyWhileLive: on a cluster, a node forwards device
// observations only while the store holds a live rollout (so the whole
// fleet's connections do not cross the bus for nothing), and alerts
// always.
func TestForwardOnlyWhileLive(t *testing.T) {
	url := wardtest.NATS(t)
	rb := make([]byte, 4)
	rand.Read(rb)
	ns := fmt.Sprintf("wardtest%x", rb)
	t.Cleanup(func() { wardtest.DeleteNATSStream(t, url, ns+"_queues") })
	b, err := natsbus.New(natsbus.Options{URL: url, Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	db := wardtest.SQLite(t)
	e, err := New(Options{Store: db, Releases: TUFReleases{Dir: t.TempDir()}, Audit: db, Bus: b,
		Sessions: presence.NewDirectory(db, 0, nil), Metrics: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn := gwevent.Event{Kind: gwevent.Connected, Device: "th-1"}

	e.checkLive(ctx)
	e.Observe(conn)
	if n := len(e.fwd); n != 0 {
		t.Fatalf("%d inputs forwarded with no rollout in the store, want none", n)
	}
	e.AlertChanged(alert.Notification{Change: alert.Raised, Alert: alert.Alert{ID: "al-1", Device: "th-1", Rule: "r", Severity: alert.High}})
	if n := len(e.fwd); n != 1 {
		t.Fatalf("%d inputs after an alert, want the alert", n)
	}

	now := time.Now().UTC()
	if err := db.CreateRollout(ctx, store.Rollout{ID: "ro-1", Model: "acme-th1", Version: "1.5.0", Waves: []float64{100},
		Status: store.RolloutPaused, WaveStartedAt: now, CreatedBy: "test", CreatedAt: now, UpdatedAt: now},
		[]store.RolloutDevice{{DeviceID: "th-1", State: store.DevicePending, FromVersion: "1.4.2", UpdatedAt: now}}); err != nil {
		t.Fatal(err)
	}
	e.checkLive(ctx)
	e.Observe(conn)
	if n := len(e.fwd); n != 2 {
		t.Fatalf("%d inputs with a paused rollout in the store, want the connection too", n)
	}
}
