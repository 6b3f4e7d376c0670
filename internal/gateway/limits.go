package gateway

import (
	"math"
	"sync"
	"time"

	"github.com/wardproject/ward/internal/gwevent"
	"github.com/wardproject/ward/internal/store"
)

// bucket is a token bucket driven by an injected clock. It is not safe for
// concurrent use; its owner locks around it.
type bucket struct {
	rate   float64 // tokens per second
	burst  float64 // capacity
	tokens float64
	last   time.Time
	primed bool
}

// configure sets rate and capacity, keeping the current fill (capped).
func (b *bucket) configure(rate, burst float64) {
	b.rate, b.burst = rate, burst
	if b.tokens > burst {
		b.tokens = burst
	}
}

func (b *bucket) refill(now time.Time) {
	if !b.primed {
		b.tokens, b.last, b.primed = b.burst, now, true
		return
	}
	if d := now.Sub(b.last); d > 0 {
		b.tokens = math.Min(b.burst, b.tokens+d.Seconds()*b.rate)
		b.last = now
	}
}

// take removes n tokens if available.
func (b *bucket) take(now time.Time, n float64) bool {
	b.refill(now)
	if b.tokens >= n {
		b.tokens -= n
		return true
	}
	return false
}

// bucketMu is a bucket with its own lock.
type bucketMu struct {
	mu sync.Mutex
	b  bucket
}

func (bm *bucketMu) take(now time.Time, n float64) bool {
	bm.mu.Lock()
	defer bm.mu.Unlock()
	return bm.b.take(now, n)
}

// policy is a device's effective, compiled policy. It is immutable; a
// change replaces the pointer in deviceState.policy.
type policy struct {
	status store.DeviceStatus
	// restricted: the device is in restricted quarantine and acl is its
	// quarantine tree only.
	restricted        bool
	acl               ACL
	maxMessage        int
	msgRate, msgBurst float64
	byteRate          float64
	byteBurst         float64
	connectsPerMinute int
}

// compilePolicy merges the global limits with the model's and then the
// device's overrides (non-zero values win), and unions their topic grants.
func compilePolicy(d store.Device, model store.Policy, hasModel bool, l Limits) *policy {
	p := &policy{
		status:            d.Status,
		maxMessage:        l.MaxMessageBytes,
		msgRate:           l.MessagesPerSecond,
		msgBurst:          l.MessageBurst,
		byteRate:          l.BytesPerSecond,
		connectsPerMinute: l.ConnectsPerMinute,
	}
	var pols []store.Policy
	if hasModel {
		pols = append(pols, model)
	}
	pols = append(pols, d.Policy)
	for _, o := range pols {
		if o.MaxMessageBytes > 0 {
			p.maxMessage = min(o.MaxMessageBytes, l.MaxPacketBytes)
		}
		if o.MessagesPerSecond > 0 {
			p.msgRate = o.MessagesPerSecond
			p.msgBurst = math.Max(1, o.MessagesPerSecond)
		}
		if o.BytesPerSecond > 0 {
			p.byteRate = o.BytesPerSecond
		}
		if o.ConnectsPerMinute > 0 {
			p.connectsPerMinute = o.ConnectsPerMinute
		}
	}
	p.byteBurst = math.Max(p.byteRate, float64(p.maxMessage))
	p.acl = NewACL(d.ID, pols...)
	if restricted(d) {
		p.restricted = true
		p.acl = NewQuarantineACL(d.ID)
	}
	return p
}

// restricted reports whether d is in restricted quarantine.
func restricted(d store.Device) bool {
	return d.Status == store.StatusQuarantined && d.Quarantine == store.QuarantineRestrict
}

// admits reports whether the device may be connected: it is active or in
// restricted quarantine.
func (p *policy) admits() bool {
	return p.status == store.StatusActive || p.restricted
}

// limitResult is the outcome of a publish against the rate limits.
type limitResult int

const (
	limitOK         limitResult = iota
	limitDrop                   // over the rate: drop
	limitDisconnect             // over the rate for a sustained period: disconnect
)

// limiter is a device's rate-limit state, shared by its sessions.
type limiter struct {
	mu       sync.Mutex // guards every field below
	msgs     bucket
	bytes    bucket
	connects bucket
	banUntil time.Time
	events   bucket
	// windowStart and windowDrops measure sustained over-rate publishing.
	windowStart time.Time
	windowDrops int
	// limitLogged is the start of the window in which a limit event was
	// last recorded, per limit name, so a storm records one event per window.
	limitLogged map[string]time.Time
}

// publish charges one message of size bytes. It returns which limit was
// hit ("" when none) and what to do.
func (l *limiter) publish(now time.Time, size int, p *policy, window time.Duration) (limitResult, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs.configure(p.msgRate, p.msgBurst)
	l.bytes.configure(p.byteRate, p.byteBurst)
	var hit string
	switch {
	case !l.msgs.take(now, 1):
		hit = gwevent.LimitMessageRate
	case !l.bytes.take(now, float64(size)):
		l.msgs.tokens++ // refund: the message was not sent
		hit = gwevent.LimitByteRate
	default:
		return limitOK, ""
	}
	if now.Sub(l.windowStart) >= window || now.Before(l.windowStart) {
		l.windowStart, l.windowDrops = now, 0
	}
	l.windowDrops++
	allowed := p.msgRate * window.Seconds()
	if hit == gwevent.LimitByteRate {
		// Compare in bytes: dropped volume over the window's allowance.
		allowed = p.byteRate * window.Seconds() / math.Max(1, float64(size))
	}
	if float64(l.windowDrops) > math.Max(allowed, p.msgBurst) {
		l.windowStart, l.windowDrops = now, 0
		return limitDisconnect, hit
	}
	return limitDrop, hit
}

// shouldRecord reports whether a limit event for name should be recorded:
// at most one per RateWindow per limit.
func (l *limiter) shouldRecord(now time.Time, name string, window time.Duration) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.limitLogged == nil {
		l.limitLogged = map[string]time.Time{}
	}
	if t, ok := l.limitLogged[name]; ok && now.Sub(t) < window && !now.Before(t) {
		return false
	}
	l.limitLogged[name] = now
	return true
}

// connect charges one connection attempt. It returns false when the
// device is banned or has just exceeded its rate (which starts a ban).
func (l *limiter) connect(now time.Time, perMinute int, ban time.Duration) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Before(l.banUntil) {
		return false
	}
	l.connects.configure(float64(perMinute)/60, float64(perMinute))
	if l.connects.take(now, 1) {
		return true
	}
	l.banUntil = now.Add(ban)
	return false
}

// event charges one recorded event.
func (l *limiter) event(now time.Time, rate, burst float64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events.configure(rate, burst)
	return l.events.take(now, 1)
}
