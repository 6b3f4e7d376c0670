package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/wardproject/ward/internal/gwevent"
	mqtt "github.com/wardproject/ward/internal/mochi"
	"github.com/wardproject/ward/internal/mochi/packets"

	"github.com/wardproject/ward/internal/pki"
)

// hook is Ward's single mochi auth/ACL hook. It denies by default: a client
// is authenticated only if OnConnect admitted it, and every ACL check
// requires a known, active device and an allowing ACL.
type hook struct {
	mqtt.HookBase
	g *Gateway
}

// ID identifies the hook in mochi's logs.
func (h *hook) ID() string { return "ward-gateway" }

// Provides lists exactly the events the hook handles.
func (h *hook) Provides(b byte) bool {
	return bytes.Contains([]byte{
		mqtt.OnConnect,
		mqtt.OnConnectAuthenticate,
		mqtt.OnACLCheck,
		mqtt.OnSessionEstablished,
		mqtt.OnDisconnect,
		mqtt.OnPublish,
		mqtt.OnSubscribe,
		mqtt.OnSubscribed,
		mqtt.OnPacketSent,
		mqtt.OnWill,
		mqtt.OnPacketRead,
		mqtt.OnPublishDropped,
		mqtt.OnPublishRefused,
	}, []byte{b})
}

// Init takes the *Gateway as its config.
func (h *hook) Init(config any) error {
	g, ok := config.(*Gateway)
	if !ok || g == nil {
		return mqtt.ErrInvalidConfigType
	}
	h.g = g
	return nil
}

// OnConnect admits or refuses the client. A refused client gets a CONNACK
// with the refusal code here; mochi then closes the connection.
func (h *hook) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	code, ok := h.g.admit(cl, pk)
	if ok {
		return nil
	}
	if srv := h.g.srv.Load(); srv != nil {
		_ = srv.SendConnack(cl, code, false, nil)
	}
	return code
}

// OnConnectAuthenticate says yes only to clients OnConnect admitted.
func (h *hook) OnConnectAuthenticate(cl *mqtt.Client, _ packets.Packet) bool {
	_, ok := h.g.clients.Load(cl)
	return ok
}

// OnACLCheck decides publishes (write) and subscriptions (read); the broker
// does not ask for each delivery (see pruneSubscriptions). The device comes from the client ID, which OnConnect bound to the
// certificate identity, so offline persistent sessions are checked too.
//
// A denied publish from an MQTT 3.1.1 client is allowed through here and
// dropped in OnPublish instead, so that QoS 1/2 publishes are acknowledged
// and discarded (MQTT-3.3.5-2 permits either) rather than mochi closing the
// connection, which would make the client resend it forever.
func (h *hook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	ds := h.g.device(deviceIDOfClient(cl.ID))
	if ds == nil {
		return false
	}
	p := ds.policy.Load()
	if !p.admits() {
		return false
	}
	if !write {
		return p.acl.CanSubscribe(topic)
	}
	if p.acl.CanPublish(topic) {
		return true
	}
	if cl.Properties.ProtocolVersion < 5 {
		return true // dropped in OnPublish
	}
	h.g.aclDenied(ds, cl.ID, topic, "publish")
	return false
}

// OnPublishDropped counts a message the broker dropped for a subscriber
// and records it on the subscriber's device (a rate-limited limit event).
func (h *hook) OnPublishDropped(cl *mqtt.Client, pk packets.Packet, why error) {
	if cl == nil || cl.Net.Inline {
		return
	}
	reason := dropReason(why, gwevent.DropReasonQueueFull)
	h.g.deliveryDropped(h.g.device(deviceIDOfClient(cl.ID)), cl, pk.FixedHeader.Qos, reason)
}

// dropReason names why the broker dropped or refused a delivery (a
// gwevent.DropReason*); def when it gives no known reason.
func dropReason(why error, def string) string {
	switch {
	case errors.Is(why, mqtt.ErrDeliveryQueueFull):
		return gwevent.DropReasonQueueFull
	case errors.Is(why, mqtt.ErrDeliveryDisconnected):
		return gwevent.DropReasonDisconnected
	case errors.Is(why, mqtt.ErrDeliveryInflightFull):
		return gwevent.DropReasonInflightFull
	case errors.Is(why, mqtt.ErrDeliveryOfflineFull):
		return gwevent.DropReasonOfflineQueue
	case errors.Is(why, mqtt.ErrDeliveryPacketIDs):
		return gwevent.DropReasonPacketIDs
	case errors.Is(why, mqtt.ErrDeliveryTakenOver):
		return gwevent.DropReasonTakenOver
	case errors.Is(why, packets.ErrPacketTooLarge):
		return gwevent.DropReasonTooLarge
	case errors.Is(why, mqtt.ErrPublishNotHeld):
		return gwevent.DropReasonNotHeld
	}
	return def
}

// OnPublishRefused records a QoS 1/2 publish the broker refused instead
// of acknowledging because sub's session could not hold it: a limit event
// delivery-refused on the subscriber's device (counted in
// ward_gateway_delivery_refused_total) and publish-refused on the
// publisher's. With sub nil the Observer could not hold it
// (PublishHolder): publish-refused with reason not-held alone.
func (h *hook) OnPublishRefused(cl *mqtt.Client, pk packets.Packet, sub *mqtt.Client, why error) {
	reason := dropReason(why, gwevent.DropReasonOfflineQueue)
	qos := pk.FixedHeader.Qos
	if sub != nil {
		ds := h.g.device(deviceIDOfClient(sub.ID))
		e := gwevent.Event{Kind: gwevent.Limit, ClientID: sub.ID, LimitName: gwevent.LimitDeliveryRefused, QoS: qos, Reason: reason}
		if ds != nil {
			e.Device = ds.id
		}
		h.g.record(ds, e)
	}
	if cl != nil && !cl.Net.Inline {
		if ds := h.g.device(deviceIDOfClient(cl.ID)); ds != nil {
			h.g.record(ds, gwevent.Event{Kind: gwevent.Limit, Device: ds.id, ClientID: cl.ID, LimitName: gwevent.LimitPublishRefused, QoS: qos, Reason: reason})
		}
	}
}

// OnSessionEstablished records the connected event.
func (h *hook) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	v, ok := h.g.clients.Load(cl)
	if !ok {
		return
	}
	s := v.(*session)
	h.g.record(s.dev, gwevent.Event{Kind: gwevent.Connected, Device: s.dev.id, ClientID: s.clientID,
		RemoteAddr: s.remote, Serial: pki.SerialHex(s.serial)})
}

// OnDisconnect ends the session.
func (h *hook) OnDisconnect(cl *mqtt.Client, err error, _ bool) {
	if v, ok := h.g.clients.Load(cl); ok {
		if errors.Is(cl.StopCause(), mqtt.ErrSlowSubscriber) {
			s := v.(*session)
			h.g.limitHit(s, h.g.now(), gwevent.LimitSlowSubscriber)
		}
		h.g.endSession(v.(*session), err)
	}
}

// OnPublish enforces the ACL on the final topic name, the message size and
// the rate limits.
func (h *hook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		// Ward's own publishes go only to its namespace (alert
		// notifications) and to devices' order topics (PublishOrder).
		if strings.HasPrefix(pk.TopicName, ServerTopicPrefix) || isOrderTopic(pk.TopicName) {
			return pk, nil
		}
		return pk, packets.ErrRejectPacket
	}
	v, ok := h.g.clients.Load(cl)
	if !ok {
		return pk, packets.ErrRejectPacket
	}
	return h.g.publish(v.(*session), pk)
}

// OnSubscribe records denied filters; OnACLCheck then refuses them with
// SUBACK 0x87 (MQTT 5) or 0x80 (3.1.1).
func (h *hook) OnSubscribe(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	ds := h.g.device(deviceIDOfClient(cl.ID))
	var p *policy
	if ds != nil {
		p = ds.policy.Load()
	}
	for _, f := range pk.Filters {
		if p == nil || !p.acl.CanSubscribe(f.Filter) {
			h.g.aclDenied(ds, cl.ID, f.Filter, "subscribe")
		}
	}
	return pk
}

// OnSubscribed reports each granted subscription, once the broker holds
// it (a message published from then on reaches the device): package
// rollout re-sends an update order when a device subscribes to its order
// topic.
func (h *hook) OnSubscribed(cl *mqtt.Client, pk packets.Packet, codes []byte) {
	v, ok := h.g.clients.Load(cl)
	if !ok {
		return
	}
	s := v.(*session)
	now := h.g.now()
	var granted []string
	for i, f := range pk.Filters {
		if i < len(codes) && codes[i] < 0x80 {
			granted = append(granted, f.Filter)
			h.g.record(s.dev, gwevent.Event{Kind: gwevent.Subscribed, Device: s.dev.id, ClientID: s.clientID, Topic: f.Filter, Time: now})
		}
	}
	// The policy may have changed between the check and now, after
	// pruneSubscriptions looked at this session.
	if srv := h.g.srv.Load(); srv != nil && len(granted) > 0 {
		h.g.pruneClient(srv, s.dev, cl, granted)
	}
}

// OnPacketSent counts PUBLISH packets delivered to devices.
func (h *hook) OnPacketSent(cl *mqtt.Client, pk packets.Packet, b []byte) {
	if pk.FixedHeader.Type == packets.Publish {
		e := gwevent.Event{Kind: gwevent.Delivered, Topic: pk.TopicName, Bytes: len(pk.Payload), PacketBytes: len(b)}
		if cl != nil {
			e.Device, e.ClientID = deviceIDOfClient(cl.ID), cl.ID
		}
		h.g.record(nil, e)
	}
}

// OnWill re-checks the will when it is about to be published (the policy
// may have changed since CONNECT) and charges it like a publish: a will the
// device may no longer publish, or over its message or byte rate, is
// redirected to a topic no device can subscribe to; a retained will counts
// against MaxRetainedPerDevice and is published without retain past it.
func (h *hook) OnWill(cl *mqtt.Client, will mqtt.Will) (mqtt.Will, error) {
	g := h.g
	ds := g.device(deviceIDOfClient(cl.ID))
	if ds == nil {
		g.aclDenied(ds, cl.ID, will.TopicName, "will")
		return discardWill(will), nil
	}
	p := ds.policy.Load()
	if !p.admits() || !p.acl.CanPublish(will.TopicName) {
		g.aclDenied(ds, cl.ID, will.TopicName, "will")
		return discardWill(will), nil
	}
	now := g.now()
	size := len(will.Payload)
	s := &session{dev: ds, clientID: cl.ID}
	if size > p.maxMessage {
		g.limitHit(s, now, gwevent.LimitMessageSize)
		return discardWill(will), nil
	}
	if res, which := ds.lim.publish(now, size, p, g.opts.Limits.RateWindow); res != limitOK {
		g.limitHit(s, now, which)
		return discardWill(will), nil
	}
	if will.Retain && !ds.admitRetained(will.TopicName, size == 0) {
		will.Retain = false
		g.limitHit(s, now, gwevent.LimitRetained)
	}
	g.record(ds, gwevent.Event{Kind: gwevent.Published, Device: ds.id, ClientID: cl.ID, Topic: will.TopicName, Bytes: size, Payload: will.Payload, Time: now})
	return will, nil
}

// discardWill redirects a will to a topic no device can subscribe to.
func discardWill(will mqtt.Will) mqtt.Will {
	will.TopicName = "$ward/discarded-will"
	will.Retain = false
	will.Payload = nil
	return will
}

// refusedTopicPrefix marks a device's publish to a topic the broker never
// delivers ($SYS/...): mochi drops those before any hook sees them, so a
// QoS 1/2 publish would never be acknowledged. OnPacketRead moves the
// topic under this prefix, which no ACL allows, so the publish is refused
// like any other denied one (MQTT 5: PUBACK/PUBREC 0x87; 3.1.1:
// acknowledged and dropped).
const refusedTopicPrefix = "$ward/refused/"

// OnPacketRead moves a device's $SYS publish under refusedTopicPrefix.
func (h *hook) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if pk.FixedHeader.Type == packets.Publish && !cl.Net.Inline && len(pk.TopicName) >= len(mqtt.SysPrefix) &&
		strings.EqualFold(pk.TopicName[:len(mqtt.SysPrefix)], mqtt.SysPrefix) {
		pk.TopicName = refusedTopicPrefix + pk.TopicName
	}
	return pk, nil
}

// v3/v5 CONNACK codes for refusals. SendConnack maps only a few v5 codes to
// v3 return codes, so Ward picks codes that map.
func refuseCode(v5 bool, reason string) packets.Code {
	switch {
	case reason == gwevent.ReasonClientID:
		return packets.ErrClientIdentifierNotValid // v3: 0x02
	case reason == gwevent.ReasonConnectRate && v5:
		return packets.ErrConnectionRateExceeded // 0x9F
	case reason == gwevent.ReasonConnectRate:
		return packets.ErrServerUnavailable // v3: 0x03
	case reason == gwevent.ReasonSessionQuota && v5:
		return packets.ErrQuotaExceeded // 0x97
	case reason == gwevent.ReasonSessionQuota:
		return packets.ErrServerUnavailable // v3: 0x03
	case v5:
		return packets.ErrNotAuthorized // 0x87
	}
	return packets.ErrBadUsernameOrPassword // v3: 0x05 not authorized
}

// admit checks a CONNECT and, when the client is admitted, registers its
// session. It returns the CONNACK code for a refusal.
func (g *Gateway) admit(cl *mqtt.Client, pk packets.Packet) (packets.Code, bool) {
	v5 := cl.Properties.ProtocolVersion >= 5
	remote := cl.Net.Remote
	fc, ok := cl.Net.Conn.(*frameConn)
	if !ok || fc.tls == nil {
		g.refuse(nil, gwevent.Event{RemoteAddr: remote}, gwevent.ReasonNoCertificate)
		return refuseCode(v5, gwevent.ReasonNoCertificate), false
	}
	tc := fc.tls
	leaf := verifiedLeaf(tc.ConnectionState())
	if leaf == nil {
		g.refuse(nil, gwevent.Event{RemoteAddr: remote}, gwevent.ReasonNoCertificate)
		return refuseCode(v5, gwevent.ReasonNoCertificate), false
	}
	serial := pki.SerialHex(leaf.SerialNumber)
	id, err := g.opts.Identities.DeviceID(leaf)
	if err != nil {
		g.refuse(nil, gwevent.Event{RemoteAddr: remote, Serial: serial}, gwevent.ReasonUnknownDevice)
		return refuseCode(v5, gwevent.ReasonUnknownDevice), false
	}
	conn := gwevent.Event{Device: id, RemoteAddr: remote, Serial: serial, ClientID: pk.Connect.ClientIdentifier}
	ds := g.device(id)
	if ds == nil {
		g.refuse(nil, conn, gwevent.ReasonUnknownDevice)
		return refuseCode(v5, gwevent.ReasonUnknownDevice), false
	}
	now := g.now()
	p := ds.policy.Load()
	if !ds.lim.connect(now, p.connectsPerMinute, g.opts.Limits.ConnectBan) {
		g.refuse(ds, withLimit(conn, gwevent.LimitConnectRate), gwevent.ReasonConnectRate)
		return refuseCode(v5, gwevent.ReasonConnectRate), false
	}
	if g.opts.Revoked.IsRevoked(leaf.SerialNumber) {
		g.refuse(ds, conn, gwevent.ReasonRevoked)
		return refuseCode(v5, gwevent.ReasonRevoked), false
	}
	if now.After(leaf.NotAfter) {
		g.refuse(ds, conn, gwevent.ReasonExpired)
		return refuseCode(v5, gwevent.ReasonExpired), false
	}
	if pk.Connect.ClientIdentifier == "" {
		// mochi assigned a random ID; bind it to the device.
		cl.ID = id + ":" + cl.ID
		if v5 {
			cl.Properties.Props.AssignedClientID = cl.ID
		}
	} else if !clientIDAllowed(id, cl.ID) {
		g.refuse(ds, conn, gwevent.ReasonClientID)
		return refuseCode(v5, gwevent.ReasonClientID), false
	}
	if pk.Connect.WillFlag && !p.acl.CanPublish(pk.Connect.WillTopic) {
		g.aclDenied(ds, cl.ID, pk.Connect.WillTopic, "will")
		g.refuse(ds, conn, gwevent.ReasonWillTopic)
		return refuseCode(v5, gwevent.ReasonWillTopic), false
	}

	s := &session{cl: cl, conn: fc, dev: ds, clientID: cl.ID, serial: leaf.SerialNumber,
		notAfter: leaf.NotAfter, remote: remote, v5: v5, started: now}
	// One admission at a time per device: the session count and the purge
	// of offline sessions must not interleave.
	ds.admitMu.Lock()
	defer ds.admitMu.Unlock()
	if reason := g.makeRoom(ds, cl.ID); reason != "" {
		g.refuse(ds, withLimit(conn, gwevent.LimitSessions), reason)
		return refuseCode(v5, reason), false
	}
	// Register under g.mu together with the status check, so that a
	// concurrent SetDevice either sees this session or is seen here.
	g.mu.Lock()
	reason := statusReason(ds.policy.Load())
	if g.devices[id] != ds {
		reason = gwevent.ReasonUnknownDevice
	}
	collision := false
	if reason == "" {
		for o := range ds.sessions {
			collision = collision || o.clientID == s.clientID
		}
		ds.sessions[s] = struct{}{}
		g.clients.Store(cl, s)
		g.conns.Store(net.Conn(fc), s)
	}
	g.mu.Unlock()
	if reason != "" {
		g.refuse(ds, conn, reason)
		return refuseCode(v5, reason), false
	}
	if ds.known == nil {
		ds.known = map[string]knownSession{}
	}
	ds.known[cl.ID] = knownSession{serial: leaf.SerialNumber, seq: g.admissions.Add(1)}
	g.m.sessions.Inc()
	// Re-check revocation after registering: either CertificateRevoked's
	// scan sees this session or this check sees the revoked serial.
	if g.opts.Revoked.IsRevoked(leaf.SerialNumber) {
		g.endSession(s, errRefusedLate)
		g.refuse(ds, conn, gwevent.ReasonRevoked)
		return refuseCode(v5, gwevent.ReasonRevoked), false
	}
	if collision {
		g.record(ds, gwevent.Event{Kind: gwevent.ClientIDCollision, Device: id, ClientID: s.clientID, RemoteAddr: remote, Time: now})
	}
	return packets.CodeSuccess, true
}

var errRefusedLate = errors.New("refused after admission")

// endSession removes a session once; it is called from OnDisconnect and,
// for the paths where mochi returns without OnDisconnect, from the listener.
func (g *Gateway) endSession(s *session, cause error) {
	if _, ok := g.clients.LoadAndDelete(s.cl); !ok {
		return
	}
	g.conns.Delete(s.conn)
	g.mu.Lock()
	delete(s.dev.sessions, s)
	g.mu.Unlock()
	g.m.sessions.Dec()
	if errors.Is(cause, errRefusedLate) {
		return // admit holds admitMu; the broker never added the client
	}
	if s.purge.Load() || !s.dev.policy.Load().admits() {
		s.dev.admitMu.Lock()
		g.purgeClient(s.dev, s.cl)
		s.dev.admitMu.Unlock()
	}
	reason := "closed"
	if cause != nil {
		reason = cause.Error()
	}
	now := g.now()
	g.record(s.dev, gwevent.Event{Kind: gwevent.Disconnected, Device: s.dev.id, ClientID: s.clientID, RemoteAddr: s.remote,
		Reason: reason, Duration: now.Sub(s.started), Time: now})
}

// connClosed is called by the listener when mochi is done with a connection.
func (g *Gateway) connClosed(c net.Conn, err error) {
	if v, ok := g.conns.Load(c); ok {
		g.endSession(v.(*session), err)
	}
}

// aclDenied counts and records an ACL denial.
func (g *Gateway) aclDenied(ds *deviceState, clientID, topic, action string) {
	g.record(ds, gwevent.Event{Kind: gwevent.ACLDenied, Device: deviceIDOfClient(clientID), ClientID: clientID,
		Topic: strings.TrimPrefix(topic, refusedTopicPrefix), Action: action})
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// drop returns what OnPublish returns to discard a publish: the MQTT 5
// reason code for QoS 1 (mochi sends it in the PUBACK), otherwise "ignore",
// which acknowledges QoS 1/2 normally and forwards nothing. (mochi would
// answer a QoS 2 error with a PUBACK and a QoS 0 error would be published.)
func drop(s *session, pk packets.Packet, code packets.Code) error {
	if s.v5 && pk.FixedHeader.Qos == 1 {
		return code
	}
	return packets.CodeSuccessIgnore
}

// publish applies the ACL, size and rate limits to one inbound PUBLISH.
func (g *Gateway) publish(s *session, pk packets.Packet) (packets.Packet, error) {
	ds := s.dev
	p := ds.policy.Load()
	if !p.admits() {
		return pk, drop(s, pk, packets.ErrNotAuthorized)
	}
	if !p.acl.CanPublish(pk.TopicName) {
		g.aclDenied(ds, s.clientID, pk.TopicName, "publish")
		return pk, drop(s, pk, packets.ErrNotAuthorized)
	}
	now := g.now()
	size := len(pk.Payload)
	if size > p.maxMessage {
		g.limitHit(s, now, gwevent.LimitMessageSize)
		if s.v5 {
			if srv := g.srv.Load(); srv != nil {
				_ = srv.DisconnectClient(s.cl, packets.ErrPacketTooLarge)
			}
			return pk, packets.ErrRejectPacket
		}
		return pk, packets.CodeSuccessIgnore
	}
	switch res, which := ds.lim.publish(now, size, p, g.opts.Limits.RateWindow); res {
	case limitDrop:
		g.limitHit(s, now, which)
		return pk, drop(s, pk, packets.ErrMessageRateTooHigh)
	case limitDisconnect:
		g.limitHit(s, now, gwevent.LimitSustainedRateExceeded)
		g.kick(s, packets.ErrMessageRateTooHigh, "sustained over-rate")
		return pk, packets.ErrRejectPacket
	}
	if pk.FixedHeader.Retain && !ds.admitRetained(pk.TopicName, size == 0) {
		pk.FixedHeader.Retain = false
		g.limitHit(s, now, gwevent.LimitRetained)
	}
	if _, ok := g.verbose.Load(ds.id); ok {
		g.log.Info("device publish", "device_id", ds.id, "client_id", s.clientID, "topic", truncate(pk.TopicName, 256), "bytes", size, "qos", pk.FixedHeader.Qos)
	}
	e := gwevent.Event{Kind: gwevent.Published, Device: ds.id, ClientID: s.clientID, Topic: pk.TopicName, Bytes: size, Payload: pk.Payload, Time: now}
	if h, ok := g.opts.Observer.(PublishHolder); ok && pk.FixedHeader.Qos > 0 {
		if !h.HoldPublish(e) {
			return pk, errNotHeld // refused by mochi, see PublishHolder
		}
		g.recordObserved(ds, e, false)
		return pk, nil
	}
	g.record(ds, e)
	return pk, nil
}

// errNotHeld refuses a QoS 1/2 publish the Observer could not take.
var errNotHeld = fmt.Errorf("%w: an observer's queue is full", mqtt.ErrPublishNotHeld)

// deliveryDropped records a message the broker dropped for a session of
// ds (nil: an unknown device): a limit event "delivery-dropped", counted
// in ward_gateway_delivery_dropped_total{qos,reason} and stored at most
// once per RateWindow.
func (g *Gateway) deliveryDropped(ds *deviceState, cl *mqtt.Client, qos byte, reason string) {
	e := gwevent.Event{Kind: gwevent.Limit, ClientID: cl.ID, LimitName: gwevent.LimitDeliveryDropped, QoS: qos, Reason: reason}
	if ds != nil {
		e.Device = ds.id
	}
	g.record(ds, e)
}

// limitHit records a limit hit (stored at most once per limit and
// RateWindow).
func (g *Gateway) limitHit(s *session, now time.Time, which string) {
	g.record(s.dev, gwevent.Event{Kind: gwevent.Limit, Device: s.dev.id, ClientID: s.clientID, LimitName: which, Time: now})
}
