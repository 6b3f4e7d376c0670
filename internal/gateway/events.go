package gateway

import (
	"github.com/wardproject/ward/internal/gwevent"
	"github.com/wardproject/ward/internal/store"
)

// Observer receives the gateway's events for detection and rollouts. It
// is called on connection goroutines and must not block or retain
// Event.Payload. It sees every event attributed to a device (Device !=
// ""), except those observed says it does not.
type Observer interface {
	Observe(e gwevent.Event)
}

// PublishHolder is an Observer that may be unable to take a device's
// QoS 1/2 publish: the rollout engine, whose bounded queue may be full
// (the bus unreachable). The gateway asks it before acknowledging such a
// publish, instead of calling Observe: false refuses the publish to the
// device (MQTT 5: PUBACK/PUBREC 0x97; 3.1.1: the connection closed
// without acknowledgement, so the client resends it after reconnecting),
// the same refusal as for an offline session that cannot hold it. A QoS
// 0 publish, which cannot be refused, goes to Observe as before.
type PublishHolder interface {
	Observer
	// HoldPublish observes e, a device's QoS 1/2 publish not yet
	// acknowledged, and reports whether it took it; it must not block
	// or retain Event.Payload.
	HoldPublish(e gwevent.Event) bool
}

// record reports one event, with one call: it counts it in the gateway's
// metrics, hands it to the Observer and, for the stored kinds
// (gwevent.Kind.Stored), records it as a device event for ds (nil: not
// attributable to a device the gateway knows). Stored events are subject
// to the per-device event rate (the excess is counted in
// ward_gateway_events_dropped_total) and a limit event is stored at most
// once per limit and Limits.RateWindow. A zero e.Time is now.
func (g *Gateway) record(ds *deviceState, e gwevent.Event) {
	g.recordObserved(ds, e, g.opts.Observer != nil && observed(ds, &e))
}

// recordObserved is record, handing e to the Observer only when observe
// is set (a held publish has been observed by HoldPublish).
func (g *Gateway) recordObserved(ds *deviceState, e gwevent.Event, observe bool) {
	if e.Time.IsZero() {
		e.Time = g.now()
	}
	g.m.count(&e)
	if observe {
		g.opts.Observer.Observe(e)
	}
	if e.Kind.Stored() {
		g.storeEvent(ds, &e)
	}
}

// observed reports whether the Observer sees e: not a refusal of a live
// session (Event.Live: a session ended, not a connection attempt), not an
// ACL denial of a device the gateway no longer knows (its will, published
// after it was removed), and not a delivery dropped or refused for the
// device nor its publish refused for a full subscriber session (the
// subscriber's loss or bound, not the device's behaviour).
func observed(ds *deviceState, e *gwevent.Event) bool {
	switch {
	case e.Device == "", e.Live:
		return false
	case e.Kind == gwevent.ACLDenied:
		return ds != nil
	case e.Kind == gwevent.Limit:
		switch e.LimitName {
		case gwevent.LimitDeliveryDropped, gwevent.LimitDeliveryRefused, gwevent.LimitPublishRefused:
			return false
		}
	}
	return true
}

// storeEvent hands a stored kind to Options.Events within the rates.
func (g *Gateway) storeEvent(ds *deviceState, e *gwevent.Event) {
	if e.Kind == gwevent.Limit && (ds == nil || !ds.lim.shouldRecord(e.Time, e.LimitName, g.opts.Limits.RateWindow)) {
		return // limits are per device; a device the gateway does not know has none
	}
	var ok bool
	if ds != nil {
		ok = ds.lim.event(e.Time, g.opts.Limits.EventsPerSecond, g.opts.Limits.EventBurst)
	} else {
		ok = g.unattributed.take(e.Time, 1)
	}
	if !ok || g.opts.Events == nil {
		g.m.eventsDropped.Inc()
		return
	}
	g.opts.Events.DeviceEvent(store.Event{DeviceID: e.Device, Time: e.Time.UTC(), Kind: e.Kind.String(), Detail: e.Detail()})
}

// refuse records a refused connection; conn describes it (device, remote
// address, serial, client ID, and the limit that refused it, if any).
func (g *Gateway) refuse(ds *deviceState, conn gwevent.Event, reason string) {
	conn.Kind, conn.Reason = gwevent.Refused, reason
	g.record(ds, conn)
}

// withLimit returns conn naming the limit that refused it.
func withLimit(conn gwevent.Event, limit string) gwevent.Event {
	conn.LimitName = limit
	return conn
}
