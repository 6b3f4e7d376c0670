package detect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/wardproject/ward/internal/store"
)

// Detection across a cluster.
//
// Gateway nodes do not evaluate: at each base window's end a Shipper swaps
// the node's Collector and ships one partial datapoint per active device
// on the work queue WindowsQueue (see wire.go). Detector workers (an
// Ingester per Consume call, on any node) store each batch in the store,
// keyed by (node, window end, seq), then acknowledge it: a batch delivered
// twice is stored once, and a worker killed between the store and the ack
// only causes a redelivery that changes nothing.
//
// One node at a time, the detect leader (Lead, under the lock "detect"),
// evaluates: after each window's end it waits until every gateway node
// that shipped in the last three windows has all its batches in, or for
// Options.Grace, then loads every stored batch of that window and earlier
// ones, merges them per device (counts add, maxima take the max, sets
// unite; disconnected_seconds takes the smallest of the nodes' values for
// one window, since a device offline on one node may be online on
// another), evaluates them with exactly the code a single node runs
// (fleet percentiles and baselines therefore cover the whole fleet), and
// stores the window's metric windows and alert changes and deletes the
// batches it evaluated in one transaction (CommitEvaluatedWindow), then
// applies the alert changes; a new leader applies those of the last
// window first (replayOutbox), so that each batch is evaluated once and
// each window's alerts counted once. Batches of an earlier window (a
// gateway that was cut off, or windows before this node became leader)
// are evaluated with the current window and counted in
// ward_detect_late_partials_total; none is dropped.
//
// The rule states and the fleet percentile reservoirs are committed with
// each window (StateBlob) and resumed by the next leader; the partly
// built 5x and 60x windows start again on a new leader; the baseline and
// the profiles are read from the store when it takes over. Every node that is not the leader follows (Follow): it
// re-reads the profiles, the baseline and the device facts from the store
// at each window, so that any node answers the API and runs the audit.

// PartialStore keeps the gateway nodes' window batches between the
// detector workers and the detect leader. store.Store implements it.
type PartialStore interface {
	PutPartialBatch(ctx context.Context, b store.PartialBatch) error
	CountPartialBatches(ctx context.Context, through time.Time) ([]store.PartialCount, error)
	ListPartialBatches(ctx context.Context, through time.Time) ([]store.PartialBatch, error)
	CommitEvaluatedWindow(ctx context.Context, w store.EvaluatedWindow) error
}

// OutboxBlob holds the alert changes of the last window the detect
// leader committed, until it has applied them: a leader that dies in
// between leaves them to the next one (replayOutbox).
const OutboxBlob = "detect/outbox"

// Elector runs work while this node holds the named lock (package
// leader's Elector).
type Elector interface {
	Lead(ctx context.Context, name string, work func(ctx context.Context) error) error
}

// LeaderJob is the lock name of fleet-wide evaluation.
const LeaderJob = "detect"

// recentWindows is how many windows a node that stopped shipping is still
// waited for.
const recentWindows = 3

// Prompt tells the detect leader that a batch was stored, so that it
// checks at once whether the window is complete. It never blocks.
func (e *Engine) Prompt() {
	select {
	case e.prompt <- struct{}{}:
	default:
	}
}

// Leading reports whether this node is the detect leader now.
func (e *Engine) Leading() bool { return e.leading.Load() }

// Lead evaluates the cluster's windows whenever el makes this node the
// detect leader, until ctx ends.
func (e *Engine) Lead(ctx context.Context, el Elector) error {
	if e.opts.Partials == nil {
		return errors.New("detect: Lead needs Options.Partials")
	}
	return el.Lead(ctx, LeaderJob, e.leadWindows)
}

// leadWindows is the leader's loop: it evaluates each window after its
// end, complete or after the grace period.
func (e *Engine) leadWindows(ctx context.Context) error {
	e.leading.Store(true)
	defer e.leading.Store(false)
	e.log.Info("leading fleet-wide detection")
	if err := e.reload(ctx, true); err != nil {
		return err
	}
	if err := e.loadLeaderState(ctx); err != nil {
		return err
	}
	if err := e.replayOutbox(ctx); err != nil {
		return err
	}
	defer e.saveBaseline(context.WithoutCancel(ctx))
	w := e.opts.Window
	for {
		end := e.opts.Now().Truncate(w).Add(w)
		if err := e.wait(ctx, end.Sub(e.opts.Now())); err != nil {
			return nil
		}
		if err := e.waitComplete(ctx, end); err != nil {
			return nil
		}
		if err := e.reload(ctx, false); err != nil {
			e.log.Error("reload detection profiles", "err", err)
		}
		if err := e.EvaluatePartials(ctx, end); err != nil {
			e.log.Error("evaluate detection window", "window_end", end, "err", err)
		}
	}
}

// wait waits d or until ctx ends (then it returns ctx's error).
func (e *Engine) wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// waitComplete returns once every recently seen gateway node has all its
// batches of the window ending at end stored, or end + Grace has passed.
func (e *Engine) waitComplete(ctx context.Context, end time.Time) error {
	deadline := end.Add(e.opts.Grace)
	poll := min(time.Second, e.opts.Grace/4)
	for {
		if done, err := e.complete(ctx, end); err != nil {
			e.log.Warn("count stored window batches", "err", err)
		} else if done {
			return nil
		}
		left := deadline.Sub(e.opts.Now())
		if left <= 0 {
			return nil
		}
		t := time.NewTimer(min(left, poll))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-e.prompt:
		case <-t.C:
		}
		t.Stop()
	}
}

// complete reports whether the window ending at end has every batch of
// every node that shipped in it or in the last recentWindows windows.
func (e *Engine) complete(ctx context.Context, end time.Time) (bool, error) {
	counts, err := e.opts.Partials.CountPartialBatches(ctx, end)
	if err != nil {
		return false, err
	}
	have := map[string]bool{}
	for _, c := range counts {
		if !c.WindowEnd.Equal(end) {
			continue
		}
		if c.Stored < c.Batches {
			return false, nil
		}
		have[c.Node] = true
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for node, last := range e.recent {
		if end.Sub(last) > recentWindows*e.opts.Window {
			delete(e.recent, node)
			continue
		}
		if !have[node] {
			return false, nil
		}
	}
	return len(have) > 0, nil
}

// EvaluatePartials evaluates the base window ending at end from every
// stored batch of it and of earlier windows, then deletes those batches.
// The detect leader calls it; tests call it with an injected clock.
func (e *Engine) EvaluatePartials(ctx context.Context, end time.Time) error {
	began := time.Now()
	defer e.evaluated(end, began)
	batches, err := e.opts.Partials.ListPartialBatches(ctx, end)
	if err != nil {
		return fmt.Errorf("load window batches: %w", err)
	}
	dps, late := e.mergeBatches(batches, end)
	e.mLate.Add(float64(late))
	if late > 0 {
		e.log.Warn("late partial datapoints evaluated with a later window", "window_end", end, "datapoints", late)
	}
	// The window's metric windows, its alert changes and the deletion of
	// its batches are one transaction: a leader that dies before it
	// leaves the batches to the next leader and nothing of the window;
	// after it, the next leader applies the alert changes it finds
	// (replayOutbox) and evaluates no batch twice.
	err = e.evaluateWindow(ctx, end, dps, func(ws []store.MetricWindow, acts []alertAction) error {
		outbox, err := json.Marshal(acts)
		if err != nil {
			return fmt.Errorf("encode the window's alert changes: %w", err)
		}
		state, err := e.encodeLeaderState()
		if err != nil {
			return fmt.Errorf("encode the rule states: %w", err)
		}
		if err := e.opts.Partials.CommitEvaluatedWindow(ctx, store.EvaluatedWindow{Windows: ws,
			Blobs: map[string][]byte{OutboxBlob: outbox, StateBlob: state}, Batches: batches}); err != nil {
			// The batches stay and are evaluated again with the next
			// window: go back to the state of the last commit, as a new
			// leader would, so that they count once.
			e.rewindLocked(ctx)
			return fmt.Errorf("store the evaluated window: %w", err)
		}
		if e.applyActions(ctx, acts) && len(acts) > 0 {
			if err := e.opts.Store.PutBlob(ctx, OutboxBlob, []byte("[]")); err != nil {
				e.log.Warn("clear applied alert changes", "err", err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	e.log.Debug("window evaluated", "window_end", end, "batches", len(batches), "datapoints", len(dps), "seconds", time.Since(began).Seconds())
	return nil
}

// mergeBatches merges stored batches into one datapoint per device for
// the window ending at end. Batches that fail to decode (the workers
// check them before storing, so only a changed binary could) are logged
// and skipped. late counts the datapoints of earlier windows.
func (e *Engine) mergeBatches(batches []store.PartialBatch, end time.Time) (out []Datapoint, late int) {
	w := e.opts.Window
	// Per window end, per device: the nodes' partials of one window.
	windows := map[int64]map[string]*Datapoint{}
	seen := map[string]time.Time{}
	for _, sb := range batches {
		bt, err := DecodeBatch(sb.Data)
		if err != nil {
			e.log.Error("stored window batch unreadable; skipped", "node", sb.Node, "window_end", sb.WindowEnd, "seq", sb.Seq, "err", err)
			continue
		}
		if t, ok := seen[bt.Node]; !ok || bt.WindowEnd.After(t) {
			seen[bt.Node] = bt.WindowEnd
		}
		k := bt.WindowEnd.UnixNano()
		byDev := windows[k]
		if byDev == nil {
			byDev = map[string]*Datapoint{}
			windows[k] = byDev
		}
		for _, dp := range bt.Datapoints {
			if bt.WindowEnd.Before(end) {
				late++
			}
			cur := byDev[dp.Device]
			if cur == nil {
				c := dp
				byDev[dp.Device] = &c
				continue
			}
			// Another node's view of the same device and window.
			d, o := cur.Values[DisconnectedSeconds], dp.Values[DisconnectedSeconds]
			cur.merge(dp)
			cur.Values[DisconnectedSeconds] = min(d, o)
		}
	}
	e.mu.Lock()
	for node, t := range seen {
		if t.After(e.recent[node]) {
			e.recent[node] = t
		}
	}
	e.mu.Unlock()
	ends := make([]int64, 0, len(windows))
	for k := range windows {
		ends = append(ends, k)
	}
	sort.Slice(ends, func(i, j int) bool { return ends[i] < ends[j] })
	merged := map[string]*Datapoint{}
	for _, k := range ends {
		for dev, dp := range windows[k] {
			if cur := merged[dev]; cur != nil {
				cur.merge(*dp) // an earlier window's late partial: counts add
			} else {
				merged[dev] = dp
			}
		}
	}
	out = make([]Datapoint, 0, len(merged))
	for _, dp := range merged {
		dp.Start, dp.End, dp.Window = end.Add(-w), end, w
		out = append(out, *dp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Device < out[j].Device })
	return out, late
}

// replayOutbox applies the alert changes of the last committed window
// that a previous leader may have died before applying (applying them
// again changes nothing), then clears them.
func (e *Engine) replayOutbox(ctx context.Context) error {
	b, err := e.opts.Store.GetBlob(ctx, OutboxBlob)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the last window's alert changes: %w", err)
	}
	acts, err := decodeOutbox(b)
	if err != nil {
		e.log.Error("stored alert changes unreadable; not applied", "err", err)
		return nil
	}
	if len(acts) == 0 {
		return nil
	}
	e.log.Info("applying the previous leader's last alert changes", "changes", len(acts))
	e.mu.Lock()
	applied := e.applyActions(ctx, acts)
	e.mu.Unlock()
	if applied {
		if err := e.opts.Store.PutBlob(ctx, OutboxBlob, []byte("[]")); err != nil {
			e.log.Warn("clear applied alert changes", "err", err)
		}
	}
	return nil
}

// decodeOutbox parses OutboxBlob.
func decodeOutbox(b []byte) ([]alertAction, error) {
	var acts []alertAction
	if err := json.Unmarshal(b, &acts); err != nil {
		return nil, fmt.Errorf("detection alert changes: %w", err)
	}
	return acts, nil
}

// reload reads the profiles (and, when taking over, the baseline) from the
// store: another node may have changed them.
func (e *Engine) reload(ctx context.Context, baseline bool) error {
	if err := e.loadProfiles(ctx); err != nil {
		return err
	}
	if baseline {
		return e.loadBaseline(ctx)
	}
	return nil
}

func (e *Engine) loadProfiles(ctx context.Context) error {
	b, err := e.opts.Store.GetBlob(ctx, ProfilesBlob)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read stored detection profiles: %w", err)
	}
	ps, err := ParseProfiles(b)
	if err != nil {
		return fmt.Errorf("stored detection profiles: %w", err)
	}
	e.profiles.Store(&ps)
	return nil
}

func (e *Engine) loadBaseline(ctx context.Context) error {
	b, err := e.opts.Store.GetBlob(ctx, BaselineBlob)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read stored baseline: %w", err)
	}
	models := map[string]*groupModel{}
	if err := json.Unmarshal(b, &models); err != nil {
		e.log.Warn("stored baseline unreadable; learning again", "err", err)
		return nil
	}
	for k, g := range models {
		if g == nil || g.Version != modelVersion || len(g.Hist) == 0 {
			delete(models, k)
		}
	}
	e.mu.Lock()
	e.models = models
	e.mu.Unlock()
	return nil
}

func (e *Engine) loadFacts(ctx context.Context) error {
	b, err := e.opts.Store.GetBlob(ctx, FactsBlob)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read stored device facts: %w", err)
	}
	facts := map[string]DeviceFacts{}
	if err := json.Unmarshal(b, &facts); err != nil {
		return fmt.Errorf("stored device facts: %w", err)
	}
	e.mu.Lock()
	e.facts = facts
	e.mu.Unlock()
	return nil
}

// Follow keeps, on a node that is not the detect leader, what the API
// and the audit read (Profiles, Baselines, Facts) as the leader stored it:
// it re-reads them now and after each window, until ctx ends. While this
// node leads, it reads nothing (the state is its own).
func (e *Engine) Follow(ctx context.Context) error {
	w := e.opts.Window
	for {
		if !e.leading.Load() {
			if err := e.Refresh(ctx); err != nil {
				e.log.Warn("refresh detection state from the store", "err", err)
			}
		}
		// A little after the leader's evaluation of the next window.
		next := e.opts.Now().Truncate(w).Add(w + e.opts.Grace)
		if err := e.wait(ctx, next.Sub(e.opts.Now())); err != nil {
			return nil
		}
	}
}

// Refresh re-reads the profiles, the baseline and the device facts from
// the store (Follow; tests call it).
func (e *Engine) Refresh(ctx context.Context) error {
	return errors.Join(e.loadProfiles(ctx), e.loadBaseline(ctx), e.loadFacts(ctx))
}
