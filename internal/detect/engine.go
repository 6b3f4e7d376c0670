// Package detect turns every device's behaviour at the gateway into
// windowed metrics and finds what is abnormal: security profiles of rules
// with static and statistical (fleet percentile) thresholds, and a learned
// baseline per device group (see baseline.go for the algorithm and why).
// It raises and clears alerts through a consumer-declared Alerter.
//
// Data flow: the gateway calls Collector.Observe for every connection,
// publish, delivery, denial and limit hit; the engine closes a window every
// Options.Window (the base window, `ward serve --detect-window`, default 1
// minute), builds the 5x and 60x windows from it, stores each datapoint
// (retention Options.Retention), then evaluates every profile that targets
// the device. Device-side metrics arrive as JSON reports on
// devices/{id}/metrics (see DeviceReport).
package detect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/wardproject/ward/internal/alert"
	"github.com/wardproject/ward/internal/store"
)

// Store is what the engine persists.
type Store interface {
	DeviceTargets(ctx context.Context, ids []string) ([]store.DeviceTarget, error)
	GetBlob(ctx context.Context, name string) ([]byte, error)
	PutBlob(ctx context.Context, name string, data []byte) error
	AddMetricWindows(ctx context.Context, ws []store.MetricWindow) error
	DeleteMetricWindowsBefore(ctx context.Context, window time.Duration, before time.Time) (int64, error)
}

// Alerter raises and resolves alerts. *alert.Manager implements it.
type Alerter interface {
	// RaiseAll raises (or updates) a window's alerts at once, as
	// successive raises would.
	RaiseAll(ctx context.Context, as []alert.Alert) error
	Resolve(ctx context.Context, device, rule string) error
}

// Options configure an Engine. Collector, Store and Alerts are required.
type Options struct {
	Collector *Collector
	Store     Store
	Alerts    Alerter
	Window    time.Duration // base window; default 1m
	Retention time.Duration // how long datapoints are kept; default 7 days
	Logger    *slog.Logger
	Metrics   prometheus.Registerer
	Now       func() time.Time

	// Partials, in a cluster, is where the detector workers store the
	// gateway nodes' window batches; the detect leader evaluates from it
	// (EvaluatePartials, Lead) and every other node reads the leader's
	// state from Store (Follow). Nil: a single node.
	Partials PartialStore
	// Grace is how long after a window's end the detect leader waits for
	// the batches of every gateway node before it evaluates the window
	// without the missing ones (which are then evaluated, late, with the
	// window in which they arrive); default 15 s. The wait ends earlier
	// once every node that shipped in the last windows has all its
	// batches in. It is at most half the window.
	Grace time.Duration
}

// Engine closes windows and evaluates profiles.
type Engine struct {
	opts Options
	log  *slog.Logger

	profiles atomic.Pointer[[]Profile]

	mu        sync.Mutex // guards everything below; held for one window's evaluation
	resMu     sync.Mutex // guards reservoir's map while rules run at once
	tiers     map[int]map[string]*Datapoint
	states    map[string]map[string]*ruleState // profile|rule -> device -> state
	reservoir map[string]*ring                 // profile|rule|tier
	models    map[string]*groupModel
	windows   int64
	facts     map[string]DeviceFacts // latest device-side facts per device
	// factsDirty: facts changed since they were last stored (cluster).
	factsDirty bool
	// recent is when each gateway node last shipped a batch the leader
	// evaluated: the nodes a window waits for (cluster.go).
	recent map[string]time.Time
	// actions are the alert changes of the window being evaluated, in
	// the order the rules decided them; flushActions applies them.
	actions []alertAction

	mWindows    prometheus.Counter
	mDatapoints prometheus.Counter
	mRaised     *prometheus.CounterVec
	mEvalSecs   prometheus.Histogram
	mLate       prometheus.Counter
	// prompt wakes the detect leader when a batch was stored (Prompt).
	prompt chan struct{}
	// leading is set while this node is the detect leader.
	leading atomic.Bool
	// lastEnd is the end of the last window evaluated, in Unix
	// nanoseconds (the engine's start until then): ward_detect_lag_seconds.
	lastEnd atomic.Int64
}

// alertAction is one alert change a window's evaluation decided: raise
// Raise, or resolve (Device, Rule) when Resolve is set. In a cluster the
// leader stores them (OutboxBlob) with the window's results before it
// applies them.
type alertAction struct {
	Raise   alert.Alert `json:"raise,omitzero"`
	Resolve bool        `json:"resolve,omitempty"`
	Device  string      `json:"device,omitempty"`
	Rule    string      `json:"rule,omitempty"`
}

type ruleState struct {
	breaches, cleans int
	active           bool
}

// Blob names in the store.
const (
	ProfilesBlob = "detect/profiles"
	BaselineBlob = "detect/baseline"
	// FactsBlob holds the latest device facts in a cluster, written by the
	// detect leader for the nodes that answer the API and run the audit.
	FactsBlob = "detect/facts"
)

// New returns an Engine with the stored profiles (or the defaults) and the
// stored baseline models.
func New(ctx context.Context, opts Options) (*Engine, error) {
	if opts.Collector == nil || opts.Store == nil || opts.Alerts == nil {
		return nil, errors.New("detect: Options.Collector, Options.Store and Options.Alerts are required")
	}
	if opts.Window <= 0 {
		opts.Window = time.Minute
	}
	if opts.Retention <= 0 {
		opts.Retention = 7 * 24 * time.Hour
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Grace <= 0 {
		opts.Grace = 15 * time.Second
	}
	opts.Grace = min(opts.Grace, opts.Window/2)
	f := promauto.With(opts.Metrics)
	e := &Engine{opts: opts, log: opts.Logger.With("component", "detect"),
		tiers: map[int]map[string]*Datapoint{}, states: map[string]map[string]*ruleState{}, reservoir: map[string]*ring{}, models: map[string]*groupModel{},
		facts: map[string]DeviceFacts{}, recent: map[string]time.Time{}, prompt: make(chan struct{}, 1),
		mLate:       f.NewCounter(prometheus.CounterOpts{Name: "ward_detect_late_partials_total", Help: "Partial datapoints of gateway nodes that reached the detect leader after their window was evaluated, and were evaluated with a later window."}),
		mWindows:    f.NewCounter(prometheus.CounterOpts{Name: "ward_detect_windows_total", Help: "Detection windows closed."}),
		mDatapoints: f.NewCounter(prometheus.CounterOpts{Name: "ward_detect_datapoints_total", Help: "Device datapoints evaluated."}),
		mRaised:     f.NewCounterVec(prometheus.CounterOpts{Name: "ward_detect_alerts_raised_total", Help: "Alerts raised or updated by detection."}, []string{"source"}),
		mEvalSecs:   f.NewHistogram(prometheus.HistogramOpts{Name: "ward_detect_window_seconds", Help: "Time to close and evaluate one window.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 8)}),
	}
	e.lastEnd.Store(opts.Now().UnixNano())
	f.NewGaugeFunc(prometheus.GaugeOpts{Name: "ward_detect_lag_seconds",
		Help: "How far the detection windows' evaluation is behind real time: the time since the last evaluated window ended, less one base window (0 while windows close on time; k windows behind: about k times the window)."},
		e.lag)
	ps := DefaultProfiles()
	if b, err := opts.Store.GetBlob(ctx, ProfilesBlob); err == nil {
		if ps, err = ParseProfiles(b); err != nil {
			return nil, fmt.Errorf("stored detection profiles: %w", err)
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	e.profiles.Store(&ps)
	if b, err := opts.Store.GetBlob(ctx, BaselineBlob); err == nil {
		if err := json.Unmarshal(b, &e.models); err != nil {
			e.log.Warn("stored baseline unreadable; learning again", "err", err)
			e.models = map[string]*groupModel{}
		}
		for k, g := range e.models {
			if g == nil || g.Version != modelVersion || len(g.Hist) == 0 {
				e.log.Warn("stored baseline is of an older model; learning again", "group", k)
				delete(e.models, k)
			}
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	return e, nil
}

// Profiles returns the active profiles.
func (e *Engine) Profiles() []Profile { return *e.profiles.Load() }

// SetProfiles validates, stores and activates profiles.
func (e *Engine) SetProfiles(ctx context.Context, ps []Profile) error {
	names := map[string]bool{}
	for i := range ps {
		if err := ps[i].Validate(); err != nil {
			return fmt.Errorf("profile %q: %w", ps[i].Name, err)
		}
		if names[ps[i].Name] {
			return fmt.Errorf("duplicate profile name %q", ps[i].Name)
		}
		names[ps[i].Name] = true
	}
	b, err := json.Marshal(ps)
	if err != nil {
		return err
	}
	if err := e.opts.Store.PutBlob(ctx, ProfilesBlob, b); err != nil {
		return err
	}
	e.profiles.Store(&ps)
	return nil
}

// Window is the base window.
func (e *Engine) Window() time.Duration { return e.opts.Window }

// Run closes a window at every multiple of the base window until ctx is
// done, then saves the baseline.
func (e *Engine) Run(ctx context.Context) error {
	defer e.saveBaseline(context.WithoutCancel(ctx))
	for {
		now := e.opts.Now()
		next := now.Truncate(e.opts.Window).Add(e.opts.Window)
		t := time.NewTimer(next.Sub(now))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		if err := e.CloseWindow(ctx, next); err != nil {
			e.log.Error("close detection window", "err", err)
		}
	}
}

func (e *Engine) saveBaseline(ctx context.Context) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.saveStateLocked(ctx)
}

// saveStateLocked stores the learned baseline and, in a cluster, the
// device facts when they changed, for the other nodes' API and audit.
// e.mu is held.
func (e *Engine) saveStateLocked(ctx context.Context) {
	b, err := json.Marshal(e.models)
	if err == nil {
		err = e.opts.Store.PutBlob(ctx, BaselineBlob, b)
	}
	if err != nil {
		e.log.Error("save baseline", "err", err)
	}
	if e.opts.Partials == nil || !e.factsDirty {
		return
	}
	if b, err = json.Marshal(e.facts); err == nil {
		err = e.opts.Store.PutBlob(ctx, FactsBlob, b)
	}
	if err != nil {
		e.log.Error("save device facts", "err", err)
		return
	}
	e.factsDirty = false
}

// deviceInfo is what profiles target.
type deviceInfo struct {
	model string
	tags  []string
}

// lag is ward_detect_lag_seconds at this instant.
func (e *Engine) lag() float64 {
	behind := e.opts.Now().Sub(time.Unix(0, e.lastEnd.Load())) - e.opts.Window
	return max(behind, 0).Seconds()
}

// CloseWindow closes the base window ending at end, and the longer windows
// that end there too, and evaluates them. Tests call it with an injected
// clock; Run calls it on the wall clock.
func (e *Engine) CloseWindow(ctx context.Context, end time.Time) error {
	began := time.Now()
	defer e.evaluated(end, began)
	w := e.opts.Window
	return e.evaluateWindow(ctx, end, e.opts.Collector.Swap(end.Add(-w), end, 2*60*w), func(ws []store.MetricWindow, acts []alertAction) error {
		e.applyActions(ctx, acts)
		if err := e.opts.Store.AddMetricWindows(ctx, ws); err != nil {
			e.log.Error("store metric windows", "err", err)
		}
		return nil
	})
}

// evaluated records a window's evaluation time and end
// (ward_detect_window_seconds, ward_detect_lag_seconds).
func (e *Engine) evaluated(end, began time.Time) {
	e.mEvalSecs.Observe(time.Since(began).Seconds())
	if n := end.UnixNano(); n > e.lastEnd.Load() {
		e.lastEnd.Store(n)
	}
}

// evaluateWindow evaluates the base window ending at end, whose datapoints
// (one per device, merged from every node in a cluster) are dps, and the
// longer windows that end there too. A single node feeds it from its own
// collector (CloseWindow); the detect leader of a cluster from the gateway
// nodes' partials (EvaluatePartials).
//
// commit stores the window's metric windows and applies its alert
// changes: CloseWindow and EvaluatePartials store them differently.
func (e *Engine) evaluateWindow(ctx context.Context, end time.Time, dps []Datapoint, commit func(ws []store.MetricWindow, acts []alertAction) error) error {
	w := e.opts.Window
	e.mu.Lock()
	defer e.mu.Unlock()
	info, err := e.deviceInfo(ctx, end, dps)
	if err != nil {
		return err
	}
	e.windows++
	e.mWindows.Inc()
	for _, dp := range dps {
		if dp.Values[DeviceReports] > 0 {
			e.facts[dp.Device] = DeviceFacts{ListeningTCP: dp.Sets[ListeningTCPPorts], ListeningUDP: dp.Sets[ListeningUDPPorts],
				DestinationIPs: dp.Sets[DestinationIPs], At: dp.End}
			e.factsDirty = true
		}
	}
	e.mDatapoints.Add(float64(len(dps)))
	var stored []store.MetricWindow
	closed := map[int][]Datapoint{1: dps}
	// The 5x and 60x windows are built at once, one CPU each.
	longer := []int{5, 60}
	outs := make([][]Datapoint, len(longer))
	var wg sync.WaitGroup
	for i, m := range longer {
		part := e.tiers[m]
		if part == nil {
			part = make(map[string]*Datapoint, len(dps))
			e.tiers[m] = part
		}
		wg.Go(func() {
			for _, dp := range dps {
				if p := part[dp.Device]; p != nil {
					p.merge(dp)
				} else {
					c := Datapoint{Device: dp.Device, Start: end.Add(-time.Duration(m) * w), End: end, Window: time.Duration(m) * w}
					c.merge(dp)
					part[dp.Device] = &c
				}
			}
			if end.UnixNano()%(int64(m)*int64(w)) == 0 {
				out := make([]Datapoint, 0, len(part))
				for _, p := range part {
					p.Start, p.End, p.Window = end.Add(-time.Duration(m)*w), end, time.Duration(m)*w
					out = append(out, *p)
				}
				outs[i] = out
			}
		})
	}
	wg.Wait()
	for i, m := range longer {
		if outs[i] != nil {
			closed[m] = outs[i]
			e.tiers[m] = map[string]*Datapoint{}
		}
	}
	for m, list := range closed {
		sort.Slice(list, func(i, j int) bool { return list[i].Device < list[j].Device })
		ws, bad := metricWindows(list)
		if bad > 0 {
			e.log.Error("metric windows with values JSON cannot hold not stored", "window", time.Duration(m)*w, "datapoints", bad)
		}
		stored = append(stored, ws...)
		e.evaluate(ctx, m, list, info, end)
	}
	acts := e.actions
	e.actions = nil
	if err := commit(stored, acts); err != nil {
		return err
	}
	if e.windows%10 == 0 {
		for m := range closed {
			if _, err := e.opts.Store.DeleteMetricWindowsBefore(ctx, time.Duration(m)*w, end.Add(-e.opts.Retention)); err != nil {
				e.log.Error("expire metric windows", "err", err)
			}
		}
		e.saveStateLocked(ctx)
	}
	return nil
}

// deviceInfo reads what profiles target of the devices evaluated at end:
// those of dps and of the longer windows that close there. e.mu is held.
func (e *Engine) deviceInfo(ctx context.Context, end time.Time, dps []Datapoint) (map[string]deviceInfo, error) {
	ids := make([]string, 0, len(dps))
	seen := make(map[string]bool, len(dps))
	for _, dp := range dps {
		if !seen[dp.Device] {
			seen[dp.Device] = true
			ids = append(ids, dp.Device)
		}
	}
	for m, part := range e.tiers {
		if end.UnixNano()%(int64(m)*int64(e.opts.Window)) != 0 {
			continue
		}
		for dev := range part {
			if !seen[dev] {
				seen[dev] = true
				ids = append(ids, dev)
			}
		}
	}
	ds, err := e.opts.Store.DeviceTargets(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("read the evaluated devices' models and tags: %w", err)
	}
	info := make(map[string]deviceInfo, len(ds))
	for _, d := range ds {
		info[d.ID] = deviceInfo{model: d.Model, tags: d.Tags}
	}
	return info, nil
}

// evaluate runs every profile over the datapoints of one closed tier.
func (e *Engine) evaluate(ctx context.Context, tier int, dps []Datapoint, info map[string]deviceInfo, end time.Time) {
	profiles := e.Profiles()
	byDev := make(map[string]*Datapoint, len(dps))
	for i := range dps {
		byDev[dps[i].Device] = &dps[i]
	}
	var (
		tasks []func()
		runs  []*ruleRun
	)
	for _, p := range profiles {
		var members []*Datapoint
		for _, dp := range byDev {
			di, known := info[dp.Device]
			if known && p.Targets.Matches(dp.Device, di.model, di.tags) {
				members = append(members, dp)
			}
		}
		sort.Slice(members, func(i, j int) bool { return members[i].Device < members[j].Device })
		for _, r := range p.Rules {
			if windowTiers[r.Window] != tier {
				continue
			}
			run := e.ruleRun(p.Name, r.Name)
			runs = append(runs, run)
			tasks = append(tasks, func() { e.evalRule(run, p, r, tier, members, byDev, end) })
		}
		if p.Baseline.Enabled && tier == 1 {
			run := e.ruleRun(p.Name, "\x00"+BaselineRule) // apart from a rule of that name
			// The group models are made here: the rules run at once.
			for _, dp := range members {
				if gkey := p.Name + "|" + info[dp.Device].model; e.models[gkey] == nil {
					e.models[gkey] = newGroupModel()
				}
			}
			runs = append(runs, run)
			tasks = append(tasks, func() { e.evalBaseline(run, p, members, info, end) })
		}
	}
	// Each rule's states, reservoir and group models are its own: the
	// rules run at once, over the CPUs, and their alert changes are
	// applied in the profiles' order.
	next := make(chan func())
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(tasks)) {
		wg.Go(func() {
			for task := range next {
				task()
			}
		})
	}
	for _, task := range tasks {
		next <- task
	}
	close(next)
	wg.Wait()
	for _, run := range runs {
		e.actions = append(e.actions, run.actions...)
	}
}

// ruleState is one rule's state machines (per device) and the alert
// changes one window's evaluation of it decided.
type ruleRun struct {
	states  map[string]*ruleState
	actions []alertAction
}

// ruleRun returns a new run of one profile's rule over its states.
func (e *Engine) ruleRun(profile, rule string) *ruleRun {
	key := profile + "|" + rule
	st := e.states[key]
	if st == nil {
		st = map[string]*ruleState{}
		e.states[key] = st
	}
	return &ruleRun{states: st}
}

// threshold returns a numeric rule's threshold for this window: the static
// value, raised to factor x the fleet percentile of the previous windows'
// datapoints when the rule has a statistic and enough history (30 values).
func (e *Engine) threshold(r Rule, res *ring) (float64, string) {
	t := r.Value
	stat := ""
	if r.Statistic != "" && res != nil && res.len() >= 30 {
		q := res.quantile(percentile(r.Statistic))
		stat = fmt.Sprintf("%s of the profile's devices = %.4g", r.Statistic, q)
		if r.Factor != 1 {
			stat = fmt.Sprintf("%g x %s", r.Factor, stat)
		}
		if v := r.Factor * q; v > t || r.Value == 0 {
			t = v
		}
	}
	return t, stat
}

func breach(r Rule, v, t float64) bool {
	switch r.Comparison {
	case ">":
		return v > t
	case ">=":
		return v >= t
	case "<":
		return v < t
	case "<=":
		return v <= t
	}
	return false
}

func setBreach(r Rule, members []string) []string {
	allowed := map[string]bool{}
	for _, v := range r.Values {
		allowed[v] = true
	}
	var hits []string
	for _, m := range members {
		if (r.Comparison == "in-set") == allowed[m] {
			hits = append(hits, m)
		}
	}
	return hits
}

func (e *Engine) evalRule(run *ruleRun, p Profile, r Rule, tier int, members []*Datapoint, all map[string]*Datapoint, end time.Time) {
	var res *ring
	if r.Statistic != "" {
		res = e.reservoirOf(p.Name + "|" + r.Name + "|" + strconv.Itoa(tier))
	}
	t, stat := e.threshold(r, res)
	usable := r.Statistic == "" || r.Value > 0 || stat != ""
	seen := make(map[string]bool, len(members))
	for _, dp := range members {
		seen[dp.Device] = true
		var hit bool
		var hits []string
		v := dp.Values[r.Metric]
		if isSet(r.Metric) {
			hits = setBreach(r, dp.Sets[r.Metric])
			hit = len(hits) > 0
		} else {
			hit = usable && breach(r, v, t)
		}
		if !hit {
			run.step(dp.Device, p, r, false, alert.Evidence{}, end)
			continue
		}
		// Evidence only for a breach: most devices breach nothing.
		ev := alert.Evidence{Metric: r.Metric, Window: dp.Window.String(), Comparison: r.Comparison, Statistic: stat, WindowStart: dp.Start, WindowEnd: dp.End}
		if isSet(r.Metric) {
			ev.Values, ev.Value = hits, float64(len(hits))
		} else {
			ev.Value, ev.Threshold = v, t
		}
		run.step(dp.Device, p, r, true, ev, end)
	}
	// Devices with an open alert and no datapoint count as clean windows.
	for dev, st := range run.states {
		if st.active && !seen[dev] && all[dev] == nil {
			run.step(dev, p, r, false, alert.Evidence{}, end)
		}
	}
	if res != nil {
		for _, dp := range members {
			if st := run.states[dp.Device]; st == nil || !st.active {
				res.add(dp.Values[r.Metric])
			}
		}
	}
}

// reservoirOf returns the named fleet percentile reservoir, made on first
// use. Rules run at once: e.mu is held by their caller, resMu guards the
// map.
func (e *Engine) reservoirOf(key string) *ring {
	e.resMu.Lock()
	defer e.resMu.Unlock()
	res := e.reservoir[key]
	if res == nil {
		res = newRing(reservoirSize)
		e.reservoir[key] = res
	}
	return res
}

// step advances one device × rule state machine and raises or resolves.
func (run *ruleRun) step(dev string, p Profile, r Rule, hit bool, ev alert.Evidence, end time.Time) {
	st := run.states[dev]
	if st == nil {
		if !hit {
			return
		}
		st = &ruleState{}
		run.states[dev] = st
	}
	if hit {
		st.breaches++
		st.cleans = 0
		if st.breaches >= r.RaiseAfter {
			st.active = true
			ev.Detail = map[string]string{"profile": p.Name, "consecutive_datapoints": strconv.Itoa(st.breaches)}
			title := r.Title
			if title == "" {
				title = r.Name
			}
			a := alert.Alert{Device: dev, Rule: r.Name, Source: "detect", Severity: r.Severity, Title: title,
				Description: describe(r, ev), Evidence: ev, MITRE: r.MITRE, RaisedAt: end, UpdatedAt: end,
				Mitigation: r.Mitigation, AutoMitigate: p.AutoMitigate && r.Mitigation != "" && r.Mitigation != MitigateNotify}
			run.actions = append(run.actions, alertAction{Raise: a})
		}
		return
	}
	st.breaches = 0
	st.cleans++
	if st.active && st.cleans >= r.ClearAfter {
		st.active = false
		run.actions = append(run.actions, alertAction{Resolve: true, Device: dev, Rule: r.Name})
	}
	if !st.active {
		delete(run.states, dev)
	}
}

// applyActions applies a window's alert changes in order, each run of
// raises in one RaiseAll (a constant number of store round trips however
// many devices breach). Applying them twice changes nothing more
// (RaiseAll does not count a window's raise twice; a resolved alert
// stays resolved). It reports whether all were applied.
func (e *Engine) applyActions(ctx context.Context, acts []alertAction) bool {
	ok := true
	for i := 0; i < len(acts); {
		if acts[i].Resolve {
			if err := e.opts.Alerts.Resolve(ctx, acts[i].Device, acts[i].Rule); err != nil {
				e.log.Error("resolve alert", "device_id", acts[i].Device, "rule", acts[i].Rule, "err", err)
				ok = false
			}
			i++
			continue
		}
		var raises []alert.Alert
		for ; i < len(acts) && !acts[i].Resolve; i++ {
			raises = append(raises, acts[i].Raise)
		}
		if err := e.opts.Alerts.RaiseAll(ctx, raises); err != nil {
			e.log.Error("raise alerts", "alerts", len(raises), "err", err)
			ok = false
			continue
		}
		e.mRaised.WithLabelValues("rule").Add(float64(len(raises)))
	}
	return ok
}

func describe(r Rule, ev alert.Evidence) string {
	if len(ev.Values) > 0 {
		return fmt.Sprintf("%s %s {%s}: %s", r.Metric, r.Comparison, strings.Join(r.Values, ","), strings.Join(ev.Values, ","))
	}
	s := fmt.Sprintf("%s = %.4g in the %s window, threshold %s %.4g", r.Metric, ev.Value, ev.Window, r.Comparison, ev.Threshold)
	if ev.Statistic != "" {
		s += " (" + ev.Statistic + ")"
	}
	return s
}

// BaselineRule is the rule name of baseline alerts.
const BaselineRule = "baseline-anomaly"

func (e *Engine) evalBaseline(run *ruleRun, p Profile, members []*Datapoint, info map[string]deviceInfo, end time.Time) {
	rule := Rule{Name: BaselineRule, RaiseAfter: 1, ClearAfter: 3, Severity: p.Baseline.Severity, Mitigation: p.Baseline.Mitigation,
		Title: "Behaviour unlike the device's group (learned baseline)", MITRE: nil}
	seen := map[string]bool{}
	for _, dp := range members {
		seen[dp.Device] = true
		g := e.models[p.Name+"|"+info[dp.Device].model] // made by evaluate
		if !g.ready() {
			g.learn(dp.Values, e.windows)
			continue
		}
		sc := g.score(dp.Values)
		hit := sc.anomalous(p.Baseline.Sensitivity)
		ev := alert.Evidence{Metric: sc.Metric, Window: dp.Window.String(), Comparison: ">", Value: sc.Value, Threshold: sc.Usual,
			Statistic: fmt.Sprintf("%.1fx the p99.9 of model %q (sensitivity %s: alert above %.0fx); metrics above twice their p99: %s",
				sc.Ratio(), info[dp.Device].model, p.Baseline.Sensitivity, math.Exp(sensitivityMargin(p.Baseline.Sensitivity)), strings.Join(sc.Elevated, ", ")),
			WindowStart: dp.Start, WindowEnd: dp.End}
		run.step(dp.Device, p, rule, hit, ev, end)
		if st := run.states[dp.Device]; !hit && (st == nil || !st.active) {
			g.learn(dp.Values, e.windows)
		}
	}
	for dev, st := range run.states {
		if st.active && !seen[dev] {
			run.step(dev, p, rule, false, alert.Evidence{}, end)
		}
	}
}

// BaselineStatus describes one learned group model. Group is
// "<profile>|<model>".
type BaselineStatus struct {
	Group      string `json:"group"`
	Datapoints int64  `json:"datapoints"`
	Windows    int64  `json:"windows"`
	Ready      bool   `json:"ready"`
	// Bands is the group's usual range of each metric it has learned, per
	// detection window: the median, and the p99 and p99.9 that the
	// baseline scores against (the console draws them on device charts).
	Bands map[string]Band `json:"bands,omitempty"`
}

// Band is a metric's learned distribution in a group, in the metric's
// unit per detection window (histogram bin edges: coarse, on a log scale).
type Band struct {
	P50  float64 `json:"p50"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
}

// Baselines lists the learned models.
func (e *Engine) Baselines() []BaselineStatus {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []BaselineStatus
	for k, g := range e.models {
		bs := BaselineStatus{Group: k, Datapoints: g.N, Windows: g.Windows, Ready: g.ready()}
		if bs.Ready {
			bs.Bands = make(map[string]Band, len(g.Hist))
			for m, h := range g.Hist {
				p99, p999 := h.tails()
				bs.Bands[m] = Band{P50: math.Expm1(h.quantile(0.5)), P99: math.Expm1(p99), P999: math.Expm1(p999)}
			}
		}
		out = append(out, bs)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	return out
}

// DeviceFacts are the latest device-side report facts of a device.
type DeviceFacts struct {
	ListeningTCP   []string
	ListeningUDP   []string
	DestinationIPs []string
	At             time.Time
}

// Facts returns the latest device-side facts per device (for the audit).
func (e *Engine) Facts() map[string]DeviceFacts {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]DeviceFacts, len(e.facts))
	for k, v := range e.facts {
		out[k] = v
	}
	return out
}
