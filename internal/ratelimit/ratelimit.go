// Package ratelimit bounds how often one key (a source address, a device
// ID) may do something: a token bucket per key, kept in a table whose size
// is capped, so that a flood from many keys costs bounded memory. It is
// what EST and the API use on the routes anyone can call.
//
// The table evicts the least recently used key when it is full. An evicted
// key starts again with a full bucket; the least recently used buckets are
// the ones most likely to have refilled already, so a key that keeps
// flooding stays in the table and stays limited. golang.org/x/time/rate
// has the bucket but not the bounded per-key table, which is the part that
// matters here; the bucket is a dozen lines.
package ratelimit

import (
	"container/list"
	"errors"
	"math"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// DefaultMaxKeys is the table size when Options.MaxKeys is zero: about
// 10 MiB at most per limiter.
const DefaultMaxKeys = 65536

// Options configure a Limiter. Rate and Burst are required.
type Options struct {
	Rate    float64 // tokens added per second
	Burst   int     // bucket size: what a key may spend at once
	MaxKeys int     // keys tracked at most (0: DefaultMaxKeys)
	Now     func() time.Time
}

// Limiter is a set of token buckets, one per key. It is safe for
// concurrent use.
type Limiter struct {
	opts Options
	mu   sync.Mutex
	keys map[string]*list.Element // guarded by mu; values are *entry
	lru  *list.List               // guarded by mu; front = most recently used
}

type entry struct {
	key    string
	tokens float64
	at     time.Time
}

// New returns a Limiter.
func New(opts Options) (*Limiter, error) {
	if opts.Rate <= 0 || opts.Burst < 1 {
		return nil, errors.New("ratelimit: Options.Rate must be positive and Options.Burst at least 1")
	}
	if opts.MaxKeys <= 0 {
		opts.MaxKeys = DefaultMaxKeys
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Limiter{opts: opts, keys: map[string]*list.Element{}, lru: list.New()}, nil
}

// Allow spends one token of key's bucket. When the bucket is empty it
// spends nothing and returns false with how long until a token is back.
func (l *Limiter) Allow(key string) (bool, time.Duration) { return l.take(key, 1) }

// Check reports whether key has a token left, without spending it, and
// if not how long until it has. Use it before work whose failure is what
// is limited (an authentication), then Allow when it failed.
func (l *Limiter) Check(key string) (bool, time.Duration) { return l.take(key, 0) }

func (l *Limiter) take(key string, n float64) (bool, time.Duration) {
	now := l.opts.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	el, ok := l.keys[key]
	if !ok {
		if n == 0 {
			return true, 0 // an unknown key has a full bucket
		}
		if l.lru.Len() >= l.opts.MaxKeys {
			old := l.lru.Back()
			l.lru.Remove(old)
			delete(l.keys, old.Value.(*entry).key)
		}
		el = l.lru.PushFront(&entry{key: key, tokens: float64(l.opts.Burst), at: now})
		l.keys[key] = el
	} else {
		l.lru.MoveToFront(el)
	}
	e := el.Value.(*entry)
	if d := now.Sub(e.at); d > 0 {
		e.tokens = math.Min(float64(l.opts.Burst), e.tokens+d.Seconds()*l.opts.Rate)
		e.at = now
	}
	if e.tokens >= math.Max(n, 1) {
		e.tokens -= n
		return true, 0
	}
	wait := time.Duration((1 - e.tokens) / l.opts.Rate * float64(time.Second))
	return false, wait
}

// Len is how many keys the table holds.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lru.Len()
}

// SourceKey maps an HTTP request's RemoteAddr ("ip:port") to the source it
// is limited as: the IPv4 address, or the IPv6 /64 (one host usually holds
// a whole /64, so a per-address limit would be no limit). An address that
// does not parse is its own key.
func SourceKey(remoteAddr string) string {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		a, err := netip.ParseAddr(remoteAddr)
		if err != nil {
			return remoteAddr
		}
		ap = netip.AddrPortFrom(a, 0)
	}
	a := ap.Addr().Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// RetryAfter renders a wait as the Retry-After header's whole seconds,
// rounded up, at least 1.
func RetryAfter(d time.Duration) string {
	s := int64(math.Ceil(d.Seconds()))
	if s < 1 {
		s = 1
	}
	return strconv.FormatInt(s, 10)
}
