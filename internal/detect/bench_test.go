package detect

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/alert"
	"github.com/wardproject/ward/internal/gwevent"
	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/store/sqlite"
)

// BenchmarkObserve is the per-event cost at the gateway: one publish
// observation into the collector (10,000 devices).
//
//	go test -run '^$' -bench Observe -cpu 1 ./internal/detect/
func BenchmarkObserve(b *testing.B) {
	c := NewCollector()
	ids := make([]string, 10000)
	for i := range ids {
		ids[i] = fmt.Sprintf("dev-%d", i)
	}
	payload := []byte(`{"t":21.5,"h":40,"seq":1234}`)
	now := time.Now()
	b.ResetTimer()
	for i := range b.N {
		id := ids[i%len(ids)]
		c.Observe(gwevent.Event{Kind: gwevent.Published, Device: id, Topic: "devices/" + id + "/telemetry", Bytes: len(payload), Payload: payload, Time: now})
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkPipeline is events through the whole detection path on one
// core: observations into the collector, then the window close that builds
// the datapoints, stores them in SQLite and evaluates the default profile's
// rules and the learned baseline. One iteration is one window of 1,000
// devices x 20 events.
//
//	go test -run '^$' -bench Pipeline -cpu 1 -benchtime 50x ./internal/detect/
func BenchmarkPipeline(b *testing.B) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "ward.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	const devices, perDevice = 1000, 20
	now := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	ids := make([]string, devices)
	for i := range ids {
		ids[i] = fmt.Sprintf("dev-%d", i)
		db.CreateDevice(ctx, store.Device{ID: ids[i], Model: []string{"a", "b", "c"}[i%3], Status: store.StatusActive})
	}
	am, _ := alert.NewManager(ctx, alert.Options{Store: db})
	col := NewCollector()
	eng, err := New(ctx, Options{Collector: col, Store: db, Alerts: am, Window: 10 * time.Second, Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	payload := []byte(`{"t":21.5,"h":40,"seq":1234}`)
	b.ResetTimer()
	for range b.N {
		for _, id := range ids {
			for j := range perDevice {
				k := gwevent.Published
				if j == 0 {
					k = gwevent.Delivered
				}
				col.Observe(gwevent.Event{Kind: k, Device: id, Topic: "devices/" + id + "/telemetry", Bytes: len(payload), Payload: payload, Time: now})
			}
		}
		now = now.Add(10 * time.Second)
		if err := eng.CloseWindow(ctx, now); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*devices*perDevice)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(b.N*devices)/b.Elapsed().Seconds(), "datapoints/s")
}
