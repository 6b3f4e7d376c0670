package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/wardproject/ward/internal/alert"
	"github.com/wardproject/ward/internal/bus"
	"github.com/wardproject/ward/internal/gwevent"
	"github.com/wardproject/ward/internal/mqtttopic"
	"github.com/wardproject/ward/internal/secret"
	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/update"
)

// Store is what the engine keeps its state in: the Updates contract and
// the device registry's records. store.Store implements it.
type Store interface {
	store.Updates
	ListDevices(ctx context.Context) ([]store.Device, error)
	UpdateDevice(ctx context.Context, id string, fn func(*store.Device) error) (store.Device, error)
	AddEvents(ctx context.Context, evs []store.Event) error
}

// EventFirmwareUpdated is the device event recorded when a rollout's
// device reports installed (detail: rollout, from, to).
const EventFirmwareUpdated = "firmware-updated"

// Releases finds a firmware release. TUFReleases reads Ward's repository.
type Releases interface {
	Release(ctx context.Context, model, version string) (update.Custom, error)
}

// Gateway sends orders and says whether a device is connected.
// *gateway.Gateway implements it.
type Gateway interface {
	PublishOrder(deviceID string, payload []byte) error
	Connected(id string) int
}

// Audit is the hash-chained audit trail. *auditlog.Anchor implements it.
type Audit interface {
	AppendAudit(ctx context.Context, e store.AuditEntry) (store.AuditEntry, error)
}

// Options configure an Engine. Store, Releases, Audit and either Gateway
// (a single node) or Bus and Sessions (a cluster) are required.
type Options struct {
	Store    Store
	Releases Releases
	Gateway  Gateway
	Audit    Audit
	// Bus, on a cluster, carries the inputs of every node to the engine
	// of the "rollouts" leader and its orders to every gateway node (see
	// cluster.go); Gateway is then not used.
	Bus bus.Bus
	// Sessions, on a cluster, says whether a device is connected to any
	// gateway node (the session directory).
	Sessions Sessions
	// Interval is how often Run checks the gates (0: 5s; < 0: never by
	// itself, the caller calls Evaluate: tests with an injected clock).
	Interval time.Duration
	// QueueSize bounds the observations and alerts waiting for Run, or on
	// a cluster for the bus (0: 65536); past it a device's QoS 1/2 status
	// report is refused to the device (HoldPublish), and anything else is
	// dropped and counted.
	QueueSize int
	// ForwardRetry is how long Forward waits before offering an input
	// the bus refused again (0: 1s).
	ForwardRetry time.Duration
	// LiveCheck is how often Forward re-reads whether a rollout is live
	// (0: 5s).
	LiveCheck time.Duration
	// StopTimeout bounds how long Forward, once its context is done, still
	// tries to hand the inputs it holds to the bus (0: 10s).
	StopTimeout time.Duration
	Logger      *slog.Logger
	Metrics     prometheus.Registerer
	Now         func() time.Time
	// Processed (tests) is called after Run has handled each queued
	// observation or alert.
	Processed func()
}

// Engine runs the rollouts. Its methods are safe for concurrent use.
type Engine struct {
	opts  Options
	log   *slog.Logger
	queue chan event
	// fwd holds, on a cluster, the encoded inputs Forward puts on the bus.
	fwd chan []byte
	// live is, on a cluster, whether a rollout may be live (see
	// cluster.go): device observations are forwarded only then.
	live atomic.Bool

	mu sync.Mutex // serialises every change of a rollout or its devices

	mOrders      prometheus.Counter
	mReports     *prometheus.CounterVec
	mTransitions *prometheus.CounterVec
	mDropped     prometheus.Counter
	mRefused     prometheus.Counter
	mForwarding  prometheus.Gauge
	mForwardFail prometheus.Counter
}

// event is one queued input of Run.
type event struct {
	obs     gwevent.Event
	alert   *alert.Notification
	barrier chan struct{} // Sync: closed when Run reaches it
}

// Actor of automatic transitions in the audit trail.
const autoActor = "auto:rollout"

// Errors callers branch on.
var (
	// ErrNoRelease: the TUF repository has no such firmware.
	ErrNoRelease = errors.New("no such firmware release")
	// ErrNoDevices: no active device of the model.
	ErrNoDevices = errors.New("no active device of this model")
	// ErrLastWave: next was asked in the last wave.
	ErrLastWave = errors.New("the rollout is in its last wave")
)

// New returns an Engine; call Run to process reports and check the gates.
func New(opts Options) (*Engine, error) {
	if opts.Store == nil || opts.Releases == nil || opts.Audit == nil {
		return nil, errors.New("rollout: Options.Store, Options.Releases and Options.Audit are required")
	}
	if (opts.Bus == nil && opts.Gateway == nil) || (opts.Bus != nil && opts.Sessions == nil) {
		return nil, errors.New("rollout: Options.Gateway (a single node) or Options.Bus and Options.Sessions (a cluster) are required")
	}
	if opts.ForwardRetry <= 0 {
		opts.ForwardRetry = time.Second
	}
	if opts.LiveCheck <= 0 {
		opts.LiveCheck = 5 * time.Second
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = 10 * time.Second
	}
	if opts.Interval == 0 {
		opts.Interval = 5 * time.Second
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 1 << 16
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	f := promauto.With(opts.Metrics)
	e := &Engine{opts: opts, log: opts.Logger.With("component", "rollout"), queue: make(chan event, opts.QueueSize),
		mOrders: f.NewCounter(prometheus.CounterOpts{Name: "ward_rollout_orders_total", Help: "Firmware update orders published to devices."}),
		mReports: f.NewCounterVec(prometheus.CounterOpts{Name: "ward_rollout_reports_total",
			Help: "Update status reports from devices, by result (applied, ignored, invalid)."}, []string{"result"}),
		mTransitions: f.NewCounterVec(prometheus.CounterOpts{Name: "ward_rollout_transitions_total", Help: "Rollout transitions, by action."}, []string{"action"}),
		mDropped: f.NewCounter(prometheus.CounterOpts{Name: "ward_rollout_dropped_total",
			Help: "Observations and alerts dropped because the rollout engine's queue (on a cluster: this node's queue for the bus) was full."}),
		mRefused: f.NewCounter(prometheus.CounterOpts{Name: "ward_rollout_reports_refused_total",
			Help: "QoS 1/2 status reports refused to their device, unacknowledged, because the rollout engine's queue (on a cluster: this node's queue for the bus) was full; the device sends them again."}),
		mForwarding: f.NewGauge(prometheus.GaugeOpts{Name: "ward_rollout_forward_queued",
			Help: "Observations and alerts this cluster node holds for the bus, bound for the rollouts leader."}),
		mForwardFail: f.NewCounter(prometheus.CounterOpts{Name: "ward_rollout_forward_failures_total",
			Help: "Attempts to hand an observation or alert to the bus that failed (the same input is offered again)."}),
	}
	if opts.Bus != nil {
		e.fwd = make(chan []byte, opts.QueueSize)
		e.live.Store(true) // until Forward has read the store
	}
	return e, nil
}

// Observe implements gateway.Observer. It keeps only what rollouts need
// (connections, subscriptions to the device's order topic, reports on a
// device's own status topic), copies the payload and never blocks. On a
// cluster it forwards them to the leader's engine (Forward).
func (e *Engine) Observe(o gwevent.Event) {
	if e.opts.Bus != nil {
		if !e.live.Load() {
			return
		}
		if in, ok := inputOf(o); ok {
			e.forward(in)
		}
		return
	}
	if o, ok := wanted(o); ok {
		e.enqueue(event{obs: o})
	}
}

// HoldPublish implements gateway.PublishHolder: the gateway asks it,
// instead of Observe, before acknowledging a device's QoS 1/2 publish.
// A status report that the engine's queue (on a cluster: this node's
// queue for the bus) cannot hold returns false, so the gateway refuses
// it to the device, which sends it again, and counts it in
// ward_rollout_reports_refused_total: a report is never acknowledged and
// dropped. Every other publish is taken (true).
func (e *Engine) HoldPublish(o gwevent.Event) bool {
	var ok bool
	if e.opts.Bus != nil {
		if !e.live.Load() {
			return true // no rollout to report to: nothing to hold
		}
		var in Input
		if in, ok = inputOf(o); !ok {
			return true
		}
		ok = e.tryForward(in)
	} else {
		if o, ok = wanted(o); !ok {
			return true
		}
		ok = e.tryEnqueue(event{obs: o})
	}
	if !ok {
		e.mRefused.Inc()
	}
	return ok
}

// wanted returns the observation the engine keeps of o, its payload
// copied (ok false: none).
func wanted(o gwevent.Event) (gwevent.Event, bool) {
	if o.Device == "" {
		return o, false
	}
	switch o.Kind {
	case gwevent.Connected:
	case gwevent.Subscribed:
		if !mqtttopic.Match(o.Topic, update.OrderTopic(o.Device)) {
			return o, false
		}
	case gwevent.Published:
		// Every device publish passes here: a cheap suffix test first.
		if !strings.HasSuffix(o.Topic, "/update/status") || o.Topic != update.StatusTopic(o.Device) {
			return o, false
		}
		o.Payload = append([]byte(nil), o.Payload...)
	default:
		return o, false
	}
	return o, true
}

// AlertChanged implements alert.Subscriber; it never blocks. On a cluster
// it forwards the change to the leader's engine (Forward).
func (e *Engine) AlertChanged(n alert.Notification) {
	if n.Change != alert.Raised && n.Change != alert.Updated || n.Alert.Device == "" {
		return
	}
	if e.opts.Bus != nil {
		e.forward(Input{Kind: InputAlert, Alert: &n})
		return
	}
	e.enqueue(event{alert: &n})
}

// enqueue queues ev for Run, or drops and counts it when the queue is
// full.
func (e *Engine) enqueue(ev event) {
	if !e.tryEnqueue(ev) {
		e.mDropped.Inc()
	}
}

// tryEnqueue queues ev for Run and reports whether the queue had room.
func (e *Engine) tryEnqueue(ev event) bool {
	select {
	case e.queue <- ev:
		return true
	default:
		return false
	}
}

// Sync returns once Run has handled every observation and alert queued
// before the call (a simulation checks the gates only after the alerts of
// the window it closed), or when ctx is done.
func (e *Engine) Sync(ctx context.Context) error {
	b := make(chan struct{})
	select {
	case e.queue <- event{barrier: b}:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-b:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run handles queued reports, connections and alerts, and checks the
// gates every Interval, until ctx is done. On a cluster it takes its
// inputs from the bus (InputsQueue), those of every node: run it on one
// node at a time, the "rollouts" leader.
func (e *Engine) Run(ctx context.Context) error {
	if e.opts.Bus != nil {
		ctx, cancel := context.WithCancel(ctx)
		consumed := make(chan struct{})
		go func() {
			defer close(consumed)
			e.consume(ctx)
		}()
		defer func() {
			cancel()
			<-consumed
		}()
	}
	var tick <-chan time.Time
	if e.opts.Interval > 0 {
		t := time.NewTicker(e.opts.Interval)
		defer t.Stop()
		tick = t.C
	}
	if err := e.Evaluate(ctx); err != nil && ctx.Err() == nil {
		e.log.Error("check rollouts", "err", err)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick:
			if err := e.Evaluate(ctx); err != nil && ctx.Err() == nil {
				e.log.Error("check rollouts", "err", err)
			}
		case ev := <-e.queue:
			if ev.barrier != nil {
				close(ev.barrier)
				continue
			}
			var err error
			if ev.alert != nil {
				err = e.handleAlert(ctx, *ev.alert)
			} else {
				err = e.handleObservation(ctx, ev.obs)
			}
			if err != nil && ctx.Err() == nil {
				e.log.Error("rollout event", "device_id", ev.obs.Device, "err", err)
			}
			if e.opts.Processed != nil {
				e.opts.Processed()
			}
		}
	}
}

// newRolloutID returns "ro-" and 12 random hex digits.
func newRolloutID() (string, error) {
	id, err := secret.NewID(6)
	if err != nil {
		return "", err
	}
	return "ro-" + id, nil
}

// Create checks spec, takes the population, records the rollout and
// starts its first wave.
func (e *Engine) Create(ctx context.Context, spec Spec, actor string) (store.Rollout, error) {
	soak, err := spec.check()
	if err != nil {
		return store.Rollout{}, err
	}
	rel, err := e.opts.Releases.Release(ctx, spec.Model, spec.Version)
	if err != nil {
		return store.Rollout{}, err
	}
	id, err := newRolloutID()
	if err != nil {
		return store.Rollout{}, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	all, err := e.opts.Store.ListDevices(ctx)
	if err != nil {
		return store.Rollout{}, fmt.Errorf("create rollout: %w", err)
	}
	now := e.opts.Now().UTC()
	var devs []store.RolloutDevice
	var todo []string
	for _, d := range all {
		if d.Model != spec.Model || d.Status != store.StatusActive {
			continue
		}
		rd := store.RolloutDevice{DeviceID: d.ID, State: store.DevicePending, FromVersion: d.Firmware, UpdatedAt: now}
		if why := skipReason(d.Firmware, rel); why != "" {
			rd.State, rd.Reason = store.DeviceSkipped, why
		} else {
			todo = append(todo, d.ID)
		}
		devs = append(devs, rd)
	}
	if len(devs) == 0 {
		return store.Rollout{}, fmt.Errorf("create rollout of %s %s: %w (register and enroll devices of model %s first)", spec.Model, spec.Version, ErrNoDevices, spec.Model)
	}
	waves := assignWaves(id, todo, spec.Waves)
	for i := range devs {
		devs[i].Wave = waves[devs[i].DeviceID] // skipped: wave 0
	}
	r := store.Rollout{ID: id, Model: spec.Model, Version: spec.Version, Waves: spec.Waves, MaxFailure: spec.MaxFailure,
		HaltOnAlerts: spec.HaltOnAlerts, Soak: soak, Status: store.RolloutRunning, WaveStartedAt: now,
		CreatedBy: actor, CreatedAt: now, UpdatedAt: now}
	if err := e.opts.Store.CreateRollout(ctx, r, devs); err != nil {
		return store.Rollout{}, err
	}
	e.live.Store(true)
	e.audit(ctx, actor, "create", r, map[string]string{"model": r.Model, "version": r.Version, "waves": FormatWaves(r.Waves),
		"max_failure": strconv.FormatFloat(r.MaxFailure, 'f', -1, 64) + "%", "halt_on_alerts": orNone(r.HaltOnAlerts),
		"soak": r.Soak.String(), "devices": strconv.Itoa(len(devs)), "to_update": strconv.Itoa(len(todo))})
	e.log.Info("rollout created", "rollout", id, "model", r.Model, "version", r.Version, "devices", len(devs), "to_update", len(todo))
	e.audit(ctx, autoActor, "wave", r, map[string]string{"wave": "1"})
	if err := e.sendOrders(ctx, r, false); err != nil {
		return r, err
	}
	if err := e.evaluate(ctx, r.ID); err != nil {
		return r, err
	}
	return e.opts.Store.GetRollout(ctx, r.ID)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// skipReason says why a device running firmware needs nothing of rel, or
// cannot take it ("": it needs it).
func skipReason(firmware string, rel update.Custom) string {
	if c, err := update.CompareVersions(firmware, rel.Version); err == nil && c >= 0 {
		return "already current: runs " + firmware
	}
	if rel.MinVersion != "" {
		if c, err := update.CompareVersions(firmware, rel.MinVersion); err == nil && c < 0 {
			return fmt.Sprintf("runs %s, below the release's min_version %s: install %s or later first", firmware, rel.MinVersion, rel.MinVersion)
		}
	}
	return ""
}

// audit appends one transition to the audit trail; a failure is logged
// (the transition itself is in the store and its history).
func (e *Engine) audit(ctx context.Context, actor, action string, r store.Rollout, detail map[string]string) {
	if detail == nil {
		detail = map[string]string{}
	}
	detail["status"] = string(r.Status)
	if _, ok := detail["wave"]; !ok {
		detail["wave"] = strconv.Itoa(r.Wave + 1)
	}
	e.mTransitions.WithLabelValues(action).Inc()
	if _, err := e.opts.Audit.AppendAudit(context.WithoutCancel(ctx), store.AuditEntry{Time: e.opts.Now().UTC(), Actor: actor,
		Action: "rollout." + action, Target: r.ID, Detail: detail}); err != nil {
		e.log.Error("audit rollout transition", "rollout", r.ID, "action", action, "err", err)
	}
}

// sendOrders orders the pending devices of waves 0..r.Wave (only those
// never ordered when unorderedOnly) while the rollout runs.
func (e *Engine) sendOrders(ctx context.Context, r store.Rollout, unorderedOnly bool) error {
	err := e.eachPending(ctx, r, func(d store.RolloutDevice) error {
		if unorderedOnly && !d.OrderedAt.IsZero() {
			return nil
		}
		return e.order(ctx, r, d.DeviceID)
	})
	if errors.Is(err, store.ErrConflict) {
		return nil // paused, halted or aborted meanwhile
	}
	return err
}

// eachPending calls fn for each pending device of the started waves
// (0..r.Wave) of r, a page at a time; an error of fn stops it and is
// returned.
func (e *Engine) eachPending(ctx context.Context, r store.Rollout, fn func(store.RolloutDevice) error) error {
	waves := make([]int, r.Wave+1)
	for i := range waves {
		waves[i] = i
	}
	f := store.RolloutDeviceFilter{RolloutID: r.ID, Waves: waves, States: []store.RolloutDeviceState{store.DevicePending}, Limit: 1000}
	for {
		page, err := e.opts.Store.ListRolloutDevices(ctx, f)
		if err != nil {
			return fmt.Errorf("rollout %s: list its pending devices: %w", r.ID, err)
		}
		for _, d := range page {
			if err := fn(d); err != nil {
				return err
			}
		}
		if len(page) < f.Limit {
			return nil
		}
		f.After = page[len(page)-1].Cursor()
	}
}

// order records and publishes one order, only while the device is
// pending and the rollout running.
func (e *Engine) order(ctx context.Context, r store.Rollout, deviceID string) error {
	now := e.opts.Now().UTC()
	if _, err := e.opts.Store.UpdateRolloutDevice(ctx, store.RolloutDeviceUpdate{RolloutID: r.ID, DeviceID: deviceID,
		From: []store.RolloutDeviceState{store.DevicePending}, RolloutStatuses: []store.RolloutStatus{store.RolloutRunning},
		OrderedAt: now, Now: now}); err != nil {
		return err
	}
	b, err := orderOf(r)
	if err != nil {
		return err
	}
	if err := e.publishOrder(ctx, deviceID, b); err != nil {
		// Recorded as ordered: the device gets it again when it
		// subscribes to its order topic.
		e.log.Warn("publish update order", "rollout", r.ID, "device_id", deviceID, "err", err)
		return nil
	}
	e.mOrders.Inc()
	return nil
}

// orderOf returns the order of rollout r, as its devices receive it.
func orderOf(r store.Rollout) ([]byte, error) {
	return json.Marshal(update.Order{Rollout: r.ID, Model: r.Model, Version: r.Version})
}
