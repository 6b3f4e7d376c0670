package store

import (
	"context"
	"fmt"
	"time"
)

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

// DeviceTarget is what detection profiles select a device by.
type DeviceTarget struct {
	ID    string
	Model string
	Tags  []string // nil: none
}

// Device query bounds.
const (
	// MaxDeviceQueryLimit is the largest page QueryDevices returns.
	MaxDeviceQueryLimit = 1000
	// MaxDeviceQueryIDs bounds DeviceQuery.IDs (one SQL parameter each).
	MaxDeviceQueryIDs = 1000
	// MaxDeviceQueryText bounds every text field of a DeviceQuery.
	MaxDeviceQueryText = 256
	// DefaultDeviceScan is how many devices a text search reads per
	// call by default (DeviceQuery.Scan).
	DefaultDeviceScan = 10000
)

// DeviceQuery selects a page of devices (Devices.QueryDevices). Every
// non-zero field is a filter; all of them must hold.
//
// What the indexes serve: the page is read along the ID (primary key)
// order from After, and stops at Limit. Status and Model each have an
// index on (field, id), so a filtered page reads only matching rows. Tag
// is read from the device_tags table's (tag, device_id) key, so a rare
// tag costs as little as a common one. Text is a case-insensitive
// (ASCII) substring match on the ID, the model and each tag: no B-tree
// serves a substring, so it is evaluated on the rows of that index walk,
// which stops as soon as the page is full. So that a search matching
// few devices costs the same at 100,000 devices as at 10 million, one
// call reads at most Scan devices (those the other filters select): when
// that window ends before the page is full, the page holds the matches
// found so far, possibly none, and the next cursor is the window's last
// device. A caller that wants a full page follows the cursor.
type DeviceQuery struct {
	// Text is searched, case-insensitively, in the ID, model and tags.
	Text string
	// Status, Model and Tag match exactly.
	Status DeviceStatus
	Model  string
	Tag    string
	// IDs, when not nil, restricts the page to these devices (at most
	// MaxDeviceQueryIDs); an empty non-nil slice matches nothing.
	IDs []string
	// After is the cursor: the page starts after this device ID.
	After string
	// Limit is the page size, 1..MaxDeviceQueryLimit (0: the maximum).
	Limit int
	// Scan bounds the devices a Text search reads per call (0:
	// DefaultDeviceScan); it must be at least Limit. Without Text it is
	// not used: every other filter is served by an index.
	Scan int
}

// Check reports a query QueryDevices refuses, wrapping ErrInvalid and
// naming the field.
func (q DeviceQuery) Check() error {
	for _, f := range []struct{ name, v string }{{"text", q.Text}, {"model", q.Model}, {"tag", q.Tag}, {"after", q.After}} {
		if len(f.v) > MaxDeviceQueryText {
			return fmt.Errorf("device query: %s is longer than %d bytes: %w", f.name, MaxDeviceQueryText, ErrInvalid)
		}
	}
	if q.Status != "" && !q.Status.Valid() {
		return fmt.Errorf("device query: unknown status %q: %w", q.Status, ErrInvalid)
	}
	if len(q.IDs) > MaxDeviceQueryIDs {
		return fmt.Errorf("device query: %d IDs, more than %d: %w", len(q.IDs), MaxDeviceQueryIDs, ErrInvalid)
	}
	if q.Limit < 0 || q.Limit > MaxDeviceQueryLimit {
		return fmt.Errorf("device query: limit %d is outside 1..%d: %w", q.Limit, MaxDeviceQueryLimit, ErrInvalid)
	}
	if q.Scan < 0 || (q.Scan > 0 && q.Scan < max(q.Limit, 1)) {
		return fmt.Errorf("device query: scan %d is below the limit %d: %w", q.Scan, q.Limit, ErrInvalid)
	}
	return nil
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

// Event is something that happened to a device: connect, refusal with its
// reason, ACL denial, limit hit, enrollment, revocation, quarantine...
type Event struct {
	ID       int64             `json:"id"`
	DeviceID string            `json:"device_id"`
	Time     time.Time         `json:"time"`
	Kind     string            `json:"kind"`
	Detail   map[string]string `json:"detail,omitempty"`
}

// Devices is the contract for the device registry: devices, the model
// policies their admission reads, the lifecycle transitions that change a
// device's status, the enrollment tokens that admit it and the events
// recorded about it.
type Devices interface {
	// CreateDevice inserts a new device with every field as given (the
	// lifecycle times too, so that a copy keeps the revocation epoch):
	// ErrConflict when the ID exists, and the existing device is kept.
	CreateDevice(ctx context.Context, d Device) error
	// GetDevice returns one device, ErrNotFound when it is unknown.
	GetDevice(ctx context.Context, id string) (Device, error)
	// ListDevices returns every device, ordered by ID.
	ListDevices(ctx context.Context) ([]Device, error)
	// DeviceTargets returns the model and tags (what detection profiles
	// target) of the devices of ids that exist, in no particular order:
	// the detect engine reads those of a window's active devices only.
	DeviceTargets(ctx context.Context, ids []string) ([]DeviceTarget, error)
	// QueryDevices returns one page of the devices that match every
	// filter of q, ordered by ID, and the cursor of the next page ("" on
	// the last page): the ID of the page's last device (or, for a text
	// search, of the last device it read), to pass back as q.After. Paging is by key (ID > After), never by offset, so a deep
	// page costs what the first does and a device added or removed
	// between two pages shifts nothing. ErrInvalid for a bad query (see
	// DeviceQuery.Check); nothing matching is an empty page, not an error.
	QueryDevices(ctx context.Context, q DeviceQuery) (devs []Device, next string, err error)
	// CountDevices returns how many devices are in each status; a status
	// no device is in is absent from the map. It counts in the database
	// (one grouped query), for summaries that must not load the fleet.
	CountDevices(ctx context.Context) (map[DeviceStatus]int, error)
	// UpdateDevice applies fn to the current record inside a transaction
	// and writes its descriptive fields (model, firmware, tags, policy,
	// UpdatedAt). The status never changes here: see TransitionDevice.
	// ErrNotFound for an unknown device; fn's error is returned as is and
	// nothing is written.
	UpdateDevice(ctx context.Context, id string, fn func(*Device) error) (Device, error)
	// TransitionDevice applies one lifecycle transition atomically (see
	// Transition). ErrNotFound for an unknown device, a *StateError when
	// the precondition does not hold; nothing is written then.
	TransitionDevice(ctx context.Context, t Transition) (Outcome, error)
	// EnrollDevice records an enrollment or re-enrollment in one
	// transaction (see Enrollment): ErrNotFound when no usable token
	// matches or the device is unknown, a *StateError when the device's
	// status or its current certificate does not allow it, ErrTooSoon
	// within the re-enrollment interval, ErrConflict on a duplicate
	// serial. Nothing is written when any step fails.
	EnrollDevice(ctx context.Context, e Enrollment) (Outcome, error)
	// TouchDevice records when the gateway last saw the device.
	TouchDevice(ctx context.Context, id string, seen time.Time) error
	// CreateDevices registers devices and their enrollment tokens (one
	// per device, tokens[i] for ds[i]) in one transaction: all of them
	// or none. ErrConflict names the first ID that exists (or repeats).
	CreateDevices(ctx context.Context, ds []Device, tokens []EnrollToken) error
	// DeleteDevice removes a device that never enrolled, with its
	// enrollment token and events, in one transaction whose check runs
	// under the device's lock: a device that holds or ever held a
	// certificate is refused with ErrEnrolled, so an enrollment and a
	// delete of one device never both succeed. ErrNotFound for an
	// unknown device.
	DeleteDevice(ctx context.Context, id string) error

	// PutModelPolicy inserts or replaces a model's policy.
	PutModelPolicy(ctx context.Context, p ModelPolicy) error
	// UpdateModelPolicy applies fn to a model's policy (the zero Policy
	// when the model has none yet) inside a transaction and writes the
	// result: concurrent updates of one model apply one after the other.
	// fn's error is returned as is and nothing is written.
	UpdateModelPolicy(ctx context.Context, model string, fn func(*Policy) error) (ModelPolicy, error)
	// ListModelPolicies returns every model policy, ordered by model.
	ListModelPolicies(ctx context.Context) ([]ModelPolicy, error)

	// PutEnrollToken sets (replacing) the device's enrollment token, in
	// one transaction with the check that the device's status is one of
	// TokenFrom (*StateError otherwise; ErrNotFound for an unknown device).
	PutEnrollToken(ctx context.Context, t EnrollToken) error
	// GetEnrollToken returns the device's token record, ErrNotFound when
	// it has none.
	GetEnrollToken(ctx context.Context, deviceID string) (EnrollToken, error)
	// ListEnrollTokens returns every token record, without hashes,
	// ordered by device ID.
	ListEnrollTokens(ctx context.Context) ([]EnrollToken, error)

	// AddEvents appends device events in one transaction.
	AddEvents(ctx context.Context, evs []Event) error
	// ListEvents returns a device's most recent events (every device's
	// when deviceID is empty), newest first, at most limit (<= 0: 50).
	ListEvents(ctx context.Context, deviceID string, limit int) ([]Event, error)
	// PruneEvents deletes the events older than before and, per device,
	// all but the newest perDevice (0: no cap); it returns how many.
	PruneEvents(ctx context.Context, before time.Time, perDevice int) (int64, error)
}
