// Package gwevent is the vocabulary of what Ward's MQTT gateway sees a
// device do: the event kinds (connected, refused, published, ...), the
// refusal reasons, the limit names, and one Event struct that carries any
// of them, with a compact versioned binary encoding to ship it between
// nodes (see MarshalBinary).
//
// It is a leaf package, named for what it provides (gateway events), and
// imports only the standard library, so that everything that consumes
// gateway events (detection's collector, rollouts, the audit, the API, the
// bus) can speak of them without linking the gateway or the MQTT broker
// behind it. The gateway records each event with one call that fans out to
// its Prometheus counters, the detection observers and, for the stored
// kinds, a rate-limited device event; the names here are the label values
// of those counters, the kinds and detail keys of those stored events.
//
// # Stored events
//
// Five kinds are stored as device events (Kind.Stored), each with fixed
// detail keys (Event.Detail):
//
//	connected     remote_addr, client_id, serial
//	disconnected  client_id, reason
//	refused       reason, and when known remote_addr, serial, client_id; live=true
//	              when a live session's certificate expired
//	acl-denied    topic (at most 256 bytes), action (publish, subscribe, will), client_id
//	limit         limit, client_id; for delivery-dropped, delivery-refused and
//	              publish-refused also qos and reason
//
// The other kinds (published, delivered, subscribed, client-id-collision)
// are only counted and observed.
package gwevent

import (
	"net"
	"time"
)

// Kind says what an Event records.
type Kind uint8

// Event kinds. The numbers are part of the binary encoding: never renumber
// one, only add.
const (
	Connected         Kind = 1 // a session was established
	Refused           Kind = 2 // a connection was refused (Reason says why)
	Disconnected      Kind = 3 // a session ended (Duration = its length, Reason = the cause)
	Published         Kind = 4 // the device published (accepted by ACL and limits), or its will was published
	Delivered         Kind = 5 // a message was delivered to the device
	ACLDenied         Kind = 6 // the topic ACL refused (Action = publish, subscribe or will)
	Limit             Kind = 7 // a per-device limit was hit (LimitName says which)
	ClientIDCollision Kind = 8 // a client ID already connected for the device was reused
	Subscribed        Kind = 9 // the broker granted a subscription (Topic = the filter)

	maxKind = Subscribed
)

var kindNames = [...]string{
	Connected:         "connected",
	Refused:           "refused",
	Disconnected:      "disconnected",
	Published:         "published",
	Delivered:         "delivered",
	ACLDenied:         "acl-denied",
	Limit:             "limit",
	ClientIDCollision: "client-id-collision",
	Subscribed:        "subscribed",
}

// String returns the kind's name: for the stored kinds, the kind of the
// device event ("connected", "acl-denied", ...).
func (k Kind) String() string {
	if k.Valid() {
		return kindNames[k]
	}
	return "unknown"
}

// Valid reports whether k is one of the kinds above.
func (k Kind) Valid() bool { return k >= Connected && k <= maxKind }

// Stored reports whether events of kind k are stored as device events.
func (k Kind) Stored() bool {
	switch k {
	case Connected, Disconnected, Refused, ACLDenied, Limit:
		return true
	}
	return false
}

// Refusal reasons: Event.Reason of a Refused event, the detail "reason" of
// a refused device event and the label of ward_gateway_refused_total.
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
	// ReasonSessionQuota: the device already holds SessionsPerDevice live
	// sessions.
	ReasonSessionQuota = "session-quota"
	// ReasonUnknownCertificate: the certificate chains to Ward's issuing CA
	// but Ward never recorded its serial for the device it names.
	ReasonUnknownCertificate = "unknown-certificate"
)

// Limit names: Event.LimitName, the detail "limit" of a limit device
// event and the label of ward_gateway_limit_hits_total.
const (
	LimitMessageSize           = "message-size"
	LimitMessageRate           = "message-rate"
	LimitByteRate              = "byte-rate"
	LimitConnectRate           = "connect-rate"
	LimitSustainedRateExceeded = "sustained-rate"
	LimitSessions              = "sessions" // SessionsPerDevice
	// LimitRetained: the device holds its maximum of retained messages; the
	// publish is delivered but not retained.
	LimitRetained = "retained"
	// LimitDeliveryDropped: a message to one of the device's sessions was
	// dropped (Event.QoS and Event.Reason, a DropReason*, say which and
	// why). Counted in ward_gateway_delivery_dropped_total{qos,reason}, not
	// in ward_gateway_limit_hits_total, and not observed: it is the
	// subscriber's loss, not its behaviour.
	LimitDeliveryDropped = "delivery-dropped"
	// LimitSlowSubscriber: a session of the device took no QoS 1/2 message
	// within Limits.DeliveryWait and was disconnected (its persistent
	// session keeps the messages).
	LimitSlowSubscriber = "slow-subscriber"
	// LimitDeliveryRefused: a QoS 1/2 message for one of the device's
	// sessions was refused to its publisher, not acknowledged, because the
	// session could not hold it (Event.Reason: DropReasonOfflineQueue,
	// DropReasonPacketIDs or DropReasonTakenOver). Counted in
	// ward_gateway_delivery_refused_total{qos,reason}, not observed.
	LimitDeliveryRefused = "delivery-refused"
	// LimitPublishRefused: a QoS 1/2 publish of the device was refused
	// (MQTT 5: PUBACK/PUBREC 0x97; 3.1.1: the connection closed without an
	// acknowledgement) because a subscriber's session could not hold it;
	// the subscriber's device gets delivery-refused. Stored only: the
	// metric counts the subscriber's side.
	LimitPublishRefused = "publish-refused"
)

// Why a message to a subscriber was dropped: Event.Reason of a
// delivery-dropped Limit event, its detail "reason" and the label
// "reason" of ward_gateway_delivery_dropped_total.
const (
	// DropReasonQueueFull: QoS 0, the session's queue stayed full for
	// Limits.DeliveryWaitQoS0.
	DropReasonQueueFull = "queue-full"
	// DropReasonDisconnected: QoS 0, queued but the connection ended first.
	DropReasonDisconnected = "disconnected"
	// DropReasonInflightFull: a retained QoS 1/2 message sent on subscribe
	// to a session that already holds the broker's maximum of in-flight
	// messages.
	DropReasonInflightFull = "inflight-full"
	// DropReasonOfflineQueue: QoS 1/2 to an offline session that already
	// holds Limits.OfflineQueueBytes (gateway.offline_queue_bytes): the
	// publish is refused (delivery-refused), or, for a will, dropped.
	DropReasonOfflineQueue = "offline-queue-full"
	// DropReasonTooLarge: larger than the Maximum Packet Size the client set.
	DropReasonTooLarge = "too-large"
	// DropReasonPacketIDs: the session has no free packet identifier.
	DropReasonPacketIDs = "packet-ids"
	// DropReasonTakenOver: QoS 1/2 stored in a session while a new
	// connection was taking it over, before the new one was registered.
	DropReasonTakenOver = "taken-over"
	// DropReasonNotAuthorized: QoS 1/2 held for a session whose device's
	// policy no longer allows the topic.
	DropReasonNotAuthorized = "not-authorized"
	// DropReasonNotHeld: a device's QoS 1/2 publish that a Ward consumer
	// (the rollout engine, gateway.PublishHolder) could neither pass on
	// nor hold: refused to the publisher (limit event publish-refused).
	DropReasonNotHeld = "not-held"
)

// QoSName names an MQTT QoS level as a label and detail value: "0", "1"
// or "2" (any higher value is "2").
func QoSName(q uint8) string {
	switch q {
	case 0:
		return "0"
	case 1:
		return "1"
	}
	return "2"
}

// ACL actions: Event.Action of an ACLDenied event and the label of
// ward_gateway_acl_denied_total.
const (
	ActionPublish   = "publish"
	ActionSubscribe = "subscribe"
	ActionWill      = "will"
)

// Event is one thing the gateway saw a device do. Which fields are set
// depends on Kind (see the kind constants); the rest are zero.
//
// An Event handed to an observer is only valid during the call: Payload
// aliases the broker's packet and must be copied to be kept.
type Event struct {
	Kind       Kind
	Time       time.Time
	Device     string // "" when the connection could not be attributed to a device
	ClientID   string
	RemoteAddr string // host:port of the connection (Connected, Refused, Disconnected, ClientIDCollision)
	Serial     string // certificate serial, hex (Connected, Refused)
	Topic      string // Published, Delivered, ACLDenied; Subscribed: the filter
	Reason     string // Refused: a Reason*; Disconnected: the cause ("closed" for a clean end); Limit delivery-dropped, delivery-refused, publish-refused: a DropReason*
	Action     string // ACLDenied: an Action*
	LimitName  string // Limit: a Limit*; Refused: the limit that caused it, if any
	Bytes      int    // payload bytes (Published, Delivered)
	// PacketBytes is the whole PUBLISH packet's size on the wire
	// (Delivered; counted in ward_gateway_bytes_total{direction="out"}).
	PacketBytes int
	Duration    time.Duration // Disconnected: how long the session lasted
	// Live marks a Refused event for a session that was already connected
	// (its certificate expired): it is stored, but neither counted as a
	// refused connection nor observed as a connection attempt.
	Live    bool
	QoS     uint8  // Limit delivery-dropped, delivery-refused, publish-refused: the message's QoS
	Payload []byte // Published: the message
}

// RemoteIP returns the host part of RemoteAddr (all of it when it has no
// port).
func (e *Event) RemoteIP() string {
	if h, _, err := net.SplitHostPort(e.RemoteAddr); err == nil {
		return h
	}
	return e.RemoteAddr
}

// MaxDetailTopic is the longest topic an acl-denied device event keeps,
// in bytes.
const MaxDetailTopic = 256

// Detail returns the detail map of the device event a stored kind is
// recorded as (see the package doc for the keys), nil for other kinds.
func (e *Event) Detail() map[string]string {
	switch e.Kind {
	case Connected:
		return map[string]string{"remote_addr": e.RemoteAddr, "client_id": e.ClientID, "serial": e.Serial}
	case Disconnected:
		return map[string]string{"client_id": e.ClientID, "reason": e.Reason}
	case Refused:
		d := map[string]string{"reason": e.Reason}
		if e.RemoteAddr != "" {
			d["remote_addr"] = e.RemoteAddr
		}
		if e.Serial != "" {
			d["serial"] = e.Serial
		}
		if e.ClientID != "" {
			d["client_id"] = e.ClientID
		}
		if e.Live {
			d["live"] = "true"
		}
		return d
	case ACLDenied:
		t := e.Topic
		if len(t) > MaxDetailTopic {
			t = t[:MaxDetailTopic]
		}
		return map[string]string{"topic": t, "action": e.Action, "client_id": e.ClientID}
	case Limit:
		switch e.LimitName {
		case LimitDeliveryDropped, LimitDeliveryRefused, LimitPublishRefused:
			return map[string]string{"limit": e.LimitName, "client_id": e.ClientID, "qos": QoSName(e.QoS), "reason": e.Reason}
		}
		return map[string]string{"limit": e.LimitName, "client_id": e.ClientID}
	}
	return nil
}
