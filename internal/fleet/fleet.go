// Package fleet is Ward's device registry: it registers devices with a
// one-time enrollment token, enrolls and re-enrolls them through the CA,
// revokes, quarantines and releases them, and records their events. It
// keeps the gateway's in-memory view in step with every change.
//
// The registry owns the device lifecycle:
//
//	pending --enroll--> active --quarantine--> quarantined --release--> active
//	   active|quarantined --revoke--> revoked --new token + enroll--> active
package fleet

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/wardproject/ward/internal/pki"
	"github.com/wardproject/ward/internal/secret"
	"github.com/wardproject/ward/internal/store"
)

// Store is what the registry needs from storage.
type Store interface {
	CreateDevice(ctx context.Context, d store.Device) error
	GetDevice(ctx context.Context, id string) (store.Device, error)
	ListDevices(ctx context.Context) ([]store.Device, error)
	UpdateDevice(ctx context.Context, id string, fn func(*store.Device) error) (store.Device, error)
	PutModelPolicy(ctx context.Context, p store.ModelPolicy) error
	ListModelPolicies(ctx context.Context) ([]store.ModelPolicy, error)
	PutEnrollToken(ctx context.Context, t store.EnrollToken) error
	GetEnrollToken(ctx context.Context, deviceID string) (store.EnrollToken, error)
	EnrollDevice(ctx context.Context, e store.Enrollment) (store.Device, error)
	ListCertificates(ctx context.Context, deviceID string) ([]store.Certificate, error)
	GetCertificate(ctx context.Context, serial string) (store.Certificate, error)
	AddEvents(ctx context.Context, evs []store.Event) error
	ListEvents(ctx context.Context, deviceID string, limit int) ([]store.Event, error)
}

// CA signs and revokes device certificates. *pki.CA implements it.
type CA interface {
	// SignDeviceRecord signs and hands the record to record (the
	// registry's enrollment transaction) before returning the certificate.
	SignDeviceRecord(deviceID string, csr *x509.CertificateRequest, record func(store.Certificate) error) (*x509.Certificate, error)
	Revoke(ctx context.Context, serial, reason string) error
}

// Gateway is told about every change that affects admission. The gateway
// package's *Gateway implements it.
type Gateway interface {
	SetDevice(d store.Device)
	SetModelPolicy(p store.ModelPolicy)
	CertificateRevoked()
	Connected(id string) int
}

// Errors callers branch on.
var (
	ErrBadToken    = errors.New("enrollment token is wrong, used or expired")
	ErrQuarantined = errors.New("device is quarantined")
	ErrNotEnrolled = errors.New("device has no active certificate")
	ErrBadRequest  = errors.New("invalid request")
)

// Options configure a Registry. Store and CA are required.
type Options struct {
	Store    Store
	CA       CA
	Gateway  Gateway       // nil: none (tests, CLI-only)
	TokenTTL time.Duration // enrollment token lifetime; default 24h
	Logger   *slog.Logger
	Now      func() time.Time
}

// Registry is the device registry service.
type Registry struct {
	opts Options
	log  *slog.Logger
	now  func() time.Time
}

// New returns a Registry.
func New(opts Options) (*Registry, error) {
	if opts.Store == nil || opts.CA == nil {
		return nil, errors.New("fleet: Options.Store and Options.CA are required")
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = 24 * time.Hour
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Registry{opts: opts, log: opts.Logger.With("component", "fleet"), now: opts.Now}, nil
}

// SetGateway attaches the gateway after construction (the gateway needs
// the registry's event sink, the registry needs the gateway).
func (r *Registry) SetGateway(g Gateway) { r.opts.Gateway = g }

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

// Add registers a device in the pending state and returns its enrollment token.
func (r *Registry) Add(ctx context.Context, nd NewDevice) (store.Device, Enrollment, error) {
	if err := pki.CheckDeviceID(nd.ID); err != nil {
		return store.Device{}, Enrollment{}, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	if nd.Model == "" {
		return store.Device{}, Enrollment{}, fmt.Errorf("%w: model is required", ErrBadRequest)
	}
	for f, v := range map[string]string{"model": nd.Model, "firmware": nd.Firmware} {
		if err := checkText(f, v, 128); err != nil {
			return store.Device{}, Enrollment{}, err
		}
	}
	for _, t := range nd.Tags {
		if err := checkText("tag", t, 64); err != nil || t == "" {
			return store.Device{}, Enrollment{}, fmt.Errorf("%w: tags must be 1-64 printable characters", ErrBadRequest)
		}
	}
	if err := CheckPolicy(nd.Policy); err != nil {
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
// the previous token.
func (r *Registry) NewToken(ctx context.Context, id string, ttl time.Duration) (Enrollment, error) {
	d, err := r.opts.Store.GetDevice(ctx, id)
	if err != nil {
		return Enrollment{}, err
	}
	if d.Status == store.StatusQuarantined {
		return Enrollment{}, fmt.Errorf("new token for %s: %w; release it first", id, ErrQuarantined)
	}
	return r.newToken(ctx, id, ttl)
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
		return Enrollment{}, err
	}
	return Enrollment{Token: tok, ExpiresAt: t.ExpiresAt}, nil
}

// Authenticate checks a device's enrollment token without consuming it.
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

// Enroll issues a device's first (or replacement) certificate for a CSR,
// authenticated by the one-time token. The token is consumed only when a
// certificate is issued: a rejected CSR leaves it usable.
func (r *Registry) Enroll(ctx context.Context, id, token string, csrDER []byte) (*x509.Certificate, error) {
	if err := pki.CheckDeviceID(id); err != nil {
		return nil, fmt.Errorf("device %q: %w", id, ErrBadToken)
	}
	if err := r.Authenticate(ctx, id, token); err != nil {
		r.event(ctx, id, "enroll-refused", map[string]string{"reason": "bad-token"})
		return nil, err
	}
	csr, err := r.checkCSR(ctx, id, csrDER)
	if err != nil {
		return nil, err
	}
	d, err := r.opts.Store.GetDevice(ctx, id)
	if err != nil {
		return nil, err
	}
	if d.Status == store.StatusQuarantined {
		return nil, fmt.Errorf("enroll %s: %w", id, ErrQuarantined)
	}
	crt, err := r.issue(ctx, id, csr, secret.Hash(token), "enrolled")
	if errors.Is(err, store.ErrNotFound) { // the token was used meanwhile
		return nil, fmt.Errorf("device %s: %w", id, ErrBadToken)
	}
	if err != nil {
		return nil, err
	}
	return crt, nil
}

// Reenroll renews the certificate of a device authenticated by its current,
// valid certificate (EST simplereenroll). The old certificate stays valid
// until it expires, so a device can switch without a gap.
func (r *Registry) Reenroll(ctx context.Context, current *x509.Certificate, csrDER []byte) (*x509.Certificate, error) {
	id, err := pki.DeviceIDFromCert(current)
	if err != nil {
		return nil, fmt.Errorf("%w: client certificate: %w", ErrNotEnrolled, err)
	}
	rec, err := r.opts.Store.GetCertificate(ctx, pki.SerialHex(current.SerialNumber))
	if err != nil || rec.DeviceID != id {
		return nil, fmt.Errorf("reenroll %s: %w (certificate unknown to this CA)", id, ErrNotEnrolled)
	}
	if rec.Revoked() {
		return nil, fmt.Errorf("reenroll %s: %w (certificate revoked)", id, ErrNotEnrolled)
	}
	d, err := r.opts.Store.GetDevice(ctx, id)
	if err != nil {
		return nil, err
	}
	switch d.Status {
	case store.StatusQuarantined:
		return nil, fmt.Errorf("reenroll %s: %w", id, ErrQuarantined)
	case store.StatusActive:
	default:
		return nil, fmt.Errorf("reenroll %s: %w (status %s)", id, ErrNotEnrolled, d.Status)
	}
	csr, err := r.checkCSR(ctx, id, csrDER)
	if err != nil {
		return nil, err
	}
	return r.issue(ctx, id, csr, nil, "reenrolled")
}

func (r *Registry) checkCSR(ctx context.Context, id string, der []byte) (*x509.CertificateRequest, error) {
	csr, err := pki.ParseCSR(der)
	if err == nil {
		err = pki.CheckCSR(csr, id)
	}
	if err != nil {
		r.event(ctx, id, "enroll-refused", map[string]string{"reason": err.Error()})
		return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	return csr, nil
}

// issue signs a certificate and records, in one store transaction, the
// token's use (when tokenHash is set), the certificate, the device's
// activation and the event; the certificate is returned only once all of
// it is stored.
func (r *Registry) issue(ctx context.Context, id string, csr *x509.CertificateRequest, tokenHash []byte, kind string) (*x509.Certificate, error) {
	now := r.now().UTC()
	var d store.Device
	crt, err := r.opts.CA.SignDeviceRecord(id, csr, func(c store.Certificate) error {
		var err error
		d, err = r.opts.Store.EnrollDevice(ctx, store.Enrollment{DeviceID: id, TokenHash: tokenHash, Now: now, Cert: c,
			Event: store.Event{DeviceID: id, Time: now, Kind: kind, Detail: map[string]string{"serial": c.Serial, "not_after": c.NotAfter.UTC().Format(time.RFC3339)}}})
		return err
	})
	if err != nil {
		return nil, err
	}
	r.log.Info("device "+kind, "device_id", id, "serial", pki.SerialHex(crt.SerialNumber), "not_after", crt.NotAfter)
	r.notify(d)
	return crt, nil
}

// Revoke revokes every unrevoked certificate of the device, publishes the
// new CRL and disconnects the device's live sessions.
func (r *Registry) Revoke(ctx context.Context, id, reason string) (store.Device, []string, error) {
	if reason == "" {
		reason = "unspecified"
	}
	if err := checkText("reason", reason, 200); err != nil {
		return store.Device{}, nil, err
	}
	if _, err := r.opts.Store.GetDevice(ctx, id); err != nil {
		return store.Device{}, nil, err
	}
	certs, err := r.opts.Store.ListCertificates(ctx, id)
	if err != nil {
		return store.Device{}, nil, err
	}
	// The status goes first: the gateway refuses a revoked device even
	// before the CRL is re-signed.
	d, err := r.setStatus(ctx, id, store.StatusRevoked, "")
	if err != nil {
		return d, nil, err
	}
	var serials []string
	for _, c := range certs {
		if c.Revoked() {
			continue
		}
		if err := r.opts.CA.Revoke(ctx, c.Serial, reason); err != nil {
			return d, serials, fmt.Errorf("revoke device %s: %w", id, err)
		}
		serials = append(serials, c.Serial)
	}
	if r.opts.Gateway != nil {
		r.opts.Gateway.CertificateRevoked()
	}
	r.event(ctx, id, "revoked", map[string]string{"reason": reason, "serials": strings.Join(serials, ",")})
	r.log.Info("device revoked", "device_id", id, "certificates", len(serials))
	return d, serials, nil
}

// Quarantine disconnects a device without revoking it. In mode
// store.QuarantineRefuse ("" means it) the gateway then refuses the
// device; in store.QuarantineRestrict it admits the device to its
// quarantine topic tree only. Quarantining a quarantined device changes
// its mode.
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
	cur, err := r.opts.Store.GetDevice(ctx, id)
	if err != nil {
		return cur, err
	}
	if cur.Status == store.StatusRevoked {
		return cur, fmt.Errorf("%w: device %s is revoked", ErrBadRequest, id)
	}
	d, err := r.setStatus(ctx, id, store.StatusQuarantined, mode)
	if err != nil {
		return d, err
	}
	r.event(ctx, id, "quarantined", map[string]string{"reason": reason, "mode": string(mode)})
	r.log.Info("device quarantined", "device_id", id, "mode", mode)
	return d, nil
}

// Release lifts a quarantine.
func (r *Registry) Release(ctx context.Context, id string) (store.Device, error) {
	cur, err := r.opts.Store.GetDevice(ctx, id)
	if err != nil {
		return cur, err
	}
	if cur.Status != store.StatusQuarantined {
		return cur, fmt.Errorf("%w: device %s is %s, not quarantined", ErrBadRequest, id, cur.Status)
	}
	next := store.StatusActive
	certs, err := r.opts.Store.ListCertificates(ctx, id)
	if err != nil {
		return cur, err
	}
	if !slices.ContainsFunc(certs, func(c store.Certificate) bool { return !c.Revoked() && c.Kind == "device" }) {
		next = store.StatusPending
	}
	d, err := r.setStatus(ctx, id, next, "")
	if err != nil {
		return d, err
	}
	r.event(ctx, id, "released", nil)
	r.log.Info("device released", "device_id", id)
	return d, nil
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

// setStatus sets the device's status and quarantine mode ("" unless s is
// quarantined) and tells the gateway.
func (r *Registry) setStatus(ctx context.Context, id string, s store.DeviceStatus, mode store.QuarantineMode) (store.Device, error) {
	d, err := r.opts.Store.UpdateDevice(ctx, id, func(d *store.Device) error {
		d.Status, d.Quarantine = s, mode
		d.UpdatedAt = r.now().UTC()
		return nil
	})
	if err != nil {
		return d, fmt.Errorf("set device %s %s: %w", id, s, err)
	}
	r.notify(d)
	return d, nil
}

func (r *Registry) notify(d store.Device) {
	if r.opts.Gateway != nil {
		r.opts.Gateway.SetDevice(d)
	}
}

// event records an operator-visible lifecycle event synchronously.
func (r *Registry) event(ctx context.Context, id, kind string, detail map[string]string) {
	err := r.opts.Store.AddEvents(context.WithoutCancel(ctx), []store.Event{{DeviceID: id, Time: r.now().UTC(), Kind: kind, Detail: detail}})
	if err != nil {
		r.log.Error("record device event", "device_id", id, "kind", kind, "err", err)
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
	if r.opts.Gateway != nil {
		v.Connected = r.opts.Gateway.Connected(id)
	}
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
	out := make([]View, len(ds))
	for i, d := range ds {
		out[i] = View{Device: d, Certificates: byDev[d.ID]}
		if r.opts.Gateway != nil {
			out[i].Connected = r.opts.Gateway.Connected(d.ID)
		}
	}
	return out, nil
}
