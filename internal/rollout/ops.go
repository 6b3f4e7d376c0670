package rollout

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/update"
)

// Pause stops orders and advances of a running rollout; reports are still
// recorded.
func (e *Engine) Pause(ctx context.Context, id, actor string) (store.Rollout, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, err := e.opts.Store.TransitionRollout(ctx, store.RolloutTransition{RolloutID: id, Action: "pause", Actor: actor,
		From: []store.RolloutStatus{store.RolloutRunning}, To: store.RolloutPaused, Reason: "paused by " + actor, Now: e.opts.Now().UTC()})
	if err != nil {
		return r, err
	}
	e.audit(ctx, actor, "pause", r, nil)
	return r, nil
}

// Resume runs a paused or halted rollout again: it orders the devices of
// the current wave that never got their order and checks the gates at
// once (a gate that still fails halts it again; next overrides).
func (e *Engine) Resume(ctx context.Context, id, actor string) (store.Rollout, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, err := e.opts.Store.TransitionRollout(ctx, store.RolloutTransition{RolloutID: id, Action: "resume", Actor: actor,
		From: []store.RolloutStatus{store.RolloutPaused, store.RolloutHalted}, To: store.RolloutRunning, Reason: "resumed by " + actor, Now: e.opts.Now().UTC()})
	if err != nil {
		return r, err
	}
	e.audit(ctx, actor, "resume", r, nil)
	if err := e.sendOrders(ctx, r, true); err != nil {
		return r, err
	}
	if err := e.evaluate(ctx, id); err != nil {
		return r, err
	}
	return e.opts.Store.GetRollout(ctx, id)
}

// Abort ends a rollout: its pending devices become aborted and get no
// orders. Devices already downloading or installing finish, and their
// reports are recorded.
func (e *Engine) Abort(ctx context.Context, id, actor string) (store.Rollout, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, err := e.opts.Store.TransitionRollout(ctx, store.RolloutTransition{RolloutID: id, Action: "abort", Actor: actor,
		From: liveStatuses, To: store.RolloutAborted, Reason: "aborted by " + actor, AbortPending: true, Now: e.opts.Now().UTC()})
	if err != nil {
		return r, err
	}
	e.audit(ctx, actor, "abort", r, nil)
	return r, nil
}

// Next starts the next wave now, whatever the gates say, from a running,
// paused or halted rollout (which then runs).
func (e *Engine) Next(ctx context.Context, id, actor string) (store.Rollout, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, err := e.opts.Store.GetRollout(ctx, id)
	if err != nil {
		return r, err
	}
	if r.Wave == len(r.Waves)-1 && !r.Status.Final() {
		return r, fmt.Errorf("rollout %s: %w (wave %d of %d); it completes when the gates pass", id, ErrLastWave, r.Wave+1, len(r.Waves))
	}
	r, err = e.opts.Store.TransitionRollout(ctx, store.RolloutTransition{RolloutID: id, Action: "next", Actor: actor, From: liveStatuses,
		CheckWave: true, FromWave: r.Wave, To: store.RolloutRunning, StartWave: true, Wave: r.Wave + 1, Reason: "next wave by " + actor, Now: e.opts.Now().UTC()})
	if err != nil {
		return r, err
	}
	e.audit(ctx, actor, "next", r, nil)
	if err := e.sendOrders(ctx, r, false); err != nil {
		return r, err
	}
	if err := e.evaluate(ctx, id); err != nil {
		return r, err
	}
	return e.opts.Store.GetRollout(ctx, id)
}

// TUFReleases finds releases in the TUF repository in Dir
// (<data-dir>/tuf), reading it afresh at each call: ward firmware publish
// writes it from another process.
type TUFReleases struct{ Dir string }

// Release returns the custom fields of the target of model and version,
// verified as update.Open verifies the repository. The error wraps
// ErrNoRelease when there is none.
func (t TUFReleases) Release(ctx context.Context, model, version string) (update.Custom, error) {
	missing := func(why string) (update.Custom, error) {
		return update.Custom{}, fmt.Errorf("%w: %s %s %s; publish it first: ward firmware publish --model %s --version %s FILE",
			ErrNoRelease, model, version, why, model, version)
	}
	if _, err := os.Stat(filepath.Join(t.Dir, "root.json")); err != nil {
		return missing("(no TUF repository in " + t.Dir + ": run ward update init)")
	}
	repo, err := update.Open(update.Options{Dir: t.Dir, Keys: new(update.Keyring)})
	if err != nil {
		return update.Custom{}, fmt.Errorf("read the TUF repository %s: %w", t.Dir, err)
	}
	for _, tf := range repo.Targets() {
		if tf == nil || tf.Custom == nil {
			continue
		}
		c, err := update.ParseCustom(*tf.Custom)
		if err != nil || c.Model != model {
			continue
		}
		if cmp, err := update.CompareVersions(c.Version, version); c.Version == version || (err == nil && cmp == 0) {
			return c, nil
		}
	}
	return missing("is not in the TUF repository " + t.Dir)
}

// View is a rollout as the API and the CLI show it.
type View struct {
	ID           string    `json:"id"`
	Model        string    `json:"model"`
	Version      string    `json:"version"`
	Waves        []float64 `json:"waves"`
	MaxFailure   float64   `json:"max_failure"`
	HaltOnAlerts string    `json:"halt_on_alerts,omitempty"`
	Soak         string    `json:"soak"`
	Status       string    `json:"status"`
	// Wave is the current wave, from 1.
	Wave          int       `json:"wave"`
	WaveStartedAt time.Time `json:"wave_started_at"`
	Reason        string    `json:"reason,omitempty"`
	CreatedBy     string    `json:"created_by"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
	// Devices counts the rollout's devices per state, all waves together.
	Devices map[string]int `json:"devices"`
}

// WaveView is one wave's counts.
type WaveView struct {
	Wave            int            `json:"wave"` // from 1
	Percent         float64        `json:"percent"`
	Total           int            `json:"total"`
	States          map[string]int `json:"states"`
	LastInstalledAt time.Time      `json:"last_installed_at,omitzero"`
}

// DeviceView is one device's progress.
type DeviceView struct {
	Device      string    `json:"device"`
	Wave        int       `json:"wave"` // from 1
	State       string    `json:"state"`
	Reason      string    `json:"reason,omitempty"`
	FromVersion string    `json:"from_version"`
	OrderedAt   time.Time `json:"ordered_at,omitzero"`
	InstalledAt time.Time `json:"installed_at,omitzero"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// HistoryView is one transition.
type HistoryView struct {
	Time   time.Time `json:"time"`
	Action string    `json:"action"`
	Actor  string    `json:"actor"`
	Status string    `json:"status"`
	Wave   int       `json:"wave"` // from 1
	Reason string    `json:"reason,omitempty"`
}

// Detail is a rollout with its waves, its history and one page of its
// devices.
type Detail struct {
	View
	WaveCounts []WaveView    `json:"wave_counts"`
	History    []HistoryView `json:"history"`
	DeviceList []DeviceView  `json:"device_list"`
	// Next is the cursor of the next page of devices ("" : none).
	Next string `json:"next,omitempty"`
}

func view(r store.Rollout, counts []store.WaveCount) View {
	v := View{ID: r.ID, Model: r.Model, Version: r.Version, Waves: r.Waves, MaxFailure: r.MaxFailure, HaltOnAlerts: r.HaltOnAlerts,
		Soak: r.Soak.String(), Status: string(r.Status), Wave: r.Wave + 1, WaveStartedAt: r.WaveStartedAt, Reason: r.Reason,
		CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, Devices: map[string]int{}}
	for _, c := range counts {
		for s, n := range c.States {
			v.Devices[string(s)] += n
		}
	}
	return v
}

// Get returns a rollout with its summary counts.
func (e *Engine) Get(ctx context.Context, id string) (View, error) {
	r, err := e.opts.Store.GetRollout(ctx, id)
	if err != nil {
		return View{}, err
	}
	counts, err := e.opts.Store.CountRolloutDevices(ctx, id)
	if err != nil {
		return View{}, err
	}
	return view(r, counts), nil
}

// List returns the newest rollouts (at most limit, <= 0: 100), with
// their counts.
func (e *Engine) List(ctx context.Context, limit int) ([]View, error) {
	rs, err := e.opts.Store.ListRollouts(ctx, store.RolloutFilter{Limit: limit})
	if err != nil {
		return nil, err
	}
	out := make([]View, 0, len(rs))
	for _, r := range rs {
		counts, err := e.opts.Store.CountRolloutDevices(ctx, r.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, view(r, counts))
	}
	return out, nil
}

// DeviceQuery selects one page of a rollout's devices.
type DeviceQuery struct {
	States []store.RolloutDeviceState
	After  string // a device ID: the page starts after it
	Limit  int    // <= 0: 100; at most 1000
}

// Detail returns a rollout with its waves, history and one page of its
// devices.
func (e *Engine) Detail(ctx context.Context, id string, q DeviceQuery) (Detail, error) {
	r, err := e.opts.Store.GetRollout(ctx, id)
	if err != nil {
		return Detail{}, err
	}
	counts, err := e.opts.Store.CountRolloutDevices(ctx, id)
	if err != nil {
		return Detail{}, err
	}
	d := Detail{View: view(r, counts), WaveCounts: []WaveView{}, History: []HistoryView{}, DeviceList: []DeviceView{}}
	for _, c := range counts {
		w := WaveView{Wave: c.Wave + 1, Percent: r.Waves[c.Wave], Total: c.Total, States: map[string]int{}, LastInstalledAt: c.LastInstalledAt}
		for s, n := range c.States {
			w.States[string(s)] = n
		}
		d.WaveCounts = append(d.WaveCounts, w)
	}
	hs, err := e.opts.Store.RolloutHistory(ctx, id)
	if err != nil {
		return Detail{}, err
	}
	for _, h := range hs {
		d.History = append(d.History, HistoryView{Time: h.Time, Action: h.Action, Actor: h.Actor, Status: string(h.Status), Wave: h.Wave + 1, Reason: h.Reason})
	}
	if q.Limit <= 0 {
		q.Limit = 100
	}
	q.Limit = min(q.Limit, 1000)
	f := store.RolloutDeviceFilter{RolloutID: id, States: q.States, Limit: q.Limit}
	if q.After != "" {
		f.After = id + "\x00" + q.After
	}
	devs, err := e.opts.Store.ListRolloutDevices(ctx, f)
	if err != nil {
		return Detail{}, err
	}
	for _, x := range devs {
		d.DeviceList = append(d.DeviceList, DeviceView{Device: x.DeviceID, Wave: x.Wave + 1, State: string(x.State), Reason: x.Reason,
			FromVersion: x.FromVersion, OrderedAt: x.OrderedAt, InstalledAt: x.InstalledAt, UpdatedAt: x.UpdatedAt})
	}
	if len(devs) == q.Limit {
		d.Next = devs[len(devs)-1].DeviceID
	}
	return d, nil
}
