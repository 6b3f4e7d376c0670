package stream

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/wardproject/ward/internal/bus"
)

// busEvent is a stream event on the cluster bus.
type busEvent struct {
	Origin   string          `json:"origin"` // the event's ID on the node that raised it
	Type     Type            `json:"type"`
	Device   string          `json:"device,omitempty"`
	Severity string          `json:"severity,omitempty"`
	Data     json.RawMessage `json:"data"`
}

// seenMax bounds the remembered origin IDs of remote events.
const seenMax = 4096

// Run hands local events to the cluster bus until ctx is done (without a
// Bus it only waits). Publishing is at most once: an event the bus
// refuses is counted in ward_stream_bus_lost_total and logged.
func (h *Hub) Run(ctx context.Context) error {
	if h.opts.Bus == nil {
		<-ctx.Done()
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case e := <-h.out:
			b, err := json.Marshal(busEvent{Origin: e.ID, Type: e.Type, Device: e.Device, Severity: e.Severity, Data: e.Data})
			if err == nil {
				pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				err = h.opts.Bus.Publish(pctx, busSubject, b)
				cancel()
			}
			if err != nil && ctx.Err() == nil {
				h.m.busLost.Inc()
				h.log.Error("share a stream event with the cluster", "event_id", e.ID, "type", e.Type, "err", err)
			}
		}
	}
}

// receive adds another node's event to the Hub, once per origin ID.
func (h *Hub) receive(m bus.Message) {
	var be busEvent
	if err := json.Unmarshal(m.Data, &be); err != nil || be.Origin == "" || !be.Type.valid() || !json.Valid(be.Data) {
		h.log.Warn("malformed stream event on the cluster bus", "err", err)
		return
	}
	if boot, _, _ := strings.Cut(be.Origin, "-"); boot == h.boot {
		return // our own
	}
	if !h.firstSight(be.Origin) {
		return
	}
	h.add(Event{Type: be.Type, Device: be.Device, Severity: be.Severity, Data: be.Data, origin: be.Origin})
}

// firstSight records a remote origin ID and reports whether it is new.
func (h *Hub) firstSight(origin string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.seen[origin]; ok {
		return false
	}
	if len(h.seenOrder) >= seenMax {
		delete(h.seen, h.seenOrder[0])
		h.seenOrder = h.seenOrder[1:]
	}
	h.seen[origin] = struct{}{}
	h.seenOrder = append(h.seenOrder, origin)
	return true
}
