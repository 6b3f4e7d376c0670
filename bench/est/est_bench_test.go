// Package estbench benchmarks EST enrollment (RFC 7030 simpleenroll)
// against the real server started in-process, so that a CPU profile covers
// Ward's whole enrollment path: TLS, HTTP, token check, CSR check, signing
// and the SQLite writes.
//
//	go test -run '^$' -bench . -benchtime 3000x -cpuprofile /tmp/est.prof ./bench/est/
//	go tool pprof -top /tmp/est.prof
package estbench

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/wardproject/ward/bench/internal/inproc"
)

func BenchmarkSimpleEnroll(b *testing.B) { benchEnroll(b, true) }

func BenchmarkSimpleEnrollNewConn(b *testing.B) { benchEnroll(b, false) }

// benchEnroll enrolls b.N devices registered beforehand, from 16 goroutines
// per GOMAXPROCS, over keep-alive connections or a new TLS connection per
// enrollment.
func benchEnroll(b *testing.B, keepAlive bool) {
	ctx := context.Background()
	w := inproc.Start(b)
	devs := make([]inproc.Device, b.N)
	for i := range devs {
		var err error
		if devs[i], err = w.Prepare(ctx, benchID(keepAlive, i)); err != nil {
			b.Fatal(err)
		}
	}
	tr := w.Transport(keepAlive, 64)
	defer tr.CloseIdleConnections()
	c := w.ESTClient(tr)
	var next atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			d := devs[next.Add(1)-1]
			if _, err := c.Enroll(ctx, d.ID, d.Token, d.CSR); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "enrollments/s")
}

func benchID(keepAlive bool, i int) string {
	if keepAlive {
		return fmt.Sprintf("ka-%d", i)
	}
	return fmt.Sprintf("nc-%d", i)
}
