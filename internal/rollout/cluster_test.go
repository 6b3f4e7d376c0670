package rollout

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wardproject/ward/internal/alert"
	"github.com/wardproject/ward/internal/bus"
	natsbus "github.com/wardproject/ward/internal/bus/nats"
	"github.com/wardproject/ward/internal/gwevent"
	"github.com/wardproject/ward/internal/presence"
	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/update"
	"github.com/wardproject/ward/internal/wardtest"
)

// clusterEngine returns an engine of a cluster node on the NATS server at
// url (a namespace of its own) with a fresh SQLite store, opts filling
// in the rest, and its metrics.
func clusterEngine(t *testing.T, url string, opts Options) (*Engine, store.Store, *prometheus.Registry) {
	t.Helper()
	rb := make([]byte, 4)
	rand.Read(rb)
	ns := fmt.Sprintf("wardtest%x", rb)
	t.Cleanup(func() { wardtest.DeleteNATSStream(t, url, ns+"_queues") })
	b, err := natsbus.New(natsbus.Options{URL: url, Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	db := wardtest.SQLite(t)
	reg := prometheus.NewRegistry()
	opts.Store, opts.Releases, opts.Audit, opts.Bus = db, TUFReleases{Dir: t.TempDir()}, db, b
	opts.Sessions, opts.Metrics = presence.NewDirectory(db, 0, nil), reg
	e, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return e, db, reg
}

// TestForwardOnlyWhileLive: on a cluster, a node forwards device
// observations only while the store holds a live rollout (so the whole
// fleet's connections do not cross the bus for nothing), and alerts
// always.
func TestForwardOnlyWhileLive(t *testing.T) {
	e, db, _ := clusterEngine(t, wardtest.NATS(t), Options{})
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

// TestStatusReportRefusedWhenQueueFull: on a cluster node whose queue for
// the bus is full (the bus unreachable, Forward not taking), a device's
// status report offered before its acknowledgement (HoldPublish) is
// refused, so that the gateway refuses it to the device, never dropped;
// a connection past the bound is still dropped and counted (the device's
// next report or connection recovers it). With room again, the report
// is taken.
func TestStatusReportRefusedWhenQueueFull(t *testing.T) {
	e, _, reg := clusterEngine(t, wardtest.NATS(t), Options{QueueSize: 1})
	status := gwevent.Event{Kind: gwevent.Published, Device: "th-1", Topic: update.StatusTopic("th-1"), Payload: []byte(`{"state":"installed"}`)}
	other := gwevent.Event{Kind: gwevent.Published, Device: "th-1", Topic: "devices/th-1/telemetry", Payload: []byte("21.5")}
	conn := gwevent.Event{Kind: gwevent.Connected, Device: "th-1"}

	if !e.HoldPublish(status) {
		t.Fatal("a status report was refused with room in the queue")
	}
	for _, tc := range []struct {
		name string
		ev   gwevent.Event
		want bool
	}{
		{"status report", status, false},
		{"publish on another topic", other, true}, // not the engine's: nothing to hold
	} {
		if got := e.HoldPublish(tc.ev); got != tc.want {
			t.Errorf("%s with the queue full: HoldPublish %v, want %v", tc.name, got, tc.want)
		}
	}
	e.Observe(conn)
	if got := wardtest.Counter(t, reg, "ward_rollout_reports_refused_total", "", ""); got != 1 {
		t.Errorf("ward_rollout_reports_refused_total = %v, want 1", got)
	}
	if got := wardtest.Counter(t, reg, "ward_rollout_dropped_total", "", ""); got != 1 {
		t.Errorf("ward_rollout_dropped_total = %v, want 1 (the connection, not the report)", got)
	}
	if n := len(e.fwd); n != 1 {
		t.Errorf("%d inputs queued, want the first report", n)
	}

	// Forward takes the queued input: the report is taken again.
	<-e.fwd
	if !e.HoldPublish(status) {
		t.Error("a status report refused with room in the queue again")
	}
}

// logRecords is a slog handler that keeps its records for the test.
type logRecords struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (l *logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecords) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r)
	return nil
}
func (l *logRecords) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecords) WithGroup(string) slog.Handler      { return l }

// attr returns the value of key in the last record logged at level.
func (l *logRecords) attr(level slog.Level, key string) (slog.Value, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.recs) - 1; i >= 0; i-- {
		if l.recs[i].Level != level {
			continue
		}
		var v slog.Value
		found := false
		l.recs[i].Attrs(func(a slog.Attr) bool {
			if a.Key == key {
				v, found = a.Value, true
				return false
			}
			return true
		})
		return v, found
	}
	return slog.Value{}, false
}

// TestForwardHandsHeldInputsOverOnStop: a node that stops while it holds
// inputs for the bus (NATS was down; Forward never got to them) hands
// them to the bus before Forward returns, in order, and logs how many;
// with the bus still down it gives up within StopTimeout and logs how
// many were left.
func TestForwardHandsHeldInputsOverOnStop(t *testing.T) {
	nats := wardtest.StartNATS(t)
	logs := &logRecords{}
	e, _, reg := clusterEngine(t, nats.URL(), Options{StopTimeout: 500 * time.Millisecond, Logger: slog.New(logs)})
	ctx := context.Background()
	if err := e.opts.Bus.DeclareGroup(ctx, InputsQueue, InputsGroup); err != nil {
		t.Fatal(err)
	}
	alerts := []string{"al-1", "al-2", "al-3"}
	raise := func(ids ...string) {
		for _, id := range ids {
			e.AlertChanged(alert.Notification{Change: alert.Raised, Alert: alert.Alert{ID: id, Device: "th-1", Rule: "r", Severity: alert.High}})
		}
	}
	stopped, stop := context.WithCancel(ctx)
	stop()

	// The bus is up: everything held reaches it.
	raise(alerts...)
	if err := e.Forward(stopped); err != nil {
		t.Fatal(err)
	}
	if v, ok := logs.attr(slog.LevelInfo, "inputs"); !ok || v.Int64() != 3 {
		t.Errorf("logged %v inputs handed to the bus on stopping, want 3", v)
	}
	if got := wardtest.Gauge(t, reg, "ward_rollout_forward_queued", "", ""); got != 0 {
		t.Errorf("ward_rollout_forward_queued = %v after handing everything over", got)
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var got []string
	err := e.opts.Bus.Consume(cctx, InputsQueue, InputsGroup, func(_ context.Context, m bus.Message) error {
		in, err := DecodeInput(m.Data)
		if err != nil {
			return err
		}
		got = append(got, in.Alert.Alert.ID)
		if len(got) == len(alerts) {
			cancel()
		}
		return nil
	})
	if err != nil && cctx.Err() == nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, alerts) {
		t.Errorf("the bus got %v from the stopping node, want %v in order", got, alerts)
	}

	// The bus is down: Forward gives up within its bound and says so.
	nats.Stop()
	t.Cleanup(nats.Start) // before the namespace's stream is deleted
	raise("al-4", "al-5")
	start := time.Now()
	if err := e.Forward(stopped); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("stopping with the bus down took %s, StopTimeout is 500ms", took)
	}
	if v, ok := logs.attr(slog.LevelError, "left"); !ok || v.Int64() != 2 {
		t.Errorf("logged %v inputs left on stopping with the bus down, want 2", v)
	}
}
