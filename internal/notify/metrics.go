package notify

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Results of ward_notify_sent_total.
const (
	resultOK      = "ok"      // delivered
	resultRetried = "retried" // an attempt failed; another follows
	resultFailed  = "failed"  // given up: the notification was dead-lettered
)

// metrics are the Dispatcher's collectors. The sink label is the sink's
// configured name: operator configuration, so the label set is bounded.
type metrics struct {
	sent        *prometheus.CounterVec
	dropped     *prometheus.CounterVec
	deadLetters *prometheus.CounterVec
}

// queueLength is ward_notify_queue_length, read from the queues at
// scrape time (a gauge set by both producer and consumer could be left
// stale by interleaved updates).
type queueLength struct {
	desc   *prometheus.Desc
	routes []*route
}

func newQueueLength(routes []*route) *queueLength {
	return &queueLength{
		desc:   prometheus.NewDesc("ward_notify_queue_length", "Notifications waiting in the sink's queue.", []string{"sink"}, nil),
		routes: routes,
	}
}

// Describe implements prometheus.Collector.
func (q *queueLength) Describe(ch chan<- *prometheus.Desc) { ch <- q.desc }

// Collect implements prometheus.Collector.
func (q *queueLength) Collect(ch chan<- prometheus.Metric) {
	for _, r := range q.routes {
		ch <- prometheus.MustNewConstMetric(q.desc, prometheus.GaugeValue, float64(len(r.queue)), r.name)
	}
}

// newMetrics creates the collectors and registers them, with the queue
// lengths of routes, on reg (nil: not registered).
func newMetrics(reg prometheus.Registerer, routes []*route) (*metrics, error) {
	m := &metrics{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ward_notify_sent_total",
			Help: "Delivery attempts per sink, by result: ok, retried (another attempt follows) or failed (dead-lettered).",
		}, []string{"sink", "result"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ward_notify_dropped_total",
			Help: "Notifications dropped because the sink's queue was full.",
		}, []string{"sink"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ward_notify_dead_letters_total",
			Help: "Dead-letter records written for notifications a sink could not deliver.",
		}, []string{"sink"}),
	}
	for _, r := range routes {
		m.init(r.name)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.sent, m.dropped, m.deadLetters, newQueueLength(routes)} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("notify: register metrics: %w", err)
		}
	}
	return m, nil
}

// init creates every series of a sink at zero, so that dashboards and
// rate() see them before the first event.
func (m *metrics) init(sink string) {
	for _, r := range []string{resultOK, resultRetried, resultFailed} {
		m.sent.WithLabelValues(sink, r)
	}
	m.dropped.WithLabelValues(sink)
	m.deadLetters.WithLabelValues(sink)
}
