package server

import (
	"encoding/json"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wardproject/ward/internal/alert"
	"github.com/wardproject/ward/internal/bus"
	"github.com/wardproject/ward/internal/config"
	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/stream"
)

// newHub builds the live stream's hub from the stream section (and the
// cluster bus, nil on a single node).
func newHub(cfg *config.Config, b bus.Bus, recheck time.Duration, log *slog.Logger, reg prometheus.Registerer) (*stream.Hub, error) {
	o := stream.Options{Buffer: cfg.Stream.Buffer, Replay: cfg.Stream.Replay, Heartbeat: cfg.Stream.Heartbeat,
		MaxClients: cfg.Stream.MaxClients, MaxPerPrincipal: cfg.Stream.MaxPerPrincipal, Recheck: recheck,
		Logger: log, Metrics: reg}
	if b != nil {
		o.Bus = b
	}
	return stream.New(o)
}

// deviceStates are the event kinds the stream calls device state changes
// (event: device); every other device event is event: event.
var deviceStates = map[string]bool{
	"registered": true, "enrolled": true, "quarantined": true, "released": true, "revoked": true, "retired": true,
	"connected": true, "disconnected": true,
}

// streamFeed tees alert changes (alert.Subscriber) and device events
// (fleet.EventObserver, and the gateway's through teeEvents) into the
// live stream. It never blocks: Hub.Publish does not.
type streamFeed struct{ hub *stream.Hub }

// AlertChanged implements alert.Subscriber.
func (f streamFeed) AlertChanged(n alert.Notification) {
	b, err := json.Marshal(n)
	if err != nil {
		return // an Alert always marshals
	}
	f.hub.Publish(stream.Event{Type: stream.Alert, Device: n.Alert.Device, Severity: string(n.Alert.Severity), Data: b})
}

// DeviceEvent implements fleet.EventObserver.
func (f streamFeed) DeviceEvent(e store.Event) {
	b, err := json.Marshal(e)
	if err != nil {
		return
	}
	t := stream.DeviceEvent
	if deviceStates[e.Kind] {
		t = stream.Device
	}
	f.hub.Publish(stream.Event{Type: t, Device: e.DeviceID, Data: b})
}

// teeEvents is the gateway's event sink: the recorder stores each event
// (in batches) and the live stream shows it at once.
type teeEvents struct {
	rec  interface{ DeviceEvent(store.Event) }
	feed streamFeed
}

// DeviceEvent implements gateway.EventSink.
func (t teeEvents) DeviceEvent(e store.Event) {
	t.rec.DeviceEvent(e)
	t.feed.DeviceEvent(e)
}
