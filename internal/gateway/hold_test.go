package gateway_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/wardproject/ward/internal/gwevent"
	"github.com/wardproject/ward/internal/mochi/packets"
	"github.com/wardproject/ward/internal/store"
)

// holder is a gateway.PublishHolder whose queue is full while full is
// set; it records what it took and what it only observed, and wakes
// changed after each.
type holder struct {
	full    atomic.Bool
	changed chan struct{}
	mu      sync.Mutex
	held    map[string]int // payloads taken through HoldPublish
	seen    map[string]int // payloads of publishes given to Observe
}

func newHolder() *holder {
	return &holder{held: map[string]int{}, seen: map[string]int{}, changed: make(chan struct{}, 1)}
}

func (h *holder) Observe(e gwevent.Event) {
	if e.Kind == gwevent.Published {
		h.mu.Lock()
		h.seen[string(e.Payload)]++
		h.mu.Unlock()
		h.poke()
	}
}

func (h *holder) poke() {
	select {
	case h.changed <- struct{}{}:
	default:
	}
}

// until waits, publish by publish, for cond on the counts of payload p.
func (h *holder) until(t *testing.T, what, p string, cond func(held, seen int) bool) {
	t.Helper()
	deadline := time.After(bound)
	for !cond(h.counts(p)) {
		select {
		case <-h.changed:
		case <-deadline:
			held, seen := h.counts(p)
			t.Fatalf("timed out waiting for %s: %q held %d, observed %d times", what, p, held, seen)
		}
	}
}

func (h *holder) HoldPublish(e gwevent.Event) bool {
	if h.full.Load() {
		return false
	}
	h.mu.Lock()
	h.held[string(e.Payload)]++
	h.mu.Unlock()
	h.poke()
	return true
}

func (h *holder) counts(p string) (held, seen int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.held[p], h.seen[p]
}

// TestPublishNotHeldIsRefused: a device's QoS 1 publish that the
// Observer (the rollout engine) cannot hold is refused to the device,
// never acknowledged and lost: MQTT 5 gets PUBACK 0x97, an MQTT 3.1.1
// client's connection is closed without PUBACK and its session resends
// the message after reconnecting, taken once there is room. Each refusal
// is a publish-refused limit event (reason not-held) and counted; QoS 0
// is observed as before, and a held publish is not observed twice.
func TestPublishNotHeldIsRefused(t *testing.T) {
	h := newHolder()
	lim := deliveryLimits(1<<20, time.Second, 100*time.Millisecond)
	lim.ConnectsPerMinute = 1e4
	e := newEnv(t, activeDevices("dev-p5", "dev-p3"), fleetModel, lim, h)
	p5cert, p3cert := issue(t, e.ca, "dev-p5"), issue(t, e.ca, "dev-p3")
	h.full.Store(true)

	// MQTT 5: PUBACK 0x97, nothing observed.
	p5, _ := e.dial5(&p5cert, "dev-p5:app")
	code, err := p5.publishAcked("fleet/p5", []byte("r5"))
	if err != nil {
		t.Fatal(err)
	}
	if code != packets.ErrQuotaExceeded.Code {
		t.Fatalf("a publish the observer cannot hold: PUBACK %#x, want 0x97", code)
	}
	if held, seen := h.counts("r5"); held+seen != 0 {
		t.Fatalf("a refused publish was held %d and observed %d times", held, seen)
	}
	e.waitEvent(func(ev store.Event) bool {
		return ev.DeviceID == "dev-p5" && ev.Detail["limit"] == gwevent.LimitPublishRefused && ev.Detail["reason"] == gwevent.DropReasonNotHeld
	})

	// MQTT 3.1.1: the connection closes without PUBACK; paho resends the
	// message from its session on reconnecting, acknowledged once held.
	p3, _, err := e.connectWith(&p3cert, "dev-p3:app", func(o *paho.ClientOptions) {
		o.SetCleanSession(false).SetAutoReconnect(true).SetMaxReconnectInterval(200 * time.Millisecond)
	})
	if err != nil {
		t.Fatal(err)
	}
	tok := p3.c.Publish("fleet/p3", 1, false, []byte("r3"))
	select {
	case <-p3.lost:
	case <-tok.Done():
		t.Fatalf("the 3.1.1 publish completed (err %v) while the observer could not hold it", tok.Error())
	case <-time.After(bound):
		t.Fatal("the 3.1.1 publisher was not disconnected")
	}
	if got := e.counter("ward_gateway_delivery_refused_total", map[string]string{"qos": "1", "reason": gwevent.DropReasonNotHeld}); got < 2 {
		t.Errorf("ward_gateway_delivery_refused_total{reason=not-held} = %v, want at least 2", got)
	}
	h.full.Store(false)
	// paho's own token is no witness here (it completes when the
	// message is resent): the holder is.
	h.until(t, "the 3.1.1 message, resent after reconnecting, to be held", "r3", func(held, _ int) bool { return held > 0 })
	if code, err := p5.publishAcked("fleet/p5", []byte("r5")); err != nil || code != 0 {
		t.Errorf("MQTT 5 publish once the observer has room: PUBACK %#x, %v", code, err)
	}
	if held, seen := h.counts("r5"); held != 1 || seen != 0 {
		t.Errorf("an MQTT 5 publish, refused then accepted: held %d, observed %d times, want held once", held, seen)
	}

	// QoS 0 cannot be refused: it is observed, not held.
	p3.c.Publish("fleet/p3", 0, false, []byte("q0"))
	h.until(t, "the QoS 0 publish to be observed", "q0", func(held, seen int) bool { return held+seen > 0 })
	if held, seen := h.counts("q0"); held != 0 || seen != 1 {
		t.Errorf("a QoS 0 publish: held %d, observed %d times, want observed once", held, seen)
	}
}
