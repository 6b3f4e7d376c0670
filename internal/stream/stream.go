package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wardproject/ward/internal/bus"
	"github.com/wardproject/ward/internal/secret"
)

// Type is the kind of a stream event: the SSE "event:" field.
type Type string

// Event types a Hub carries.
const (
	// Alert: an alert change; data is the alert.Notification (change,
	// time, alert).
	Alert Type = "alert"
	// Device: a device state change (registered, enrolled, quarantined,
	// released, revoked, retired, connected, disconnected); data is the
	// store.Event.
	Device Type = "device"
	// DeviceEvent: any other device event (refused, acl-denied, limit,
	// token-issued, enroll-refused, reenrolled); data is the store.Event.
	DeviceEvent Type = "event"
)

// Control events Serve writes; they carry no ID.
const (
	// Reset: the Last-Event-ID was from another server start or older
	// than the replay ring; the client must reload what it shows.
	Reset Type = "reset"
	// Overflow: the client fell behind and is dropped; reconnecting with
	// Last-Event-ID resumes from the replay ring.
	Overflow Type = "overflow"
)

// Event is one stream event.
type Event struct {
	// ID is set by the Hub: "<boot>-<seq>".
	ID   string
	Type Type
	// Device is the device the event is about, for the device filter.
	Device string
	// Severity is an alert's severity, for the severity filter.
	Severity string
	// Data is one JSON value (no raw newlines).
	Data json.RawMessage
	// origin is the ID the event has on the node that raised it ("" for a
	// local event).
	origin string
}

// Bus is the cluster bus the Hub publishes its events on and reads other
// nodes' from. bus.Bus implements it.
type Bus interface {
	Publish(ctx context.Context, subject string, data []byte) error
	Subscribe(pattern string, fn func(bus.Message)) (bus.Subscription, error)
}

// Options configure a Hub. Every field is optional.
type Options struct {
	// Buffer is each subscriber's buffer, in events (default 256).
	Buffer int
	// Replay is how many recent events are kept for Last-Event-ID
	// (default 1000).
	Replay int
	// MaxClients bounds the subscribers at once (default 1000), and
	// MaxPerPrincipal those of one principal (default 8); past either,
	// Subscribe returns ErrTooMany.
	MaxClients      int
	MaxPerPrincipal int
	// Heartbeat is how often Serve writes a comment on an idle stream, so
	// that proxies keep it open (default 15s).
	Heartbeat time.Duration
	// Recheck is how often Serve asks whether the client's credentials
	// are still valid (default 30s).
	Recheck time.Duration
	// WriteTimeout bounds each write to a client (default 10s): a client
	// whose connection accepts nothing for that long is cut.
	WriteTimeout time.Duration
	// Bus, when set, shares events with the other nodes of a cluster.
	Bus     Bus
	Logger  *slog.Logger
	Metrics prometheus.Registerer
}

// Defaults of Options.
const (
	DefaultBuffer          = 256
	DefaultReplay          = 1000
	DefaultMaxClients      = 1000
	DefaultMaxPerPrincipal = 8
	DefaultHeartbeat       = 15 * time.Second
	DefaultRecheck         = 30 * time.Second
	DefaultWriteTimeout    = 10 * time.Second
)

// Errors of Subscribe.
var (
	// ErrTooMany: Options.MaxClients or Options.MaxPerPrincipal reached.
	ErrTooMany = errors.New("too many live streams")
	// ErrClosed: the Hub is shutting down.
	ErrClosed = errors.New("live stream is shutting down")
)

// busSubject carries stream events between cluster nodes.
const busSubject = "stream"

// Hub fans events out to subscribers. Its methods are safe for
// concurrent use.
type Hub struct {
	opts Options
	log  *slog.Logger
	boot string
	m    metrics

	mu          sync.Mutex // guards everything below
	seq         uint64
	ring        []Event // the last opts.Replay events, oldest first (circular from ringStart)
	ringStart   int
	subs        map[*Subscription]struct{}
	byPrincipal map[string]int
	closed      bool
	seen        map[string]struct{} // origin IDs of remote events, bounded by seenOrder
	seenOrder   []string

	out    chan Event // local events for the bus
	busSub bus.Subscription
}

// New returns a Hub. With Options.Bus it subscribes to the other nodes'
// events at once; Run forwards the local ones.
func New(opts Options) (*Hub, error) {
	if opts.Buffer <= 0 {
		opts.Buffer = DefaultBuffer
	}
	if opts.Replay <= 0 {
		opts.Replay = DefaultReplay
	}
	if opts.MaxClients <= 0 {
		opts.MaxClients = DefaultMaxClients
	}
	if opts.MaxPerPrincipal <= 0 {
		opts.MaxPerPrincipal = DefaultMaxPerPrincipal
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = DefaultHeartbeat
	}
	if opts.Recheck <= 0 {
		opts.Recheck = DefaultRecheck
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = DefaultWriteTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	boot, err := secret.NewID(6)
	if err != nil {
		return nil, fmt.Errorf("stream: boot ID: %w", err)
	}
	boot = strings.ReplaceAll(boot, "-", "")
	h := &Hub{opts: opts, log: opts.Logger.With("component", "stream"), boot: boot, m: newMetrics(opts.Metrics),
		subs: map[*Subscription]struct{}{}, byPrincipal: map[string]int{}, seen: map[string]struct{}{},
		out: make(chan Event, 1024)}
	if opts.Bus != nil {
		if h.busSub, err = opts.Bus.Subscribe(busSubject, h.receive); err != nil {
			return nil, fmt.Errorf("stream: subscribe to the cluster's events: %w", err)
		}
	}
	return h, nil
}

// Publish sends a local event to every matching subscriber (and, in a
// cluster, to the other nodes). It never blocks.
func (h *Hub) Publish(e Event) {
	e.origin = ""
	if id := h.add(e); id != "" && h.opts.Bus != nil {
		e.ID = id
		select {
		case h.out <- e:
		default:
			h.m.busLost.Inc()
		}
	}
}

// add assigns e its ID, keeps it in the ring and hands it to the
// subscribers; it returns the ID ("" once closed).
func (h *Hub) add(e Event) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return ""
	}
	h.seq++
	e.ID = h.boot + "-" + strconv.FormatUint(h.seq, 10)
	if len(h.ring) < h.opts.Replay {
		h.ring = append(h.ring, e)
	} else {
		h.ring[h.ringStart] = e
		h.ringStart = (h.ringStart + 1) % len(h.ring)
	}
	h.m.events.WithLabelValues(string(e.Type)).Inc()
	for s := range h.subs {
		if !s.filter.Match(e) {
			continue
		}
		select {
		case s.ch <- e:
		default:
			s.overflow = true
			h.m.dropped.Inc()
			h.removeLocked(s)
		}
	}
	return e.ID
}

// Request is what a subscriber asks for.
type Request struct {
	Filter Filter
	// LastEventID is the SSE Last-Event-ID header: the ID of the last
	// event the client saw ("" for a new stream).
	LastEventID string
	// Principal counts the subscription against Options.MaxPerPrincipal
	// and names it for Disconnect.
	Principal string
	// Credential names the credential it was opened with (a session of
	// the principal) for Disconnect ("": Principal).
	Credential string
}

// Subscription is one subscriber's view of the Hub.
type Subscription struct {
	// Reset: the requested Last-Event-ID cannot be resumed (see Reset).
	Reset bool
	// Replay are the ring's events after Last-Event-ID, oldest first.
	Replay []Event
	// C delivers live events; it is closed when the subscription ends.
	C <-chan Event

	hub        *Hub
	ch         chan Event
	filter     Filter
	principal  string
	credential string
	stop       func() bool
	// guarded by hub.mu
	overflow bool
	removed  bool
}

// Subscribe adds a subscriber until ctx is done or Close. It fails with
// ErrTooMany past the limits and ErrClosed once the Hub is closed.
func (h *Hub) Subscribe(ctx context.Context, req Request) (*Subscription, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.closed:
		return nil, ErrClosed
	case len(h.subs) >= h.opts.MaxClients:
		return nil, fmt.Errorf("%w: the server's limit of %d is reached", ErrTooMany, h.opts.MaxClients)
	case h.byPrincipal[req.Principal] >= h.opts.MaxPerPrincipal:
		return nil, fmt.Errorf("%w: %d are open with these credentials (the limit)", ErrTooMany, h.opts.MaxPerPrincipal)
	}
	s := &Subscription{hub: h, ch: make(chan Event, h.opts.Buffer), filter: req.Filter, principal: req.Principal, credential: req.Credential}
	s.C = s.ch
	if req.LastEventID != "" {
		s.Replay, s.Reset = h.replayLocked(req.LastEventID, req.Filter)
	}
	h.subs[s] = struct{}{}
	h.byPrincipal[req.Principal]++
	h.m.clients.Inc()
	s.stop = context.AfterFunc(ctx, s.Close)
	return s, nil
}

// replayLocked returns the ring's events after id that f selects, or
// reset when id cannot be resumed.
func (h *Hub) replayLocked(id string, f Filter) (out []Event, reset bool) {
	boot, n, ok := strings.Cut(id, "-")
	seq, err := strconv.ParseUint(n, 10, 64)
	if !ok || err != nil || boot != h.boot || seq > h.seq {
		return nil, true
	}
	if seq == h.seq {
		return nil, false
	}
	oldest := h.seq - uint64(len(h.ring)) + 1 // the ring holds oldest..h.seq
	if seq+1 < oldest {
		return nil, true
	}
	for i := range h.ring {
		e := h.ring[(h.ringStart+i)%len(h.ring)]
		if oldest+uint64(i) > seq && f.Match(e) {
			out = append(out, e)
		}
	}
	return out, false
}

// Close ends the subscription; C is closed. It is idempotent.
func (s *Subscription) Close() {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	h.removeLocked(s)
}

// Overflowed reports whether the subscription ended because its buffer
// was full (valid once C is closed).
func (s *Subscription) Overflowed() bool {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	return s.overflow
}

func (h *Hub) removeLocked(s *Subscription) {
	if s.removed {
		return
	}
	s.removed = true
	delete(h.subs, s)
	if h.byPrincipal[s.principal]--; h.byPrincipal[s.principal] <= 0 {
		delete(h.byPrincipal, s.principal)
	}
	h.m.clients.Dec()
	close(s.ch)
	if s.stop != nil {
		s.stop()
	}
}

// Disconnect ends every subscription whose Principal or Credential is
// key (a token, a session or a user was revoked) and returns how many
// there were.
func (h *Hub) Disconnect(key string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for s := range h.subs {
		if s.principal == key || s.credential == key {
			h.removeLocked(s)
			n++
		}
	}
	return n
}

// Close ends every subscription and refuses new ones (server shutdown:
// http.Server.Shutdown waits for streams, which never go idle).
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for s := range h.subs {
		h.removeLocked(s)
	}
	if h.busSub != nil {
		h.busSub.Unsubscribe()
		h.busSub = nil
	}
}

// Clients returns how many subscribers are connected.
func (h *Hub) Clients() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}
