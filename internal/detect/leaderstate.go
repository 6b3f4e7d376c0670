package detect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/wardproject/ward/internal/store"
)

// StateBlob holds, in a cluster, the detect leader's rule states and
// fleet percentile reservoirs as of the last window it committed (in the
// same transaction as the window), so that the next leader resumes them:
// an open alert still clears after its clean windows, a rule's
// consecutive breaches go on counting and percentile thresholds keep
// their history. The partly built 5x and 60x windows are not kept (one
// datapoint per device): the first longer windows after a takeover hold
// only the base windows since it.
const StateBlob = "detect/state"

// leaderState is StateBlob's JSON.
type leaderState struct {
	// States: profile|rule -> device -> [breaches, cleans, active 0/1].
	States map[string]map[string][3]int `json:"states"`
	// Reservoirs: profile|rule|tier -> the ring's values, oldest first.
	Reservoirs map[string][]float64 `json:"reservoirs"`
}

// reservoirSize is how many values a percentile reservoir keeps.
const reservoirSize = 4096

// encodeLeaderState is StateBlob for the current state. e.mu is held.
func (e *Engine) encodeLeaderState() ([]byte, error) {
	ls := leaderState{States: make(map[string]map[string][3]int, len(e.states)), Reservoirs: make(map[string][]float64, len(e.reservoir))}
	for key, devs := range e.states {
		if len(devs) == 0 {
			continue
		}
		m := make(map[string][3]int, len(devs))
		for dev, st := range devs {
			active := 0
			if st.active {
				active = 1
			}
			m[dev] = [3]int{st.breaches, st.cleans, active}
		}
		ls.States[key] = m
	}
	for key, r := range e.reservoir {
		ls.Reservoirs[key] = r.ordered()
	}
	return json.Marshal(ls)
}

// decodeLeaderState parses StateBlob: counts must be non-negative, the
// active flag 0 or 1, a reservoir at most reservoirSize finite values.
func decodeLeaderState(b []byte) (map[string]map[string]*ruleState, map[string]*ring, error) {
	var ls leaderState
	if err := json.Unmarshal(b, &ls); err != nil {
		return nil, nil, fmt.Errorf("detect leader state: %w", err)
	}
	states := make(map[string]map[string]*ruleState, len(ls.States))
	for key, devs := range ls.States {
		m := make(map[string]*ruleState, len(devs))
		for dev, v := range devs {
			if v[0] < 0 || v[1] < 0 || v[2] < 0 || v[2] > 1 {
				return nil, nil, fmt.Errorf("detect leader state: rule %q, device %q: invalid state %v", key, dev, v)
			}
			m[dev] = &ruleState{breaches: v[0], cleans: v[1], active: v[2] == 1}
		}
		states[key] = m
	}
	res := make(map[string]*ring, len(ls.Reservoirs))
	for key, vals := range ls.Reservoirs {
		if len(vals) > reservoirSize {
			return nil, nil, fmt.Errorf("detect leader state: reservoir %q has %d values, at most %d", key, len(vals), reservoirSize)
		}
		r := newRing(reservoirSize)
		for _, v := range vals {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, nil, fmt.Errorf("detect leader state: reservoir %q holds %v", key, v)
			}
			r.add(v)
		}
		res[key] = r
	}
	return states, res, nil
}

// loadLeaderState resumes the rule states and reservoirs the previous
// leader committed; none stored or unreadable: they start afresh.
func (e *Engine) loadLeaderState(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.loadLeaderStateLocked(ctx)
}

// loadLeaderStateLocked is loadLeaderState with e.mu held.
func (e *Engine) loadLeaderStateLocked(ctx context.Context) error {
	b, err := e.opts.Store.GetBlob(ctx, StateBlob)
	if errors.Is(err, store.ErrNotFound) {
		e.states, e.reservoir = map[string]map[string]*ruleState{}, map[string]*ring{}
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the previous detect leader's state: %w", err)
	}
	states, res, err := decodeLeaderState(b)
	if err != nil {
		e.log.Error("stored detect leader state unreadable; rule states start afresh", "err", err)
		states, res = map[string]map[string]*ruleState{}, map[string]*ring{}
	}
	e.states, e.reservoir = states, res
	return nil
}

// rewindLocked takes the leader back to its last committed window after
// a commit failed: the rule states and reservoirs as stored, the partly
// built longer windows dropped (as on a takeover), since the window's
// batches will be evaluated again. e.mu is held.
func (e *Engine) rewindLocked(ctx context.Context) {
	e.tiers = map[int]map[string]*Datapoint{}
	if err := e.loadLeaderStateLocked(ctx); err != nil {
		e.log.Error("rewind to the last committed window; rule states start afresh", "err", err)
		e.states, e.reservoir = map[string]map[string]*ruleState{}, map[string]*ring{}
	}
}
