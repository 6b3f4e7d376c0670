package detect

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wardproject/ward/internal/alert"
	"github.com/wardproject/ward/internal/bus"
	natsbus "github.com/wardproject/ward/internal/bus/nats"
	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/store/postgres"
	"github.com/wardproject/ward/internal/wardtest"
)

// benchPostgres opens the test PostgreSQL in a fresh schema, dropped at
// the end.
func benchPostgres(b *testing.B) *postgres.DB {
	b.Helper()
	dsn := wardtest.Postgres(b)
	schema := lower("ward_bench_" + rand.Text()[:10])
	ctx := context.Background()
	db, err := postgres.Open(ctx, dsn, postgres.Options{Schema: schema})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		db.Close()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			b.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`)
	})
	return db
}

func lower(s string) string {
	out := []byte(s)
	for i, c := range out {
		if c >= 'A' && c <= 'Z' {
			out[i] = c + 'a' - 'A'
		}
	}
	return string(out)
}

// benchDatapoints is one window of n devices as a gateway node ships it:
// a few counters, a source address and two topics each.
func benchDatapoints(prefix string, n int, end time.Time, w time.Duration) []Datapoint {
	dps := make([]Datapoint, n)
	for i := range dps {
		id := fmt.Sprintf("%s%07d", prefix, i)
		dps[i] = Datapoint{Device: id, Start: end.Add(-w), End: end, Window: w,
			Values: map[string]float64{MessagesSent: float64(20 + i%7), BytesSent: float64(800 + i%300), MessagesReceived: 2,
				BytesReceived: 64, MessageSizeMax: 60, ConnectionAttempts: float64(i % 2)},
			Sets: map[string][]string{SourceIPs: {fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)},
				Topics: {"devices/" + id + "/telemetry", "devices/" + id + "/status"}}}
	}
	return dps
}

// BenchmarkIngestPostgres is a detector worker's work per batch: decode,
// check and store one full batch (about 4,000 devices in 512 KiB) in
// PostgreSQL; what the bus adds is in BenchmarkEnqueueConsume
// (internal/bus/nats).
//
//	go test -run '^$' -bench IngestPostgres -benchtime 200x ./internal/detect/
func BenchmarkIngestPostgres(b *testing.B) {
	db := benchPostgres(b)
	in, err := NewIngester(IngesterOptions{Partials: db, DeadLetters: publisherFunc(nil), Window: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	// b.N batches, each a new row: 40,000 devices per window, as many
	// windows as it takes.
	end := time.Date(2026, 11, 25, 0, 1, 0, 0, time.UTC)
	var data [][]byte
	for len(data) < b.N {
		data = append(data, EncodeBatches("node-a", end, time.Minute, benchDatapoints("d", 40000, end, time.Minute), 0)...)
		end = end.Add(time.Minute)
	}
	per := 0
	for _, x := range data[:min(len(data), 10)] {
		bt, _ := DecodeBatch(x)
		per += len(bt.Datapoints)
	}
	per /= min(len(data), 10)
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		if err := in.Handle(ctx, bus.Message{Subject: WindowsQueue, Data: data[i], Delivery: 1}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "batches/s")
	b.ReportMetric(float64(b.N*per)/b.Elapsed().Seconds(), "datapoints/s")
}

type publisherFunc func(ctx context.Context, subject string, data []byte) error

func (f publisherFunc) Publish(ctx context.Context, subject string, data []byte) error {
	if f == nil {
		return nil
	}
	return f(ctx, subject, data)
}

// BenchmarkEvaluate100k is the detect leader's work per window for 100,000
// devices on PostgreSQL, shipped by two gateway nodes (one in ten devices
// with sessions on both): load the batches, merge, evaluate the default
// profile and the baseline, store 100,000 metric windows, delete the
// batches. The store of the batches is not timed.
//
//	go test -run '^$' -bench Evaluate100k -benchtime 3x -timeout 30m ./internal/detect/
func BenchmarkEvaluate100k(b *testing.B) {
	const devices = 100000
	db := benchPostgres(b)
	ctx := context.Background()
	var ds []store.Device
	var toks []store.EnrollToken
	for i := range devices {
		id := fmt.Sprintf("d%07d", i)
		ds = append(ds, store.Device{ID: id, Model: []string{"a", "b", "c"}[i%3], Status: store.StatusActive})
		toks = append(toks, store.EnrollToken{DeviceID: id, Hash: []byte(id)})
		if len(ds) == 5000 {
			if err := db.CreateDevices(ctx, ds, toks); err != nil {
				b.Fatal(err)
			}
			ds, toks = nil, nil
		}
	}
	am, err := alert.NewManager(ctx, alert.Options{Store: db})
	if err != nil {
		b.Fatal(err)
	}
	const w = time.Minute
	e, err := New(ctx, Options{Collector: NewCollector(), Store: db, Partials: db, Alerts: am, Window: w})
	if err != nil {
		b.Fatal(err)
	}
	end := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	var total time.Duration
	for range b.N {
		b.StopTimer()
		end = end.Add(w)
		all := benchDatapoints("d", devices, end, w)
		shipped := map[string][]Datapoint{"node-a": all[:devices/2+devices/20], "node-b": all[devices/2-devices/20:]}
		for node, dps := range shipped {
			for seq, data := range EncodeBatches(node, end, w, dps, 0) {
				bt, _ := DecodeBatch(data)
				if err := db.PutPartialBatch(ctx, store.PartialBatch{Node: node, WindowEnd: end, Seq: seq, Batches: bt.Batches, Data: data}); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.StartTimer()
		began := time.Now()
		if err := e.EvaluatePartials(ctx, end); err != nil {
			b.Fatal(err)
		}
		total += time.Since(began)
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/window")
	b.ReportMetric(float64(devices*b.N)/total.Seconds(), "devices/s")
}

// BenchmarkShipIngestNATS is the whole path of one batch between a
// gateway node and the store: Enqueue on NATS JetStream (file storage),
// two detector workers consuming it, checking it and storing it in
// PostgreSQL, acknowledged. b.N batches of about 5,800 devices each.
//
//	go test -run '^$' -bench ShipIngestNATS -benchtime 200x ./internal/detect/
func BenchmarkShipIngestNATS(b *testing.B) {
	url := wardtest.NATS(b)
	db := benchPostgres(b)
	ns := "bench_" + rand.Text()[:12]
	b.Cleanup(func() { wardtest.DeleteNATSStream(b, url, ns+"_queues") })
	nb, err := natsbus.New(natsbus.Options{URL: url, Namespace: ns})
	if err != nil {
		b.Fatal(err)
	}
	defer nb.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := nb.DeclareGroup(ctx, WindowsQueue, DetectGroup); err != nil {
		b.Fatal(err)
	}
	stored := make(chan struct{}, b.N+16)
	in, err := NewIngester(IngesterOptions{Partials: db, DeadLetters: nb, Window: time.Minute, Stored: func() { stored <- struct{}{} }})
	if err != nil {
		b.Fatal(err)
	}
	end := time.Date(2026, 11, 25, 0, 1, 0, 0, time.UTC)
	var data [][]byte
	for len(data) < b.N {
		data = append(data, EncodeBatches("node-a", end, time.Minute, benchDatapoints("d", 40000, end, time.Minute), 0)...)
		end = end.Add(time.Minute)
	}
	done := make(chan error, 2)
	for range 2 {
		go func() { done <- nb.Consume(ctx, WindowsQueue, DetectGroup, in.Handle) }()
	}
	b.ResetTimer()
	for i := range b.N {
		if err := nb.Enqueue(ctx, WindowsQueue, data[i]); err != nil {
			b.Fatal(err)
		}
	}
	for range b.N {
		select {
		case <-stored:
		case <-time.After(time.Minute):
			b.Fatal("batches not stored within a minute")
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "batches/s")
	b.ReportMetric(float64(b.N)*float64(len(data[0]))/b.Elapsed().Seconds()/(1<<20), "MiB/s")
	cancel()
	for range 2 {
		<-done
	}
}
