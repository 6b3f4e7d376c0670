// Package est is Ward's Enrollment over Secure Transport front-end (RFC
// 7030) over the CA and the device registry: /.well-known/est/cacerts,
// simpleenroll (HTTP Basic: device id + one-time token), simplereenroll
// (mutual TLS with the current certificate) and csrattrs. Bodies are base64
// DER as the RFC requires: PKCS#10 in, PKCS#7 certs-only out (built with
// github.com/smallstep/pkcs7). Errors are HTTP statuses with a plain-text
// body that says what to fix.
package est

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/smallstep/pkcs7"

	"github.com/wardproject/ward/internal/fleet"
	"github.com/wardproject/ward/internal/ratelimit"
	"github.com/wardproject/ward/internal/store"
)

// Enroller issues device certificates. *fleet.Registry implements it.
type Enroller interface {
	Enroll(ctx context.Context, id, token string, csrDER []byte) (*x509.Certificate, error)
	Reenroll(ctx context.Context, current *x509.Certificate, csrDER []byte) (*x509.Certificate, error)
}

// Options configure the EST handler. Enroller and Chain are required.
type Options struct {
	Enroller Enroller
	// Chain returns the CA certificates served by /cacerts, issuer first.
	Chain   func() []*x509.Certificate
	Limits  Limits
	Logger  *slog.Logger
	Metrics prometheus.Registerer
	Now     func() time.Time // nil: time.Now (drives the rate limits)
}

// Limits bound what one source or one device ID may ask of EST; zero
// fields take the defaults, which are config's (est.source_rate,
// est.source_burst, est.device_attempts_per_hour). A refused request gets
// 429 with Retry-After and a plain-text body.
type Limits struct {
	// SourceRate and SourceBurst: requests per second, and at once, per
	// source (an IPv4 address or an IPv6 /64) over every EST route.
	SourceRate  float64
	SourceBurst int
	// DeviceAttemptsPerHour: simpleenroll attempts per device ID (the
	// Basic-auth user name), at once and per hour. It is checked after the
	// source's limit, so a flood from one source does not use it up.
	DeviceAttemptsPerHour int
}

// Default limits (see Limits).
const (
	DefaultSourceRate            = 20
	DefaultSourceBurst           = 200
	DefaultDeviceAttemptsPerHour = 20
)

// MaxBodyBytes bounds EST request bodies (a base64 CSR is a few hundred bytes).
const MaxBodyBytes = 32 << 10

// Handler serves the EST endpoints under /.well-known/est/.
type Handler struct {
	opts     Options
	log      *slog.Logger
	requests *prometheus.CounterVec
	limited  *prometheus.CounterVec
	mux      *http.ServeMux
	bySource *ratelimit.Limiter
	byDevice *ratelimit.Limiter
	logs     *ratelimit.Limiter // refusal log lines, one bucket for all
}

// Refusal log lines are rate-limited as a whole (a flood from many
// sources must not flood the log): bursts of 50, then 5 a second. The
// metrics count every refusal.
const (
	refusalLogBurst = 50
	refusalLogRate  = 5
)

// New returns the EST handler.
func New(opts Options) (*Handler, error) {
	if opts.Enroller == nil || opts.Chain == nil {
		return nil, errors.New("est: Options.Enroller and Options.Chain are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Limits.SourceRate == 0 {
		opts.Limits.SourceRate = DefaultSourceRate
	}
	if opts.Limits.SourceBurst == 0 {
		opts.Limits.SourceBurst = DefaultSourceBurst
	}
	if opts.Limits.DeviceAttemptsPerHour == 0 {
		opts.Limits.DeviceAttemptsPerHour = DefaultDeviceAttemptsPerHour
	}
	bySource, err := ratelimit.New(ratelimit.Options{Rate: opts.Limits.SourceRate, Burst: opts.Limits.SourceBurst, Now: opts.Now})
	if err != nil {
		return nil, fmt.Errorf("est source limit: %w", err)
	}
	n := opts.Limits.DeviceAttemptsPerHour
	byDevice, err := ratelimit.New(ratelimit.Options{Rate: float64(n) / 3600, Burst: n, Now: opts.Now})
	if err != nil {
		return nil, fmt.Errorf("est device limit: %w", err)
	}
	f := promauto.With(opts.Metrics)
	h := &Handler{opts: opts, log: opts.Logger.With("component", "est"),
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "ward_est_requests_total", Help: "EST requests by operation and result.",
		}, []string{"operation", "result"}),
		limited: f.NewCounterVec(prometheus.CounterOpts{
			Name: "ward_est_rate_limited_total", Help: "EST requests refused with 429, by operation and the limit hit (source or device).",
		}, []string{"operation", "limit"}),
		mux:      http.NewServeMux(),
		bySource: bySource, byDevice: byDevice,
	}
	if h.logs, err = ratelimit.New(ratelimit.Options{Rate: refusalLogRate, Burst: refusalLogBurst, MaxKeys: 1, Now: opts.Now}); err != nil {
		return nil, err
	}
	h.mux.HandleFunc("GET /.well-known/est/cacerts", h.cacerts)
	h.mux.HandleFunc("POST /.well-known/est/simpleenroll", h.simpleenroll)
	h.mux.HandleFunc("POST /.well-known/est/simplereenroll", h.simplereenroll)
	h.mux.HandleFunc("GET /.well-known/est/csrattrs", h.csrattrs)
	return h, nil
}

// ServeHTTP implements http.Handler. Every request first spends a token of
// its source's budget.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if ok, wait := h.bySource.Allow(ratelimit.SourceKey(r.RemoteAddr)); !ok {
		h.tooMany(w, operation(r.URL.Path), "source", wait,
			"too many EST requests from this address")
		return
	}
	h.mux.ServeHTTP(w, r)
}

// operation names an EST path for the metrics: one of the four operations
// or "other", so that the label stays bounded.
func operation(path string) string {
	switch op := strings.TrimPrefix(path, "/.well-known/est/"); op {
	case "cacerts", "simpleenroll", "simplereenroll", "csrattrs":
		return op
	}
	return "other"
}

// tooMany answers 429 with Retry-After and a plain-text body, as RFC 7030
// section 4.2.3 answers a client that must come back later. It is not
// logged: a flood would flood the log; the metric counts it.
func (h *Handler) tooMany(w http.ResponseWriter, op, limit string, wait time.Duration, msg string) {
	h.limited.WithLabelValues(op, limit).Inc()
	after := ratelimit.RetryAfter(wait)
	w.Header().Set("Retry-After", after)
	h.fail(w, op, http.StatusTooManyRequests, msg+"; retry after "+after+" seconds")
}

func (h *Handler) fail(w http.ResponseWriter, op string, status int, msg string) {
	h.requests.WithLabelValues(op, http.StatusText(status)).Inc()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="ward-est", charset="UTF-8"`)
	}
	w.WriteHeader(status)
	io.WriteString(w, msg+"\n")
}

// writeBase64 writes body base64-encoded in 76-column lines as RFC 7030
// (via RFC 2045) expects, with LF line ends so that coreutils base64 -d
// decodes it as is (every EST client we know accepts both).
func writeBase64(w http.ResponseWriter, contentType string, body []byte) {
	enc := base64.StdEncoding.EncodeToString(body)
	var b strings.Builder
	for len(enc) > 76 {
		b.WriteString(enc[:76])
		b.WriteString("\n")
		enc = enc[76:]
	}
	b.WriteString(enc)
	b.WriteString("\n")
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Transfer-Encoding", "base64")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, b.String())
}

// CertsOnly encodes certificates as a degenerate PKCS#7 SignedData.
func CertsOnly(certs ...*x509.Certificate) ([]byte, error) {
	var raw []byte
	for _, c := range certs {
		raw = append(raw, c.Raw...)
	}
	return pkcs7.DegenerateCertificate(raw)
}

func (h *Handler) cacerts(w http.ResponseWriter, r *http.Request) {
	p7, err := CertsOnly(h.opts.Chain()...)
	if err != nil {
		h.log.Error("encode CA certificates", "err", err)
		h.fail(w, "cacerts", http.StatusInternalServerError, "internal error")
		return
	}
	h.requests.WithLabelValues("cacerts", "OK").Inc()
	writeBase64(w, "application/pkcs7-mime", p7)
}

// DecodeCSRBody decodes an EST request body: base64 (whitespace allowed) of
// a DER PKCS#10 request. A PEM request is accepted too, for convenience.
func DecodeCSRBody(body []byte) ([]byte, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, errors.New("empty body: send the base64 DER PKCS#10 request")
	}
	if bytes.HasPrefix(trimmed, []byte("-----BEGIN")) {
		lines := bytes.Split(trimmed, []byte("\n"))
		var inner [][]byte
		for _, l := range lines {
			if !bytes.HasPrefix(bytes.TrimSpace(l), []byte("-----")) {
				inner = append(inner, l)
			}
		}
		trimmed = bytes.Join(inner, nil)
	}
	clean := bytes.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, trimmed)
	der, err := base64.StdEncoding.DecodeString(string(clean))
	if err != nil {
		if der2, err2 := base64.RawStdEncoding.DecodeString(string(clean)); err2 == nil {
			return der2, nil
		}
		return nil, fmt.Errorf("body is not base64: %w (RFC 7030 requires base64 DER PKCS#10, e.g. openssl req -outform DER | base64)", err)
	}
	return der, nil
}

func (h *Handler) readCSR(w http.ResponseWriter, r *http.Request, op string) ([]byte, bool) {
	ct := strings.ToLower(strings.TrimSpace(strings.Split(r.Header.Get("Content-Type"), ";")[0]))
	if ct != "application/pkcs10" && ct != "" {
		h.fail(w, op, http.StatusUnsupportedMediaType, "Content-Type must be application/pkcs10")
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		h.fail(w, op, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over %d bytes", MaxBodyBytes))
		return nil, false
	}
	der, err := DecodeCSRBody(body)
	if err != nil {
		h.fail(w, op, http.StatusBadRequest, err.Error())
		return nil, false
	}
	return der, true
}

func (h *Handler) respondCert(w http.ResponseWriter, op string, crt *x509.Certificate, err error) {
	if err != nil {
		status := http.StatusInternalServerError
		msg := "internal error"
		var soon *fleet.TooSoonError
		switch {
		case errors.Is(err, fleet.ErrBadToken), errors.Is(err, fleet.ErrNotEnrolled):
			status, msg = http.StatusUnauthorized, err.Error()
		case errors.Is(err, fleet.ErrQuarantined):
			status, msg = http.StatusForbidden, err.Error()
		case errors.As(err, &soon):
			status, msg = http.StatusTooManyRequests, err.Error()
			w.Header().Set("Retry-After", ratelimit.RetryAfter(soon.RetryAt.Sub(h.opts.Now())))
		case errors.Is(err, fleet.ErrBadRequest):
			status, msg = http.StatusBadRequest, err.Error()
		case errors.Is(err, store.ErrNotFound):
			status, msg = http.StatusUnauthorized, "unknown device or wrong token"
		default:
			h.log.Error("enroll", "operation", op, "err", err)
		}
		h.fail(w, op, status, msg)
		return
	}
	p7, err := CertsOnly(crt)
	if err != nil {
		h.log.Error("encode certificate", "err", err)
		h.fail(w, op, http.StatusInternalServerError, "internal error")
		return
	}
	h.requests.WithLabelValues(op, "OK").Inc()
	writeBase64(w, "application/pkcs7-mime; smime-type=certs-only", p7)
}

func (h *Handler) simpleenroll(w http.ResponseWriter, r *http.Request) {
	id, token, ok := r.BasicAuth()
	if !ok || id == "" || token == "" {
		h.fail(w, "simpleenroll", http.StatusUnauthorized, "authenticate with HTTP Basic: username = device id, password = enrollment token")
		return
	}
	if ok, wait := h.byDevice.Allow(safeID(id)); !ok {
		h.tooMany(w, "simpleenroll", "device", wait, "too many enrollment attempts for this device ID")
		return
	}
	der, ok := h.readCSR(w, r, "simpleenroll")
	if !ok {
		return
	}
	crt, err := h.opts.Enroller.Enroll(r.Context(), id, token, der)
	if err != nil && h.logRefusal() {
		h.log.Warn("enrollment refused", "device_id", safeID(id), "remote_addr", r.RemoteAddr, "err", err)
	}
	h.respondCert(w, "simpleenroll", crt, err)
}

func (h *Handler) simplereenroll(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
		h.fail(w, "simplereenroll", http.StatusUnauthorized, "simplereenroll needs the device's current certificate over mutual TLS")
		return
	}
	der, ok := h.readCSR(w, r, "simplereenroll")
	if !ok {
		return
	}
	crt, err := h.opts.Enroller.Reenroll(r.Context(), r.TLS.VerifiedChains[0][0], der)
	if err != nil && h.logRefusal() {
		h.log.Warn("re-enrollment refused", "remote_addr", r.RemoteAddr, "err", err)
	}
	h.respondCert(w, "simplereenroll", crt, err)
}

// logRefusal reports whether a refusal may be logged now.
func (h *Handler) logRefusal() bool {
	ok, _ := h.logs.Allow("")
	return ok
}

func safeID(id string) string {
	if len(id) > 128 {
		id = id[:128]
	}
	return id
}

var (
	oidECDSAWithSHA256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECPublicKey     = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidP256            = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
	oidCommonName      = asn1.ObjectIdentifier{2, 5, 4, 3}
)

// CSRAttrs is the DER CsrAttrs (RFC 7030 §4.5.2) Ward answers: an ECDSA
// P-256 key, signed with ecdsa-with-SHA256, and a subject common name (the
// device ID).
func CSRAttrs() []byte {
	type attr struct {
		Type   asn1.ObjectIdentifier
		Values []asn1.ObjectIdentifier `asn1:"set"`
	}
	a, _ := asn1.Marshal(oidECDSAWithSHA256)
	b, _ := asn1.Marshal(attr{Type: oidECPublicKey, Values: []asn1.ObjectIdentifier{oidP256}})
	c, _ := asn1.Marshal(oidCommonName)
	seq, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: append(append(a, b...), c...)})
	return seq
}

func (h *Handler) csrattrs(w http.ResponseWriter, r *http.Request) {
	h.requests.WithLabelValues("csrattrs", "OK").Inc()
	writeBase64(w, "application/csrattrs", CSRAttrs())
}
