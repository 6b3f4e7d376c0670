package rollout

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/wardproject/ward/internal/alert"
	"github.com/wardproject/ward/internal/gwevent"
	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/update"
)

// liveStatuses are the rollouts whose devices' reports are recorded.
var liveStatuses = []store.RolloutStatus{store.RolloutRunning, store.RolloutPaused, store.RolloutHalted}

// Evaluate checks the gates of every running rollout at Now: halts on
// failures or on updated devices that did not come back, advances waves
// whose success share and soak have passed, completes the finished ones.
func (e *Engine) Evaluate(ctx context.Context) error {
	rs, err := e.opts.Store.ListRollouts(ctx, store.RolloutFilter{Statuses: []store.RolloutStatus{store.RolloutRunning}, Limit: 1000})
	if err != nil {
		return fmt.Errorf("list running rollouts: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var errs []error
	for _, r := range rs {
		if err := e.evaluate(ctx, r.ID); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// evaluate checks one rollout's gates, advancing through every wave that
// passes (empty waves pass at once). Called with mu held.
func (e *Engine) evaluate(ctx context.Context, id string) error {
	for range maxWaves + 1 {
		r, err := e.opts.Store.GetRollout(ctx, id)
		if err != nil {
			return err
		}
		if r.Status != store.RolloutRunning {
			return nil
		}
		counts, err := e.opts.Store.CountRolloutDevices(ctx, id)
		if err != nil {
			return err
		}
		now := e.opts.Now().UTC()
		c := counts[r.Wave]
		eligible := c.Total - c.States[store.DeviceSkipped] - c.States[store.DeviceAborted]
		failed := c.States[store.DeviceFailed]
		if eligible > 0 && float64(failed)*100 > r.MaxFailure*float64(eligible) {
			return e.halt(ctx, r, fmt.Sprintf("%d of %d devices in wave %d failed, over the max-failure of %s%%",
				failed, eligible, r.Wave+1, strconv.FormatFloat(r.MaxFailure, 'f', -1, 64)), nil)
		}
		if dev, err := e.bricked(ctx, r, now); err != nil {
			return err
		} else if dev.DeviceID != "" {
			return e.halt(ctx, r, fmt.Sprintf("device %s installed %s at %s and did not come back online within the soak time (%s)",
				dev.DeviceID, r.Version, dev.InstalledAt.Format(time.RFC3339), r.Soak), map[string]string{"device": dev.DeviceID})
		}
		installed := c.States[store.DeviceInstalled]
		if eligible > 0 && (float64(installed)*100 < (100-r.MaxFailure)*float64(eligible) || now.Before(c.LastInstalledAt.Add(r.Soak))) {
			return nil
		}
		if r.Wave == len(r.Waves)-1 {
			r, err = e.opts.Store.TransitionRollout(ctx, store.RolloutTransition{RolloutID: id, Action: "complete", Actor: autoActor,
				From: []store.RolloutStatus{store.RolloutRunning}, CheckWave: true, FromWave: r.Wave, To: store.RolloutCompleted, Now: now})
			if err != nil {
				return ignoreConflict(err)
			}
			e.audit(ctx, autoActor, "complete", r, nil)
			e.log.Info("rollout completed", "rollout", id, "version", r.Version)
			return nil
		}
		r, err = e.opts.Store.TransitionRollout(ctx, store.RolloutTransition{RolloutID: id, Action: "wave", Actor: autoActor,
			From: []store.RolloutStatus{store.RolloutRunning}, CheckWave: true, FromWave: r.Wave, To: store.RolloutRunning,
			StartWave: true, Wave: r.Wave + 1, Now: now})
		if err != nil {
			return ignoreConflict(err)
		}
		e.audit(ctx, autoActor, "wave", r, nil)
		e.log.Info("rollout wave started", "rollout", id, "wave", r.Wave+1)
		if err := e.sendOrders(ctx, r, false); err != nil {
			return err
		}
	}
	return nil
}

func ignoreConflict(err error) error {
	if errors.Is(err, store.ErrConflict) {
		return nil
	}
	return err
}

// bricked returns a device of r that reported installed more than the
// soak time ago, then went offline and has not connected since (zero
// when there is none).
func (e *Engine) bricked(ctx context.Context, r store.Rollout, now time.Time) (store.RolloutDevice, error) {
	f := store.RolloutDeviceFilter{RolloutID: r.ID, States: []store.RolloutDeviceState{store.DeviceInstalled}, Limit: 1000}
	for {
		page, err := e.opts.Store.ListRolloutDevices(ctx, f)
		if err != nil {
			return store.RolloutDevice{}, fmt.Errorf("rollout %s: list installed devices: %w", r.ID, err)
		}
		for _, d := range page {
			if now.Before(d.InstalledAt.Add(r.Soak)) || (!d.SeenAt.IsZero() && !d.SeenAt.Before(d.InstalledAt)) {
				continue
			}
			if on, err := e.connectedNow(ctx, d.DeviceID); err != nil {
				return store.RolloutDevice{}, fmt.Errorf("rollout %s: is device %s connected: %w", r.ID, d.DeviceID, err)
			} else if on {
				continue
			}
			return d, nil
		}
		if len(page) < f.Limit {
			return store.RolloutDevice{}, nil
		}
		f.After = page[len(page)-1].Cursor()
	}
}

// halt stops r (running or paused) with reason.
func (e *Engine) halt(ctx context.Context, r store.Rollout, reason string, detail map[string]string) error {
	r, err := e.opts.Store.TransitionRollout(ctx, store.RolloutTransition{RolloutID: r.ID, Action: "halt", Actor: autoActor,
		From: []store.RolloutStatus{store.RolloutRunning, store.RolloutPaused}, To: store.RolloutHalted, Reason: reason, Now: e.opts.Now().UTC()})
	if err != nil {
		return ignoreConflict(err)
	}
	if detail == nil {
		detail = map[string]string{}
	}
	detail["reason"] = reason
	e.audit(ctx, autoActor, "halt", r, detail)
	e.log.Warn("rollout halted", "rollout", r.ID, "reason", reason)
	return nil
}

// handleObservation applies a connection, a subscription or a report.
func (e *Engine) handleObservation(ctx context.Context, o gwevent.Event) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch o.Kind {
	case gwevent.Connected:
		return e.connected(ctx, o)
	case gwevent.Subscribed:
		return e.resend(ctx, o.Device)
	case gwevent.Published:
		return e.report(ctx, o)
	}
	return nil
}

// memberships returns the device's records in live rollouts.
func (e *Engine) memberships(ctx context.Context, deviceID string) ([]store.RolloutDevice, error) {
	return e.opts.Store.ListRolloutDevices(ctx, store.RolloutDeviceFilter{DeviceID: deviceID, RolloutStatuses: liveStatuses, Limit: 100})
}

// connected records that an updated device came back.
func (e *Engine) connected(ctx context.Context, o gwevent.Event) error {
	ms, err := e.memberships(ctx, o.Device)
	if err != nil {
		return err
	}
	at := e.opts.Now().UTC() // the engine's clock, which InstalledAt was taken from
	for _, m := range ms {
		if m.State != store.DeviceInstalled || at.Before(m.InstalledAt) {
			continue
		}
		if _, err := e.opts.Store.UpdateRolloutDevice(ctx, store.RolloutDeviceUpdate{RolloutID: m.RolloutID, DeviceID: m.DeviceID,
			From: []store.RolloutDeviceState{store.DeviceInstalled}, SeenAt: at, Now: at}); err != nil && !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return nil
}

// resend orders the device again in every running rollout whose current
// (or an earlier) wave holds it and that it has not answered.
func (e *Engine) resend(ctx context.Context, deviceID string) error {
	ms, err := e.memberships(ctx, deviceID)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if m.State != store.DevicePending {
			continue
		}
		r, err := e.opts.Store.GetRollout(ctx, m.RolloutID)
		if err != nil {
			return err
		}
		if r.Status != store.RolloutRunning || m.Wave > r.Wave {
			continue
		}
		if err := e.order(ctx, r, deviceID); err != nil && !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return nil
}

// report applies one status report from a device's own status topic.
func (e *Engine) report(ctx context.Context, o gwevent.Event) error {
	st, err := update.ParseStatus(o.Payload)
	if err != nil {
		e.mReports.WithLabelValues("invalid").Inc()
		e.log.Warn("invalid update status", "device_id", o.Device, "err", err)
		return nil
	}
	ignore := func(why string) error {
		e.mReports.WithLabelValues("ignored").Inc()
		e.log.Warn("update status ignored", "device_id", o.Device, "rollout", st.Rollout, "state", st.State, "why", why)
		return nil
	}
	m, err := e.opts.Store.GetRolloutDevice(ctx, st.Rollout, o.Device)
	if errors.Is(err, store.ErrNotFound) {
		return ignore("the device is not in this rollout")
	}
	if err != nil {
		return err
	}
	r, err := e.opts.Store.GetRollout(ctx, st.Rollout)
	if err != nil {
		return err
	}
	if st.Version != r.Version {
		return ignore("the rollout installs " + r.Version + ", not " + st.Version)
	}
	if m.OrderedAt.IsZero() {
		return ignore("no order was sent to the device yet") // its wave has not started
	}
	now := e.opts.Now().UTC()
	u := store.RolloutDeviceUpdate{RolloutID: r.ID, DeviceID: o.Device, Reason: st.Reason, Now: now}
	switch st.State {
	case update.StateDownloading, update.StateVerified:
		u.From, u.State = store.DownloadingFrom, store.DeviceDownloading
	case update.StateInstalling:
		u.From, u.State = store.InstallingFrom, store.DeviceInstalling
	case update.StateInstalled:
		u.From, u.State, u.InstalledAt = store.InstalledFrom, store.DeviceInstalled, now
	case update.StateFailed:
		u.From, u.State = store.FailedFrom, store.DeviceFailed
		if u.Reason == "" {
			u.Reason = "the device reported failed without a reason"
		}
	}
	if m.State == u.State {
		return ignore("already " + string(m.State)) // a repeated report
	}
	if _, err := e.opts.Store.UpdateRolloutDevice(ctx, u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return ignore(err.Error())
		}
		return err
	}
	e.mReports.WithLabelValues("applied").Inc()
	if u.State == store.DeviceInstalled {
		var from string
		if _, err := e.opts.Store.UpdateDevice(ctx, o.Device, func(d *store.Device) error {
			from = d.Firmware
			d.Firmware, d.UpdatedAt = r.Version, now
			return nil
		}); err != nil {
			return fmt.Errorf("record firmware %s of device %s: %w", r.Version, o.Device, err)
		}
		if err := e.opts.Store.AddEvents(ctx, []store.Event{{DeviceID: o.Device, Time: now, Kind: EventFirmwareUpdated,
			Detail: map[string]string{"rollout": r.ID, "from": from, "to": r.Version}}}); err != nil {
			e.log.Error("record device event", "device_id", o.Device, "kind", EventFirmwareUpdated, "err", err)
		}
	}
	if u.State == store.DeviceFailed || u.State == store.DeviceInstalled {
		e.log.Info("device update finished", "rollout", r.ID, "device_id", o.Device, "state", u.State, "reason", u.Reason)
		return e.evaluate(ctx, r.ID)
	}
	return nil
}

// handleAlert halts the rollouts in which the alert's device is an
// updated device within its soak (or in the current wave) and the alert
// is at or above the rollout's gate.
func (e *Engine) handleAlert(ctx context.Context, n alert.Notification) error {
	a := n.Alert
	if a.Device == "" {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	ms, err := e.opts.Store.ListRolloutDevices(ctx, store.RolloutDeviceFilter{DeviceID: a.Device,
		RolloutStatuses: []store.RolloutStatus{store.RolloutRunning, store.RolloutPaused}, States: []store.RolloutDeviceState{store.DeviceInstalled}, Limit: 100})
	if err != nil {
		return err
	}
	now := e.opts.Now().UTC()
	for _, m := range ms {
		r, err := e.opts.Store.GetRollout(ctx, m.RolloutID)
		if err != nil {
			return err
		}
		gate := alert.Severity(r.HaltOnAlerts)
		if !gate.Valid() || a.Severity.Rank() < gate.Rank() {
			continue
		}
		if m.Wave != r.Wave && !now.Before(m.InstalledAt.Add(r.Soak)) {
			continue // updated long ago: not this rollout's doing
		}
		reason := fmt.Sprintf("alert %s (%s, %s) on updated device %s", a.ID, a.Rule, a.Severity, a.Device)
		if err := e.halt(ctx, r, reason, map[string]string{"alert": a.ID, "rule": a.Rule, "device": a.Device}); err != nil {
			return err
		}
	}
	return nil
}
