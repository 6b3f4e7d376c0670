// Package gatewaybench benchmarks Ward's MQTT gateway inside the real
// server started in-process (mutual TLS, identity, ACL and rate limiters
// on, limits raised so that they never drop), with the same hand-written
// MQTT client as bench/mqttload, so that a CPU profile shows where the
// gateway spends its time per message and per connection.
//
//	go test -run '^$' -bench PublishQoS0 -benchtime 2000000x -cpuprofile /tmp/gw.prof ./bench/gateway/
//	go test -run '^$' -bench Connect -benchtime 3000x -cpuprofile /tmp/hs.prof ./bench/gateway/
//	go tool pprof -top -cum /tmp/gw.prof
package gatewaybench

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wardproject/ward/bench/internal/inproc"
	"github.com/wardproject/ward/bench/internal/mqttwire"
)

// raised lifts the per-device limits for throughput runs (the defaults
// allow 100 messages/s per device, 30 connections per minute, 4 sessions
// per device, 8 handshakes at a time per source address).
var raised = []string{
	"WARD_GATEWAY_MESSAGES_PER_SECOND=1000000000",
	"WARD_GATEWAY_BYTES_PER_SECOND=1000000000000",
	"WARD_GATEWAY_CONNECTS_PER_MINUTE=100000000",
	"WARD_GATEWAY_SESSIONS_PER_DEVICE=1000000",
	"WARD_GATEWAY_HANDSHAKES_PER_ADDRESS=1000000",
	"WARD_GATEWAY_HANDSHAKES_PER_PREFIX=1000000",
}

func enroll(b *testing.B, w *inproc.Ward, n int) (ids []string, cfgs []*tls.Config) {
	b.Helper()
	for i := range n {
		id := fmt.Sprintf("gw-%03d", i)
		cfg, err := w.Enroll(context.Background(), id)
		if err != nil {
			b.Fatal(err)
		}
		ids, cfgs = append(ids, id), append(cfgs, cfg)
	}
	return ids, cfgs
}

// BenchmarkPublishQoS0 sends b.N QoS 0 publishes of 64 bytes in total from
// 8 devices, each to a subscriber session of the same device, with at most
// 256 messages in flight per device, and stops the clock when the last
// one is received.
func BenchmarkPublishQoS0(b *testing.B) {
	const devices, window, size = 8, 256, 64
	ctx := context.Background()
	w := inproc.Start(b, raised...)
	ids, cfgs := enroll(b, w, devices)
	type pair struct {
		pub, sub *tls.Conn
		subR     *bufio.Reader
		recv     atomic.Int64
		wake     chan struct{}
	}
	pairs := make([]*pair, devices)
	for i, id := range ids {
		p := &pair{wake: make(chan struct{}, 1)}
		var err error
		if p.sub, p.subR, err = mqttwire.Dial(ctx, w.MQTT, cfgs[i], id+":sub"); err != nil {
			b.Fatal(err)
		}
		if err := mqttwire.SubscribeOne(p.sub, p.subR, "devices/"+id+"/#"); err != nil {
			b.Fatal(err)
		}
		if p.pub, _, err = mqttwire.Dial(ctx, w.MQTT, cfgs[i], id+":pub"); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { p.pub.Close(); p.sub.Close() })
		pairs[i] = p
	}
	per := int64(max(1, b.N/devices))
	b.SetBytes(size)
	b.ResetTimer()
	var wg sync.WaitGroup
	for i, p := range pairs {
		wg.Add(2)
		go func() { // subscriber
			defer wg.Done()
			var buf []byte
			for p.recv.Load() < per {
				_ = p.sub.SetReadDeadline(time.Now().Add(5 * time.Second))
				typ, _, body, err := mqttwire.ReadPacket(p.subR, buf)
				buf = body
				if err != nil {
					b.Errorf("%s: %d of %d messages received: %v", ids[i], p.recv.Load(), per, err)
					return
				}
				if typ == mqttwire.Publish {
					p.recv.Add(1)
					select {
					case p.wake <- struct{}{}:
					default:
					}
				}
			}
		}()
		go func() { // publisher
			defer wg.Done()
			bw := bufio.NewWriterSize(p.pub, 32<<10)
			pkt, _ := mqttwire.PublishPacket("devices/"+ids[i]+"/telemetry", size)
			for sent := int64(0); sent < per; sent++ {
				for sent-p.recv.Load() >= window {
					if err := bw.Flush(); err != nil {
						b.Error(err)
						return
					}
					select {
					case <-p.wake:
					case <-time.After(5 * time.Second):
						b.Errorf("%s: no message received for 5s (%d sent, %d received)", ids[i], sent, p.recv.Load())
						return
					}
				}
				if _, err := bw.Write(pkt); err != nil {
					b.Error(err)
					return
				}
			}
			if err := bw.Flush(); err != nil {
				b.Error(err)
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(per*devices)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkConnect measures full mutual-TLS handshakes (no resumption)
// followed by MQTT CONNECT/CONNACK and DISCONNECT, 8 goroutines per
// GOMAXPROCS, over 64 devices.
func BenchmarkConnect(b *testing.B) {
	ctx := context.Background()
	w := inproc.Start(b, raised...)
	ids, cfgs := enroll(b, w, 64)
	var next atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := next.Add(1)
			i := int(n) % len(ids)
			c, _, err := mqttwire.Dial(ctx, w.MQTT, cfgs[i], fmt.Sprintf("%s:c%d", ids[i], n))
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = c.Write(mqttwire.DisconnectPacket)
			c.Close()
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "handshakes/s")
}
