package detect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/wardproject/ward/internal/bus"
	"github.com/wardproject/ward/internal/store"
)

// Publisher publishes a fan-out message (bus.Bus implements it): the
// Ingester's dead letters.
type Publisher interface {
	Publish(ctx context.Context, subject string, data []byte) error
}

// IngesterOptions configure an Ingester. Partials and DeadLetters are
// required; Window must be the detect leader's base window.
type IngesterOptions struct {
	Partials    PartialStore
	DeadLetters Publisher
	Window      time.Duration // default 1m
	// Stored, when set, is called after each batch is stored (the server
	// passes Engine.Prompt, so a leader on this node checks at once).
	Stored  func()
	Logger  *slog.Logger
	Metrics prometheus.Registerer
}

// Ingester is a detector worker's handler of the queue WindowsQueue: it
// checks each batch and stores it, keyed by (node, window end, seq), so
// a redelivered batch is stored once. Run one bus.Consume per worker with
// Handle; one Ingester serves them all.
type Ingester struct {
	opts    IngesterOptions
	log     *slog.Logger
	mResult *prometheus.CounterVec
}

// NewIngester returns an Ingester.
func NewIngester(opts IngesterOptions) (*Ingester, error) {
	if opts.Partials == nil || opts.DeadLetters == nil {
		return nil, errors.New("detect: IngesterOptions.Partials and IngesterOptions.DeadLetters are required")
	}
	if opts.Window <= 0 {
		opts.Window = time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Ingester{opts: opts, log: opts.Logger.With("component", "detect-worker"),
		mResult: promauto.With(opts.Metrics).NewCounterVec(prometheus.CounterOpts{Name: "ward_detect_batches_ingested_total",
			Help: "Window batches the detector workers took from the queue, by result: stored, or refused (unreadable or of another window size: dead-lettered)."},
			[]string{"result"})}, nil
}

// Handle stores one batch. It returns nil (the bus acknowledges) once the
// batch is stored, or once a batch that can never be stored has been
// published on the queue's dead-letter subject; an error (the store or
// the bus is unavailable) makes the bus deliver it again.
func (in *Ingester) Handle(ctx context.Context, m bus.Message) error {
	bt, err := checkBatch(m.Data)
	if err == nil && bt.Window != in.opts.Window {
		err = fmt.Errorf("%w: window %s, this cluster's detection window is %s (give every node the same --detect-window)", ErrBadBatch, bt.Window, in.opts.Window)
	}
	// On a boundary as the shippers and the leader compute them
	// (time.Truncate, whose origin is not the Unix epoch: a 7 s window's
	// ends are not multiples of 7 s in Unix time).
	if err == nil && !bt.WindowEnd.Equal(bt.WindowEnd.Truncate(bt.Window)) {
		err = fmt.Errorf("%w: window end %s is not on a window boundary", ErrBadBatch, bt.WindowEnd.UTC().Format(time.RFC3339Nano))
	}
	if err != nil {
		if perr := in.opts.DeadLetters.Publish(ctx, bus.DeadLetterSubject(WindowsQueue), m.Data); perr != nil {
			return fmt.Errorf("dead-letter a refused window batch: %w", perr)
		}
		in.mResult.WithLabelValues("refused").Inc()
		in.log.Warn("window batch refused and dead-lettered", "bytes", len(m.Data), "deliveries", m.Delivery,
			"subject", bus.DeadLetterSubject(WindowsQueue), "err", err)
		return nil
	}
	if err := in.opts.Partials.PutPartialBatch(ctx, store.PartialBatch{Node: bt.Node, WindowEnd: bt.WindowEnd, Seq: bt.Seq,
		Batches: bt.Batches, Data: m.Data}); err != nil {
		return err
	}
	in.mResult.WithLabelValues("stored").Inc()
	if in.opts.Stored != nil {
		in.opts.Stored()
	}
	return nil
}
