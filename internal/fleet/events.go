package fleet

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/wardproject/ward/internal/store"
)

// EventStore is what the Recorder writes to.
type EventStore interface {
	AddEvents(ctx context.Context, evs []store.Event) error
	TouchDevice(ctx context.Context, id string, seen time.Time) error
}

// RecorderOptions configure a Recorder. Store is required.
type RecorderOptions struct {
	Store     EventStore
	QueueSize int           // default 8192
	MaxBatch  int           // default 256
	Flush     time.Duration // longest an event waits in a partial batch; default 200ms
	Logger    *slog.Logger
	Metrics   prometheus.Registerer
}

// Recorder is the gateway's event sink: DeviceEvent never blocks (a full
// queue drops the event and counts it), and Run writes batches to the store.
type Recorder struct {
	opts    RecorderOptions
	log     *slog.Logger
	ch      chan store.Event
	dropped prometheus.Counter
	written prometheus.Counter
	ndrop   atomic.Int64
}

// NewRecorder returns a Recorder; call Run to drain it.
func NewRecorder(opts RecorderOptions) (*Recorder, error) {
	if opts.Store == nil {
		return nil, errors.New("fleet: RecorderOptions.Store is required")
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 8192
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 256
	}
	if opts.Flush <= 0 {
		opts.Flush = 200 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	f := promauto.With(opts.Metrics)
	return &Recorder{
		opts: opts, log: opts.Logger.With("component", "events"), ch: make(chan store.Event, opts.QueueSize),
		dropped: f.NewCounter(prometheus.CounterOpts{Name: "ward_fleet_events_dropped_total", Help: "Device events dropped because the event queue was full."}),
		written: f.NewCounter(prometheus.CounterOpts{Name: "ward_fleet_events_written_total", Help: "Device events written to the store."}),
	}, nil
}

// DeviceEvent queues an event without blocking.
func (r *Recorder) DeviceEvent(e store.Event) {
	select {
	case r.ch <- e:
	default:
		r.dropped.Inc()
		r.ndrop.Add(1)
	}
}

// Dropped returns how many events were dropped so far.
func (r *Recorder) Dropped() int64 { return r.ndrop.Load() }

// Run writes queued events until ctx is done, then flushes what is queued.
func (r *Recorder) Run(ctx context.Context) error {
	batch := make([]store.Event, 0, r.opts.MaxBatch)
	timer := time.NewTimer(r.opts.Flush)
	defer timer.Stop()
	flush := func() {
		if len(batch) == 0 {
			return
		}
		wctx := context.WithoutCancel(ctx)
		if err := r.opts.Store.AddEvents(wctx, batch); err != nil {
			r.log.Error("write device events", "count", len(batch), "err", err)
		} else {
			r.written.Add(float64(len(batch)))
		}
		seen := map[string]time.Time{}
		for _, e := range batch {
			if e.DeviceID != "" && (e.Kind == "connected" || e.Kind == "disconnected") && e.Time.After(seen[e.DeviceID]) {
				seen[e.DeviceID] = e.Time
			}
		}
		for id, t := range seen {
			if err := r.opts.Store.TouchDevice(wctx, id, t); err != nil {
				r.log.Error("update last seen", "device_id", id, "err", err)
			}
		}
		batch = batch[:0]
	}
	for {
		select {
		case e := <-r.ch:
			batch = append(batch, e)
			if len(batch) >= r.opts.MaxBatch {
				flush()
			}
		case <-timer.C:
			flush()
			timer.Reset(r.opts.Flush)
		case <-ctx.Done():
			for {
				select {
				case e := <-r.ch:
					batch = append(batch, e)
					if len(batch) >= r.opts.MaxBatch {
						flush()
					}
				default:
					flush()
					return nil
				}
			}
		}
	}
}
