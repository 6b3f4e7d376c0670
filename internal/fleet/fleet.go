// Package fleet is Ward's device registry: it registers devices with a
// one-time enrollment token, enrolls and re-enrolls them through the CA,
// quarantines, releases, revokes and retires them, and records their
// events. It keeps the gateway's in-memory view in step with every change.
//
// # Lifecycle
//
// The registry chooses each transition; the store applies it in one
// transaction whose precondition is in its statements (see package store
// and store/lifecycle), so that two concurrent transitions of one device
// never overwrite each other:
//
//	pending --enroll--> active --quarantine--> quarantined --release--> active (pending without a valid certificate)
//	pending|active|quarantined|revoked --revoke--> revoked --token issued after the revocation + enroll--> active
//	any but retired --retire--> retired (terminal)
//
// Revoking (or retiring) a device revokes all of its certificates and
// voids its enrollment token in that transaction, re-signs the CRL once,
// and completes even when the caller goes away. Enrollment never
// re-activates a quarantined or retired device, nor a revoked one with a
// token issued before the revocation.
//
// # Re-enrollment limits
//
// A device re-enrolls (EST simplereenroll) at most once per
// Options.ReenrollInterval; the certificate it re-enrolled with is
// superseded and revoked once Options.SupersededGrace has passed (Run
// sweeps them), and a device holds at most Options.MaxCertificates valid
// certificates: issuing one more revokes the oldest.
package fleet

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/wardproject/ward/internal/pki"
	"github.com/wardproject/ward/internal/secret"
	"github.com/wardproject/ward/internal/store"
)

// Store is what the registry needs from storage.
type Store interface {
	CreateDevice(ctx context.Context, d store.Device) error
	GetDevice(ctx context.Context, id string) (store.Device, error)
	ListDevices(ctx context.Context) ([]store.Device, error)
	QueryDevices(ctx context.Context, q store.DeviceQuery) ([]store.Device, string, error)
	UpdateDevice(ctx context.Context, id string, fn func(*store.Device) error) (store.Device, error)
	TransitionDevice(ctx context.Context, t store.Transition) (store.Outcome, error)
	CreateDevices(ctx context.Context, ds []store.Device, tokens []store.EnrollToken) error
	DeleteDevice(ctx context.Context, id string) error
	PutModelPolicy(ctx context.Context, p store.ModelPolicy) error
	UpdateModelPolicy(ctx context.Context, model string, fn func(*store.Policy) error) (store.ModelPolicy, error)
	ListModelPolicies(ctx context.Context) ([]store.ModelPolicy, error)
	PutEnrollToken(ctx context.Context, t store.EnrollToken) error
	GetEnrollToken(ctx context.Context, deviceID string) (store.EnrollToken, error)
	EnrollDevice(ctx context.Context, e store.Enrollment) (store.Outcome, error)
	RevokeSuperseded(ctx context.Context, before, now time.Time) ([]string, error)
	ListCertificates(ctx context.Context, deviceID string) ([]store.Certificate, error)
	ListDeviceCertificates(ctx context.Context, deviceIDs []string) ([]store.Certificate, error)
	SoonestExpiryByModel(ctx context.Context, now time.Time) ([]store.ModelExpiry, error)
	CountDevices(ctx context.Context) (map[store.DeviceStatus]int, error)
	GetCertificate(ctx context.Context, serial string) (store.Certificate, error)
	AddEvents(ctx context.Context, evs []store.Event) error
	ListEvents(ctx context.Context, deviceID string, limit int) ([]store.Event, error)
	PruneEvents(ctx context.Context, before time.Time, perDevice int) (int64, error)
}

// CA signs device certificates and publishes revocations. *pki.CA
// implements it.
type CA interface {
	// DeviceID returns the device a verified certificate names, by the
	// rule the gateway applies too (the URI SAN; the CN only when allowed).
	DeviceID(c *x509.Certificate) (string, error)
	// SignDeviceRecord signs and hands the record to record (the
	// registry's enrollment transaction) before returning the certificate.
	SignDeviceRecord(deviceID string, csr *x509.CertificateRequest, record func(store.Certificate) error) (*x509.Certificate, error)
	// ReloadRevocations re-reads the revoked certificates from the store
	// and re-signs the CRL (once, however many were revoked).
	ReloadRevocations(ctx context.Context) error
}

// Gateway is told about every change that affects admission. The gateway
// package's *Gateway implements it.
type Gateway interface {
	SetDevice(d store.Device)
	SetModelPolicy(p store.ModelPolicy)
	CertificateRevoked()
	Connected(id string) int
	// ConnectedIDs returns the IDs of the devices with a live session,
	// in order, those after after only, at most max of them.
	ConnectedIDs(after string, max int) []string
}

// EventObserver is told of every device event the registry records,
// once it is stored (the live stream: package server tees it into
// package stream). DeviceEvent must not block.
type EventObserver interface {
	DeviceEvent(e store.Event)
}

// Errors callers branch on.
var (
	ErrBadToken    = errors.New("enrollment token is wrong, used or expired")
	ErrQuarantined = errors.New("device is quarantined")
	ErrNotEnrolled = errors.New("device has no active certificate")
	ErrBadRequest  = errors.New("invalid request")
	// ErrWrongState: the device's status does not allow the operation
	// (errors.As a *store.StateError for the status).
	ErrWrongState = store.ErrWrongState
	// ErrTooSoon: a re-enrollment within the re-enrollment interval
	// (errors.As a *TooSoonError for when to retry).
	ErrTooSoon = store.ErrTooSoon
)

// TooSoonError is a refused re-enrollment; RetryAt is when the device may
// re-enroll again. InProgress: another re-enrollment of the device was
// being signed and recorded at the time.
type TooSoonError struct {
	DeviceID   string
	RetryAt    time.Time
	InProgress bool
}

func (e *TooSoonError) Error() string {
	if e.InProgress {
		return fmt.Sprintf("device %s has a re-enrollment in progress; retry after %s",
			e.DeviceID, e.RetryAt.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("device %s re-enrolled less than the re-enrollment interval ago; retry after %s",
		e.DeviceID, e.RetryAt.UTC().Format(time.RFC3339))
}

// reenrollBusyRetry is the Retry-After of a re-enrollment refused because
// another one of the device is in progress: that one either succeeds (the
// retry then learns the real next time) or fails (the retry may succeed).
const reenrollBusyRetry = 10 * time.Second

// Unwrap makes errors.Is(err, ErrTooSoon) true.
func (e *TooSoonError) Unwrap() error { return store.ErrTooSoon }

// Token lifetime bounds: an enrollment token lives at least a minute (a
// shorter one cannot be typed in) and at most 90 days.
const (
	MinTokenTTL = time.Minute
	MaxTokenTTL = 90 * 24 * time.Hour
)

// Options configure a Registry. Store and CA are required.
type Options struct {
	Store    Store
	CA       CA
	Gateway  Gateway       // nil: none (tests, CLI-only)
	TokenTTL time.Duration // enrollment token lifetime; default 24h
	// ReenrollInterval is the shortest time between two re-enrollments
	// of one device (default 1h; a device renews its 90-day certificate
	// weeks before it expires, with ward enroll --renew or its own EST
	// client, so one renewal an hour leaves any real schedule room).
	ReenrollInterval time.Duration
	// MaxCertificates caps a device's valid certificates (default 3).
	MaxCertificates int
	// SupersededGrace is how long a certificate replaced by a
	// re-enrollment stays valid, so the device can switch (default 10m).
	SupersededGrace time.Duration
	// EventRetention is how long device events are kept (default 30
	// days); EventsPerDevice caps how many are kept per device (default
	// 2000). Run prunes them every hour.
	EventRetention  time.Duration
	EventsPerDevice int
	// Sessions, when set, answers which devices are connected (the
	// cluster's session directory) instead of Gateway, whose answer is
	// this node's sessions only.
	Sessions SessionDirectory
	// Observer is told of each recorded event (nil: none).
	Observer EventObserver
	Logger   *slog.Logger
	Metrics  prometheus.Registerer
	Now      func() time.Time
}

// Registry is the device registry service.
type Registry struct {
	opts    Options
	log     *slog.Logger
	now     func() time.Time
	refused *prometheus.CounterVec

	mu          sync.Mutex           // guards lastRefusal and reenrolling
	lastRefusal map[string]time.Time // device ID -> last enroll-refused event
	// reenrolling holds the devices with a re-enrollment being signed and
	// recorded on this node. At most one can succeed per interval (the
	// store's transaction decides); a second one at the same time is
	// refused at once, before the CA signs or the store writes anything,
	// so a device flooding simplereenroll in parallel cannot queue write
	// transactions ahead of the operator's revoke or quarantine.
	reenrolling map[string]bool
}

// New returns a Registry.
func New(opts Options) (*Registry, error) {
	if opts.Store == nil || opts.CA == nil {
		return nil, errors.New("fleet: Options.Store and Options.CA are required")
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = 24 * time.Hour
	}
	if opts.TokenTTL < MinTokenTTL || opts.TokenTTL > MaxTokenTTL {
		return nil, fmt.Errorf("fleet: enrollment token lifetime %s is outside %s..%s", opts.TokenTTL, MinTokenTTL, MaxTokenTTL)
	}
	if opts.ReenrollInterval <= 0 {
		opts.ReenrollInterval = time.Hour
	}
	if opts.MaxCertificates <= 0 {
		opts.MaxCertificates = 3
	}
	if opts.SupersededGrace <= 0 {
		opts.SupersededGrace = 10 * time.Minute
	}
	if opts.EventRetention <= 0 {
		opts.EventRetention = 30 * 24 * time.Hour
	}
	if opts.EventsPerDevice <= 0 {
		opts.EventsPerDevice = 2000
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger.With("component", "fleet")
	if opts.Metrics != nil {
		if err := opts.Metrics.Register(newFleetCollector(opts.Store, opts.Now, log)); err != nil {
			return nil, fmt.Errorf("fleet: register metrics: %w", err)
		}
	}
	return &Registry{opts: opts, log: log, now: opts.Now,
		refused: promauto.With(opts.Metrics).NewCounterVec(prometheus.CounterOpts{
			Name: "ward_fleet_enroll_refused_total",
			Help: "Enrollments and re-enrollments refused, by reason (unknown-device refusals are counted, never stored).",
		}, []string{"reason"}),
		lastRefusal: map[string]time.Time{},
		reenrolling: map[string]bool{},
	}, nil
}

// NewDevice is what an operator gives to register a device.
type NewDevice struct {
	ID       string       `json:"id"`
	Model    string       `json:"model"`
	Firmware string       `json:"firmware"`
	Tags     []string     `json:"tags,omitempty"`
	Policy   store.Policy `json:"policy"`
	// TokenTTL overrides the default enrollment token lifetime.
	TokenTTL time.Duration `json:"-"`
}

// Enrollment is a one-time enrollment token, shown once.
type Enrollment struct {
	Token     secret.Value `json:"-"`
	ExpiresAt time.Time    `json:"token_expires_at"`
}

func checkText(field, v string, max int) error {
	if len(v) > max {
		return fmt.Errorf("%w: %s is longer than %d characters", ErrBadRequest, field, max)
	}
	for _, c := range v {
		if c < 0x20 || c == 0x7f {
			return fmt.Errorf("%w: %s contains control characters", ErrBadRequest, field)
		}
	}
	return nil
}

func checkTTL(ttl time.Duration) error {
	if ttl != 0 && (ttl < MinTokenTTL || ttl > MaxTokenTTL) {
		return fmt.Errorf("%w: enrollment token lifetime %s: use %s to %s", ErrBadRequest, ttl, MinTokenTTL, MaxTokenTTL)
	}
	return nil
}

// CheckNewDevice validates a device to register: its ID, model (required),
// firmware, tags, policy and token lifetime. The error wraps ErrBadRequest.
func CheckNewDevice(nd NewDevice) error {
	if err := pki.CheckDeviceID(nd.ID); err != nil {
		return fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	if nd.Model == "" {
		return fmt.Errorf("%w: model is required", ErrBadRequest)
	}
	for _, f := range []struct{ name, v string }{{"model", nd.Model}, {"firmware", nd.Firmware}} {
		if err := checkText(f.name, f.v, 128); err != nil {
			return err
		}
	}
	for _, t := range nd.Tags {
		if err := checkText("tag", t, 64); err != nil || t == "" {
			return fmt.Errorf("%w: tags must be 1-64 printable characters", ErrBadRequest)
		}
	}
	if err := CheckPolicy(nd.Policy); err != nil {
		return err
	}
	return checkTTL(nd.TokenTTL)
}

// Add registers a device in the pending state and returns its enrollment token.
func (r *Registry) Add(ctx context.Context, nd NewDevice) (store.Device, Enrollment, error) {
	if err := CheckNewDevice(nd); err != nil {
		return store.Device{}, Enrollment{}, err
	}
	now := r.now().UTC()
	d := store.Device{ID: nd.ID, Model: nd.Model, Firmware: nd.Firmware, Tags: nd.Tags, Status: store.StatusPending,
		Policy: nd.Policy, CreatedAt: now, UpdatedAt: now}
	if err := r.opts.Store.CreateDevice(ctx, d); err != nil {
		return store.Device{}, Enrollment{}, fmt.Errorf("register device %s: %w", nd.ID, err)
	}
	en, err := r.newToken(ctx, nd.ID, nd.TokenTTL)
	if err != nil {
		return store.Device{}, Enrollment{}, err
	}
	r.event(ctx, nd.ID, "registered", map[string]string{"model": nd.Model, "firmware": nd.Firmware})
	r.log.Info("device registered", "device_id", nd.ID, "model", nd.Model)
	r.notify(d)
	return d, en, nil
}

// NewToken issues a fresh one-time enrollment token for an existing device
// (to replace a lost one, or to re-enroll a revoked device). It invalidates
// the previous token. A quarantined or retired device gets none.
func (r *Registry) NewToken(ctx context.Context, id string, ttl time.Duration) (Enrollment, error) {
	if err := checkTTL(ttl); err != nil {
		return Enrollment{}, err
	}
	en, err := r.newToken(ctx, id, ttl)
	var se *store.StateError
	if errors.As(err, &se) && se.Status == store.StatusQuarantined {
		return Enrollment{}, fmt.Errorf("new token for %s: %w; release it first", id, ErrQuarantined)
	}
	if err == nil {
		r.event(ctx, id, "token-issued", map[string]string{"expires_at": en.ExpiresAt.Format(time.RFC3339)})
	}
	return en, err
}

func (r *Registry) newToken(ctx context.Context, id string, ttl time.Duration) (Enrollment, error) {
	if ttl <= 0 {
		ttl = r.opts.TokenTTL
	}
	tok, err := secret.New()
	if err != nil {
		return Enrollment{}, err
	}
	now := r.now().UTC()
	t := store.EnrollToken{DeviceID: id, Hash: secret.Hash(tok.Reveal()), CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if err := r.opts.Store.PutEnrollToken(ctx, t); err != nil {
		return Enrollment{}, fmt.Errorf("new enrollment token for %s: %w", id, err)
	}
	return Enrollment{Token: tok, ExpiresAt: t.ExpiresAt}, nil
}

// Authenticate checks a device's enrollment token without consuming it.
// A token issued before the device's last revocation does not count.
func (r *Registry) Authenticate(ctx context.Context, id, token string) error {
	t, err := r.opts.Store.GetEnrollToken(ctx, id)
	ok := err == nil && secret.Equal(token, t.Hash) && t.UsedAt.IsZero() && r.now().Before(t.ExpiresAt)
	if !ok {
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return fmt.Errorf("device %s: %w", id, ErrBadToken)
	}
	return nil
}

// refuse counts a refused enrollment and, for a registered device,
// records an enroll-refused event at most once a second per device: a
// flood of wrong tokens buries neither the device's events nor the log,
// and an unregistered ID writes nothing at all.
func (r *Registry) refuse(ctx context.Context, id, reason string, detail map[string]string) {
	if _, err := r.opts.Store.GetDevice(ctx, id); err != nil {
		r.refused.WithLabelValues("unknown-device").Inc()
		return
	}
	r.refused.WithLabelValues(reason).Inc()
	now := r.now()
	r.mu.Lock()
	last, seen := r.lastRefusal[id]
	record := !seen || now.Sub(last) >= time.Second
	if record {
		if len(r.lastRefusal) >= 10000 {
			clear(r.lastRefusal) // bounded; forgetting only allows one more event
		}
		r.lastRefusal[id] = now
	}
	r.mu.Unlock()
	if record {
		r.event(ctx, id, "enroll-refused", detail)
	}
}

// Enroll issues a device's first (or replacement) certificate for a CSR,
// authenticated by the one-time token. The token is consumed only when a
// certificate is issued: a rejected CSR leaves it usable.
func (r *Registry) Enroll(ctx context.Context, id, token string, csrDER []byte) (*x509.Certificate, error) {
	if err := pki.CheckDeviceID(id); err != nil {
		r.refused.WithLabelValues("unknown-device").Inc()
		return nil, fmt.Errorf("device %q: %w", id, ErrBadToken)
	}
	if err := r.Authenticate(ctx, id, token); err != nil {
		if errors.Is(err, ErrBadToken) {
			r.refuse(ctx, id, "bad-token", map[string]string{"reason": "bad-token"})
		}
		return nil, err
	}
	csr, err := r.checkCSR(ctx, id, csrDER)
	if err != nil {
		return nil, err
	}
	crt, err := r.issue(ctx, id, csr, store.Enrollment{TokenHash: secret.Hash(token)}, "enrolled")
	if errors.Is(err, store.ErrNotFound) { // the token was used or voided meanwhile
		r.refuse(ctx, id, "bad-token", map[string]string{"reason": "bad-token"})
		return nil, fmt.Errorf("device %s: %w", id, ErrBadToken)
	}
	return crt, err
}

// Reenroll renews the certificate of a device authenticated by its current,
// valid certificate (EST simplereenroll). The current certificate is
// superseded: it stays valid for Options.SupersededGrace, so the device
// can switch without a gap, and is then revoked.
func (r *Registry) Reenroll(ctx context.Context, current *x509.Certificate, csrDER []byte) (*x509.Certificate, error) {
	id, err := r.opts.CA.DeviceID(current)
	if err != nil {
		return nil, fmt.Errorf("%w: client certificate: %w", ErrNotEnrolled, err)
	}
	serial := pki.SerialHex(current.SerialNumber)
	// Checks before signing; the transaction checks all of it again.
	rec, err := r.opts.Store.GetCertificate(ctx, serial)
	if err != nil || rec.DeviceID != id {
		r.refuse(ctx, id, "unknown-certificate", map[string]string{"reason": "unknown-certificate", "serial": serial})
		return nil, fmt.Errorf("reenroll %s: %w (certificate unknown to this CA)", id, ErrNotEnrolled)
	}
	if rec.Revoked() || !rec.SupersededAt.IsZero() {
		r.refuse(ctx, id, "stale-certificate", map[string]string{"reason": "stale-certificate", "serial": serial})
		return nil, fmt.Errorf("reenroll %s: %w (certificate revoked or already superseded)", id, ErrNotEnrolled)
	}
	if !r.beginReenroll(id) {
		r.refused.WithLabelValues("too-soon").Inc()
		return nil, &TooSoonError{DeviceID: id, RetryAt: r.now().Add(reenrollBusyRetry), InProgress: true}
	}
	defer r.endReenroll(id)
	csr, err := r.checkCSR(ctx, id, csrDER)
	if err != nil {
		return nil, err
	}
	d, err := r.opts.Store.GetDevice(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := r.checkReenroll(d); err != nil {
		return nil, err
	}
	return r.issue(ctx, id, csr, store.Enrollment{Current: serial}, "reenrolled")
}

// beginReenroll marks a re-enrollment of the device in progress; false if
// one already is.
func (r *Registry) beginReenroll(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.reenrolling[id] {
		return false
	}
	r.reenrolling[id] = true
	return true
}

// endReenroll ends what beginReenroll began.
func (r *Registry) endReenroll(id string) {
	r.mu.Lock()
	delete(r.reenrolling, id)
	r.mu.Unlock()
}

// ErrCertificateRefused is returned by CheckCertificate for a client
// certificate whose chain verified but that Ward does not accept, or no
// longer accepts, for its device (errors.As a *CertificateRefusedError
// for the reason).
var ErrCertificateRefused = errors.New("device certificate refused")

// CertificateRefusedError says why CheckCertificate refused a certificate.
// Reason is one of a few fixed words (a metric label).
type CertificateRefusedError struct {
	DeviceID, Serial, Reason string
}

func (e *CertificateRefusedError) Error() string {
	if e.DeviceID == "" {
		return fmt.Sprintf("device certificate %s refused: %s", e.Serial, e.Reason)
	}
	return fmt.Sprintf("device %s certificate %s refused: %s", e.DeviceID, e.Serial, e.Reason)
}

// Unwrap makes errors.Is(err, ErrCertificateRefused) true.
func (e *CertificateRefusedError) Unwrap() error { return ErrCertificateRefused }

// Reasons of a CertificateRefusedError.
const (
	RefusedNoIdentity   = "no-device-identity"  // the certificate names no device
	RefusedUnknown      = "unknown-certificate" // Ward recorded no such serial for that device
	RefusedRevoked      = "revoked"             // the certificate is revoked
	RefusedSuperseded   = "superseded"          // re-enrolled, and the grace period is over
	RefusedExpired      = "expired"             // past its NotAfter
	RefusedDeviceStatus = "device-status"       // the device is pending, revoked, retired or quarantined (refuse)
)

// CheckCertificate decides whether a client certificate that crypto/tls
// verified against Ward's issuing CA may use the device services served
// over HTTPS (the /tuf/ firmware repository), and returns its device. It
// applies the checks of EST re-enrollment and of the gateway's admission,
// from the store (so every node of a cluster agrees): the certificate
// names a device (pki.CA.DeviceID); Ward recorded its serial for that
// device; it is neither revoked nor expired, nor superseded by a
// re-enrollment for longer than Options.SupersededGrace; and the device is
// active, or quarantined in restrict mode, which the gateway admits too so
// that the device stays reachable for remediation (a firmware fix is
// remediation). A device quarantined in refuse mode, pending, revoked or
// retired is refused. A refusal is a *CertificateRefusedError; any other
// error is the store's.
func (r *Registry) CheckCertificate(ctx context.Context, c *x509.Certificate) (store.Device, error) {
	serial := pki.SerialHex(c.SerialNumber)
	id, err := r.opts.CA.DeviceID(c)
	if err != nil {
		return store.Device{}, &CertificateRefusedError{Serial: serial, Reason: RefusedNoIdentity}
	}
	refused := func(reason string) (store.Device, error) {
		return store.Device{}, &CertificateRefusedError{DeviceID: id, Serial: serial, Reason: reason}
	}
	rec, err := r.opts.Store.GetCertificate(ctx, serial)
	if errors.Is(err, store.ErrNotFound) {
		return refused(RefusedUnknown)
	}
	if err != nil {
		return store.Device{}, fmt.Errorf("check certificate %s: %w", serial, err)
	}
	now := r.now()
	switch {
	case rec.DeviceID != id || rec.Kind != "device":
		return refused(RefusedUnknown)
	case rec.Revoked():
		return refused(RefusedRevoked)
	case !now.Before(rec.NotAfter) || !now.Before(c.NotAfter):
		return refused(RefusedExpired)
	case !rec.SupersededAt.IsZero() && !now.Before(rec.SupersededAt.Add(r.opts.SupersededGrace)):
		return refused(RefusedSuperseded)
	}
	d, err := r.opts.Store.GetDevice(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return refused(RefusedUnknown)
	}
	if err != nil {
		return store.Device{}, fmt.Errorf("check certificate %s: %w", serial, err)
	}
	if d.Status != store.StatusActive && (d.Status != store.StatusQuarantined || d.Quarantine != store.QuarantineRestrict) {
		return refused(RefusedDeviceStatus)
	}
	return d, nil
}

func (r *Registry) checkReenroll(d store.Device) error {
	switch d.Status {
	case store.StatusQuarantined:
		return fmt.Errorf("reenroll %s: %w", d.ID, ErrQuarantined)
	case store.StatusActive:
	default:
		return fmt.Errorf("reenroll %s: %w (status %s)", d.ID, ErrNotEnrolled, d.Status)
	}
	if next := d.ReenrolledAt.Add(r.opts.ReenrollInterval); !d.ReenrolledAt.IsZero() && r.now().Before(next) {
		r.refused.WithLabelValues("too-soon").Inc()
		return &TooSoonError{DeviceID: d.ID, RetryAt: next}
	}
	return nil
}

func (r *Registry) checkCSR(ctx context.Context, id string, der []byte) (*x509.CertificateRequest, error) {
	csr, err := pki.ParseCSR(der)
	if err == nil {
		err = pki.CheckCSR(csr, id)
	}
	if err != nil {
		r.refuse(ctx, id, "bad-csr", map[string]string{"reason": err.Error()})
		return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	return csr, nil
}

// issue signs a certificate and records, in one store transaction, the
// token's use or the current certificate's supersession, the certificate,
// the device's activation, the revocation of its certificates beyond
// MaxCertificates and the event; the certificate is returned only once
// all of it is stored.
func (r *Registry) issue(ctx context.Context, id string, csr *x509.CertificateRequest, e store.Enrollment, kind string) (*x509.Certificate, error) {
	now := r.now().UTC()
	e.DeviceID, e.Now = id, now
	e.ReenrollInterval, e.MaxValid = r.opts.ReenrollInterval, r.opts.MaxCertificates
	var out store.Outcome
	crt, err := r.opts.CA.SignDeviceRecord(id, csr, func(c store.Certificate) error {
		e.Cert = c
		e.Event = store.Event{DeviceID: id, Time: now, Kind: kind, Detail: map[string]string{"serial": c.Serial, "not_after": c.NotAfter.UTC().Format(time.RFC3339)}}
		var err error
		out, err = r.opts.Store.EnrollDevice(ctx, e)
		return err
	})
	if err != nil {
		var se *store.StateError
		switch {
		case errors.As(err, &se) && se.Status == store.StatusQuarantined:
			return nil, fmt.Errorf("%s %s: %w", kind, id, ErrQuarantined)
		case errors.As(err, &se), errors.Is(err, store.ErrStaleCertificate):
			r.refused.WithLabelValues("state").Inc()
			return nil, fmt.Errorf("%s %s: %w (%w)", kind, id, ErrNotEnrolled, err)
		case errors.Is(err, store.ErrTooSoon):
			r.refused.WithLabelValues("too-soon").Inc()
			return nil, &TooSoonError{DeviceID: id, RetryAt: now.Add(r.opts.ReenrollInterval)}
		}
		return nil, err
	}
	r.log.Info("device "+kind, "device_id", id, "serial", pki.SerialHex(crt.SerialNumber), "not_after", crt.NotAfter)
	r.observe(e.Event)
	r.notify(out.Device)
	if len(out.Revoked) > 0 {
		r.revoked(context.WithoutCancel(ctx), out.Revoked)
	}
	return crt, nil
}

// revoked publishes revocations the store has committed: one CRL re-sign,
// then the gateways drop the sessions of the revoked certificates.
func (r *Registry) revoked(ctx context.Context, serials []string) error {
	err := r.opts.CA.ReloadRevocations(ctx)
	if err != nil {
		// The revocation is committed and the gateway refuses the
		// device by its status; the CRL is re-signed at the next change
		// or by the hourly refresh.
		r.log.Error("re-sign the CRL after a revocation", "certificates", len(serials), "err", err)
	}
	if r.opts.Gateway != nil {
		r.opts.Gateway.CertificateRevoked()
	}
	return err
}

// ctxAfterCaller is the context of a security transition: it completes
// even when the caller (an API client, the CLI's timeout) goes away.
func ctxAfterCaller(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
}

// Revoke revokes the device: its status, every certificate it holds and
// its enrollment token, in one transaction; then the CRL is re-signed
// once and its live sessions are disconnected. It completes even when ctx
// is cancelled meanwhile. Revoking a revoked device revokes anything it
// still holds.
func (r *Registry) Revoke(ctx context.Context, id, reason string) (store.Device, []string, error) {
	return r.end(ctx, id, reason, "revoke", store.StatusRevoked, store.RevokeFrom)
}

// Retire decommissions the device for good: like Revoke (reason
// cessationOfOperation by default), but the device can never enroll again.
func (r *Registry) Retire(ctx context.Context, id, reason string) (store.Device, []string, error) {
	if reason == "" {
		reason = "cessationOfOperation"
	}
	return r.end(ctx, id, reason, "retire", store.StatusRetired, store.RetireFrom)
}

func (r *Registry) end(ctx context.Context, id, reason, op string, to store.DeviceStatus, from []store.DeviceStatus) (store.Device, []string, error) {
	if reason == "" {
		reason = "unspecified"
	}
	if err := checkText("reason", reason, 200); err != nil {
		return store.Device{}, nil, err
	}
	// An RFC 5280 name in any case is stored in its own spelling, the
	// one the CRL's reason code is read from.
	reason, _ = pki.CanonicalReason(reason)
	ctx, cancel := ctxAfterCaller(store.Urgent(ctx)) // containment: ahead of routine writes
	defer cancel()
	ev := store.Event{DeviceID: id, Time: r.now().UTC(), Kind: string(to), Detail: map[string]string{"reason": reason}}
	out, err := r.opts.Store.TransitionDevice(ctx, store.Transition{DeviceID: id, Op: op, From: from, To: to,
		RevokeReason: reason, Now: r.now().UTC(), Event: ev})
	if err != nil {
		return out.Device, nil, fmt.Errorf("%s device %s: %w", op, id, err)
	}
	r.observe(ev)        // before the gateway's disconnected events
	r.notify(out.Device) // the gateway refuses the device from here on
	var crlErr error
	if len(out.Revoked) > 0 {
		crlErr = r.revoked(ctx, out.Revoked)
	}
	r.log.Info("device "+string(to), "device_id", id, "certificates", len(out.Revoked), "reason", reason)
	if crlErr != nil {
		return out.Device, out.Revoked, fmt.Errorf("device %s is %s and its certificates are revoked, but the CRL was not re-signed (it will be at the next change or within the hour): %w", id, to, crlErr)
	}
	return out.Device, out.Revoked, nil
}

// Quarantine disconnects a device without revoking it. In mode
// store.QuarantineRefuse ("" means it) the gateway then refuses the
// device; in store.QuarantineRestrict it admits the device to its
// quarantine topic tree only. Quarantining a quarantined device changes
// its mode. A revoked or retired device cannot be quarantined.
func (r *Registry) Quarantine(ctx context.Context, id, reason string, mode store.QuarantineMode) (store.Device, error) {
	if err := checkText("reason", reason, 200); err != nil {
		return store.Device{}, err
	}
	switch mode {
	case "":
		mode = store.QuarantineRefuse
	case store.QuarantineRefuse, store.QuarantineRestrict:
	default:
		return store.Device{}, fmt.Errorf("%w: quarantine mode %q: use %s or %s", ErrBadRequest, mode, store.QuarantineRefuse, store.QuarantineRestrict)
	}
	ctx, cancel := ctxAfterCaller(store.Urgent(ctx)) // containment: ahead of routine writes
	defer cancel()
	now := r.now().UTC()
	ev := store.Event{DeviceID: id, Time: now, Kind: "quarantined", Detail: map[string]string{"reason": reason, "mode": string(mode)}}
	out, err := r.opts.Store.TransitionDevice(ctx, store.Transition{DeviceID: id, Op: "quarantine", From: store.QuarantineFrom,
		To: store.StatusQuarantined, Quarantine: mode, Now: now, Event: ev})
	if err != nil {
		return out.Device, fmt.Errorf("quarantine device %s: %w", id, err)
	}
	r.observe(ev) // before the gateway's disconnected events
	r.notify(out.Device)
	r.log.Info("device quarantined", "device_id", id, "mode", mode)
	return out.Device, nil
}

// Release lifts a quarantine: the device is active again when it holds a
// valid certificate, pending otherwise.
func (r *Registry) Release(ctx context.Context, id string) (store.Device, error) {
	now := r.now().UTC()
	ev := store.Event{DeviceID: id, Time: now, Kind: "released"}
	out, err := r.opts.Store.TransitionDevice(ctx, store.Transition{DeviceID: id, Op: "release", From: store.ReleaseFrom,
		To: store.StatusActive, NeedsCertificate: true, Now: now, Event: ev})
	if err != nil {
		return out.Device, fmt.Errorf("release device %s: %w", id, err)
	}
	ev.Detail = map[string]string{"status": string(out.Device.Status)} // active, or pending without a valid certificate
	r.observe(ev)
	r.notify(out.Device)
	r.log.Info("device released", "device_id", id, "status", out.Device.Status)
	return out.Device, nil
}

// SweepSuperseded revokes the certificates whose supersession grace has
// passed and publishes the revocation; it returns their serials.
func (r *Registry) SweepSuperseded(ctx context.Context) ([]string, error) {
	now := r.now().UTC()
	serials, err := r.opts.Store.RevokeSuperseded(ctx, now.Add(-r.opts.SupersededGrace), now)
	if err != nil || len(serials) == 0 {
		return nil, err
	}
	r.log.Info("superseded certificates revoked", "certificates", len(serials))
	return serials, r.revoked(ctx, serials)
}

// PruneEvents applies the event retention; it returns how many events it
// deleted.
func (r *Registry) PruneEvents(ctx context.Context) (int64, error) {
	return r.opts.Store.PruneEvents(ctx, r.now().Add(-r.opts.EventRetention), r.opts.EventsPerDevice)
}

// Run revokes superseded certificates once their grace has passed and
// prunes events every hour, until ctx is done.
func (r *Registry) Run(ctx context.Context) error {
	sweep := time.NewTicker(min(r.opts.SupersededGrace/4, time.Minute))
	defer sweep.Stop()
	prune := time.NewTicker(time.Hour)
	defer prune.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sweep.C:
			if _, err := r.SweepSuperseded(ctx); err != nil && ctx.Err() == nil {
				r.log.Error("revoke superseded certificates", "err", err)
			}
		case <-prune.C:
			if n, err := r.PruneEvents(ctx); err != nil && ctx.Err() == nil {
				r.log.Error("prune device events", "err", err)
			} else if n > 0 {
				r.log.Info("device events pruned", "events", n)
			}
		}
	}
}

// SetPolicy replaces a device's policy (topic grants and limit overrides).
func (r *Registry) SetPolicy(ctx context.Context, id string, p store.Policy) (store.Device, error) {
	if err := CheckPolicy(p); err != nil {
		return store.Device{}, err
	}
	d, err := r.opts.Store.UpdateDevice(ctx, id, func(d *store.Device) error {
		d.Policy = p
		d.UpdatedAt = r.now().UTC()
		return nil
	})
	if err != nil {
		return d, err
	}
	r.notify(d)
	return d, nil
}

// SetModelPolicy sets the policy shared by every device of a model.
func (r *Registry) SetModelPolicy(ctx context.Context, p store.ModelPolicy) error {
	if p.Model == "" {
		return fmt.Errorf("%w: model is required", ErrBadRequest)
	}
	if err := CheckPolicy(p.Policy); err != nil {
		return err
	}
	if err := r.opts.Store.PutModelPolicy(ctx, p); err != nil {
		return err
	}
	if r.opts.Gateway != nil {
		r.opts.Gateway.SetModelPolicy(p)
	}
	return nil
}

// CheckPolicy validates topic grants and limits.
func CheckPolicy(p store.Policy) error {
	for _, f := range append(slices.Clone(p.Publish), p.Subscribe...) {
		if err := checkFilter(f); err != nil {
			return fmt.Errorf("%w: topic grant %q: %w", ErrBadRequest, f, err)
		}
	}
	if p.MaxMessageBytes < 0 || p.MessagesPerSecond < 0 || p.BytesPerSecond < 0 || p.ConnectsPerMinute < 0 {
		return fmt.Errorf("%w: limits must not be negative", ErrBadRequest)
	}
	return nil
}

func checkFilter(f string) error {
	if f == "" || len(f) > 1024 {
		return errors.New("must be 1-1024 characters")
	}
	if strings.ContainsRune(f, 0) {
		return errors.New("must not contain NUL")
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		if strings.Contains(l, "#") && (l != "#" || i != len(levels)-1) {
			return errors.New("'#' must be a whole last level")
		}
		if strings.Contains(l, "+") && l != "+" {
			return errors.New("'+' must be a whole level")
		}
	}
	return nil
}

func (r *Registry) notify(d store.Device) {
	if r.opts.Gateway != nil {
		r.opts.Gateway.SetDevice(d)
	}
}

// event records an operator-visible lifecycle event synchronously.
func (r *Registry) event(ctx context.Context, id, kind string, detail map[string]string) {
	e := store.Event{DeviceID: id, Time: r.now().UTC(), Kind: kind, Detail: detail}
	if err := r.opts.Store.AddEvents(context.WithoutCancel(ctx), []store.Event{e}); err != nil {
		r.log.Error("record device event", "device_id", id, "kind", kind, "err", err)
		return
	}
	r.observe(e)
}

// observe tells the observer of an event the store holds.
func (r *Registry) observe(e store.Event) {
	if r.opts.Observer != nil {
		r.opts.Observer.DeviceEvent(e)
	}
}

// View is a device with its certificates, recent events and connection state.
type View struct {
	store.Device
	Connected    int                 `json:"connected_sessions"`
	Certificates []store.Certificate `json:"certificates"`
	Events       []store.Event       `json:"events"`
}

// Get returns a device's full view.
func (r *Registry) Get(ctx context.Context, id string, events int) (View, error) {
	d, err := r.opts.Store.GetDevice(ctx, id)
	if err != nil {
		return View{}, err
	}
	v := View{Device: d}
	if v.Certificates, err = r.opts.Store.ListCertificates(ctx, id); err != nil {
		return v, err
	}
	if v.Events, err = r.opts.Store.ListEvents(ctx, id, events); err != nil {
		return v, err
	}
	counts, err := r.connectedCounts(ctx, []string{id})
	if err != nil {
		return v, err
	}
	v.Connected = counts[id]
	return v, nil
}

// List returns every device with its connection state and certificates.
func (r *Registry) List(ctx context.Context) ([]View, error) {
	ds, err := r.opts.Store.ListDevices(ctx)
	if err != nil {
		return nil, err
	}
	certs, err := r.opts.Store.ListCertificates(ctx, "")
	if err != nil {
		return nil, err
	}
	byDev := map[string][]store.Certificate{}
	for _, c := range certs {
		if c.DeviceID != "" {
			byDev[c.DeviceID] = append(byDev[c.DeviceID], c)
		}
	}
	ids := make([]string, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	counts, err := r.connectedCounts(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]View, len(ds))
	for i, d := range ds {
		out[i] = View{Device: d, Certificates: byDev[d.ID], Connected: counts[d.ID]}
	}
	return out, nil
}
