package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// RolloutStatus is where a staged firmware rollout stands.
type RolloutStatus string

// Rollout statuses. Running, paused and halted rollouts are live: their
// devices' reports are still recorded. Aborted and completed are final.
const (
	RolloutRunning   RolloutStatus = "running"   // the current wave's orders are out; gates are checked
	RolloutPaused    RolloutStatus = "paused"    // an operator paused it: no new orders, no advance
	RolloutHalted    RolloutStatus = "halted"    // a gate stopped it (Reason says which)
	RolloutAborted   RolloutStatus = "aborted"   // an operator ended it: its pending devices are aborted
	RolloutCompleted RolloutStatus = "completed" // every wave passed
)

// Valid reports whether s is a known rollout status.
func (s RolloutStatus) Valid() bool {
	switch s {
	case RolloutRunning, RolloutPaused, RolloutHalted, RolloutAborted, RolloutCompleted:
		return true
	}
	return false
}

// Final reports whether no transition leaves s.
func (s RolloutStatus) Final() bool { return s == RolloutAborted || s == RolloutCompleted }

// RolloutDeviceState is one device's progress in a rollout.
type RolloutDeviceState string

// Per-device states. Installed, failed, skipped and aborted are final.
const (
	DevicePending     RolloutDeviceState = "pending"     // waiting for its wave, or ordered and silent
	DeviceDownloading RolloutDeviceState = "downloading" // reported downloading (or verified)
	DeviceInstalling  RolloutDeviceState = "installing"  // reported installing
	DeviceInstalled   RolloutDeviceState = "installed"   // reported installed
	DeviceFailed      RolloutDeviceState = "failed"      // reported failed (Reason says why)
	DeviceSkipped     RolloutDeviceState = "skipped"     // nothing to do (already current) or cannot take it
	DeviceAborted     RolloutDeviceState = "aborted"     // the rollout was aborted before the device started
)

// RolloutDeviceStates lists every per-device state, in display order.
var RolloutDeviceStates = []RolloutDeviceState{DevicePending, DeviceDownloading, DeviceInstalling, DeviceInstalled, DeviceFailed, DeviceSkipped, DeviceAborted}

// Valid reports whether s is a known per-device state.
func (s RolloutDeviceState) Valid() bool {
	for _, v := range RolloutDeviceStates {
		if s == v {
			return true
		}
	}
	return false
}

// Final reports whether no report changes s any more.
func (s RolloutDeviceState) Final() bool {
	return s == DeviceInstalled || s == DeviceFailed || s == DeviceSkipped || s == DeviceAborted
}

// Preconditions of the per-device transitions: a report only moves a
// device forward, so a late "downloading" never overwrites "installing"
// or "installed", and nothing leaves a final state. They are the one
// definition of the per-device state machine, used by package rollout and
// by the conformance suite.
var (
	DownloadingFrom = []RolloutDeviceState{DevicePending}
	InstallingFrom  = []RolloutDeviceState{DevicePending, DeviceDownloading}
	InstalledFrom   = []RolloutDeviceState{DevicePending, DeviceDownloading, DeviceInstalling}
	FailedFrom      = []RolloutDeviceState{DevicePending, DeviceDownloading, DeviceInstalling}
	AbortedFrom     = []RolloutDeviceState{DevicePending}
)

// Rollout is one staged rollout of a firmware version to a model's
// devices, wave by wave.
type Rollout struct {
	ID      string `json:"id"`
	Model   string `json:"model"`
	Version string `json:"version"`
	// Waves are cumulative percentages of the population, ascending, the
	// last one 100 (1, 10, 50, 100).
	Waves []float64 `json:"waves"`
	// MaxFailure is the share of a wave's devices (in percent) that may
	// fail before the rollout halts.
	MaxFailure float64 `json:"max_failure"`
	// HaltOnAlerts is the alert severity at or above which an alert on an
	// updated device halts the rollout ("" : alerts do not halt it).
	HaltOnAlerts string        `json:"halt_on_alerts,omitempty"`
	Soak         time.Duration `json:"soak"`
	Status       RolloutStatus `json:"status"`
	// Wave is the index of the current wave in Waves (its orders are out
	// or, paused, waiting); WaveStartedAt is when it started.
	Wave          int       `json:"wave"`
	WaveStartedAt time.Time `json:"wave_started_at"`
	// Reason says why the rollout last changed status (a halt's cause).
	Reason    string    `json:"reason,omitempty"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// RolloutDevice is one device's membership and progress in a rollout.
type RolloutDevice struct {
	RolloutID string             `json:"rollout"`
	DeviceID  string             `json:"device"`
	Wave      int                `json:"wave"`
	State     RolloutDeviceState `json:"state"`
	Reason    string             `json:"reason,omitempty"`
	// FromVersion is the firmware the device ran when the rollout was
	// created.
	FromVersion string `json:"from_version"`
	// OrderedAt is when the last order was sent (zero: never).
	OrderedAt time.Time `json:"ordered_at,omitzero"`
	// InstalledAt is when the device reported installed; SeenAt the last
	// time it connected after that (zero: not since).
	InstalledAt time.Time `json:"installed_at,omitzero"`
	SeenAt      time.Time `json:"seen_at,omitzero"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// RolloutTransition changes a rollout's status or wave, with its
// precondition.
type RolloutTransition struct {
	RolloutID string
	// Action names the transition ("pause", "halt", "next"...) in the
	// rollout's history and in errors.
	Action string
	Actor  string
	// From is the precondition: the rollout's status must be one of these.
	From []RolloutStatus
	// CheckWave adds a second precondition: the rollout is still in wave
	// FromWave (so that two advances of one wave start the next only once).
	CheckWave bool
	FromWave  int
	To        RolloutStatus
	// StartWave makes Wave the current wave, started at Now.
	StartWave bool
	Wave      int
	Reason    string
	// AbortPending moves every pending device of the rollout to aborted in
	// the same transaction.
	AbortPending bool
	Now          time.Time
}

// RolloutHistory is one recorded transition of a rollout.
type RolloutHistory struct {
	Time   time.Time     `json:"time"`
	Action string        `json:"action"`
	Actor  string        `json:"actor"`
	Status RolloutStatus `json:"status"`
	Wave   int           `json:"wave"`
	Reason string        `json:"reason,omitempty"`
}

// RolloutDeviceUpdate is a conditional change of one device's record.
type RolloutDeviceUpdate struct {
	RolloutID string
	DeviceID  string
	// From is the precondition on the device's state (nil: any state
	// that is not final).
	From []RolloutDeviceState
	// State, when set, is the new state; Reason replaces the reason then.
	State  RolloutDeviceState
	Reason string
	// RolloutStatuses, when set, is a precondition on the rollout's
	// status (an order is recorded only while the rollout runs).
	RolloutStatuses []RolloutStatus
	// OrderedAt, InstalledAt and SeenAt are written when non-zero.
	OrderedAt   time.Time
	InstalledAt time.Time
	SeenAt      time.Time
	Now         time.Time
}

// RolloutDeviceFilter selects rollout devices. Zero fields select all.
type RolloutDeviceFilter struct {
	RolloutID string
	DeviceID  string
	Waves     []int // nil: every wave (0 is the first wave)
	States    []RolloutDeviceState
	// RolloutStatuses restricts to devices of rollouts in these statuses.
	RolloutStatuses []RolloutStatus
	// After is a paging cursor: devices whose (rollout, device) key sorts
	// after "rollout\x00device" (the last row's RolloutDevice.Cursor()).
	After string
	Limit int // <= 0: 1000
}

// Cursor is the After value that continues a listing after d.
func (d RolloutDevice) Cursor() string { return d.RolloutID + "\x00" + d.DeviceID }

// RolloutFilter selects rollouts.
type RolloutFilter struct {
	Statuses []RolloutStatus
	Model    string
	Limit    int // <= 0: 100
}

// WaveCount is how many of a wave's devices are in each state.
type WaveCount struct {
	Wave   int                        `json:"wave"`
	Total  int                        `json:"total"`
	States map[RolloutDeviceState]int `json:"states"`
	// LastInstalledAt is the wave's latest install (zero: none yet).
	LastInstalledAt time.Time `json:"last_installed_at,omitzero"`
}

// RolloutStateError is a refused transition: the rollout is in Status
// (and wave Wave).
type RolloutStateError struct {
	RolloutID string
	Action    string
	Status    RolloutStatus
	Wave      int
}

func (e *RolloutStateError) Error() string {
	return fmt.Sprintf("rollout %s is %s (wave %d): %s is not allowed", e.RolloutID, e.Status, e.Wave+1, e.Action)
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *RolloutStateError) Is(target error) bool { return target == ErrConflict }

// DeviceStateError is a refused per-device change: the device is in State
// (or the rollout is not in a status the change needs).
type DeviceStateError struct {
	RolloutID string
	DeviceID  string
	State     RolloutDeviceState
	Status    RolloutStatus
	To        RolloutDeviceState
}

func (e *DeviceStateError) Error() string {
	to := string(e.To)
	if to == "" {
		to = "the change"
	}
	return fmt.Sprintf("device %s in rollout %s (%s) is %s: %s is not allowed", e.DeviceID, e.RolloutID, e.Status, e.State, to)
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *DeviceStateError) Is(target error) bool { return target == ErrConflict }

// Updates is the contract for staged firmware rollouts: the rollouts, the
// wave each device belongs to, each device's progress and the history of
// each rollout's transitions. Every change is conditional, with its
// precondition in the statement, so that concurrent reports and operator
// actions can never move a device or a rollout backwards.
type Updates interface {
	// CreateRollout stores a rollout and its devices in one transaction:
	// ErrConflict when the ID exists, an error wrapping ErrInvalid when a
	// field is out of range (no waves, a device twice, an unknown
	// state). A "create" history entry is recorded.
	CreateRollout(ctx context.Context, r Rollout, devices []RolloutDevice) error
	// GetRollout returns one rollout, ErrNotFound when it is unknown.
	GetRollout(ctx context.Context, id string) (Rollout, error)
	// ListRollouts returns rollouts, newest first (by creation, then ID),
	// at most f.Limit.
	ListRollouts(ctx context.Context, f RolloutFilter) ([]Rollout, error)
	// TransitionRollout applies t atomically and records it in the
	// rollout's history: ErrNotFound for an unknown rollout, a
	// *RolloutStateError (errors.Is ErrConflict) when a precondition
	// does not hold; nothing is written then.
	TransitionRollout(ctx context.Context, t RolloutTransition) (Rollout, error)
	// RolloutHistory returns a rollout's transitions, oldest first.
	RolloutHistory(ctx context.Context, id string) ([]RolloutHistory, error)

	// GetRolloutDevice returns one device's record in a rollout,
	// ErrNotFound when the device is not in it.
	GetRolloutDevice(ctx context.Context, rolloutID, deviceID string) (RolloutDevice, error)
	// ListRolloutDevices returns the matching devices ordered by rollout
	// ID then device ID, at most f.Limit, after f.After.
	ListRolloutDevices(ctx context.Context, f RolloutDeviceFilter) ([]RolloutDevice, error)
	// UpdateRolloutDevice applies u atomically: ErrNotFound when the
	// device is not in the rollout, a *DeviceStateError (errors.Is
	// ErrConflict) when a precondition does not hold; nothing is written
	// then.
	UpdateRolloutDevice(ctx context.Context, u RolloutDeviceUpdate) (RolloutDevice, error)
	// CountRolloutDevices returns, per wave of the rollout (every wave in
	// Waves, ascending, empty ones included), the number of devices in
	// each state and the wave's latest install. ErrNotFound for an
	// unknown rollout.
	CountRolloutDevices(ctx context.Context, rolloutID string) ([]WaveCount, error)
}

// ErrInvalid is returned when a record is refused for a field out of
// range.
var ErrInvalid = errors.New("invalid record")

// CheckRollout validates a rollout and its devices before they are
// stored; both backends call it.
func CheckRollout(r Rollout, devices []RolloutDevice) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("rollout %s: %s: %w", r.ID, fmt.Sprintf(format, args...), ErrInvalid)
	}
	switch {
	case r.ID == "" || r.Model == "" || r.Version == "":
		return bad("id, model and version are required")
	case len(r.Waves) == 0:
		return bad("no waves")
	case !r.Status.Valid():
		return bad("unknown status %q", r.Status)
	case r.Wave < 0 || r.Wave >= len(r.Waves):
		return bad("wave %d out of range", r.Wave)
	}
	seen := make(map[string]bool, len(devices))
	for _, d := range devices {
		switch {
		case d.DeviceID == "" || seen[d.DeviceID]:
			return bad("device %q empty or listed twice", d.DeviceID)
		case !d.State.Valid():
			return bad("device %s: unknown state %q", d.DeviceID, d.State)
		case d.Wave < 0 || d.Wave >= len(r.Waves):
			return bad("device %s: wave %d out of range", d.DeviceID, d.Wave)
		}
		seen[d.DeviceID] = true
	}
	return nil
}

// NonFinalDeviceStates are the per-device states a report may still move.
var NonFinalDeviceStates = []RolloutDeviceState{DevicePending, DeviceDownloading, DeviceInstalling}

// NewWaveCounts returns the empty counts of n waves, for a backend's
// CountRolloutDevices.
func NewWaveCounts(n int) []WaveCount {
	out := make([]WaveCount, n)
	for i := range out {
		out[i] = WaveCount{Wave: i, States: map[RolloutDeviceState]int{}}
	}
	return out
}

// AddWaveCount adds n devices of wave in state to counts; last is the
// latest install among them.
func AddWaveCount(counts []WaveCount, wave int, state RolloutDeviceState, n int, last time.Time) error {
	if wave < 0 || wave >= len(counts) {
		return fmt.Errorf("%d devices in wave %d, beyond the rollout's %d waves", n, wave, len(counts))
	}
	c := &counts[wave]
	c.Total += n
	c.States[state] += n
	if last.After(c.LastInstalledAt) {
		c.LastInstalledAt = last
	}
	return nil
}
