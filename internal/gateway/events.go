package gateway

import (
	"maps"

	"github.com/wardproject/ward/internal/store"
)

// Event kinds the gateway records.
const (
	EventConnected    = "connected"    // detail: remote_addr, client_id, serial
	EventDisconnected = "disconnected" // detail: client_id, reason
	EventRefused      = "refused"      // detail: reason, remote_addr, ...
	EventACLDenied    = "acl-denied"   // detail: topic, action (publish, subscribe, will)
	EventLimit        = "limit"        // detail: limit, client_id
)

// Refusal reasons (detail "reason" of a refused event and the label of
// ward_gateway_refused_total).
const (
	ReasonNoCertificate = "no-certificate"
	ReasonUnknownCA     = "unknown-ca"
	ReasonExpired       = "expired"
	ReasonRevoked       = "revoked"
	ReasonQuarantined   = "quarantined"
	ReasonPending       = "pending"
	ReasonRetired       = "retired"
	ReasonUnknownDevice = "unknown-device"
	ReasonClientID      = "client-id"
	ReasonConnectRate   = "connect-rate"
	ReasonWillTopic     = "will-topic"

	// ReasonUnknownCertificate: the certificate chains to Ward's issuing CA
	// but Ward never recorded its serial for the device it names.
	ReasonUnknownCertificate = "unknown-certificate"
)

// Limit names (detail "limit" of a limit event and the label of
// ward_gateway_limit_hits_total).
const (
	LimitMessageSize           = "message-size"
	LimitMessageRate           = "message-rate"
	LimitByteRate              = "byte-rate"
	LimitConnectRate           = "connect-rate"
	LimitSustainedRateExceeded = "sustained-rate"
	LimitSessions              = "sessions" // Limits.SessionsPerDevice
	// LimitDeliveryDropped: messages to one of the device's sessions were
	// dropped (detail also has qos and reason, a DropReason*), counted in
	// ward_gateway_delivery_dropped_total{qos,reason}.
	LimitDeliveryDropped = "delivery-dropped"
	// LimitSlowSubscriber: a session of the device took no QoS 1/2 message
	// within Limits.DeliveryWait and was disconnected (its persistent
	// session keeps the messages).
	LimitSlowSubscriber = "slow-subscriber"
)

// Why a message to a subscriber was dropped (label "reason" of
// ward_gateway_delivery_dropped_total, detail "reason" of a
// delivery-dropped limit event).
const (
	// DropReasonQueueFull: QoS 0, the session's queue stayed full for
	// Limits.DeliveryWaitQoS0.
	DropReasonQueueFull = "queue-full"
	// DropReasonDisconnected: QoS 0, queued but the connection ended first.
	DropReasonDisconnected = "disconnected"
	// DropReasonInflightFull: QoS 1/2 to a session that is offline and
	// already holds the broker's maximum of in-flight messages.
	DropReasonInflightFull = "inflight-full"
	// DropReasonOfflineQueue: QoS 1/2 to an offline session that already
	// queues OfflineQueue messages.
	DropReasonOfflineQueue = "offline-queue-full"
	// DropReasonTooLarge: larger than the Maximum Packet Size the client set.
	DropReasonTooLarge = "too-large"
	// DropReasonNotAuthorized: QoS 1/2 held for a session whose device's
	// policy no longer allows the topic (pruneSubscriptions).
	DropReasonNotAuthorized = "not-authorized"
	// DropReasonPacketIDs: the session has no free packet identifier.
	DropReasonPacketIDs = "packet-ids"
)

// emit records an event for ds (nil: not attributable to a known device),
// subject to the per-device event rate; the excess is counted.
func (g *Gateway) emit(ds *deviceState, deviceID, kind string, detail map[string]string) {
	now := g.now()
	var ok bool
	if ds != nil {
		ok = ds.lim.event(now, g.opts.Limits.EventsPerSecond, g.opts.Limits.EventBurst)
	} else {
		ok = g.unattributed.take(now, 1)
	}
	if !ok || g.opts.Events == nil {
		g.m.eventsDropped.Inc()
		return
	}
	g.opts.Events.DeviceEvent(store.Event{DeviceID: deviceID, Time: now.UTC(), Kind: kind, Detail: maps.Clone(detail)})
}

// refuse counts and records a refused connection.
func (g *Gateway) refuse(ds *deviceState, deviceID, reason string, detail map[string]string) {
	g.m.refused.WithLabelValues(reason).Inc()
	g.observe(Observation{Kind: ObsRefused, Device: deviceID, Action: reason, RemoteIP: remoteIP(detail["remote_addr"]), Time: g.now()})
	g.m.connections.WithLabelValues("refused").Inc()
	d := map[string]string{"reason": reason}
	for k, v := range detail {
		if v != "" {
			d[k] = v
		}
	}
	g.emit(ds, deviceID, EventRefused, d)
}
