package api

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wardproject/ward/internal/fleet"
	"github.com/wardproject/ward/internal/pki"
	"github.com/wardproject/ward/internal/store"
)

// AddDeviceRequest is the body of POST /api/v1/devices.
type AddDeviceRequest struct {
	ID       string       `json:"id"`
	Model    string       `json:"model"`
	Firmware string       `json:"firmware"`
	Tags     []string     `json:"tags,omitempty"`
	Policy   store.Policy `json:"policy"`
	// TokenTTL is the enrollment token lifetime, a Go duration ("24h").
	TokenTTL string `json:"token_ttl,omitempty"`
}

// EnrollmentResponse is a device with its new one-time enrollment token,
// answered by POST /api/v1/devices and POST /api/v1/devices/{id}/token.
type EnrollmentResponse struct {
	store.Device
	Token          string    `json:"token"`
	TokenExpiresAt time.Time `json:"token_expires_at"`
}

// ReasonRequest is the optional body of revoke and quarantine.
type ReasonRequest struct {
	Reason string `json:"reason,omitempty"`
	// Mode is the quarantine mode, "refuse" (the default) or "restrict";
	// quarantine only.
	Mode store.QuarantineMode `json:"mode,omitempty"`
}

// RevokeResponse answers POST /api/v1/devices/{id}/revoke.
type RevokeResponse struct {
	store.Device
	RevokedSerials []string `json:"revoked_serials"`
}

// TokenTTLRequest is the optional body of POST /api/v1/devices/{id}/token.
type TokenTTLRequest struct {
	TokenTTL string `json:"token_ttl,omitempty"`
}

func parseTTL(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 || d > 90*24*time.Hour {
		return 0, &Error{Status: http.StatusBadRequest, Public: "token_ttl must be a positive duration of at most 2160h, like \"24h\""}
	}
	return d, nil
}

// optionalBody decodes a JSON body if one was sent.
func optionalBody(w http.ResponseWriter, r *http.Request, v any) error {
	if r.ContentLength == 0 {
		return nil
	}
	return decode(w, r, v)
}

// Device list paging (GET /api/v1/devices).
const (
	// DefaultDevicePage is the page size when after is given without
	// limit.
	DefaultDevicePage = 100
	// MaxDevicePage is the largest limit.
	MaxDevicePage = store.MaxDeviceQueryLimit
)

// deviceListParams are the query parameters of GET /api/v1/devices, in
// the order the next page's URL repeats them.
var deviceListParams = []string{"q", "status", "model", "tag", "connected", "limit"}

// parseDeviceQuery reads GET /api/v1/devices' parameters. paged is false
// when neither limit nor after was given: the answer is then the whole
// (filtered) list, as before paging existed.
func parseDeviceQuery(v url.Values) (q fleet.Query, paged bool, err error) {
	bad := func(format string, a ...any) error {
		return &Error{Status: http.StatusBadRequest, Public: fmt.Sprintf(format, a...)}
	}
	for _, name := range append(slices.Clone(deviceListParams), "after") {
		if len(v[name]) > 1 {
			return q, false, bad("%s is given %d times; give it once", name, len(v[name]))
		}
	}
	q.Text, q.Model, q.Tag = v.Get("q"), v.Get("model"), v.Get("tag")
	for _, p := range []struct{ name, val string }{{"q", q.Text}, {"model", q.Model}, {"tag", q.Tag}} {
		if len(p.val) > store.MaxDeviceQueryText {
			return q, false, bad("%s is longer than %d bytes", p.name, store.MaxDeviceQueryText)
		}
	}
	if st := v.Get("status"); st != "" {
		q.Status = store.DeviceStatus(st)
		if !q.Status.Valid() {
			return q, false, bad("status %q is not one of pending, active, quarantined, revoked, retired", st)
		}
	}
	if c := v.Get("connected"); c != "" {
		b, err := strconv.ParseBool(c)
		if err != nil {
			return q, false, bad("connected %q is not true or false", c)
		}
		q.Connected = &b
	}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > MaxDevicePage {
			return q, false, bad("limit %q is not a whole number from 1 to %d", l, MaxDevicePage)
		}
		q.Limit, paged = n, true
	}
	if a, ok := v["after"]; ok {
		id, err := decodeCursor(a[0])
		if err != nil {
			return q, false, &Error{Status: http.StatusBadRequest, Public: err.Error()}
		}
		q.After, paged = id, true
	}
	if paged && q.Limit == 0 {
		q.Limit = DefaultDevicePage
	}
	return q, paged, nil
}

// listDevices answers GET /api/v1/devices: a JSON array of devices with
// their certificates, filtered by q, status, model, tag and connected.
// With limit or after it is one page, and a Link header (RFC 8288)
// rel="next" gives the next page's URL while there is one; without
// either it is every matching device, read page by page.
func (s *Server) listDevices(w http.ResponseWriter, r *http.Request) error {
	q, paged, err := parseDeviceQuery(r.URL.Query())
	if err != nil {
		return err
	}
	var vs []fleet.View
	if paged {
		var next string
		vs, next, err = s.opts.Registry.Query(r.Context(), q)
		if err != nil {
			return err
		}
		if next != "" {
			w.Header().Set("Link", "<"+nextDevicesURL(r.URL.Query(), q.Limit, next)+`>; rel="next"`)
		}
	} else {
		q.Limit = MaxDevicePage
		for {
			page, next, err := s.opts.Registry.Query(r.Context(), q)
			if err != nil {
				return err
			}
			vs = append(vs, page...)
			if next == "" {
				break
			}
			q.After = next
		}
	}
	if vs == nil {
		vs = []fleet.View{}
	}
	for i := range vs {
		vs[i].Certificates = nonNilCerts(vs[i].Certificates)
		vs[i].Events = []store.Event{}
	}
	writeJSON(w, http.StatusOK, vs)
	return nil
}

// nextDevicesURL is the path and query of the page after cursor: the
// request's filters, its limit and the new cursor.
func nextDevicesURL(in url.Values, limit int, cursor string) string {
	out := url.Values{}
	for _, name := range deviceListParams {
		if v := in.Get(name); v != "" {
			out.Set(name, v)
		}
	}
	out.Set("limit", strconv.Itoa(limit))
	out.Set("after", encodeCursor(cursor))
	return "/api/v1/devices?" + out.Encode()
}

func nonNilCerts(c []store.Certificate) []store.Certificate {
	if c == nil {
		return []store.Certificate{}
	}
	return c
}

func (s *Server) addDevice(w http.ResponseWriter, r *http.Request) error {
	var req AddDeviceRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	ttl, err := parseTTL(req.TokenTTL)
	if err != nil {
		return err
	}
	d, en, err := s.opts.Registry.Add(r.Context(), fleet.NewDevice{ID: req.ID, Model: req.Model, Firmware: req.Firmware, Tags: req.Tags, Policy: req.Policy, TokenTTL: ttl})
	if err != nil {
		return err
	}
	s.audit(r, "device.add", d.ID, map[string]string{"model": d.Model})
	writeJSON(w, http.StatusCreated, EnrollmentResponse{Device: d, Token: en.Token.Reveal(), TokenExpiresAt: en.ExpiresAt})
	return nil
}

func (s *Server) getDevice(w http.ResponseWriter, r *http.Request) error {
	n, _ := strconv.Atoi(r.URL.Query().Get("events"))
	if n <= 0 || n > 1000 {
		n = 20
	}
	v, err := s.opts.Registry.Get(r.Context(), r.PathValue("id"), n)
	if err != nil {
		return err
	}
	v.Certificates = nonNilCerts(v.Certificates)
	if v.Events == nil {
		v.Events = []store.Event{}
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) deviceEvents(w http.ResponseWriter, r *http.Request) error {
	return s.events(w, r, r.PathValue("id"))
}

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) error {
	return s.events(w, r, r.URL.Query().Get("device"))
}

func (s *Server) events(w http.ResponseWriter, r *http.Request, id string) error {
	n, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	if n <= 0 || n > 10000 {
		n = 100
	}
	evs, err := s.opts.Store.ListEvents(r.Context(), id, n)
	if err != nil {
		return err
	}
	if evs == nil {
		evs = []store.Event{}
	}
	writeJSON(w, http.StatusOK, evs)
	return nil
}

func (s *Server) deviceToken(w http.ResponseWriter, r *http.Request) error {
	var req TokenTTLRequest
	if err := optionalBody(w, r, &req); err != nil {
		return err
	}
	ttl, err := parseTTL(req.TokenTTL)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	en, err := s.opts.Registry.NewToken(r.Context(), id, ttl)
	if err != nil {
		return err
	}
	s.audit(r, "device.token", id, nil)
	v, err := s.opts.Registry.Get(r.Context(), id, 0)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, EnrollmentResponse{Device: v.Device, Token: en.Token.Reveal(), TokenExpiresAt: en.ExpiresAt})
	return nil
}

func (s *Server) revokeDevice(w http.ResponseWriter, r *http.Request) error {
	return s.endDevice(w, r, "device.revoke", s.opts.Registry.Revoke)
}

func (s *Server) retireDevice(w http.ResponseWriter, r *http.Request) error {
	return s.endDevice(w, r, "device.retire", s.opts.Registry.Retire)
}

// endDevice revokes or retires a device. The registry completes the
// transition even when the client goes away; the audit entry is written
// with the request's context detached for the same reason.
func (s *Server) endDevice(w http.ResponseWriter, r *http.Request, action string,
	end func(ctx context.Context, id, reason string) (store.Device, []string, error)) error {
	var req ReasonRequest
	if err := optionalBody(w, r, &req); err != nil {
		return err
	}
	d, serials, err := end(r.Context(), r.PathValue("id"), req.Reason)
	if err != nil && d.ID == "" {
		return err
	}
	if serials == nil {
		serials = []string{}
	}
	s.audit(r.WithContext(context.WithoutCancel(r.Context())), action, d.ID, map[string]string{"reason": req.Reason, "serials": strings.Join(serials, ",")})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, RevokeResponse{Device: d, RevokedSerials: serials})
	return nil
}

func (s *Server) quarantineDevice(w http.ResponseWriter, r *http.Request) error {
	var req ReasonRequest
	if err := optionalBody(w, r, &req); err != nil {
		return err
	}
	d, err := s.opts.Registry.Quarantine(r.Context(), r.PathValue("id"), req.Reason, req.Mode)
	if err != nil {
		return err
	}
	s.audit(r, "device.quarantine", d.ID, map[string]string{"reason": req.Reason, "mode": string(d.Quarantine)})
	writeJSON(w, http.StatusOK, d)
	return nil
}

func (s *Server) releaseDevice(w http.ResponseWriter, r *http.Request) error {
	d, err := s.opts.Registry.Release(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	s.audit(r, "device.release", d.ID, nil)
	writeJSON(w, http.StatusOK, d)
	return nil
}

func (s *Server) setPolicy(w http.ResponseWriter, r *http.Request) error {
	var p store.Policy
	if err := decode(w, r, &p); err != nil {
		return err
	}
	d, err := s.opts.Registry.SetPolicy(r.Context(), r.PathValue("id"), p)
	if err != nil {
		return err
	}
	s.audit(r, "device.policy", d.ID, nil)
	writeJSON(w, http.StatusOK, d)
	return nil
}

func (s *Server) listModels(w http.ResponseWriter, r *http.Request) error {
	ps, err := s.opts.Store.ListModelPolicies(r.Context())
	if err != nil {
		return err
	}
	if ps == nil {
		ps = []store.ModelPolicy{}
	}
	writeJSON(w, http.StatusOK, ps)
	return nil
}

func (s *Server) setModelPolicy(w http.ResponseWriter, r *http.Request) error {
	var p store.Policy
	if err := decode(w, r, &p); err != nil {
		return err
	}
	mp := store.ModelPolicy{Model: r.PathValue("model"), Policy: p}
	if err := s.opts.Registry.SetModelPolicy(r.Context(), mp); err != nil {
		return err
	}
	s.audit(r, "model.policy", mp.Model, nil)
	writeJSON(w, http.StatusOK, mp)
	return nil
}

// CAInfo answers GET /api/v1/ca.
type CAInfo struct {
	RootSubject       string    `json:"root_subject"`
	RootFingerprint   string    `json:"root_fingerprint_sha256"`
	RootNotAfter      time.Time `json:"root_not_after"`
	IssuerSubject     string    `json:"issuer_subject"`
	IssuerFingerprint string    `json:"issuer_fingerprint_sha256"`
	IssuerNotAfter    time.Time `json:"issuer_not_after"`
	CRLNumber         string    `json:"crl_number"`
	CRLThisUpdate     time.Time `json:"crl_this_update"`
	CRLNextUpdate     time.Time `json:"crl_next_update"`
	RevokedCount      int       `json:"crl_revoked_count"`
	RootPEM           string    `json:"root_pem"`
	ChainPEM          string    `json:"chain_pem"`
}

func (s *Server) caInfo(w http.ResponseWriter, r *http.Request) error {
	root, iss := s.opts.CA.Root(), s.opts.CA.Issuer()
	info := CAInfo{
		RootSubject: root.Subject.String(), RootFingerprint: pki.Fingerprint(root), RootNotAfter: root.NotAfter,
		IssuerSubject: iss.Subject.String(), IssuerFingerprint: pki.Fingerprint(iss), IssuerNotAfter: iss.NotAfter,
		RootPEM: string(s.opts.CA.RootPEM()), ChainPEM: string(s.opts.CA.ChainPEM()),
	}
	if rl, err := parseCRL(s.opts.CA.CRL()); err == nil {
		info.CRLNumber = rl.Number.String()
		info.CRLThisUpdate, info.CRLNextUpdate = rl.ThisUpdate, rl.NextUpdate
		info.RevokedCount = len(rl.RevokedCertificateEntries)
	}
	writeJSON(w, http.StatusOK, info)
	return nil
}

// CertificateView is a certificate as the API lists it.
type CertificateView struct {
	store.Certificate
	PEM string `json:"pem,omitempty"`
}

func (s *Server) listCerts(w http.ResponseWriter, r *http.Request) error {
	cs, err := s.opts.Store.ListCertificates(r.Context(), r.URL.Query().Get("device"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, nonNilCerts(cs))
	return nil
}

// CreateTokenRequest is the body of POST /api/v1/tokens.
type CreateTokenRequest struct {
	Name string     `json:"name"`
	Role store.Role `json:"role"`
	TTL  string     `json:"ttl,omitempty"` // 1m to 8760h; "": 2160h (90 days)
}

// CreateTokenResponse carries a new operator token, shown once.
type CreateTokenResponse struct {
	store.APIToken
	Token string `json:"token"`
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) error {
	ts, err := s.opts.Store.ListAPITokens(r.Context())
	if err != nil {
		return err
	}
	if ts == nil {
		ts = []store.APIToken{}
	}
	writeJSON(w, http.StatusOK, ts) // Hash is never serialised (json:"-")
	return nil
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error {
	var req CreateTokenRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	var ttl time.Duration
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil {
			return &Error{Status: http.StatusBadRequest, Public: "ttl must be a duration between 1m and 8760h, like \"720h\""}
		}
		if err := CheckTokenTTL(d); err != nil {
			return &Error{Status: http.StatusBadRequest, Public: err.Error(), Err: err}
		}
		ttl = d
	}
	if !req.Role.Valid() {
		return &Error{Status: http.StatusBadRequest, Public: "role must be admin, operator, viewer or provisioning"}
	}
	tok, t, err := CreateToken(r.Context(), s.opts.Store, req.Name, req.Role, ttl, s.now())
	if err != nil {
		return &Error{Status: http.StatusBadRequest, Public: err.Error(), Err: err}
	}
	s.log.Info("api token created", "token_id", t.ID, "role", t.Role, "by", actor(r))
	s.audit(r, "token.create", t.ID, map[string]string{"role": string(t.Role)})
	writeJSON(w, http.StatusCreated, CreateTokenResponse{APIToken: t, Token: tok.Reveal()})
	return nil
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if _, err := hex.DecodeString(id); err != nil || len(id) != 16 {
		return &Error{Status: http.StatusBadRequest, Public: "token id is 16 hex characters (the part after ward_)"}
	}
	if err := s.opts.Store.RevokeAPIToken(r.Context(), strings.ToLower(id), s.now().UTC()); err != nil {
		return err
	}
	s.audit(r, "token.revoke", id, nil)
	s.endStreams(PrincipalToken + ":" + strings.ToLower(id))
	w.WriteHeader(http.StatusNoContent)
	return nil
}
