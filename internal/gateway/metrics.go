package gateway

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/wardproject/ward/internal/gwevent"
)

// metrics are the gateway's Prometheus collectors. Labels are bounded
// enums; per-device numbers are device events, not series.
type metrics struct {
	connections   *prometheus.CounterVec // result: accepted, refused, tls-error
	refused       *prometheus.CounterVec // reason
	aclDenied     *prometheus.CounterVec // action: publish, subscribe, will
	messages      *prometheus.CounterVec // direction: in, out
	bytes         *prometheus.CounterVec // direction: in, out
	limitHits     *prometheus.CounterVec // limit
	sessions      prometheus.Gauge
	parked        prometheus.Gauge       // sessions parked on the poller
	dropped       *prometheus.CounterVec // reason: Drop* (before admission)
	purged        prometheus.Counter     // broker sessions purged
	eventsDropped prometheus.Counter
	delivDropped  *prometheus.CounterVec // qos, reason: gwevent.DropReason*
	delivRefused  *prometheus.CounterVec // qos, reason: gwevent.DropReasonOfflineQueue, DropReasonPacketIDs, DropReasonTakenOver, DropReasonNotHeld

	// Hot-path children, resolved once.
	msgsIn, msgsOut, bytesIn, bytesOut prometheus.Counter
	accepted, refusedConns             prometheus.Counter
}

// count counts one event in the collectors its kind feeds.
func (m *metrics) count(e *gwevent.Event) {
	switch e.Kind {
	case gwevent.Connected:
		m.accepted.Inc()
	case gwevent.Refused:
		if e.Live {
			return // a session ended, not a connection refused
		}
		m.refusedConns.Inc()
		m.refused.WithLabelValues(e.Reason).Inc()
		if e.LimitName != "" {
			m.limitHits.WithLabelValues(e.LimitName).Inc()
		}
	case gwevent.Published:
		m.msgsIn.Inc()
		m.bytesIn.Add(float64(e.Bytes))
	case gwevent.Delivered:
		m.msgsOut.Inc()
		m.bytesOut.Add(float64(e.PacketBytes))
	case gwevent.ACLDenied:
		m.aclDenied.WithLabelValues(e.Action).Inc()
	case gwevent.Limit:
		switch e.LimitName {
		case gwevent.LimitDeliveryDropped:
			m.delivDropped.WithLabelValues(gwevent.QoSName(e.QoS), e.Reason).Inc()
			return
		case gwevent.LimitDeliveryRefused:
			m.delivRefused.WithLabelValues(gwevent.QoSName(e.QoS), e.Reason).Inc()
			return
		case gwevent.LimitPublishRefused:
			if e.Reason == gwevent.DropReasonNotHeld { // no subscriber's side
				m.delivRefused.WithLabelValues(gwevent.QoSName(e.QoS), e.Reason).Inc()
			}
			return // else counted on the subscriber's side
		}
		m.limitHits.WithLabelValues(e.LimitName).Inc()
	}
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		connections: f.NewCounterVec(prometheus.CounterOpts{
			Name: "ward_gateway_connections_total",
			Help: "MQTT connection attempts by result (accepted, refused, tls-error).",
		}, []string{"result"}),
		refused: f.NewCounterVec(prometheus.CounterOpts{
			Name: "ward_gateway_refused_total",
			Help: "Refused connections by reason.",
		}, []string{"reason"}),
		aclDenied: f.NewCounterVec(prometheus.CounterOpts{
			Name: "ward_gateway_acl_denied_total",
			Help: "Publishes and subscriptions refused by the topic ACL, by action.",
		}, []string{"action"}),
		messages: f.NewCounterVec(prometheus.CounterOpts{
			Name: "ward_gateway_messages_total",
			Help: "PUBLISH packets accepted from devices (in) and sent to them (out).",
		}, []string{"direction"}),
		bytes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "ward_gateway_bytes_total",
			Help: "Payload bytes accepted from devices (in) and PUBLISH bytes sent to them (out).",
		}, []string{"direction"}),
		limitHits: f.NewCounterVec(prometheus.CounterOpts{
			Name: "ward_gateway_limit_hits_total",
			Help: "Publishes or connections stopped by a per-device limit, by limit.",
		}, []string{"limit"}),
		sessions: f.NewGauge(prometheus.GaugeOpts{
			Name: "ward_gateway_sessions",
			Help: "Live device sessions.",
		}),
		parked: f.NewGauge(prometheus.GaugeOpts{
			Name: "ward_gateway_sessions_parked",
			Help: "Live sessions waiting for their next packet with no goroutine, parked on the listener's epoll poller (Linux); the rest of ward_gateway_sessions are busy or hold a partial packet.",
		}),
		dropped: f.NewCounterVec(prometheus.CounterOpts{
			Name: "ward_gateway_handshake_dropped_total",
			Help: "Connections closed before their CONNECT was read, by reason (per-address, per-prefix, evicted, hello-timeout, connect-too-large, not-connect, malformed, packet-too-large).",
		}, []string{"reason"}),
		purged: f.NewCounter(prometheus.CounterOpts{
			Name: "ward_gateway_sessions_purged_total",
			Help: "Broker sessions (live or persisted, with their subscriptions and queued messages) deleted because their device was revoked, quarantined, retired or removed, or to keep it within SessionsPerDevice.",
		}),
		delivDropped: f.NewCounterVec(prometheus.CounterOpts{
			Name: "ward_gateway_delivery_dropped_total",
			Help: "Messages to a subscriber dropped instead of delivered, by QoS and reason (queue-full, disconnected, inflight-full, offline-queue-full, too-large, packet-ids, not-authorized, taken-over); the device's limit event (delivery-dropped) names the subscriber.",
		}, []string{"qos", "reason"}),
		delivRefused: f.NewCounterVec(prometheus.CounterOpts{
			Name: "ward_gateway_delivery_refused_total",
			Help: "QoS 1/2 publishes refused to their publisher instead of acknowledged (MQTT 5: PUBACK/PUBREC 0x97; 3.1.1: connection closed without acknowledgement) because a subscriber's session could not hold them, or the rollout engine could not (not-held), by QoS and reason (offline-queue-full, packet-ids, taken-over, not-held); the subscriber's device gets a limit event delivery-refused, the publisher's publish-refused.",
		}, []string{"qos", "reason"}),
		eventsDropped: f.NewCounter(prometheus.CounterOpts{
			Name: "ward_gateway_events_dropped_total",
			Help: "Device events not recorded because of the per-device event rate limit.",
		}),
	}
	// Pre-create the known label values so dashboards see zeros.
	for _, r := range []string{"accepted", "refused", "tls-error"} {
		m.connections.WithLabelValues(r)
	}
	for _, r := range []string{DropPerAddress, DropPerPrefix, DropEvicted, DropHelloTimeout, DropConnectTooBig, DropNotConnect, DropMalformed, DropPacketTooLarge} {
		m.dropped.WithLabelValues(r)
	}
	for _, q := range []string{"0", "1", "2"} {
		for _, r := range []string{gwevent.DropReasonQueueFull, gwevent.DropReasonDisconnected, gwevent.DropReasonInflightFull, gwevent.DropReasonOfflineQueue, gwevent.DropReasonTooLarge, gwevent.DropReasonPacketIDs, gwevent.DropReasonNotAuthorized, gwevent.DropReasonTakenOver} {
			m.delivDropped.WithLabelValues(q, r)
		}
	}
	for _, q := range []string{"1", "2"} {
		for _, r := range []string{gwevent.DropReasonOfflineQueue, gwevent.DropReasonPacketIDs, gwevent.DropReasonTakenOver, gwevent.DropReasonNotHeld} {
			m.delivRefused.WithLabelValues(q, r)
		}
	}
	m.msgsIn, m.msgsOut = m.messages.WithLabelValues("in"), m.messages.WithLabelValues("out")
	m.bytesIn, m.bytesOut = m.bytes.WithLabelValues("in"), m.bytes.WithLabelValues("out")
	m.accepted, m.refusedConns = m.connections.WithLabelValues("accepted"), m.connections.WithLabelValues("refused")
	return m
}
