package gateway_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/gateway"
	"github.com/wardproject/ward/internal/gwevent"
	"github.com/wardproject/ward/internal/store"
)

// eventTap is an Observer that hands each event (without its payload) to
// a channel.
type eventTap chan gwevent.Event

func (c eventTap) Observe(e gwevent.Event) {
	e.Payload = nil
	select {
	case c <- e:
	default:
		panic("eventTap full")
	}
}

// until collects observed events until one of kind k for device arrives.
func (c eventTap) until(t *testing.T, got *[]gwevent.Event, k gwevent.Kind, device string) {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case e := <-c:
			*got = append(*got, e)
			if e.Kind == k && e.Device == device {
				return
			}
		case <-deadline:
			t.Fatalf("no %s event for %s observed; saw %v", k, device, *got)
		}
	}
}

// TestOneRecordPerEvent: each event the gateway sees is reported once
// and the same way everywhere: every stored device event has an observed
// twin with the same kind, device and detail, every observed event of a
// stored kind was stored, and the counters count the observed events.
func TestOneRecordPerEvent(t *testing.T) {
	tap := make(eventTap, 1000)
	e := newEnv(t, activeDevices("dev-a"), nil, gateway.Limits{MaxMessageBytes: 64}, tap)
	ca, cx := issue(t, e.ca, "dev-a"), issue(t, e.ca, "dev-x") // dev-x: certificate of an unknown device
	a := e.mustConnect(&ca, "dev-a:one")
	if code := a.subscribe(t, "devices/dev-a/#"); code != 1 {
		t.Fatalf("own subscription: SUBACK %#x", code)
	}
	if code := a.subscribe(t, "devices/dev-b/#"); code != 0x80 {
		t.Fatalf("foreign subscription: SUBACK %#x, want 0x80", code)
	}
	a.publish(t, "devices/dev-a/t", []byte("ok"))
	if m := a.next(t); string(m.Payload()) != "ok" {
		t.Fatalf("got %q", m.Payload())
	}
	a.publish(t, "devices/dev-a/t", []byte(strings.Repeat("x", 100))) // over MaxMessageBytes: dropped
	if _, err := e.connect(&cx, "dev-x"); err == nil {
		t.Fatal("an unknown device connected")
	}
	a.c.Disconnect(0)

	var stored []store.Event
	for done := false; !done; {
		ev := e.waitEvent(func(store.Event) bool { return true })
		stored = append(stored, ev)
		done = ev.Kind == "disconnected" && ev.DeviceID == "dev-a"
	}
	var observed []gwevent.Event
	tap.until(t, &observed, gwevent.Disconnected, "dev-a")
	// The unknown device's refusal is recorded from the handshake, which
	// may finish after dev-a's disconnection.
	if !hasRefusal(stored, "dev-x") {
		stored = append(stored, e.waitEvent(refused("dev-x", gwevent.ReasonUnknownDevice)))
	}
	if !hasObserved(observed, gwevent.Refused, "dev-x") {
		tap.until(t, &observed, gwevent.Refused, "dev-x")
	}

	count := map[gwevent.Kind]int{}
	twins := map[string]int{} // kind|device|detail of observed stored kinds
	key := func(kind, dev string, d map[string]string) string { return fmt.Sprint(kind, "|", dev, "|", d) }
	for _, o := range observed {
		count[o.Kind]++
		if o.Kind.Stored() {
			twins[key(o.Kind.String(), o.Device, o.Detail())]++
		}
	}
	for _, s := range stored {
		k := key(s.Kind, s.DeviceID, s.Detail)
		if twins[k] == 0 {
			t.Errorf("stored event %s %s %v was not observed (observed: %v)", s.Kind, s.DeviceID, s.Detail, observed)
			continue
		}
		twins[k]--
	}
	for k, n := range twins {
		if n != 0 {
			t.Errorf("observed %d event(s) never stored: %s", n, k)
		}
	}
	for _, w := range []struct {
		kind          gwevent.Kind
		metric, label string
		n             int
	}{
		{gwevent.Connected, "ward_gateway_connections_total", "accepted", 1},
		{gwevent.Refused, "ward_gateway_refused_total", gwevent.ReasonUnknownDevice, 1},
		{gwevent.ACLDenied, "ward_gateway_acl_denied_total", "subscribe", 1},
		{gwevent.Published, "ward_gateway_messages_total", "in", 1},
		{gwevent.Delivered, "ward_gateway_messages_total", "out", 1},
		{gwevent.Limit, "ward_gateway_limit_hits_total", gwevent.LimitMessageSize, 1},
		{gwevent.Subscribed, "", "", 1},
		{gwevent.Disconnected, "", "", 1},
	} {
		if count[w.kind] != w.n {
			t.Errorf("observed %d %s events, want %d", count[w.kind], w.kind, w.n)
		}
		if w.metric != "" {
			if got := e.metric(w.metric, w.label); got != float64(w.n) {
				t.Errorf("%s{%s} = %v, want %d", w.metric, w.label, got, w.n)
			}
		}
	}
	if got := e.metric("ward_gateway_connections_total", "refused"); got != 1 {
		t.Errorf("ward_gateway_connections_total{refused} = %v, want 1", got)
	}
	for _, o := range observed {
		if o.Kind == gwevent.Delivered && o.PacketBytes <= o.Bytes {
			t.Errorf("delivered event: packet %d bytes, payload %d", o.PacketBytes, o.Bytes)
		}
		if o.Kind == gwevent.Connected && (o.RemoteIP() != "127.0.0.1" || o.Serial == "" || o.ClientID != "dev-a:one") {
			t.Errorf("connected event lacks its connection: %+v", o)
		}
	}
	if got := e.metric("ward_gateway_bytes_total", "in"); got != 2 {
		t.Errorf("ward_gateway_bytes_total{in} = %v, want 2", got)
	}
}

func hasRefusal(evs []store.Event, dev string) bool {
	for _, e := range evs {
		if e.Kind == "refused" && e.DeviceID == dev {
			return true
		}
	}
	return false
}

func hasObserved(evs []gwevent.Event, k gwevent.Kind, dev string) bool {
	for _, e := range evs {
		if e.Kind == k && e.Device == dev {
			return true
		}
	}
	return false
}
