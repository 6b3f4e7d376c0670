package presence

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/wardproject/ward/internal/store"
)

// Sessions is the local gateway's view of its sessions. *gateway.Gateway
// implements it.
type Sessions interface {
	// Connected returns the device's live sessions on this node.
	Connected(id string) int
	// ConnectedIDs returns the IDs after after of devices with a live
	// session, in order, at most max.
	ConnectedIDs(after string, max int) []string
	// Addresses returns the IP addresses the device's live sessions on
	// this node come from.
	Addresses(id string) []string
}

// Writer is the part of store.Presence a Reporter writes with.
type Writer interface {
	ReportPresence(ctx context.Context, node string, at time.Time, changes []store.DevicePresence) error
	ForgetNodes(ctx context.Context, before time.Time) (int, error)
	RemoveNode(ctx context.Context, node string) error
}

// ReporterOptions configure a Reporter. Node, Store and Sessions are
// required.
type ReporterOptions struct {
	Node     string
	Store    Writer
	Sessions Sessions
	// Interval is the period of the batched writes and the heartbeat
	// (0: DefaultInterval). It must be well below Expiry.
	Interval time.Duration
	// Resync is the period of the full comparison with the gateway (0:
	// DefaultResync).
	Resync time.Duration
	// Expiry is how long a silent node still counts (0: DefaultExpiry);
	// nodes silent for 10×Expiry are deleted. It must exceed 2×Interval.
	Expiry  time.Duration
	Logger  *slog.Logger
	Metrics prometheus.Registerer
	Now     func() time.Time
}

// Reporter writes one gateway node's sessions to the directory.
type Reporter struct {
	opts   ReporterOptions
	writes *prometheus.CounterVec
	wake   chan struct{} // Flush asks Run for a write now

	mu    sync.Mutex
	dirty map[string]struct{} // devices whose count may have changed

	// reported is what the store holds for this node; only Run's
	// goroutine touches it.
	reported map[string]held
}

// held is what the store holds for one device of this node.
type held struct {
	n     int
	addrs string // the addresses, space-separated
}

// NewReporter checks opts and returns a Reporter; Run starts it.
func NewReporter(opts ReporterOptions) (*Reporter, error) {
	if opts.Node == "" || opts.Store == nil || opts.Sessions == nil {
		return nil, errors.New("presence: ReporterOptions.Node, Store and Sessions are required")
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Resync <= 0 {
		opts.Resync = DefaultResync
	}
	if opts.Expiry <= 0 {
		opts.Expiry = DefaultExpiry
	}
	if opts.Expiry <= 2*opts.Interval {
		return nil, fmt.Errorf("presence: expiry %s must exceed twice the report interval %s, or a live node would flap", opts.Expiry, opts.Interval)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Reporter{opts: opts, dirty: map[string]struct{}{}, reported: map[string]held{}, wake: make(chan struct{}, 1),
		writes: promauto.With(opts.Metrics).NewCounterVec(prometheus.CounterOpts{
			Name: "ward_presence_writes_total",
			Help: "Batched writes of this gateway node's sessions and heartbeat to the cluster's session directory, by result (ok, error).",
		}, []string{"result"})}, nil
}

// Changed marks a device whose session count may have changed on this
// node; the next write reads its count. It never blocks on I/O.
func (r *Reporter) Changed(deviceID string) {
	r.mu.Lock()
	r.dirty[deviceID] = struct{}{}
	r.mu.Unlock()
}

// Flush asks Run to write the pending changes now instead of at the next
// tick (tests, and a node about to be asked where a device is).
func (r *Reporter) Flush() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run writes the directory until ctx ends, then removes this node's rows.
func (r *Reporter) Run(ctx context.Context) error {
	r.resync(ctx)
	tick := time.NewTicker(r.opts.Interval)
	defer tick.Stop()
	resync := time.NewTicker(r.opts.Resync)
	defer resync.Stop()
	for {
		select {
		case <-ctx.Done():
			return r.leave(ctx)
		case <-tick.C:
			r.write(ctx)
		case <-r.wake:
			r.write(ctx)
		case <-resync.C:
			r.resync(ctx)
		}
	}
}

// resync marks dirty every device the gateway holds or the store holds
// for this node, writes, and deletes long-silent nodes.
func (r *Reporter) resync(ctx context.Context) {
	r.mu.Lock()
	for id := range r.reported {
		r.dirty[id] = struct{}{}
	}
	after := ""
	for {
		ids := r.opts.Sessions.ConnectedIDs(after, store.MaxDeviceQueryIDs)
		if len(ids) == 0 {
			break
		}
		for _, id := range ids {
			r.dirty[id] = struct{}{}
		}
		after = ids[len(ids)-1]
	}
	r.mu.Unlock()
	r.write(ctx)
	if n, err := r.opts.Store.ForgetNodes(ctx, r.opts.Now().Add(-10*r.opts.Expiry)); err != nil {
		r.opts.Logger.Warn("forget silent cluster nodes", "err", err)
	} else if n > 0 {
		r.opts.Logger.Info("forgot silent cluster nodes and their sessions", "nodes", n)
	}
}

// write sends the changed counts of the dirty devices with a heartbeat.
// Devices whose write failed stay dirty for the next tick.
func (r *Reporter) write(ctx context.Context) {
	r.mu.Lock()
	ids := slices.Sorted(maps.Keys(r.dirty))
	clear(r.dirty)
	r.mu.Unlock()
	var changes []store.DevicePresence
	for _, id := range ids {
		c := store.DevicePresence{DeviceID: id, Sessions: r.opts.Sessions.Connected(id)}
		if c.Sessions > 0 {
			c.Addrs = addresses(r.opts.Sessions.Addresses(id))
		}
		if (held{c.Sessions, strings.Join(c.Addrs, " ")}) != r.reported[id] {
			changes = append(changes, c)
		}
	}
	now := r.opts.Now()
	for { // at least once: the heartbeat
		batch := changes[:min(len(changes), store.MaxPresenceBatch)]
		if err := r.opts.Store.ReportPresence(ctx, r.opts.Node, now, batch); err != nil {
			r.writes.WithLabelValues("error").Inc()
			if ctx.Err() == nil {
				r.opts.Logger.Warn("write this node's sessions to the cluster directory; retrying at the next tick", "changes", len(changes), "err", err)
			}
			r.mu.Lock()
			for _, c := range changes {
				r.dirty[c.DeviceID] = struct{}{}
			}
			r.mu.Unlock()
			return
		}
		r.writes.WithLabelValues("ok").Inc()
		for _, c := range batch {
			if c.Sessions == 0 {
				delete(r.reported, c.DeviceID)
			} else {
				r.reported[c.DeviceID] = held{c.Sessions, strings.Join(c.Addrs, " ")}
			}
		}
		changes = changes[len(batch):]
		if len(changes) == 0 {
			return
		}
	}
}

// leave removes this node from the directory at shutdown.
func (r *Reporter) leave(ctx context.Context) error {
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := r.opts.Store.RemoveNode(lctx, r.opts.Node); err != nil {
		// Its rows stop counting after Expiry anyway.
		r.opts.Logger.Warn("remove this node from the cluster's session directory", "node", r.opts.Node, "err", err)
	}
	return nil
}

// addresses returns the store's form of a device's addresses: each
// parsed and printed by netip (what cannot be parsed is left out), sorted,
// without duplicates, at most store.MaxPresenceAddrs.
func addresses(in []string) []string {
	var out []string
	for _, a := range in {
		if ip, err := netip.ParseAddr(a); err == nil {
			out = append(out, ip.String())
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	return out[:min(len(out), store.MaxPresenceAddrs)]
}
