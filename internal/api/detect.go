package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wardproject/ward/internal/alert"
	"github.com/wardproject/ward/internal/auditlog"
	"github.com/wardproject/ward/internal/buildinfo"
	"github.com/wardproject/ward/internal/detect"
	"github.com/wardproject/ward/internal/store"
)

// Alerts is the alert lifecycle the API exposes. *alert.Manager implements it.
type Alerts interface {
	List(ctx context.Context, f alert.Filter) ([]alert.Alert, error)
	Get(ctx context.Context, id string) (alert.Alert, error)
	Acknowledge(ctx context.Context, id, by string) (alert.Alert, error)
	Clear(ctx context.Context, id, by string) (alert.Alert, error)
	Raise(ctx context.Context, a alert.Alert) (alert.Alert, error)
}

// Mitigator carries out mitigations by hand. *respond.Responder implements it.
type Mitigator interface {
	Mitigate(ctx context.Context, alertID, action, actor string) (alert.Alert, error)
}

// Detection is the detection engine's configuration. *detect.Engine implements it.
type Detection interface {
	Profiles() []detect.Profile
	SetProfiles(ctx context.Context, ps []detect.Profile) error
	Baselines() []detect.BaselineStatus
	Window() time.Duration
}

// AddressBook maps connected devices to the IP addresses of their live
// sessions. *gateway.Gateway implements it.
type AddressBook interface {
	DeviceAddresses() map[string][]string
}

// NetworkDevice answers GET /api/v1/network/devices: where each connected
// device is on the network, for the network sensor (ward ids --report).
type NetworkDevice struct {
	Device string   `json:"device"`
	Model  string   `json:"model"`
	IPs    []string `json:"ips"`
}

// DetectStore is the read access to stored windows and the audit trail.
type DetectStore interface {
	ListMetricWindows(ctx context.Context, deviceID string, window time.Duration, since time.Time) ([]store.MetricWindow, error)
	AppendAudit(ctx context.Context, e store.AuditEntry) (store.AuditEntry, error)
	ListAudit(ctx context.Context, limit int) ([]store.AuditEntry, error)
}

func (s *Server) detectRoutes() {
	auth := s.auth
	if s.opts.Alerts != nil {
		auth("GET /api/v1/alerts", store.RoleViewer, s.listAlerts)
		auth("POST /api/v1/alerts", store.RoleOperator, s.ingestAlert)
		auth("GET /api/v1/alerts/{id}", store.RoleViewer, s.getAlert)
		auth("POST /api/v1/alerts/{id}/ack", store.RoleOperator, s.alertTransition(true))
		auth("POST /api/v1/alerts/{id}/clear", store.RoleOperator, s.alertTransition(false))
	}
	if s.opts.Mitigator != nil {
		auth("POST /api/v1/alerts/{id}/mitigate", store.RoleOperator, s.mitigate)
	}
	if s.opts.Detection != nil {
		auth("GET /api/v1/profiles", store.RoleViewer, s.getProfiles)
		auth("PUT /api/v1/profiles", store.RoleOperator, s.putProfiles)
		auth("GET /api/v1/baselines", store.RoleViewer, s.getBaselines)
	}
	if s.opts.Addresses != nil {
		auth("GET /api/v1/network/devices", store.RoleViewer, s.networkDevices)
	}
	if s.opts.DetectStore != nil {
		auth("GET /api/v1/devices/{id}/metrics", store.RoleViewer, s.deviceMetrics)
		auth("GET /api/v1/audit-log", store.RoleAdmin, s.listAudit)
	}
	if s.opts.AuditVerifier != nil {
		auth("GET /api/v1/audit-log/verify", store.RoleViewer, s.verifyAudit)
	}
}

// AuditVerifier checks the whole audit trail, from its first entry to its
// head, against the latest signed checkpoint. *auditlog.Anchor implements it.
type AuditVerifier interface {
	Verify(ctx context.Context) (auditlog.Report, error)
}

// verifyAudit answers the verification's report: 200 whether or not the
// trail verifies (ok says), so that monitoring can read why. Viewers may
// call it: the report holds sequence numbers and hashes, no entry.
func (s *Server) verifyAudit(w http.ResponseWriter, r *http.Request) error {
	v, err, _ := s.verifying.Do("verify", func() (any, error) {
		return s.opts.AuditVerifier.Verify(context.WithoutCancel(r.Context()))
	})
	if err != nil {
		return err
	}
	rep := v.(auditlog.Report)
	if !rep.OK {
		s.log.Error("audit log verification failed", "request_id", requestID(r), "problem", rep.Problem, "message", rep.Message)
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

// audit records an operator action in the audit trail (if configured).
func (s *Server) audit(r *http.Request, action, target string, detail map[string]string) {
	if s.opts.DetectStore == nil {
		return
	}
	if _, err := s.opts.DetectStore.AppendAudit(context.WithoutCancel(r.Context()), store.AuditEntry{
		Time: s.now().UTC(), Actor: actor(r), Action: action, Target: target, Detail: detail}); err != nil {
		s.log.Error("append audit log", "request_id", requestID(r), "action", action, "err", err)
	}
}

func alertError(err error) error {
	switch {
	case errors.Is(err, alert.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Public: err.Error(), Err: err}
	case errors.Is(err, alert.ErrTransition):
		return &Error{Status: http.StatusConflict, Public: err.Error(), Err: err}
	}
	return err
}

func (s *Server) listAlerts(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := alert.Filter{Device: q.Get("device"), Rule: q.Get("rule")}
	if st := q.Get("state"); st != "" {
		for _, v := range strings.Split(st, ",") {
			switch alert.State(v) {
			case alert.Open, alert.Acknowledged, alert.Cleared:
				f.States = append(f.States, alert.State(v))
			case "active":
				f.States = append(f.States, alert.Open, alert.Acknowledged)
			default:
				return &Error{Status: http.StatusBadRequest, Public: "state must be open, acknowledged, cleared or active"}
			}
		}
	}
	if v := q.Get("severity"); v != "" {
		if f.MinSeverity = alert.Severity(v); !f.MinSeverity.Valid() {
			return &Error{Status: http.StatusBadRequest, Public: fmt.Sprintf("severity must be low, medium, high or critical (that severity or worse), not %q", v)}
		}
	}
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return &Error{Status: http.StatusBadRequest, Public: fmt.Sprintf("since must be an RFC 3339 time such as 2026-12-06T15:04:05Z, not %q", v)}
		}
		f.Since = t
	}
	f.Limit, _ = strconv.Atoi(q.Get("limit"))
	if f.Limit <= 0 || f.Limit > 10000 {
		f.Limit = 1000
	}
	as, err := s.opts.Alerts.List(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, as)
	return nil
}

func (s *Server) getAlert(w http.ResponseWriter, r *http.Request) error {
	a, err := s.opts.Alerts.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return alertError(err)
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

func (s *Server) alertTransition(ack bool) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		id := r.PathValue("id")
		var a alert.Alert
		var err error
		if ack {
			a, err = s.opts.Alerts.Acknowledge(r.Context(), id, actor(r))
		} else {
			a, err = s.opts.Alerts.Clear(r.Context(), id, actor(r))
		}
		if err != nil {
			return alertError(err)
		}
		verb := "alert.clear"
		if ack {
			verb = "alert.acknowledge"
		}
		s.audit(r, verb, id, map[string]string{"device": a.Device, "rule": a.Rule})
		writeJSON(w, http.StatusOK, a)
		return nil
	}
}

// MitigateRequest is the body of POST /api/v1/alerts/{id}/mitigate.
type MitigateRequest struct {
	Action string `json:"action"` // notify, quarantine, quarantine-restrict, revoke, log-level
}

func (s *Server) mitigate(w http.ResponseWriter, r *http.Request) error {
	var req MitigateRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	a, err := s.opts.Mitigator.Mitigate(r.Context(), r.PathValue("id"), req.Action, actor(r))
	if err != nil {
		if errors.Is(err, alert.ErrNotFound) {
			return alertError(err)
		}
		return &Error{Status: http.StatusBadRequest, Public: err.Error(), Err: err}
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

// ingestAlert lets an external sensor (ward ids) raise an alert.
func (s *Server) ingestAlert(w http.ResponseWriter, r *http.Request) error {
	var a alert.Alert
	if err := decode(w, r, &a); err != nil {
		return err
	}
	if a.Device == "" || a.Rule == "" || !a.Severity.Valid() || len(a.Device) > 256 || len(a.Rule) > 128 {
		return &Error{Status: http.StatusBadRequest, Public: "an alert needs device (<=256), rule (<=128) and severity (low, medium, high, critical)"}
	}
	if a.Source == "" {
		a.Source = "external"
	}
	a.AutoMitigate = false // sensors cannot trigger automatic response through the API
	out, err := s.opts.Alerts.Raise(r.Context(), a)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (s *Server) getProfiles(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, s.opts.Detection.Profiles())
	return nil
}

func (s *Server) putProfiles(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		return &Error{Status: http.StatusRequestEntityTooLarge, Public: "profile document over 1 MiB"}
	}
	ps, err := detect.ParseProfiles(body)
	if err != nil {
		return &Error{Status: http.StatusBadRequest, Public: "invalid profiles: " + err.Error(), Err: err}
	}
	if err := s.opts.Detection.SetProfiles(r.Context(), ps); err != nil {
		return &Error{Status: http.StatusBadRequest, Public: err.Error(), Err: err}
	}
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.Name
	}
	s.audit(r, "profiles.set", strings.Join(names, ","), nil)
	writeJSON(w, http.StatusOK, ps)
	return nil
}

func (s *Server) getBaselines(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]any{"window": s.opts.Detection.Window().String(), "models": s.opts.Detection.Baselines()})
	return nil
}

func (s *Server) deviceMetrics(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	mult := 1
	switch q.Get("window") {
	case "", "1m":
	case "5m":
		mult = 5
	case "1h":
		mult = 60
	default:
		return &Error{Status: http.StatusBadRequest, Public: "window must be 1m, 5m or 1h"}
	}
	base := time.Minute
	if s.opts.Detection != nil {
		base = s.opts.Detection.Window()
	}
	since := s.now().Add(-24 * time.Hour)
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return &Error{Status: http.StatusBadRequest, Public: "since must be an RFC 3339 time"}
		}
		since = t
	}
	ws, err := s.opts.DetectStore.ListMetricWindows(r.Context(), r.PathValue("id"), time.Duration(mult)*base, since)
	if err != nil {
		return err
	}
	out := make([]json.RawMessage, len(ws))
	for i, m := range ws {
		out[i] = m.JSON
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	n, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	es, err := s.opts.DetectStore.ListAudit(r.Context(), n)
	if err != nil {
		return err
	}
	if es == nil {
		es = []store.AuditEntry{}
	}
	writeJSON(w, http.StatusOK, es)
	return nil
}

// Info answers GET /api/v1/info: what a client needs to reach the server's
// other listener and windows.
type Info struct {
	// MQTTPort is the port of the answering node's MQTT gateway. It is
	// absent when that node runs no gateway (an API node of a cluster,
	// whose devices connect to the gateway nodes' own addresses).
	MQTTPort     int    `json:"mqtt_port,omitempty"`
	DetectWindow string `json:"detect_window"`
	Version      string `json:"version"`
	// Build is the server binary's version, source revision and Go
	// toolchain.
	Build buildinfo.Info `json:"build"`
}

func (s *Server) networkDevices(w http.ResponseWriter, r *http.Request) error {
	var addrs map[string][]string
	if s.opts.ConnectedAddresses != nil {
		var err error
		if addrs, err = s.opts.ConnectedAddresses(r.Context()); err != nil {
			return err
		}
	} else {
		addrs = s.opts.Addresses.DeviceAddresses()
	}
	vs, err := s.opts.Registry.List(r.Context())
	if err != nil {
		return err
	}
	out := []NetworkDevice{}
	for _, v := range vs {
		if ips := addrs[v.ID]; len(ips) > 0 {
			out = append(out, NetworkDevice{Device: v.ID, Model: v.Model, IPs: ips})
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
