// Package store defines Ward's persistent data model and the contract that
// every storage backend implements: devices, enrollment tokens, issued
// certificates, operator API tokens, device events and small key/value
// state. The embedded backend is store/sqlite; a PostgreSQL backend
// satisfies the same contract, and store/storetest is the one conformance
// suite both must pass.
//
// Consumers (fleet, pki, api, gateway) declare the few methods they need as
// their own interfaces; the Store interface here exists for backends and for
// the conformance suite.
package store

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned when the requested record does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned when a record with the same key already exists
// or a conditional update lost a race (for example a token used twice).
var ErrConflict = errors.New("conflict")

// DeviceStatus is the lifecycle state of a device.
type DeviceStatus string

// Device lifecycle states.
const (
	StatusPending     DeviceStatus = "pending"     // registered, not yet enrolled
	StatusActive      DeviceStatus = "active"      // holds a valid certificate
	StatusQuarantined DeviceStatus = "quarantined" // refused by the gateway, certificate kept
	StatusRevoked     DeviceStatus = "revoked"     // certificates revoked; a new token re-enrolls it
	StatusRetired     DeviceStatus = "retired"     // decommissioned for good: certificates revoked, never admitted again
)

// Valid reports whether s is a known status.
func (s DeviceStatus) Valid() bool {
	switch s {
	case StatusPending, StatusActive, StatusQuarantined, StatusRevoked, StatusRetired:
		return true
	}
	return false
}

// Policy is a device's per-device overrides: extra topic grants and limits.
// Zero values mean "use the model or global default".
type Policy struct {
	// Publish and Subscribe are extra topic filters the device may use, in
	// addition to its own tree devices/{id}/#. "{id}" is replaced by the
	// device ID.
	Publish   []string `json:"publish,omitempty"`
	Subscribe []string `json:"subscribe,omitempty"`
	// MaxMessageBytes, MessagesPerSecond, BytesPerSecond and
	// ConnectsPerMinute override the global limits when non-zero.
	MaxMessageBytes   int     `json:"max_message_bytes,omitempty"`
	MessagesPerSecond float64 `json:"messages_per_second,omitempty"`
	BytesPerSecond    float64 `json:"bytes_per_second,omitempty"`
	ConnectsPerMinute int     `json:"connects_per_minute,omitempty"`
}

// QuarantineMode is how the gateway treats a quarantined device.
type QuarantineMode string

// Quarantine modes.
const (
	// QuarantineRefuse disconnects the device and refuses its connections.
	QuarantineRefuse QuarantineMode = "refuse"
	// QuarantineRestrict disconnects the device, then admits it with
	// access to its quarantine topic tree (quarantine/{id}/#) only, so
	// that it stays reachable for remediation but cut off from the fleet.
	QuarantineRestrict QuarantineMode = "restrict"
)

// Device is one registered device.
type Device struct {
	ID       string       `json:"id"`
	Model    string       `json:"model"`
	Firmware string       `json:"firmware"`
	Tags     []string     `json:"tags,omitempty"`
	Status   DeviceStatus `json:"status"`
	// Quarantine is the mode of a quarantined device, "" otherwise.
	Quarantine QuarantineMode `json:"quarantine,omitempty"`
	Policy     Policy         `json:"policy"`
	CreatedAt  time.Time      `json:"created_at"`
	UpdatedAt  time.Time      `json:"updated_at"`
	// LastSeen is the last time the gateway saw the device (zero: never).
	LastSeen time.Time `json:"last_seen,omitzero"`
	// RevokedAt is the device's last revocation (zero: never): only an
	// enrollment token created at or after it can enroll the device.
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	// ReenrolledAt is the device's last re-enrollment (zero: never).
	ReenrolledAt time.Time `json:"reenrolled_at,omitzero"`
}

// ModelPolicy holds topic grants and limits shared by every device of a model.
type ModelPolicy struct {
	Model  string `json:"model"`
	Policy Policy `json:"policy"`
}

// EnrollToken is a one-time enrollment secret for a device. Only its hash
// is stored.
type EnrollToken struct {
	DeviceID  string
	Hash      []byte // SHA-256 of the secret
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // zero: unused
}

// Certificate is a certificate issued by Ward's CA.
type Certificate struct {
	Serial       string    `json:"serial"` // lower-case hex, no separators
	DeviceID     string    `json:"device_id,omitempty"`
	Subject      string    `json:"subject"`
	Kind         string    `json:"kind"` // "device" or "server"
	NotBefore    time.Time `json:"not_before"`
	NotAfter     time.Time `json:"not_after"`
	Fingerprint  string    `json:"fingerprint"` // SHA-256 of DER, hex
	DER          []byte    `json:"-"`
	IssuedAt     time.Time `json:"issued_at"`
	RevokedAt    time.Time `json:"revoked_at,omitzero"`
	RevokeReason string    `json:"revoke_reason,omitempty"`
	// SupersededAt is when a re-enrollment replaced this certificate; it
	// is revoked (reason superseded) once the grace period has passed.
	SupersededAt time.Time `json:"superseded_at,omitzero"`
}

// Revoked reports whether the certificate has been revoked.
func (c Certificate) Revoked() bool { return !c.RevokedAt.IsZero() }

// Role is an operator role for the API.
type Role string

// Operator roles, from most to least privileged.
const (
	RoleAdmin    Role = "admin"    // everything, including tokens
	RoleOperator Role = "operator" // manage devices, not tokens
	RoleViewer   Role = "viewer"   // read only
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleAdmin || r == RoleOperator || r == RoleViewer }

// APIToken is an operator bearer token. The secret is stored as a hash and
// looked up by its public ID prefix.
type APIToken struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Role      Role      `json:"role"`
	Hash      []byte    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at,omitzero"` // zero: never
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// Event is something that happened to a device: connect, refusal with its
// reason, ACL denial, limit hit, enrollment, revocation, quarantine...
type Event struct {
	ID       int64             `json:"id"`
	DeviceID string            `json:"device_id"`
	Time     time.Time         `json:"time"`
	Kind     string            `json:"kind"`
	Detail   map[string]string `json:"detail,omitempty"`
}

// Store is the contract every backend implements. All methods are safe for
// concurrent use.
type Store interface {
	CreateDevice(ctx context.Context, d Device) error
	GetDevice(ctx context.Context, id string) (Device, error)
	ListDevices(ctx context.Context) ([]Device, error)
	// UpdateDevice applies fn to the current record inside a transaction
	// and writes its descriptive fields (model, firmware, tags, policy,
	// UpdatedAt). The status never changes here: see TransitionDevice.
	UpdateDevice(ctx context.Context, id string, fn func(*Device) error) (Device, error)
	// TransitionDevice applies one lifecycle transition atomically (see
	// Transition). ErrNotFound for an unknown device, a *StateError when
	// the precondition does not hold; nothing is written then.
	TransitionDevice(ctx context.Context, t Transition) (Outcome, error)
	TouchDevice(ctx context.Context, id string, seen time.Time) error

	PutModelPolicy(ctx context.Context, p ModelPolicy) error
	ListModelPolicies(ctx context.Context) ([]ModelPolicy, error)

	// PutEnrollToken sets (replacing) the device's enrollment token, in
	// one transaction with the check that the device's status is one of
	// TokenFrom (*StateError otherwise; ErrNotFound for an unknown device).
	PutEnrollToken(ctx context.Context, t EnrollToken) error
	GetEnrollToken(ctx context.Context, deviceID string) (EnrollToken, error)
	// ListEnrollTokens returns every token record, without hashes.
	ListEnrollTokens(ctx context.Context) ([]EnrollToken, error)

	PutCertificate(ctx context.Context, c Certificate) error
	// EnrollDevice records an enrollment or re-enrollment in one
	// transaction (see Enrollment): ErrNotFound when no usable token
	// matches or the device is unknown, a *StateError when the device's
	// status or its current certificate does not allow it, ErrTooSoon within the re-enrollment interval, ErrConflict on a
	// duplicate serial. Nothing is written when any step fails.
	EnrollDevice(ctx context.Context, e Enrollment) (Outcome, error)
	// RevokeSuperseded revokes (reason superseded, at now) the
	// certificates superseded at or before before, and returns their
	// serials.
	RevokeSuperseded(ctx context.Context, before, now time.Time) ([]string, error)
	GetCertificate(ctx context.Context, serial string) (Certificate, error)
	ListCertificates(ctx context.Context, deviceID string) ([]Certificate, error)
	RevokeCertificate(ctx context.Context, serial, reason string, at time.Time) error
	ListRevoked(ctx context.Context) ([]Certificate, error)

	PutAPIToken(ctx context.Context, t APIToken) error
	GetAPIToken(ctx context.Context, id string) (APIToken, error)
	ListAPITokens(ctx context.Context) ([]APIToken, error)
	RevokeAPIToken(ctx context.Context, id string, at time.Time) error

	AddEvents(ctx context.Context, evs []Event) error
	ListEvents(ctx context.Context, deviceID string, limit int) ([]Event, error)
	// PruneEvents deletes the events older than before and, per device,
	// all but the newest perDevice (0: no cap); it returns how many.
	PruneEvents(ctx context.Context, before time.Time, perDevice int) (int64, error)

	// NextCounter increments and returns the named counter (CRL numbers).
	NextCounter(ctx context.Context, name string) (int64, error)

	// GetBlob and PutBlob keep small named documents (detection profiles,
	// learned models). GetBlob returns ErrNotFound when absent.
	GetBlob(ctx context.Context, name string) ([]byte, error)
	PutBlob(ctx context.Context, name string, data []byte) error

	PutAlert(ctx context.Context, a AlertRecord) error
	GetAlert(ctx context.Context, id string) (AlertRecord, error)
	ListAlerts(ctx context.Context, f AlertFilter) ([]AlertRecord, error)

	AddMetricWindows(ctx context.Context, ws []MetricWindow) error
	ListMetricWindows(ctx context.Context, deviceID string, window time.Duration, since time.Time) ([]MetricWindow, error)
	DeleteMetricWindowsBefore(ctx context.Context, window time.Duration, before time.Time) (int64, error)

	PutSBOM(ctx context.Context, s SBOMRecord) error
	GetSBOM(ctx context.Context, model, firmware string) (SBOMRecord, error)
	ListSBOMs(ctx context.Context) ([]SBOMRecord, error) // without Data

	PutAdvisories(ctx context.Context, as []AdvisoryRecord) error
	// EachAdvisory calls fn for every stored advisory.
	EachAdvisory(ctx context.Context, fn func(AdvisoryRecord) error) error

	PutModelInfo(ctx context.Context, name string, data []byte) error
	ListModelInfo(ctx context.Context) (map[string][]byte, error)

	// PutFindings stores the findings of one audit run: new keys are
	// inserted, known keys updated (LastSeen), and active findings whose key
	// is absent are marked resolved at now.
	PutFindings(ctx context.Context, fs []FindingRecord, now time.Time) error
	ListFindings(ctx context.Context, includeResolved bool) ([]FindingRecord, error)
	PutSuppression(ctx context.Context, s Suppression) error
	ListSuppressions(ctx context.Context) ([]Suppression, error)
	AddTrendPoint(ctx context.Context, at time.Time, counts map[string]int) error
	ListTrend(ctx context.Context, since time.Time) ([]TrendPoint, error)

	// AppendAudit appends to the hash-chained audit log: the store sets
	// Seq, PrevHash and Hash atomically.
	AppendAudit(ctx context.Context, e AuditEntry) (AuditEntry, error)
	ListAudit(ctx context.Context, limit int) ([]AuditEntry, error)
	// ListAuditFrom returns the audit entries with Seq >= from, oldest
	// first, at most limit (<= 0: 1000): one page of a walk over the whole
	// chain (VerifyAuditChain).
	ListAuditFrom(ctx context.Context, from int64, limit int) ([]AuditEntry, error)

	Close() error

	// EachValidDeviceCertificate calls fn for every device certificate
	// that is neither revoked nor expired at now, with only Serial,
	// DeviceID and NotAfter set (the gateway's admission set is loaded from
	// it at start; it must stay lean for millions of rows).
	EachValidDeviceCertificate(ctx context.Context, now time.Time, fn func(Certificate) error) error
}

// AlertRecord is a stored alert: the alert as JSON plus the fields that
// are queried. The alert package owns the JSON's shape.
type AlertRecord struct {
	ID        string
	DeviceID  string
	Rule      string
	State     string
	Severity  string
	RaisedAt  time.Time
	UpdatedAt time.Time
	JSON      []byte
}

// AlertFilter selects alerts; zero fields match everything.
type AlertFilter struct {
	DeviceID string
	Rule     string
	States   []string
	Limit    int // default 1000
}

// MetricWindow is one device's metrics over one closed window.
type MetricWindow struct {
	DeviceID string
	Window   time.Duration
	Start    time.Time
	JSON     []byte // the detect package's datapoint
}

// AuditEntry is one record of the append-only, hash-chained audit log of
// operator and automatic actions. Hash = SHA-256(PrevHash || canonical
// fields); changing or removing a past entry breaks every later hash.
type AuditEntry struct {
	Seq      int64             `json:"seq"`
	Time     time.Time         `json:"time"`
	Actor    string            `json:"actor"` // token id, "auto:<rule>", "system"
	Action   string            `json:"action"`
	Target   string            `json:"target"`
	Detail   map[string]string `json:"detail,omitempty"`
	PrevHash string            `json:"prev_hash"`
	Hash     string            `json:"hash"`
}

// SBOMRecord is an imported SBOM of one model's firmware version.
type SBOMRecord struct {
	Model      string    `json:"model"`
	Firmware   string    `json:"firmware"`
	Format     string    `json:"format"` // "CycloneDX 1.5", "SPDX-2.3"
	Source     string    `json:"source"` // file name given at import
	Components int       `json:"components"`
	ImportedAt time.Time `json:"imported_at"`
	Data       []byte    `json:"-"`
}

// AdvisoryRecord is a stored OSV record (raw JSON).
type AdvisoryRecord struct {
	ID         string
	Source     string
	ImportedAt time.Time
	Data       []byte
}

// FindingRecord is a stored audit finding. Key identifies it across runs
// (check + resources); the JSON is the audit package's Finding.
type FindingRecord struct {
	Key        string
	Check      string
	Severity   string
	FirstSeen  time.Time
	LastSeen   time.Time
	ResolvedAt time.Time
	JSON       []byte
}

// Suppression hides findings of a check (for one resource or all, when
// Resource is empty) until it expires; a reason is required.
type Suppression struct {
	ID        string    `json:"id"`
	Check     string    `json:"check"`
	Resource  string    `json:"resource,omitempty"`
	Reason    string    `json:"reason"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// TrendPoint is the count of open findings by severity at one time.
type TrendPoint struct {
	Time   time.Time      `json:"time"`
	Counts map[string]int `json:"counts"`
}
