package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wardproject/ward/internal/est"
	"github.com/wardproject/ward/internal/pki"
)

// The device identity files in the agent's directory (from ward enroll).
const (
	KeyFile  = "device.key"
	CertFile = "device.pem"
	CAFile   = "ca.pem"
)

// Identity is the device's current key and certificate. TLS clients built
// on it (ClientTLS) present whatever is current, so a renewed certificate
// is used by every new connection.
type Identity struct {
	dir string

	mu   sync.Mutex
	cert tls.Certificate
}

// LoadIdentity reads DIR/device.pem and DIR/device.key.
func LoadIdentity(dir string) (*Identity, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile))
	if err != nil {
		return nil, fmt.Errorf("load the device certificate from %s (run ward enroll --dir %s first): %w", dir, dir, err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, err
		}
	}
	if _, err := pki.DeviceIDFromCert(cert.Leaf); err != nil {
		return nil, err
	}
	return &Identity{dir: dir, cert: cert}, nil
}

// Certificate returns the current certificate and key.
func (i *Identity) Certificate() tls.Certificate {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.cert
}

// Leaf returns the current certificate.
func (i *Identity) Leaf() *x509.Certificate { c := i.Certificate(); return c.Leaf }

// ID returns the device ID the certificate names.
func (i *Identity) ID() string {
	id, _ := pki.DeviceIDFromCert(i.Leaf())
	return id
}

// ClientTLS is a client TLS configuration that trusts roots and presents
// the identity's current certificate.
func (i *Identity) ClientTLS(roots *x509.CertPool) *tls.Config {
	c := pki.ClientConfig(roots, nil)
	c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		cert := i.Certificate()
		return &cert, nil
	}
	return c
}

// replace writes the new key and certificate atomically (key 0600) and
// makes them current.
func (i *Identity) replace(cert tls.Certificate, keyPEM []byte) error {
	if err := pki.WriteSecretFile(filepath.Join(i.dir, KeyFile), keyPEM); err != nil {
		return fmt.Errorf("write %s: %w", KeyFile, err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Leaf.Raw})
	if err := pki.WritePublicFile(filepath.Join(i.dir, CertFile), certPEM); err != nil {
		return fmt.Errorf("write %s: %w", CertFile, err)
	}
	i.mu.Lock()
	i.cert = cert
	i.mu.Unlock()
	return nil
}

// RenewerOptions configure a Renewer. Identity and EST are required.
type RenewerOptions struct {
	Identity *Identity
	EST      *est.Client // Server and Roots set; the identity's certificate authenticates
	// At is the fraction of the certificate's lifetime after which it is
	// renewed (default 2/3).
	At float64
	// OnRenewed runs after a new certificate is in place (reconnect MQTT,
	// drop idle HTTPS connections).
	OnRenewed func()
	// Retry bounds the wait between failed attempts (Base default 1m,
	// Max default 6h); a 429 Retry-After is honoured.
	Retry   Retry
	Sleep   Sleeper          // nil: SleepContext
	Now     func() time.Time // nil: time.Now
	Logger  *slog.Logger     // nil: discard
	Metrics prometheus.Registerer
}

// Renewer keeps the device certificate current over EST simplereenroll
// (RFC 7030 §4.2.2).
type Renewer struct {
	opts     RenewerOptions
	log      *slog.Logger
	renewals *prometheus.CounterVec

	mu      sync.Mutex
	lastErr error
}

// NewRenewer checks opts and fills defaults.
func NewRenewer(opts RenewerOptions) (*Renewer, error) {
	if opts.Identity == nil || opts.EST == nil {
		return nil, errors.New("agent: RenewerOptions.Identity and EST are required")
	}
	if opts.At == 0 {
		opts.At = 2.0 / 3
	}
	if opts.At <= 0 || opts.At >= 1 {
		return nil, fmt.Errorf("--renew-at %v: want a fraction of the lifetime between 0 and 1", opts.At)
	}
	if opts.Retry.Base <= 0 {
		opts.Retry.Base = time.Minute
	}
	if opts.Retry.Max <= 0 {
		opts.Retry.Max = 6 * time.Hour
	}
	if opts.Sleep == nil {
		opts.Sleep = SleepContext
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Renewer{opts: opts, log: opts.Logger.With("component", "renew"),
		renewals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ward_agent_certificate_renewals_total", Help: "Certificate renewals over EST by result (ok, failed)."}, []string{"result"})}
	if opts.Metrics != nil {
		if err := opts.Metrics.Register(r.renewals); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Due returns when the current certificate should be renewed.
func (r *Renewer) Due() time.Time {
	leaf := r.opts.Identity.Leaf()
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	return leaf.NotBefore.Add(time.Duration(float64(life) * r.opts.At))
}

// LastError returns the last renewal failure, nil after a success.
func (r *Renewer) LastError() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastErr
}

// Run renews the certificate each time it is due until ctx ends; a
// failure is logged with its reason, counted, kept for LastError and
// retried with backoff.
func (r *Renewer) Run(ctx context.Context) error {
	failures := 0
	for {
		wait := r.Due().Sub(r.opts.Now())
		if failures > 0 {
			wait = r.opts.Retry.backoff(failures)
			var se *est.ServerError
			if errors.As(r.LastError(), &se) && se.RetryAfter > 0 {
				wait = se.RetryAfter
			}
		}
		if wait > 0 {
			if err := r.opts.Sleep(ctx, wait); err != nil {
				return nil
			}
		}
		if err := r.RenewNow(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			failures++
			continue
		}
		failures = 0
	}
}

// RenewNow re-enrolls once: a new key, a CSR for the same device ID,
// simplereenroll authenticated by the current certificate.
func (r *Renewer) RenewNow(ctx context.Context) error {
	err := r.renew(ctx)
	r.mu.Lock()
	r.lastErr = err
	r.mu.Unlock()
	if err != nil {
		r.renewals.WithLabelValues("failed").Inc()
		r.log.Error("certificate renewal failed", "err", err, "expires", r.opts.Identity.Leaf().NotAfter)
		return err
	}
	r.renewals.WithLabelValues("ok").Inc()
	leaf := r.opts.Identity.Leaf()
	r.log.Info("certificate renewed", "serial", pki.SerialHex(leaf.SerialNumber), "valid_until", leaf.NotAfter, "next_renewal", r.Due())
	if r.opts.OnRenewed != nil {
		r.opts.OnRenewed()
	}
	return nil
}

func (r *Renewer) renew(ctx context.Context) error {
	id := r.opts.Identity
	cur := id.Certificate()
	if now := r.opts.Now(); now.After(cur.Leaf.NotAfter) {
		return fmt.Errorf("renew certificate: it expired at %s, and EST re-enrollment needs a valid one: enroll again with a new token (ward device token, then ward enroll)", cur.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	key, err := est.NewDeviceKey()
	if err != nil {
		return err
	}
	csr, err := est.NewCSR(id.ID(), key)
	if err != nil {
		return err
	}
	crt, err := r.opts.EST.Reenroll(ctx, cur, csr)
	if err != nil {
		var se *est.ServerError
		switch {
		case errors.As(err, &se) && se.Status == http.StatusTooManyRequests:
			return fmt.Errorf("renew certificate: the server allows one re-enrollment per interval; retrying after %s: %w", se.RetryAfter, err)
		case errors.As(err, &se) && (se.Status == http.StatusUnauthorized || se.Status == http.StatusForbidden):
			return fmt.Errorf("renew certificate: the server refused this device (revoked, retired or quarantined?): %w", err)
		case errors.As(err, &se):
			return fmt.Errorf("renew certificate: %w", err)
		}
		return fmt.Errorf("renew certificate: %s", Explain(err))
	}
	if got, err := pki.DeviceIDFromCert(crt); err != nil || got != id.ID() {
		return fmt.Errorf("renew certificate: the server issued a certificate for %q, not %q: not used", got, id.ID())
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	next := tls.Certificate{Certificate: [][]byte{crt.Raw}, PrivateKey: key, Leaf: crt}
	return id.replace(next, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}))
}
