package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wardproject/ward/internal/alert"
)

// Sink delivers notifications to one destination. Send is called by one
// Dispatcher worker at a time; it returns when the notification was handed
// over, failed, or ctx is done. A Sink that holds connections may also
// implement io.Closer; the Dispatcher closes it when Run returns.
type Sink interface {
	Send(ctx context.Context, n alert.Notification) error
	// Name is the sink's configured name: the sink label of the metrics
	// and the sink field of dead letters.
	Name() string
}

// DeadLetters records a notification that a sink could not deliver, after
// the last attempt or on an error that a retry cannot fix. *DeadLetterFile
// implements it.
type DeadLetters interface {
	DeadLetter(ctx context.Context, sink string, n alert.Notification, err error) error
}

// Filter selects the notifications a sink receives.
type Filter struct {
	// MinSeverity is the lowest severity sent; "" sends every severity.
	MinSeverity alert.Severity
	// Changes lists the changes sent; empty sends every change.
	Changes []alert.Change
}

// Match reports whether n passes the filter.
func (f Filter) Match(n alert.Notification) bool {
	if f.MinSeverity != "" && n.Alert.Severity.Rank() < f.MinSeverity.Rank() {
		return false
	}
	return len(f.Changes) == 0 || slices.Contains(f.Changes, n.Change)
}

// validate checks the filter's values; kind and name locate the sink.
func (f Filter) validate(kind, name string) error {
	var errs []error
	if f.MinSeverity != "" && !f.MinSeverity.Valid() {
		errs = append(errs, &ConfigError{Kind: kind, Name: name, Key: "min_severity",
			Problem: fmt.Sprintf("unknown severity %q", f.MinSeverity), Hint: "use low, medium, high or critical"})
	}
	for _, c := range f.Changes {
		if !slices.Contains(knownChanges, c) {
			errs = append(errs, &ConfigError{Kind: kind, Name: name, Key: "changes",
				Problem: fmt.Sprintf("unknown change %q", c), Hint: "use raised, updated, acknowledged, cleared or mitigated"})
		}
	}
	return errors.Join(errs...)
}

// knownChanges are the changes package alert delivers.
var knownChanges = []alert.Change{alert.Raised, alert.Updated, alert.Acknowledge, alert.Clear, alert.MitigationTaken}

// Route is one sink with its filter, retry budget and queue.
type Route struct {
	Sink   Sink
	Filter Filter
	// Retries is how many times a failed Send is retried before the
	// notification is dead-lettered: 0 means 4, a negative value none.
	// Errors that say retrying cannot help (see Permanent) are not retried.
	Retries int
	// QueueSize bounds the sink's queue; 0 means Options.QueueSize.
	QueueSize int
}

// Options configure a Dispatcher. Routes and one of DeadLetters or
// DeadLetterDir are required.
type Options struct {
	Routes []Route
	// DeadLetters records undeliverable notifications. nil: a
	// DeadLetterFile in DeadLetterDir.
	DeadLetters DeadLetters
	// DeadLetterDir is the directory of the default dead-letter file,
	// created 0700 when missing.
	DeadLetterDir string
	// QueueSize is the default per-sink queue bound; 0 means 1024.
	QueueSize int
	// DrainTimeout bounds delivery of what is queued once Run's context is
	// done; what is left then is dead-lettered. 0 means 5s.
	DrainTimeout time.Duration
	// Backoff returns the delay before retry number attempt (1, 2, …).
	// nil: exponential from 500ms, doubling to at most 30s, with jitter.
	Backoff func(attempt int) time.Duration
	// MaxRetryAfter caps the delay a receiver may ask for with
	// Retry-After, so that one receiver cannot stall its queue for long.
	// 0 means 1m.
	MaxRetryAfter time.Duration
	// Sleep waits d or until ctx is done. nil: a timer. Tests replace it
	// to record the delays without waiting.
	Sleep func(ctx context.Context, d time.Duration) error

	Logger  *slog.Logger          // nil: discard
	Metrics prometheus.Registerer // nil: not registered
	Now     func() time.Time      // nil: time.Now
}

// Defaults of Options and Route.
const (
	DefaultQueueSize     = 1024
	DefaultRetries       = 4
	DefaultDrainTimeout  = 5 * time.Second
	DefaultMaxRetryAfter = time.Minute
)

// sinkName is the form of a sink name: it is a metric label value and a
// log attribute, so it is short and plain.
var sinkName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// Dispatcher fans notifications out to sinks. Notify never blocks: each
// sink has a bounded queue and its own worker, so a slow or failing sink
// delays only itself, and a full queue drops (and counts) the notification.
type Dispatcher struct {
	opts    Options
	log     *slog.Logger
	m       *metrics
	routes  []*route
	started atomic.Bool
}

// route is a Route with its queue.
type route struct {
	Route
	name  string
	queue chan alert.Notification
	// lastDropLog is the Unix time of the last "queue full" warning.
	lastDropLog atomic.Int64
}

// New checks opts and builds a Dispatcher; Run starts its workers.
func New(opts Options) (*Dispatcher, error) {
	if len(opts.Routes) == 0 {
		return nil, &ConfigError{Kind: "dispatcher", Key: "sinks", Problem: "no sink configured"}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultQueueSize
	}
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = DefaultDrainTimeout
	}
	if opts.MaxRetryAfter <= 0 {
		opts.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if opts.Backoff == nil {
		opts.Backoff = ExponentialBackoff(500*time.Millisecond, 30*time.Second)
	}
	if opts.Sleep == nil {
		opts.Sleep = sleep
	}
	if opts.DeadLetters == nil && opts.DeadLetterDir == "" {
		return nil, &ConfigError{Kind: "dispatcher", Key: "dead_letter_dir", Problem: "required",
			Hint: "name a directory for undeliverable notifications, e.g. /var/lib/ward/dead-letters"}
	}
	d := &Dispatcher{log: opts.Logger.With("component", "notify")}
	seen := map[string]bool{}
	var errs []error
	for i, r := range opts.Routes {
		if r.Sink == nil {
			errs = append(errs, &ConfigError{Kind: "dispatcher", Key: fmt.Sprintf("sinks[%d]", i), Problem: "nil Sink"})
			continue
		}
		name := r.Sink.Name()
		switch {
		case !sinkName.MatchString(name):
			errs = append(errs, &ConfigError{Kind: "dispatcher", Key: fmt.Sprintf("sinks[%d].name", i),
				Problem: fmt.Sprintf("invalid name %q", name), Hint: "use 1-64 letters, digits, '_', '.', '-'"})
		case seen[name]:
			errs = append(errs, &ConfigError{Kind: "dispatcher", Name: name, Key: "name",
				Problem: "duplicate sink name", Hint: "give each sink its own name"})
		}
		seen[name] = true
		if err := r.Filter.validate("dispatcher", name); err != nil {
			errs = append(errs, err)
		}
		if r.Retries == 0 {
			r.Retries = DefaultRetries
		} else if r.Retries < 0 {
			r.Retries = 0
		}
		if r.QueueSize <= 0 {
			r.QueueSize = opts.QueueSize
		}
		d.routes = append(d.routes, &route{Route: r, name: name, queue: make(chan alert.Notification, r.QueueSize)})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if opts.DeadLetters == nil {
		dl, err := NewDeadLetterFile(DeadLetterFileOptions{Dir: opts.DeadLetterDir, Now: opts.Now})
		if err != nil {
			return nil, err
		}
		opts.DeadLetters = dl
	}
	m, err := newMetrics(opts.Metrics, d.routes)
	if err != nil {
		return nil, err
	}
	d.opts, d.m = opts, m
	return d, nil
}

// Notify queues n for every sink whose filter matches. It never blocks:
// when a sink's queue is full, n is dropped for that sink and counted in
// ward_notify_dropped_total. Notify is safe for concurrent use, and may be
// called before Run starts (up to the queue bound) and after it returns
// (the notification is then never delivered).
func (d *Dispatcher) Notify(n alert.Notification) {
	cloned := false
	for _, r := range d.routes {
		if !r.Filter.Match(n) {
			continue
		}
		if !cloned {
			// The caller may reuse its slices and maps once Notify returns.
			n, cloned = cloneNotification(n), true
		}
		select {
		case r.queue <- n:
		default:
			d.m.dropped.WithLabelValues(r.name).Inc()
			d.logDrop(r, n)
		}
	}
}

// logDrop warns about a full queue at most once a minute per sink; the
// metric counts every drop.
func (d *Dispatcher) logDrop(r *route, n alert.Notification) {
	now := d.opts.Now().Unix()
	last := r.lastDropLog.Load()
	if now-last < 60 || !r.lastDropLog.CompareAndSwap(last, now) {
		return
	}
	d.log.Warn("notification queue full; dropping (see ward_notify_dropped_total)",
		"sink", r.name, "queue_size", cap(r.queue), "alert_id", n.Alert.ID, "rule", n.Alert.Rule)
}

// Run delivers queued notifications, one worker per sink, until ctx is
// done. It then keeps delivering what is queued for at most
// Options.DrainTimeout, dead-letters the rest with ErrShutdown, closes the
// sinks that implement io.Closer and returns once every worker has
// stopped. Run may be called once.
func (d *Dispatcher) Run(ctx context.Context) error {
	if !d.started.CompareAndSwap(false, true) {
		return errors.New("notify: Run called twice")
	}
	// work is the context of deliveries: it outlives ctx by the drain
	// deadline, so that an in-flight send or retry can finish.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case <-ctx.Done():
		case <-done:
			return
		}
		t := time.NewTimer(d.opts.DrainTimeout)
		defer t.Stop()
		select {
		case <-t.C:
			cancelWork()
		case <-done:
		}
	})
	var workers sync.WaitGroup
	for _, r := range d.routes {
		workers.Go(func() { d.work(ctx, work, r) })
	}
	d.log.Info("notification dispatcher started", "sinks", len(d.routes))
	workers.Wait()
	close(done)
	wg.Wait()
	var errs []error
	for _, r := range d.routes {
		if c, ok := r.Sink.(io.Closer); ok {
			if err := c.Close(); err != nil {
				errs = append(errs, fmt.Errorf("notify: close sink %s: %w", r.name, err))
			}
		}
	}
	d.log.Info("notification dispatcher stopped")
	return errors.Join(errs...)
}

// work is one sink's worker: it delivers until ctx is done, then drains the
// queue while work is alive.
func (d *Dispatcher) work(ctx, work context.Context, r *route) {
	for {
		select {
		case n := <-r.queue:
			d.deliver(work, r, n)
		case <-ctx.Done():
			for {
				select {
				case n := <-r.queue:
					if work.Err() != nil {
						d.m.sent.WithLabelValues(r.name, resultFailed).Inc()
						d.deadLetter(work, r, n, ErrShutdown)
						continue
					}
					d.deliver(work, r, n)
				default:
					return
				}
			}
		}
	}
}

// deliver sends n with retries and dead-letters it when every attempt
// failed or an error is permanent.
func (d *Dispatcher) deliver(ctx context.Context, r *route, n alert.Notification) {
	for attempt := 0; ; attempt++ {
		err := r.Sink.Send(ctx, n)
		if err == nil {
			d.m.sent.WithLabelValues(r.name, resultOK).Inc()
			d.log.Debug("notification sent", "sink", r.name, "alert_id", n.Alert.ID, "change", n.Change, "attempts", attempt+1)
			return
		}
		if ctx.Err() != nil {
			err = fmt.Errorf("%w: %w", ErrShutdown, err)
		}
		if attempt >= r.Retries || isPermanent(err) || ctx.Err() != nil {
			d.m.sent.WithLabelValues(r.name, resultFailed).Inc()
			d.log.Warn("notification not delivered; dead-lettered", "sink", r.name,
				"alert_id", n.Alert.ID, "rule", n.Alert.Rule, "change", n.Change, "attempts", attempt+1, "err", err)
			d.deadLetter(ctx, r, n, err)
			return
		}
		d.m.sent.WithLabelValues(r.name, resultRetried).Inc()
		delay := d.opts.Backoff(attempt + 1)
		if ra := min(retryDelay(err), d.opts.MaxRetryAfter); ra > delay {
			delay = ra
		}
		d.log.Debug("notification attempt failed; retrying", "sink", r.name, "alert_id", n.Alert.ID,
			"attempt", attempt+1, "delay", delay, "err", err)
		if serr := d.opts.Sleep(ctx, delay); serr != nil {
			d.m.sent.WithLabelValues(r.name, resultFailed).Inc()
			d.deadLetter(ctx, r, n, fmt.Errorf("%w: %w", ErrShutdown, err))
			return
		}
	}
}

// deadLetter records n; a failure to record it is for the operator to fix.
func (d *Dispatcher) deadLetter(ctx context.Context, r *route, n alert.Notification, cause error) {
	// The record must be written even when the drain deadline has passed.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := d.opts.DeadLetters.DeadLetter(ctx, r.name, n, cause); err != nil {
		d.log.Error("notification lost: dead letter not written", "sink", r.name,
			"alert_id", n.Alert.ID, "rule", n.Alert.Rule, "change", n.Change, "cause", cause, "err", err)
		return
	}
	d.m.deadLetters.WithLabelValues(r.name).Inc()
}

// ExponentialBackoff returns a backoff that waits about base before the
// first retry and doubles each time up to ceiling, with the upper half
// randomised ("equal jitter") so that many Ward servers do not retry in step.
func ExponentialBackoff(base, ceiling time.Duration) func(attempt int) time.Duration {
	return func(attempt int) time.Duration {
		d := base
		for i := 1; i < attempt && d < ceiling; i++ {
			d *= 2
		}
		d = min(d, ceiling)
		if d <= 1 {
			return d
		}
		// math/rand/v2 is fine here: jitter only spreads load, it is not
		// used for security.
		return d/2 + rand.N(d/2)
	}
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// cloneNotification copies the slices and maps of n so that the queued
// value shares nothing with the caller.
func cloneNotification(n alert.Notification) alert.Notification {
	a := &n.Alert
	a.MITRE = slices.Clone(a.MITRE)
	a.Mitigations = slices.Clone(a.Mitigations)
	a.Evidence.Values = slices.Clone(a.Evidence.Values)
	a.Evidence.Detail = maps.Clone(a.Evidence.Detail)
	return n
}
