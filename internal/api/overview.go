package api

import (
	"net/http"
	"time"

	"github.com/wardproject/ward/internal/compliance"
	"github.com/wardproject/ward/internal/store"
)

// Overview answers GET /api/v1/overview: the fleet in numbers, counted on
// the server (grouped store queries, the gateway's live sessions), for the
// console's overview page and `ward status`. A part whose service is not
// configured is absent.
type Overview struct {
	GeneratedAt time.Time           `json:"generated_at"`
	Devices     OverviewDevices     `json:"devices"`
	Alerts      OverviewAlerts      `json:"alerts"`
	Compliance  *compliance.Summary `json:"compliance,omitempty"`
	Rollouts    *OverviewRollouts   `json:"rollouts,omitempty"`
}

// OverviewDevices counts the fleet's devices.
type OverviewDevices struct {
	Total int `json:"total"`
	// ByStatus counts devices per status; every status is present.
	ByStatus map[store.DeviceStatus]int `json:"by_status"`
	// Connected is the number of devices with a live MQTT session.
	Connected int `json:"connected"`
}

// OverviewAlerts counts alerts by state and severity.
type OverviewAlerts struct {
	// ByState counts every alert per state (open, acknowledged, cleared).
	ByState map[string]int `json:"by_state"`
	// OpenBySeverity counts the alerts not acknowledged yet, and
	// ActiveBySeverity the open and acknowledged ones (not cleared), per
	// severity; every severity is present.
	OpenBySeverity   map[string]int `json:"open_by_severity"`
	ActiveBySeverity map[string]int `json:"active_by_severity"`
}

// OverviewRollouts lists the rollouts that have not ended (running,
// paused or halted by a gate), newest first.
type OverviewRollouts struct {
	InProgress int               `json:"in_progress"`
	Active     []OverviewRollout `json:"active"`
}

// OverviewRollout is one rollout that has not ended.
type OverviewRollout struct {
	ID      string         `json:"id"`
	Model   string         `json:"model"`
	Version string         `json:"version"`
	Status  string         `json:"status"`
	Wave    int            `json:"wave"`
	Waves   int            `json:"waves"`
	Devices map[string]int `json:"devices"`
}

// alertSeverities and alertStates are the keys the overview always
// carries, so that a client can read a zero without checking for absence.
var (
	alertSeverities = []string{"critical", "high", "medium", "low"}
	alertStates     = []string{"open", "acknowledged", "cleared"}
)

func (s *Server) overview(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	ov := Overview{GeneratedAt: s.now().UTC()}
	byStatus, err := s.opts.Store.CountDevices(ctx)
	if err != nil {
		return err
	}
	ov.Devices.ByStatus = map[store.DeviceStatus]int{}
	for _, st := range []store.DeviceStatus{store.StatusPending, store.StatusActive, store.StatusQuarantined, store.StatusRevoked, store.StatusRetired} {
		ov.Devices.ByStatus[st] = byStatus[st]
	}
	for _, n := range byStatus {
		ov.Devices.Total += n
	}
	switch {
	case s.opts.ConnectedCount != nil:
		if ov.Devices.Connected, err = s.opts.ConnectedCount(ctx); err != nil {
			return err
		}
	case s.opts.Addresses != nil:
		ov.Devices.Connected = len(s.opts.Addresses.DeviceAddresses())
	}

	counts, err := s.opts.Store.CountAlerts(ctx)
	if err != nil {
		return err
	}
	ov.Alerts = OverviewAlerts{ByState: map[string]int{}, OpenBySeverity: map[string]int{}, ActiveBySeverity: map[string]int{}}
	for _, st := range alertStates {
		ov.Alerts.ByState[st] = 0
		for _, n := range counts[st] {
			ov.Alerts.ByState[st] += n
		}
	}
	for _, sev := range alertSeverities {
		ov.Alerts.OpenBySeverity[sev] = counts["open"][sev]
		ov.Alerts.ActiveBySeverity[sev] = counts["open"][sev] + counts["acknowledged"][sev]
	}

	if s.opts.Compliance != nil {
		sum, err := s.opts.Compliance.Summary(ctx)
		if err != nil {
			return err
		}
		ov.Compliance = &sum
	}
	if s.opts.Rollouts != nil {
		vs, err := s.opts.Rollouts.List(ctx, 1000)
		if err != nil {
			return err
		}
		ro := OverviewRollouts{Active: []OverviewRollout{}}
		for _, v := range vs {
			switch store.RolloutStatus(v.Status) {
			case store.RolloutRunning, store.RolloutPaused, store.RolloutHalted:
				ro.InProgress++
				ro.Active = append(ro.Active, OverviewRollout{ID: v.ID, Model: v.Model, Version: v.Version, Status: v.Status,
					Wave: v.Wave, Waves: len(v.Waves), Devices: v.Devices})
			}
		}
		ov.Rollouts = &ro
	}
	writeJSON(w, http.StatusOK, ov)
	return nil
}
