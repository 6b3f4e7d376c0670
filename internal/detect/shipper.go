package detect

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Enqueuer hands a message to a work queue (bus.Bus implements it).
type Enqueuer interface {
	Enqueue(ctx context.Context, queue string, data []byte) error
}

// ShipperOptions configure a Shipper. Collector, Bus and Node are
// required.
type ShipperOptions struct {
	Collector *Collector
	Bus       Enqueuer
	// Node names this gateway node in its batches; it must be unique in
	// the cluster and new at each start.
	Node   string
	Window time.Duration // base window; default 1m
	// SpoolBytes bounds the batches kept while the bus refuses them;
	// default 64 MiB. See Shipper.
	SpoolBytes int64
	// MaxBatchBytes bounds one batch; default MaxBatchBytes.
	MaxBatchBytes int
	// Manual stops the shipper's own window timer: the caller ships with
	// Ship (tests with an injected clock). Run still sends the spool.
	Manual bool
	// Retry is the pause after a failed send, doubling up to 16x; default
	// 250 ms.
	Retry   time.Duration
	Logger  *slog.Logger
	Metrics prometheus.Registerer
	Now     func() time.Time
}

// Shipper is the gateway node's half of cluster detection: at each base
// window's end it swaps the node's Collector and ships the window's
// partial datapoints (wire.go) on the queue WindowsQueue, at least one
// batch per window.
//
// # When the bus is down
//
// Batches go to a spool in memory, sent in order, the oldest first,
// retried with backoff (Retry, doubling to 16x) until the bus takes them.
// The spool is bounded by SpoolBytes (ward_detect_spool_bytes). When a
// window's batches do not fit, the shipper does not drop them: it keeps
// that window's datapoints merged per device in a carry (counts add,
// maxima, set unions, so its memory is one datapoint per active device
// however long the outage) and merges every further window into it; once
// the spool has room, the carry is shipped as the newest window's batches.
// Nothing observed is lost; time resolution is: the merged windows are
// evaluated as one, late (ward_detect_late_partials_total on the leader).
// Each window merged this way is counted in
// ward_detect_spool_full_total and logged at Error, once per outage and
// then every 10 windows. What the spool and carry hold when the node stops
// while the bus is still down is lost, and logged with its size.
type Shipper struct {
	opts ShipperOptions
	log  *slog.Logger

	mu      sync.Mutex // guards the fields below
	spool   [][]byte
	bytes   int64
	carry   map[string]*Datapoint
	fullRun int // consecutive windows carried
	kick    chan struct{}

	mShipped   prometheus.Counter
	mSpool     prometheus.Gauge
	mSpoolFull prometheus.Counter
	mFailed    prometheus.Counter
}

// NewShipper returns a Shipper.
func NewShipper(opts ShipperOptions) (*Shipper, error) {
	if opts.Collector == nil || opts.Bus == nil || opts.Node == "" {
		return nil, errors.New("detect: ShipperOptions.Collector, ShipperOptions.Bus and ShipperOptions.Node are required")
	}
	if opts.Window <= 0 {
		opts.Window = time.Minute
	}
	if opts.SpoolBytes <= 0 {
		opts.SpoolBytes = 64 << 20
	}
	if opts.MaxBatchBytes <= 0 {
		opts.MaxBatchBytes = MaxBatchBytes
	}
	if opts.Retry <= 0 {
		opts.Retry = 250 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	f := promauto.With(opts.Metrics)
	return &Shipper{opts: opts, log: opts.Logger.With("component", "detect-shipper", "node", opts.Node), kick: make(chan struct{}, 1),
		mShipped: f.NewCounter(prometheus.CounterOpts{Name: "ward_detect_batches_shipped_total",
			Help: "Window batches of partial datapoints this gateway node handed to the bus."}),
		mSpool: f.NewGauge(prometheus.GaugeOpts{Name: "ward_detect_spool_bytes",
			Help: "Bytes of window batches waiting for the bus on this gateway node (bounded by detect.spool_bytes)."}),
		mSpoolFull: f.NewCounter(prometheus.CounterOpts{Name: "ward_detect_spool_full_total",
			Help: "Windows whose batches did not fit the full spool and were merged into the next window shipped (counts kept, time resolution lost)."}),
		mFailed: f.NewCounter(prometheus.CounterOpts{Name: "ward_detect_ship_failures_total",
			Help: "Failed attempts to hand a window batch to the bus (retried)."}),
	}, nil
}

// Run sends the spool and, unless Manual, ships a window at each multiple
// of the base window, until ctx ends. It then ships the open window (its
// end is still ahead; the leader evaluates it then) and tries for up to 5
// seconds to send what is spooled.
func (s *Shipper) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.send(ctx)
	}()
	if !s.opts.Manual {
		w := s.opts.Window
		for ctx.Err() == nil {
			now := s.opts.Now()
			next := now.Truncate(w).Add(w)
			t := time.NewTimer(next.Sub(now))
			select {
			case <-ctx.Done():
			case <-t.C:
				s.Ship(next)
			}
			t.Stop()
		}
	}
	<-ctx.Done()
	wg.Wait()
	// Stopping: the open window too, then a last try.
	if !s.opts.Manual {
		s.Ship(s.opts.Now().Truncate(s.opts.Window).Add(s.opts.Window))
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	s.flush(fctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.spool) > 0 || len(s.carry) > 0 {
		s.log.Error("stopping with window batches the bus did not take: they are lost", "batches", len(s.spool), "bytes", s.bytes, "carried_devices", len(s.carry))
	}
	return nil
}

// Ship closes the window ending at end on this node and queues its
// batches for sending.
func (s *Shipper) Ship(end time.Time) {
	w := s.opts.Window
	dps := s.opts.Collector.Swap(end.Add(-w), end, 2*60*w)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.carry != nil {
		for _, dp := range dps {
			s.carryAdd(dp)
		}
		dps = s.carried()
	}
	bs := EncodeBatches(s.opts.Node, end, w, dps, s.opts.MaxBatchBytes)
	var size int64
	for _, b := range bs {
		size += int64(len(b))
	}
	if s.bytes+size > s.opts.SpoolBytes && len(s.spool) > 0 {
		if s.carry == nil {
			s.carry = make(map[string]*Datapoint, len(dps))
			for _, dp := range dps {
				s.carryAdd(dp)
			}
		}
		s.mSpoolFull.Inc()
		if s.fullRun%10 == 0 {
			s.log.Error("detection spool full: the bus has not taken this node's window batches; merging windows until it does (counts kept, per-window detail lost)",
				"spool_bytes", s.bytes, "limit", s.opts.SpoolBytes, "windows_merged", s.fullRun+1, "devices", len(s.carry))
		}
		s.fullRun++
		return
	}
	if s.fullRun > 0 {
		s.log.Warn("detection spool has room again: merged windows shipped", "windows_merged", s.fullRun, "devices", len(dps))
	}
	s.carry, s.fullRun = nil, 0
	s.spool = append(s.spool, bs...)
	s.bytes += size
	s.mSpool.Set(float64(s.bytes))
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// carryAdd merges dp into the carry. s.mu is held.
func (s *Shipper) carryAdd(dp Datapoint) {
	if s.carry == nil {
		s.carry = map[string]*Datapoint{}
	}
	if c := s.carry[dp.Device]; c != nil {
		c.merge(dp)
		return
	}
	c := Datapoint{Device: dp.Device}
	c.merge(dp)
	s.carry[dp.Device] = &c
}

// carried returns the carry's datapoints, sorted. s.mu is held.
func (s *Shipper) carried() []Datapoint {
	out := make([]Datapoint, 0, len(s.carry))
	for _, dp := range s.carry {
		out = append(out, *dp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Device < out[j].Device })
	return out
}

// Spooled returns the bytes and batches waiting for the bus.
func (s *Shipper) Spooled() (bytes int64, batches int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes, len(s.spool)
}

// send sends the spool, oldest first, until ctx ends.
func (s *Shipper) send(ctx context.Context) {
	for {
		s.flush(ctx)
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		}
	}
}

// flush sends spooled batches until the spool is empty or ctx ends,
// retrying a refused batch with backoff.
func (s *Shipper) flush(ctx context.Context) {
	failures := 0
	for {
		s.mu.Lock()
		if len(s.spool) == 0 {
			s.mu.Unlock()
			return
		}
		b := s.spool[0]
		s.mu.Unlock()
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := s.opts.Bus.Enqueue(sctx, WindowsQueue, b)
		cancel()
		if err != nil {
			s.mFailed.Inc()
			if failures == 0 {
				s.log.Warn("window batch not taken by the bus; spooling and retrying", "bytes", len(b), "err", err)
			}
			failures++
			d := s.opts.Retry << min(failures-1, 4)
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		if failures > 0 {
			s.log.Info("bus takes window batches again", "failed_attempts", failures)
			failures = 0
		}
		s.mShipped.Inc()
		s.mu.Lock()
		s.spool[0] = nil
		s.spool = s.spool[1:]
		s.bytes -= int64(len(b))
		s.mSpool.Set(float64(s.bytes))
		s.mu.Unlock()
	}
}
