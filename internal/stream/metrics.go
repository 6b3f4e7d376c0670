package stream

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	clients prometheus.Gauge
	events  *prometheus.CounterVec
	dropped prometheus.Counter
	busLost prometheus.Counter
}

func newMetrics(r prometheus.Registerer) metrics {
	f := promauto.With(r)
	m := metrics{
		clients: f.NewGauge(prometheus.GaugeOpts{Name: "ward_stream_clients", Help: "Live stream (SSE) clients connected."}),
		events: f.NewCounterVec(prometheus.CounterOpts{Name: "ward_stream_events_total",
			Help: "Events published on the live stream, by type (alert, device, event), local and from other cluster nodes."}, []string{"type"}),
		dropped: f.NewCounter(prometheus.CounterOpts{Name: "ward_stream_dropped_clients_total",
			Help: "Live stream clients dropped with an overflow event because they did not keep up."}),
		busLost: f.NewCounter(prometheus.CounterOpts{Name: "ward_stream_bus_lost_total",
			Help: "Local stream events not handed to the cluster bus (queue full, too large or a publish error)."}),
	}
	for _, t := range []Type{Alert, Device, DeviceEvent} {
		m.events.WithLabelValues(string(t))
	}
	return m
}
