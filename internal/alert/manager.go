package alert

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/wardproject/ward/internal/store"
)

// Store is what the manager persists alerts in.
type Store interface {
	PutAlert(ctx context.Context, a store.AlertRecord) error
	PutAlerts(ctx context.Context, as []store.AlertRecord) error
	GetAlert(ctx context.Context, id string) (store.AlertRecord, error)
	ListAlerts(ctx context.Context, f store.AlertFilter) ([]store.AlertRecord, error)
}

// Subscriber receives every alert change. It must not block: notify's
// dispatcher and respond's responder queue what they receive.
type Subscriber interface {
	AlertChanged(n Notification)
}

// SubscriberFunc adapts a function to Subscriber.
type SubscriberFunc func(Notification)

// AlertChanged implements Subscriber.
func (f SubscriberFunc) AlertChanged(n Notification) { f(n) }

// Options configure a Manager. Store is required.
type Options struct {
	Store   Store
	Logger  *slog.Logger
	Metrics prometheus.Registerer
	Now     func() time.Time
}

// Manager owns the alert lifecycle: it deduplicates per device × rule
// while an alert is active, persists every change and tells subscribers.
type Manager struct {
	opts Options
	log  *slog.Logger

	mu     sync.Mutex        // guards active and subs; serialises changes
	active map[string]string // device|rule -> alert id
	subs   []Subscriber

	mChanges *prometheus.CounterVec
	mOpen    prometheus.Gauge
}

// Errors callers branch on.
var (
	ErrNotFound   = errors.New("no such alert")
	ErrTransition = errors.New("alert cannot make that transition")
)

// NewManager returns a Manager, loading the active alerts from the store.
func NewManager(ctx context.Context, opts Options) (*Manager, error) {
	if opts.Store == nil {
		return nil, errors.New("alert: Options.Store is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	f := promauto.With(opts.Metrics)
	m := &Manager{opts: opts, log: opts.Logger.With("component", "alert"), active: map[string]string{},
		mChanges: f.NewCounterVec(prometheus.CounterOpts{Name: "ward_alert_changes_total", Help: "Alert lifecycle changes."}, []string{"change", "severity"}),
		mOpen:    f.NewGauge(prometheus.GaugeOpts{Name: "ward_alert_active", Help: "Alerts open or acknowledged."}),
	}
	recs, err := opts.Store.ListAlerts(ctx, store.AlertFilter{States: []string{string(Open), string(Acknowledged)}, Limit: 1 << 30})
	if err != nil {
		return nil, fmt.Errorf("load active alerts: %w", err)
	}
	for _, r := range recs {
		m.active[r.DeviceID+"|"+r.Rule] = r.ID
	}
	m.mOpen.Set(float64(len(m.active)))
	return m, nil
}

// Subscribe adds a subscriber for every later change.
func (m *Manager) Subscribe(s Subscriber) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.subs = append(m.subs, s)
}

func newID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "al-" + hex.EncodeToString(b)
}

func (m *Manager) put(ctx context.Context, a Alert) error {
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	return m.opts.Store.PutAlert(ctx, store.AlertRecord{ID: a.ID, DeviceID: a.Device, Rule: a.Rule, State: string(a.State),
		Severity: string(a.Severity), RaisedAt: a.RaisedAt, UpdatedAt: a.UpdatedAt, JSON: b})
}

func decode(r store.AlertRecord) (Alert, error) {
	var a Alert
	if err := json.Unmarshal(r.JSON, &a); err != nil {
		return a, fmt.Errorf("alert %s: %w", r.ID, err)
	}
	return a, nil
}

// notify tells subscribers; m.mu must be held (keeps changes ordered).
func (m *Manager) notify(c Change, a Alert) {
	m.mChanges.WithLabelValues(string(c), string(a.Severity)).Inc()
	m.mOpen.Set(float64(len(m.active)))
	n := Notification{Change: c, Time: m.opts.Now().UTC(), Alert: a}
	for _, s := range m.subs {
		s.AlertChanged(n)
	}
}

// Raise raises a new alert, or updates the active one for the same device
// and rule (count, evidence, severity if higher).
func (m *Manager) Raise(ctx context.Context, a Alert) (Alert, error) {
	if a.Device == "" || a.Rule == "" || !a.Severity.Valid() {
		return a, errors.New("alert needs a device, a rule and a valid severity")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.opts.Now().UTC()
	key := a.Device + "|" + a.Rule
	id, ok := m.active[key]
	if !ok {
		var err error
		if id, ok, err = m.findActive(ctx, a.Device, a.Rule); err != nil {
			return a, err
		}
	}
	if ok {
		cur, found, err := m.current(ctx, id)
		if err != nil {
			return a, err
		}
		if found {
			m.active[key] = cur.ID
			cur = repeated(cur, a, now)
			if err := m.put(ctx, cur); err != nil {
				return cur, err
			}
			m.notify(Updated, cur)
			return cur, nil
		}
		// Gone or cleared (through another node of a cluster).
		delete(m.active, key)
	}
	a = opened(a, now)
	if err := m.put(ctx, a); err != nil {
		return a, err
	}
	m.active[key] = a.ID
	m.log.Warn("alert raised", "alert_id", a.ID, "device_id", a.Device, "rule", a.Rule, "severity", a.Severity)
	m.notify(Raised, a)
	return a, nil
}

// Resolve clears the active alert for a device and rule because the
// condition is gone (ClearedBy "auto"); no active alert is not an error.
func (m *Manager) Resolve(ctx context.Context, device, rule string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	id, ok := m.active[device+"|"+rule]
	if !ok {
		var err error
		if id, ok, err = m.findActive(ctx, device, rule); err != nil || !ok {
			return err
		}
	}
	_, err := m.transitionLocked(ctx, id, Cleared, "auto")
	if errors.Is(err, ErrTransition) {
		// Cleared meanwhile (through another node of a cluster).
		delete(m.active, device+"|"+rule)
		return nil
	}
	return err
}

// opened is a, raised for the first time at now.
func opened(a Alert, now time.Time) Alert {
	a.ID = newID()
	a.State = Open
	a.Count = 1
	if a.RaisedAt.IsZero() {
		a.RaisedAt = now
	}
	a.RaisedAt, a.UpdatedAt = a.RaisedAt.UTC(), now
	return a
}

// repeated is the active alert cur raised again as a at now: one more,
// a's evidence and description, the higher severity.
func repeated(cur, a Alert, now time.Time) Alert {
	cur.Count++
	cur.UpdatedAt = now
	cur.Evidence = a.Evidence
	cur.Description = a.Description
	if a.Severity.Rank() > cur.Severity.Rank() {
		cur.Severity = a.Severity
	}
	return cur
}

// RaiseAll raises or updates every alert of as, as successive Raise calls
// would, in a constant number of store round trips whatever len(as): one
// read of the active alerts of each rule in as, one write of every change
// (PutAlerts, all or none). The detect engine raises a window's alerts
// with it. Alerts without a device, a rule or a valid severity are
// skipped and named in the error; the others are raised.
//
// One difference from Raise makes it idempotent: an alert whose stored
// active alert already carries evidence of the same window (same
// Evidence.Window and non-zero Evidence.WindowEnd) is that window's raise
// applied before, by a detect leader that died before it could record
// so, and is not counted again.
func (m *Manager) RaiseAll(ctx context.Context, as []Alert) error {
	var errs []error
	rules := map[string]bool{}
	for _, a := range as {
		if a.Device == "" || a.Rule == "" || !a.Severity.Valid() {
			errs = append(errs, fmt.Errorf("alert %q/%q needs a device, a rule and a valid severity", a.Device, a.Rule))
			continue
		}
		rules[a.Rule] = true
	}
	if len(rules) == 0 {
		return errors.Join(errs...)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.opts.Now().UTC()
	// The active alert of each device and rule now, as stored: raised by
	// this Manager or, in a cluster, another node; acknowledged or
	// cleared meanwhile.
	cur := map[string]Alert{}
	for rule := range rules {
		recs, err := m.opts.Store.ListAlerts(ctx, store.AlertFilter{Rule: rule, States: []string{string(Open), string(Acknowledged)}, Limit: 1 << 30})
		if err != nil {
			return fmt.Errorf("look up active alerts of rule %s: %w", rule, err)
		}
		for _, r := range recs { // newest first: the newest, unless this Manager knows another
			key := r.DeviceID + "|" + r.Rule
			if _, seen := cur[key]; seen && m.active[key] != r.ID {
				continue
			}
			a, err := decode(r)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			cur[key] = a
		}
	}
	type change struct {
		c Change
		a Alert
	}
	var changes []change
	changed := map[string]bool{}
	for _, a := range as {
		if a.Device == "" || a.Rule == "" || !a.Severity.Valid() {
			continue
		}
		key := a.Device + "|" + a.Rule
		if c, ok := cur[key]; ok && c.Active() {
			if !changed[key] && !a.Evidence.WindowEnd.IsZero() && c.Evidence.WindowEnd.Equal(a.Evidence.WindowEnd) && c.Evidence.Window == a.Evidence.Window {
				continue // this window's raise, applied already
			}
			changed[key] = true
			c = repeated(c, a, now)
			cur[key] = c
			changes = append(changes, change{Updated, c})
			continue
		}
		changed[key] = true
		a = opened(a, now)
		cur[key] = a
		changes = append(changes, change{Raised, a})
	}
	recs := make([]store.AlertRecord, len(changes))
	for i, ch := range changes {
		b, err := json.Marshal(ch.a)
		if err != nil {
			return fmt.Errorf("encode alert %s: %w", ch.a.ID, err)
		}
		recs[i] = store.AlertRecord{ID: ch.a.ID, DeviceID: ch.a.Device, Rule: ch.a.Rule, State: string(ch.a.State),
			Severity: string(ch.a.Severity), RaisedAt: ch.a.RaisedAt, UpdatedAt: ch.a.UpdatedAt, JSON: b}
	}
	if err := m.opts.Store.PutAlerts(ctx, recs); err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, ch := range changes {
		m.active[ch.a.Device+"|"+ch.a.Rule] = ch.a.ID
	}
	for _, ch := range changes {
		if ch.c == Raised {
			m.log.Warn("alert raised", "alert_id", ch.a.ID, "device_id", ch.a.Device, "rule", ch.a.Rule, "severity", ch.a.Severity)
		}
		m.notify(ch.c, ch.a)
	}
	return errors.Join(errs...)
}

// current reads alert id and reports whether it is still active.
func (m *Manager) current(ctx context.Context, id string) (Alert, bool, error) {
	rec, err := m.opts.Store.GetAlert(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Alert{}, false, nil
	}
	if err != nil {
		return Alert{}, false, err
	}
	cur, err := decode(rec)
	if err != nil {
		return cur, false, err
	}
	return cur, cur.Active(), nil
}

// findActive looks in the store for an open or acknowledged alert of
// device and rule that this Manager does not know: in a cluster, one that
// another node raised. m.mu must be held.
func (m *Manager) findActive(ctx context.Context, device, rule string) (string, bool, error) {
	recs, err := m.opts.Store.ListAlerts(ctx, store.AlertFilter{DeviceID: device, Rule: rule,
		States: []string{string(Open), string(Acknowledged)}, Limit: 1})
	if err != nil {
		return "", false, fmt.Errorf("look up active alert for %s/%s: %w", device, rule, err)
	}
	if len(recs) == 0 {
		return "", false, nil
	}
	return recs[0].ID, true, nil
}

// Acknowledge marks an alert seen by an operator.
func (m *Manager) Acknowledge(ctx context.Context, id, by string) (Alert, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.transitionLocked(ctx, id, Acknowledged, by)
}

// Clear closes an alert by hand.
func (m *Manager) Clear(ctx context.Context, id, by string) (Alert, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.transitionLocked(ctx, id, Cleared, by)
}

func (m *Manager) transitionLocked(ctx context.Context, id string, to State, by string) (Alert, error) {
	rec, err := m.opts.Store.GetAlert(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Alert{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return Alert{}, err
	}
	a, err := decode(rec)
	if err != nil {
		return a, err
	}
	now := m.opts.Now().UTC()
	switch {
	case to == Acknowledged && a.State == Open:
		a.AcknowledgedAt, a.AcknowledgedBy = now, by
	case to == Cleared && a.Active():
		a.ClearedAt, a.ClearedBy = now, by
		delete(m.active, a.Device+"|"+a.Rule)
	default:
		return a, fmt.Errorf("%w: %s is %s", ErrTransition, id, a.State)
	}
	a.State, a.UpdatedAt = to, now
	if err := m.put(ctx, a); err != nil {
		return a, err
	}
	change := Acknowledge
	if to == Cleared {
		change = Clear
	}
	m.notify(change, a)
	return a, nil
}

// AddMitigation records a mitigation taken for an alert.
func (m *Manager) AddMitigation(ctx context.Context, id, what string) (Alert, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rec, err := m.opts.Store.GetAlert(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Alert{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return Alert{}, err
	}
	a, err := decode(rec)
	if err != nil {
		return a, err
	}
	if !slices.Contains(a.Mitigations, what) {
		a.Mitigations = append(a.Mitigations, what)
	}
	a.UpdatedAt = m.opts.Now().UTC()
	if err := m.put(ctx, a); err != nil {
		return a, err
	}
	m.notify(MitigationTaken, a)
	return a, nil
}

// Get returns one alert.
func (m *Manager) Get(ctx context.Context, id string) (Alert, error) {
	rec, err := m.opts.Store.GetAlert(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Alert{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return Alert{}, err
	}
	return decode(rec)
}

// Filter selects alerts to list; zero fields match everything.
type Filter struct {
	Device string
	Rule   string
	States []State
	// MinSeverity keeps the alerts of this severity or worse.
	MinSeverity Severity
	// Since keeps the alerts raised at or after it.
	Since time.Time
	Limit int
}

// List returns alerts, newest first. The store applies every filter, so
// that Limit counts matching alerts only.
func (m *Manager) List(ctx context.Context, f Filter) ([]Alert, error) {
	sf := store.AlertFilter{DeviceID: f.Device, Rule: f.Rule, Since: f.Since, Limit: f.Limit}
	for _, s := range f.States {
		sf.States = append(sf.States, string(s))
	}
	if f.MinSeverity != "" {
		for _, s := range []Severity{Low, Medium, High, Critical} {
			if s.Rank() >= f.MinSeverity.Rank() {
				sf.Severities = append(sf.Severities, string(s))
			}
		}
	}
	recs, err := m.opts.Store.ListAlerts(ctx, sf)
	if err != nil {
		return nil, err
	}
	out := make([]Alert, 0, len(recs))
	for _, r := range recs {
		a, err := decode(r)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}
