package store

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// The device lifecycle is enforced here, in the store's transactions: every
// transition (enroll, re-enroll, quarantine, release, revoke, retire, token
// issue) is one transaction whose precondition is part of its statements
// (UPDATE … WHERE status IN (…), a locked row), so that a concurrent
// transition can never overwrite a security state. The callers (package
// fleet) choose the transition; the backends only apply it atomically.
//
//	pending ──enroll──▶ active ──quarantine──▶ quarantined ──release──▶ active (pending without a valid certificate)
//	pending|active|quarantined|revoked ──revoke──▶ revoked ──token issued after the revocation + enroll──▶ active
//	any but retired ──retire──▶ retired (terminal)

// ErrWrongState is returned when a lifecycle transition's precondition does
// not hold; the error is a *StateError that names the current status.
var ErrWrongState = errors.New("device state does not allow this")

// ErrEnrolled is returned by DeleteDevice for a device that holds or
// ever held a certificate: it has a history to keep, and is retired
// instead.
var ErrEnrolled = errors.New("device has enrolled")

// ErrTooSoon is returned when a device re-enrolls again within its
// re-enrollment interval.
var ErrTooSoon = errors.New("too soon")

// ErrStaleCertificate is returned when the certificate that authenticates
// a re-enrollment is not the device's, or is revoked, superseded or expired.
var ErrStaleCertificate = errors.New("certificate is not the device's current one (revoked, superseded or expired)")

// StateError is a refused transition: the device is in Status.
type StateError struct {
	DeviceID string
	Op       string
	Status   DeviceStatus
}

func (e *StateError) Error() string {
	return fmt.Sprintf("device %s is %s: %s is not allowed", e.DeviceID, e.Status, e.Op)
}

// Is makes errors.Is(err, ErrWrongState) true.
func (e *StateError) Is(target error) bool { return target == ErrWrongState }

// Transition is one lifecycle transition for TransitionDevice.
type Transition struct {
	DeviceID string
	// Op names the transition in errors ("quarantine", "revoke"...).
	Op string
	// From is the precondition: the device's current status must be one
	// of these, or nothing is written and the error is a *StateError.
	From []DeviceStatus
	// To is the new status; Quarantine its mode when To is quarantined.
	To         DeviceStatus
	Quarantine QuarantineMode
	// NeedsCertificate makes To active only when the device holds a valid
	// device certificate (unrevoked, not expired at Now), pending otherwise.
	NeedsCertificate bool
	// RevokeReason, when set, revokes every unrevoked certificate of the
	// device at Now with this reason, voids its enrollment token and sets
	// the device's RevokedAt: only a token created at or after Now can
	// enroll it again.
	RevokeReason string
	Now          time.Time
	// Event is appended in the same transaction (when Kind is set).
	Event Event
}

// Outcome is what a lifecycle transaction did.
type Outcome struct {
	Device Device
	// Revoked lists the serials this transaction revoked.
	Revoked []string
}

// Enrollment is one enrollment or re-enrollment, for EnrollDevice.
//
// An enrollment (TokenHash set) uses the device's one-time token, which
// must be unused, unexpired and created at or after the device's last
// revocation, and needs the device pending, active or revoked.
//
// A re-enrollment (TokenHash nil) is authenticated by Current, the serial
// of the device's certificate: it must be the device's, unrevoked, not
// superseded and unexpired, the device must be active, and its previous
// re-enrollment at least ReenrollInterval old (ErrTooSoon otherwise).
// Current is marked superseded at Now.
//
// Either way the new certificate is recorded (ErrConflict on a duplicate
// serial), the device becomes active, and when MaxValid > 0 the oldest
// valid certificates beyond MaxValid (the new one included) are revoked as
// superseded. Nothing is written when any step fails.
type Enrollment struct {
	DeviceID         string
	TokenHash        []byte // nil: re-enrollment with Current
	Current          string
	ReenrollInterval time.Duration
	MaxValid         int
	Now              time.Time
	Cert             Certificate
	Event            Event
}

// Statuses that allow each transition. They are the one definition of the
// state machine, used by package fleet and by the conformance suite.
var (
	// EnrollFrom: a token enrolls a new, a re-keyed or a revoked device
	// (the latter only with a token issued after the revocation).
	EnrollFrom = []DeviceStatus{StatusPending, StatusActive, StatusRevoked}
	// TokenFrom: a token may be issued to these (not to a quarantined or
	// retired device).
	TokenFrom = []DeviceStatus{StatusPending, StatusActive, StatusRevoked}
	// QuarantineFrom: quarantining a quarantined device changes its mode.
	QuarantineFrom = []DeviceStatus{StatusPending, StatusActive, StatusQuarantined}
	// ReleaseFrom: only a quarantined device is released.
	ReleaseFrom = []DeviceStatus{StatusQuarantined}
	// RevokeFrom: revoking a revoked device revokes whatever it holds.
	RevokeFrom = []DeviceStatus{StatusPending, StatusActive, StatusQuarantined, StatusRevoked}
	// RetireFrom: every status but retired.
	RetireFrom = []DeviceStatus{StatusPending, StatusActive, StatusQuarantined, StatusRevoked}
)

// StatusList renders statuses for an SQL IN list of quoted literals. The
// values are the package's constants, never input.
func StatusList(ss []DeviceStatus) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		if !s.Valid() {
			panic("store: invalid status in a transition: " + string(s))
		}
		q[i] = "'" + string(s) + "'"
	}
	return strings.Join(q, ",")
}
