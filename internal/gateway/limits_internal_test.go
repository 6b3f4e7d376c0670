package gateway

import (
	"testing"
	"time"

	"github.com/wardproject/ward/internal/gwevent"
	"github.com/wardproject/ward/internal/store"
)

func TestBucket(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var b bucket
	b.configure(2, 4)
	for i := range 4 {
		if !b.take(t0, 1) {
			t.Fatalf("take %d refused within the burst", i)
		}
	}
	if b.take(t0, 1) {
		t.Fatal("take beyond the burst allowed")
	}
	if !b.take(t0.Add(500*time.Millisecond), 1) {
		t.Fatal("no refill after 0.5 s at 2/s")
	}
	if b.take(t0.Add(500*time.Millisecond), 1) {
		t.Fatal("refilled more than rate × time")
	}
	if b.take(t0.Add(-time.Hour), 1) {
		t.Fatal("a clock going backwards refilled the bucket")
	}
	if !b.take(t0.Add(time.Hour), 4) || b.take(t0.Add(time.Hour), 1) {
		t.Fatal("refill not capped at the burst")
	}
}

func TestSustainedOverRateDisconnects(t *testing.T) {
	l := Limits{}
	l.setDefaults()
	p := compilePolicy(store.Device{ID: "d", Status: store.StatusActive, Policy: store.Policy{MessagesPerSecond: 2}}, store.Policy{}, false, l)
	var lim limiter
	now := time.Unix(1000, 0)
	window := 10 * time.Second
	// 1.5× the rate for a whole window: a third dropped, no disconnect.
	for i := range 30 {
		res, _ := lim.publish(now.Add(time.Duration(i)*time.Second/3), 10, p, window)
		if res == limitDisconnect {
			t.Fatalf("disconnected at message %d while sending at 1.5× the rate", i)
		}
	}
	// A flood: the drops exceed the window's allowance (20) and disconnect.
	var res limitResult
	n := 0
	for res != limitDisconnect && n < 100 {
		res, _ = lim.publish(now.Add(20*time.Second), 10, p, window)
		n++
	}
	if res != limitDisconnect {
		t.Fatal("flood never disconnected")
	}
	if n < 20 {
		t.Fatalf("disconnected after %d drops, before the window allowance", n)
	}
}

func TestByteRate(t *testing.T) {
	l := Limits{}
	l.setDefaults()
	p := compilePolicy(store.Device{ID: "d", Status: store.StatusActive, Policy: store.Policy{BytesPerSecond: 1000, MaxMessageBytes: 600}}, store.Policy{}, false, l)
	var lim limiter
	now := time.Unix(1000, 0)
	if res, _ := lim.publish(now, 600, p, time.Second); res != limitOK {
		t.Fatal("first message refused")
	}
	if res, which := lim.publish(now, 600, p, time.Second); res != limitDrop || which != gwevent.LimitByteRate {
		t.Fatalf("got %v %q, want byte-rate drop", res, which)
	}
	if res, _ := lim.publish(now.Add(time.Second), 600, p, time.Second); res != limitOK {
		t.Fatal("not refilled after 1 s")
	}
}

func TestCompilePolicyOverrides(t *testing.T) {
	l := Limits{}
	l.setDefaults()
	model := store.Policy{MessagesPerSecond: 10, ConnectsPerMinute: 5, Publish: []string{"m/{id}"}}
	dev := store.Device{ID: "d", Status: store.StatusActive, Policy: store.Policy{ConnectsPerMinute: 7, MaxMessageBytes: 1 << 30}}
	p := compilePolicy(dev, model, true, l)
	if p.msgRate != 10 || p.connectsPerMinute != 7 || p.byteRate != l.BytesPerSecond {
		t.Fatalf("overrides: %+v", p)
	}
	if p.maxMessage != l.MaxPacketBytes {
		t.Fatalf("maxMessage %d not capped at MaxPacketBytes %d", p.maxMessage, l.MaxPacketBytes)
	}
	if !p.acl.CanPublish("m/d") || p.acl.CanPublish("m/e") {
		t.Fatal("model grant not applied with {id}")
	}
}
