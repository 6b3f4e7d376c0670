package store

import (
	"context"
	"time"
)

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

// ModelExpiry is the soonest expiry of a model's valid device
// certificates (Certificates.SoonestExpiryByModel).
type ModelExpiry struct {
	Model    string
	NotAfter time.Time
}

// Certificates is the contract for the certificates Ward's CA issued:
// their record, their revocation, the set the gateway admits and the CRL
// number. (An enrollment records its certificate through
// Devices.EnrollDevice, in the device's transaction.)
type Certificates interface {
	// PutCertificate records an issued certificate: ErrConflict on a
	// duplicate serial.
	PutCertificate(ctx context.Context, c Certificate) error
	// GetCertificate returns one certificate by serial, ErrNotFound when
	// it is unknown.
	GetCertificate(ctx context.Context, serial string) (Certificate, error)
	// ListCertificates returns a device's certificates, or every
	// certificate when deviceID is empty, newest issued first.
	ListCertificates(ctx context.Context, deviceID string) ([]Certificate, error)
	// ListDeviceCertificates returns the certificates of the given
	// devices (at most MaxDeviceQueryIDs of them: ErrInvalid beyond),
	// newest issued first: one page of a device list, without reading
	// the whole fleet's.
	ListDeviceCertificates(ctx context.Context, deviceIDs []string) ([]Certificate, error)
	// SoonestExpiryByModel returns, for each device model, the soonest
	// NotAfter of the device certificates valid at now (not revoked, not
	// superseded, not expired), ordered by model: one row per model
	// whatever the fleet's size.
	SoonestExpiryByModel(ctx context.Context, now time.Time) ([]ModelExpiry, error)
	// RevokeCertificate marks a certificate revoked: ErrNotFound for an
	// unknown serial; revoking again keeps the first time and reason.
	RevokeCertificate(ctx context.Context, serial, reason string, at time.Time) error
	// RevokeSuperseded revokes (reason superseded, at now) the
	// certificates superseded at or before before, and returns their
	// serials.
	RevokeSuperseded(ctx context.Context, before, now time.Time) ([]string, error)
	// ListRevoked returns every revoked certificate (the CRL's entries),
	// in the order they were revoked (then by serial).
	ListRevoked(ctx context.Context) ([]Certificate, error)
	// EachValidDeviceCertificate calls fn for every device certificate
	// that is neither revoked nor expired at now, with only Serial,
	// DeviceID and NotAfter set (the gateway's admission set is loaded from
	// it at start; it must stay lean for millions of rows). fn's error
	// stops the walk and is returned.
	EachValidDeviceCertificate(ctx context.Context, now time.Time, fn func(Certificate) error) error
	// NextCounter increments and returns the named counter, starting at 1
	// (the CRL number, "crl_number").
	NextCounter(ctx context.Context, name string) (int64, error)
}
