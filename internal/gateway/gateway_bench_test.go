package gateway_test

import (
	"testing"

	"github.com/wardproject/ward/internal/detect"
	"github.com/wardproject/ward/internal/gateway"
)

// BenchmarkPublishQoS0 measures QoS 0 publishes through the gateway with
// mutual TLS, the ACL and the rate limiters on: one device publishes to its
// own tree and another session of it is subscribed. After b.N QoS 0
// publishes the publisher sends one QoS 1 publish and waits for its PUBACK;
// the broker handles a connection's packets in order, so by then every QoS 0
// publish has been checked and fanned out to the subscriber's queue.
//
//	go test -run '^$' -bench PublishQoS0 -benchtime 200000x ./internal/gateway/
func BenchmarkPublishQoS0(b *testing.B) {
	b.Run("detection=off", func(b *testing.B) { benchPublish(b, nil) })
	b.Run("detection=on", func(b *testing.B) { benchPublish(b, detect.NewCollector()) })
}

// benchPublish runs the publish benchmark with an observer (the detection
// collector) or none, so that the two give the overhead ratio of detection.
func benchPublish(b *testing.B, obs gateway.Observer) {
	var observers []gateway.Observer
	if obs != nil {
		observers = append(observers, obs)
	}
	e := newEnv(b, activeDevices("dev-a"), nil, gateway.Limits{MessagesPerSecond: 1e9, BytesPerSecond: 1e12}, observers...)
	cert := issue(b, e.ca, "dev-a")
	pub := e.mustConnect(&cert, "dev-a:pub")
	sub := e.mustConnect(&cert, "dev-a:sub")
	sub.subscribe(b, "devices/dev-a/#")
	payload := make([]byte, 64)
	done := make(chan struct{})
	go func() { // drain the subscriber so its queue does not fill
		for {
			select {
			case <-sub.msgs:
			case <-done:
				return
			}
		}
	}()
	defer close(done)
	b.SetBytes(int64(len(payload)))
	b.ResetTimer()
	for range b.N {
		pub.c.Publish("devices/dev-a/telemetry", 0, false, payload)
	}
	pub.publish(b, "devices/dev-a/telemetry", payload)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
