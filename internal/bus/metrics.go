package bus

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics are the ward_bus_* collectors shared by the implementations, so
// that a dashboard works whichever bus runs. Labels are bounded enums:
// kind is "topic" or "queue"; reason is listed on each collector.
type Metrics struct {
	// Published counts messages accepted by Publish and Enqueue, by kind.
	Published *prometheus.CounterVec
	// Delivered counts handler calls, by kind.
	Delivered *prometheus.CounterVec
	// Rejected counts refused Publish, Enqueue, Subscribe and Consume
	// calls, by reason: invalid_subject, invalid_group, payload_too_large,
	// queue_full, closed, error.
	Rejected *prometheus.CounterVec
	// Dropped counts messages lost by the bus, by reason: subscriber_full
	// (a slow subscriber's queue overflowed), no_group (enqueued while the
	// queue had no consumer group).
	Dropped *prometheus.CounterVec
	// Redelivered counts queue messages handed back for redelivery, by
	// reason: error (the handler returned an error or panicked), timeout.
	Redelivered *prometheus.CounterVec
	// DeadLetters counts queue messages that exhausted MaxDeliver.
	DeadLetters prometheus.Counter
	// Reconnects counts reconnections to a remote bus (NATS).
	Reconnects prometheus.Counter
}

// NewMetrics creates the collectors and registers them on reg; a nil reg
// leaves them unregistered (they still count).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	return &Metrics{
		Published: f.NewCounterVec(prometheus.CounterOpts{
			Name: "ward_bus_published_total",
			Help: "Messages accepted by Publish (kind=topic) and Enqueue (kind=queue).",
		}, []string{"kind"}),
		Delivered: f.NewCounterVec(prometheus.CounterOpts{
			Name: "ward_bus_delivered_total",
			Help: "Messages handed to subscriber (kind=topic) and consumer (kind=queue) handlers.",
		}, []string{"kind"}),
		Rejected: f.NewCounterVec(prometheus.CounterOpts{
			Name: "ward_bus_rejected_total",
			Help: "Bus calls refused, by reason.",
		}, []string{"reason"}),
		Dropped: f.NewCounterVec(prometheus.CounterOpts{
			Name: "ward_bus_dropped_total",
			Help: "Messages dropped by the bus, by reason (subscriber_full: a subscriber is too slow).",
		}, []string{"reason"}),
		Redelivered: f.NewCounterVec(prometheus.CounterOpts{
			Name: "ward_bus_redelivered_total",
			Help: "Queue messages returned for redelivery, by reason (error, timeout).",
		}, []string{"reason"}),
		DeadLetters: f.NewCounter(prometheus.CounterOpts{
			Name: "ward_bus_dead_letters_total",
			Help: "Queue messages that exhausted their deliveries and were published as dead letters.",
		}),
		Reconnects: f.NewCounter(prometheus.CounterOpts{
			Name: "ward_bus_reconnects_total",
			Help: "Reconnections to the NATS server.",
		}),
	}
}

// Reject counts a refused call under the reason matching err (one of the
// package's sentinels, or "error") and returns err unchanged.
func (m *Metrics) Reject(err error) error {
	m.Rejected.WithLabelValues(RejectReason(err)).Inc()
	return err
}
