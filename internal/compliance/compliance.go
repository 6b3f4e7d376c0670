// Package compliance is the server side of the fleet audit: it keeps the
// vulnerability database (OSV advisories, the CISA KEV catalogue and the
// SBOMs of each model's firmware versions) in the store, computes each
// device's exposure, assembles an audit.Snapshot from the store, the CA,
// the gateway and the detection engine, runs the checks on a schedule,
// and records findings with first-seen / last-seen / resolved times,
// suppressions (with a reason and an expiry) and trends.
package compliance

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/wardproject/ward/internal/audit"
	"github.com/wardproject/ward/internal/auditlog"
	"github.com/wardproject/ward/internal/detect"
	"github.com/wardproject/ward/internal/report"
	"github.com/wardproject/ward/internal/secret"
	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/suggest"
	"github.com/wardproject/ward/internal/vuln"
)

// Store is what the service needs from storage.
type Store interface {
	ListDevices(ctx context.Context) ([]store.Device, error)
	ListCertificates(ctx context.Context, deviceID string) ([]store.Certificate, error)
	ListModelPolicies(ctx context.Context) ([]store.ModelPolicy, error)
	ListEnrollTokens(ctx context.Context) ([]store.EnrollToken, error)
	ListEvents(ctx context.Context, deviceID string, limit int) ([]store.Event, error)
	ListAudit(ctx context.Context, limit int) ([]store.AuditEntry, error)
	GetBlob(ctx context.Context, name string) ([]byte, error)
	PutBlob(ctx context.Context, name string, data []byte) error
	PutSBOM(ctx context.Context, s store.SBOMRecord) error
	GetSBOM(ctx context.Context, model, firmware string) (store.SBOMRecord, error)
	ListSBOMs(ctx context.Context) ([]store.SBOMRecord, error)
	PutAdvisories(ctx context.Context, as []store.AdvisoryRecord) error
	EachAdvisory(ctx context.Context, fn func(store.AdvisoryRecord) error) error
	PutModelInfo(ctx context.Context, name string, data []byte) error
	ListModelInfo(ctx context.Context) (map[string][]byte, error)
	PutFindings(ctx context.Context, fs []store.FindingRecord, now time.Time) error
	ListFindings(ctx context.Context, includeResolved bool) ([]store.FindingRecord, error)
	PutSuppression(ctx context.Context, s store.Suppression) error
	ListSuppressions(ctx context.Context) ([]store.Suppression, error)
	DeleteSuppression(ctx context.Context, id string) error
	AddTrendPoint(ctx context.Context, at time.Time, counts map[string]int) error
	ListTrend(ctx context.Context, since time.Time) ([]store.TrendPoint, error)
	GetRollout(ctx context.Context, id string) (store.Rollout, error)
	ListRolloutDevices(ctx context.Context, f store.RolloutDeviceFilter) ([]store.RolloutDevice, error)
}

// CA is what the audit inspects of the certificate authority.
type CA interface {
	Root() *x509.Certificate
	Issuer() *x509.Certificate
}

// Facts reports the latest device-side facts. *detect.Engine implements it.
type Facts interface {
	Facts() map[string]detect.DeviceFacts
}

// AuditTrail verifies the whole audit trail against its signed
// checkpoints. *auditlog.Anchor implements it.
type AuditTrail interface {
	Verify(ctx context.Context) (auditlog.Report, error)
}

// Options configure a Service. Store and CA are required.
type Options struct {
	Store   Store
	CA      CA
	Facts   Facts             // nil: no device-side facts
	Server  audit.ServerFacts // Ward's own settings, as configured
	Audit   audit.Options     // thresholds of the checks
	Every   time.Duration     // scheduled audit interval; default 1h
	Window  time.Duration     // how far back connections are looked at; default 24h
	Logger  *slog.Logger
	Metrics prometheus.Registerer
	Now     func() time.Time

	// Firmware, when set, is the TUF repository the audit takes each
	// model's latest firmware from (nil: only ward model set).
	Firmware FirmwareSource

	// AuditTrail, when set, decides whether the audit trail is intact
	// (truncation included); nil: the chain of the latest 100,000 entries.
	AuditTrail AuditTrail
}

// Service is the audit and vulnerability service.
type Service struct {
	opts Options
	log  *slog.Logger
	db   *vuln.DB

	runMu sync.Mutex // one audit run at a time

	mRuns     prometheus.Counter
	mFindings *prometheus.GaugeVec
}

// Blob names in the store.
const (
	kevBlob   = "vuln/kev"
	feedsBlob = "vuln/feeds"
)

// New returns a Service with the stored advisories and KEV catalogue loaded.
func New(ctx context.Context, opts Options) (*Service, error) {
	if opts.Store == nil || opts.CA == nil {
		return nil, errors.New("compliance: Options.Store and Options.CA are required")
	}
	if opts.Every <= 0 {
		opts.Every = time.Hour
	}
	if opts.Window <= 0 {
		opts.Window = 24 * time.Hour
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	db, err := vuln.New(vuln.Options{Logger: opts.Logger, Now: opts.Now})
	if err != nil {
		return nil, err
	}
	f := promauto.With(opts.Metrics)
	s := &Service{opts: opts, log: opts.Logger.With("component", "compliance"), db: db,
		mRuns:     f.NewCounter(prometheus.CounterOpts{Name: "ward_compliance_audit_runs_total", Help: "Fleet audits run."}),
		mFindings: f.NewGaugeVec(prometheus.GaugeOpts{Name: "ward_compliance_findings", Help: "Open audit findings by severity."}, []string{"severity"}),
	}
	err = opts.Store.EachAdvisory(ctx, func(a store.AdvisoryRecord) error {
		rep, err := db.ImportOSV(ctx, a.Source, bytes.NewReader(a.Data))
		if err != nil {
			s.log.Warn("stored advisory document no longer imports", "source", a.Source, "err", err)
		} else if len(rep.Rejected) > 0 {
			s.log.Warn("stored advisory document has rejected records", "source", a.Source, "rejected", len(rep.Rejected))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load advisories: %w", err)
	}
	if b, err := opts.Store.GetBlob(ctx, kevBlob); err == nil {
		if _, err := db.ImportKEV("stored KEV catalogue", bytes.NewReader(b)); err != nil {
			s.log.Warn("stored KEV catalogue no longer imports", "err", err)
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if b, err := opts.Store.GetBlob(ctx, feedsBlob); err == nil {
		var fs []vuln.Feed
		if json.Unmarshal(b, &fs) == nil {
			db.RestoreFeeds(fs)
		}
	}
	return s, nil
}

// Feeds lists the imported vulnerability feeds.
func (s *Service) Feeds() []vuln.Feed { return s.db.Feeds() }

func (s *Service) saveFeeds(ctx context.Context) {
	b, _ := json.Marshal(s.db.Feeds())
	if err := s.opts.Store.PutBlob(ctx, feedsBlob, b); err != nil {
		s.log.Error("save feed times", "err", err)
	}
}

// ErrBadDocument wraps every rejected import document.
var ErrBadDocument = errors.New("invalid document")

// MaxDocumentBytes bounds an uploaded SBOM or KEV catalogue.
const MaxDocumentBytes = 64 << 20

// ImportSBOM parses and stores the SBOM of one model's firmware version.
func (s *Service) ImportSBOM(ctx context.Context, model, firmware, source string, data []byte) (store.SBOMRecord, error) {
	if model == "" || firmware == "" || len(model) > 128 || len(firmware) > 128 {
		return store.SBOMRecord{}, fmt.Errorf("%w: model and firmware (1-128 characters) are required", ErrBadDocument)
	}
	sb, err := vuln.ParseSBOM(source, bytes.NewReader(data), MaxDocumentBytes)
	if err != nil {
		return store.SBOMRecord{}, fmt.Errorf("%w: %w", ErrBadDocument, err)
	}
	rec := store.SBOMRecord{Model: model, Firmware: firmware, Format: strings.TrimSpace(sb.Format + " " + strings.TrimPrefix(sb.SpecVersion, "SPDX-")),
		Source: source, Components: len(sb.Components), ImportedAt: s.opts.Now().UTC(), Data: data}
	if err := s.opts.Store.PutSBOM(ctx, rec); err != nil {
		return rec, err
	}
	s.log.Info("SBOM imported", "model", model, "firmware", firmware, "components", rec.Components)
	return rec, nil
}

// ImportOSV imports one OSV record or a zip of records and stores the
// document for restarts. Rejected records are in the report; the rest is
// imported.
func (s *Service) ImportOSV(ctx context.Context, source string, data []byte) (*vuln.ImportReport, error) {
	rep, err := s.db.ImportOSV(ctx, source, bytes.NewReader(data))
	if err != nil {
		return rep, fmt.Errorf("%w: %w", ErrBadDocument, err)
	}
	if rep.Imported == 0 && rep.Unchanged == 0 {
		return rep, fmt.Errorf("%w: %s: no usable OSV record (%s)", ErrBadDocument, source, joinErrs(rep.Rejected))
	}
	id := fmt.Sprintf("%020d-%s", s.opts.Now().UnixNano(), hashOf(data))
	if err := s.opts.Store.PutAdvisories(ctx, []store.AdvisoryRecord{{ID: id, Source: source, ImportedAt: s.opts.Now().UTC(), Data: data}}); err != nil {
		return rep, err
	}
	s.saveFeeds(ctx)
	return rep, nil
}

func joinErrs(errs []error) string {
	parts := make([]string, 0, len(errs))
	for _, e := range errs {
		parts = append(parts, e.Error())
	}
	if len(parts) > 3 {
		parts = append(parts[:3], fmt.Sprintf("and %d more", len(errs)-3))
	}
	return strings.Join(parts, "; ")
}

func hashOf(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

// ImportKEV replaces the KEV catalogue.
func (s *Service) ImportKEV(ctx context.Context, source string, data []byte) (*vuln.KEVCatalog, error) {
	cat, err := s.db.ImportKEV(source, bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadDocument, err)
	}
	if err := s.opts.Store.PutBlob(ctx, kevBlob, data); err != nil {
		return cat, err
	}
	s.saveFeeds(ctx)
	return cat, nil
}

// SetModel stores a model's metadata (support period, latest firmware).
func (s *Service) SetModel(ctx context.Context, m audit.Model) error {
	if m.Name == "" || len(m.Name) > 128 {
		return fmt.Errorf("%w: model name (1-128 characters) is required", ErrBadDocument)
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return s.opts.Store.PutModelInfo(ctx, m.Name, b)
}

// DeviceExposure is one device's vulnerabilities (`ward vuln list`).
type DeviceExposure struct {
	Device          string          `json:"device"`
	Model           string          `json:"model"`
	Firmware        string          `json:"firmware"`
	SBOM            bool            `json:"sbom"`
	Vulnerabilities []Vulnerability `json:"vulnerabilities"`
}

// Vulnerability is one finding as `ward vuln list` shows it.
type Vulnerability struct {
	ID        string   `json:"id"`
	Aliases   []string `json:"aliases"`
	Package   string   `json:"package"`
	Installed string   `json:"installed"`
	Fixed     string   `json:"fixed"`
	Severity  string   `json:"severity"` // critical, high, medium, low, none or unknown
	CVSS      float64  `json:"cvss,omitempty"`
	KEV       bool     `json:"kev"`
	KEVCVE    string   `json:"kev_cve,omitempty"`
	Summary   string   `json:"summary,omitempty"`
}

// matcher caches SBOM matches per model and firmware for one pass.
type matcher struct {
	s     *Service
	cache map[string]*vuln.Result
}

func (m *matcher) match(ctx context.Context, model, firmware string) (*vuln.Result, bool, error) {
	key := model + "\x00" + firmware
	if r, ok := m.cache[key]; ok {
		return r, r != nil, nil
	}
	rec, err := m.s.opts.Store.GetSBOM(ctx, model, firmware)
	if errors.Is(err, store.ErrNotFound) {
		m.cache[key] = nil
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	sb, err := vuln.ParseSBOM(rec.Source, bytes.NewReader(rec.Data), MaxDocumentBytes)
	if err != nil {
		return nil, false, fmt.Errorf("stored SBOM %s %s: %w", model, firmware, err)
	}
	r := m.s.db.Match(sb.Components)
	m.cache[key] = r
	return r, true, nil
}

// Exposure returns the devices' vulnerabilities (one device when id is set).
func (s *Service) Exposure(ctx context.Context, id string) ([]DeviceExposure, error) {
	devs, err := s.opts.Store.ListDevices(ctx)
	if err != nil {
		return nil, err
	}
	m := &matcher{s: s, cache: map[string]*vuln.Result{}}
	out := []DeviceExposure{}
	for _, d := range devs {
		if id != "" && d.ID != id {
			continue
		}
		de := DeviceExposure{Device: d.ID, Model: d.Model, Firmware: d.Firmware, Vulnerabilities: []Vulnerability{}}
		r, ok, err := m.match(ctx, d.Model, d.Firmware)
		if err != nil {
			return nil, err
		}
		de.SBOM = ok
		if r != nil {
			for _, f := range r.Findings {
				al := f.Aliases
				if al == nil {
					al = []string{}
				}
				de.Vulnerabilities = append(de.Vulnerabilities, Vulnerability{ID: f.AdvisoryID, Aliases: al, Package: f.Package,
					Installed: f.Installed, Fixed: f.Fixed, Severity: severityWord(f.Severity), CVSS: f.Severity.Score, KEV: f.KEV, KEVCVE: f.KEVCVE, Summary: f.Summary})
			}
		}
		out = append(out, de)
	}
	if id != "" && len(out) == 0 {
		return nil, fmt.Errorf("device %s: %w", id, store.ErrNotFound)
	}
	return out, nil
}

func severityWord(s vuln.Severity) string {
	if s.Rating == "" {
		return "unknown"
	}
	return strings.ToLower(s.Rating)
}

// Snapshot assembles everything the checks look at.
func (s *Service) Snapshot(ctx context.Context) (*audit.Snapshot, error) {
	now := s.opts.Now().UTC()
	snap := &audit.Snapshot{Now: now, Root: s.opts.CA.Root(), Issuer: s.opts.CA.Issuer(), Server: s.opts.Server, Window: s.opts.Window,
		Connections: map[string]audit.DeviceConnections{}, DeviceReports: map[string]audit.DeviceReport{},
		Vulnerabilities: map[string]audit.DeviceVulns{}, Feeds: s.db.Feeds()}
	var err error
	if snap.Devices, err = s.opts.Store.ListDevices(ctx); err != nil {
		return nil, err
	}
	if snap.Certificates, err = s.opts.Store.ListCertificates(ctx, ""); err != nil {
		return nil, err
	}
	if snap.EnrollTokens, err = s.opts.Store.ListEnrollTokens(ctx); err != nil {
		return nil, err
	}
	mps, err := s.opts.Store.ListModelPolicies(ctx)
	if err != nil {
		return nil, err
	}
	infos, err := s.opts.Store.ListModelInfo(ctx)
	if err != nil {
		return nil, err
	}
	models, _ := s.modelsWithFirmware(ctx, infos)
	for _, d := range snap.Devices {
		if models[d.Model] == nil {
			models[d.Model] = &audit.Model{Name: d.Model}
		}
		sameRelease(models[d.Model], d.Firmware)
	}
	for _, p := range mps {
		if models[p.Model] == nil {
			models[p.Model] = &audit.Model{Name: p.Model}
		}
		models[p.Model].Policy = p.Policy
	}
	for _, m := range models {
		snap.Models = append(snap.Models, *m)
	}
	sort.Slice(snap.Models, func(i, j int) bool { return snap.Models[i].Name < snap.Models[j].Name })
	if snap.Updates, err = s.updateFacts(ctx); err != nil {
		return nil, err
	}
	// Connections from the event log of the window.
	evs, err := s.opts.Store.ListEvents(ctx, "", 500_000)
	if err != nil {
		return nil, err
	}
	for _, e := range evs {
		if e.DeviceID == "" || now.Sub(e.Time) > s.opts.Window {
			continue
		}
		c := snap.Connections[e.DeviceID]
		switch e.Kind {
		case "connected":
			c.Connects++
			c.SourceIPs = addUnique(c.SourceIPs, hostOf(e.Detail["remote_addr"]))
			c.ClientIDs = addUnique(c.ClientIDs, e.Detail["client_id"])
			c.Serials = addUnique(c.Serials, e.Detail["serial"])
			if e.Time.After(c.LastConnection) {
				c.LastConnection = e.Time
			}
		case "refused":
			if c.Refused == nil {
				c.Refused = map[string]int{}
			}
			c.Refused[e.Detail["reason"]]++
			c.Serials = addUnique(c.Serials, e.Detail["serial"])
		default:
			continue
		}
		snap.Connections[e.DeviceID] = c
	}
	if s.opts.Facts != nil {
		for id, f := range s.opts.Facts.Facts() {
			snap.DeviceReports[id] = audit.DeviceReport{ListeningTCP: ports(f.ListeningTCP), ListeningUDP: ports(f.ListeningUDP), DestinationIPs: f.DestinationIPs, At: f.At}
		}
	}
	m := &matcher{s: s, cache: map[string]*vuln.Result{}}
	for _, d := range snap.Devices {
		r, ok, err := m.match(ctx, d.Model, d.Firmware)
		if err != nil {
			return nil, err
		}
		dv := audit.DeviceVulns{SBOM: ok}
		if r != nil {
			dv.Findings, dv.Undecided, dv.Unmatched = r.Findings, len(r.Undecided), len(r.Unmatched)
		}
		snap.Vulnerabilities[d.ID] = dv
	}
	if s.opts.AuditTrail != nil {
		rep, err := s.opts.AuditTrail.Verify(ctx)
		if err != nil {
			return nil, err
		}
		snap.Server.AuditLogIntact = rep.OK
		return snap, nil
	}
	es, err := s.opts.Store.ListAudit(ctx, 100_000)
	if err != nil {
		return nil, err
	}
	for i, j := 0, len(es)-1; i < j; i, j = i+1, j-1 {
		es[i], es[j] = es[j], es[i]
	}
	snap.Server.AuditLogIntact = store.VerifyAudit(es) == nil
	return snap, nil
}

func ports(ss []string) []int {
	var out []int
	for _, p := range ss {
		if n, err := strconv.Atoi(p); err == nil {
			out = append(out, n)
		}
	}
	return out
}

func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

func addUnique(list []string, v string) []string {
	if v == "" {
		return list
	}
	for _, x := range list {
		if x == v {
			return list
		}
	}
	if len(list) >= 64 {
		return list
	}
	return append(list, v)
}

// findingKey identifies a finding across runs.
func findingKey(f audit.Finding) string {
	rs := append([]string(nil), f.Resources...)
	sort.Strings(rs)
	h := sha256.Sum256([]byte(f.Check + "\x00" + strings.Join(rs, "\x00")))
	return f.Check + "-" + hex.EncodeToString(h[:8])
}

// suppressed reports whether a suppression hides the finding.
func suppressed(f audit.Finding, sups []store.Suppression, now time.Time) bool {
	for _, s := range sups {
		if s.Check != f.Check || now.After(s.ExpiresAt) {
			continue
		}
		if s.Resource == "" {
			return true
		}
		for _, r := range f.Resources {
			if r == s.Resource {
				return true
			}
		}
	}
	return false
}

// Run audits the fleet now and records the findings.
func (s *Service) Run(ctx context.Context) ([]audit.Finding, error) {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	snap, err := s.Snapshot(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit snapshot: %w", err)
	}
	fs := audit.Run(snap, s.opts.Audit)
	recs := make([]store.FindingRecord, 0, len(fs))
	for _, f := range fs {
		b, err := json.Marshal(f)
		if err != nil {
			return nil, err
		}
		recs = append(recs, store.FindingRecord{Key: findingKey(f), Check: f.Check, Severity: string(f.Severity), JSON: b})
	}
	if err := s.opts.Store.PutFindings(ctx, recs, snap.Now); err != nil {
		return nil, fmt.Errorf("store findings: %w", err)
	}
	s.mRuns.Inc()
	out, err := s.Findings(ctx, false)
	if err != nil {
		return nil, err
	}
	counts := map[string]int{}
	for _, f := range out {
		if !f.Suppressed {
			counts[string(f.Severity)]++
		}
	}
	for _, sev := range []audit.Severity{audit.Info, audit.Low, audit.Medium, audit.High, audit.Critical} {
		s.mFindings.WithLabelValues(string(sev)).Set(float64(counts[string(sev)]))
	}
	if err := s.opts.Store.AddTrendPoint(ctx, snap.Now, counts); err != nil {
		s.log.Error("record finding trend", "err", err)
	}
	s.log.Info("fleet audit done", "findings", len(out), "critical", counts["critical"], "high", counts["high"])
	return out, nil
}

// Findings returns the stored findings with their times and suppression.
func (s *Service) Findings(ctx context.Context, includeResolved bool) ([]audit.Finding, error) {
	recs, err := s.opts.Store.ListFindings(ctx, includeResolved)
	if err != nil {
		return nil, err
	}
	sups, err := s.opts.Store.ListSuppressions(ctx)
	if err != nil {
		return nil, err
	}
	now := s.opts.Now()
	out := make([]audit.Finding, 0, len(recs))
	for _, r := range recs {
		var f audit.Finding
		if err := json.Unmarshal(r.JSON, &f); err != nil {
			return nil, fmt.Errorf("finding %s: %w", r.Key, err)
		}
		f.ID, f.FirstSeen, f.LastSeen, f.ResolvedAt = r.Key, r.FirstSeen, r.LastSeen, r.ResolvedAt
		f.Suppressed = suppressed(f, sups, now)
		out = append(out, f)
	}
	sort.SliceStable(out, func(i, j int) bool { return sevRank(out[i].Severity) > sevRank(out[j].Severity) })
	return out, nil
}

func sevRank(s audit.Severity) int {
	switch s {
	case audit.Critical:
		return 5
	case audit.High:
		return 4
	case audit.Medium:
		return 3
	case audit.Low:
		return 2
	}
	return 1
}

// Suppress hides a check's findings (for one resource, or all when
// resource is empty) until expires; a reason is required.
func (s *Service) Suppress(ctx context.Context, check, resource, reason string, expires time.Time, by string) (store.Suppression, error) {
	now := s.opts.Now().UTC()
	if check == "" || strings.TrimSpace(reason) == "" || len(reason) > 500 {
		return store.Suppression{}, fmt.Errorf("%w: a suppression needs a check and a reason (at most 500 characters)", ErrBadDocument)
	}
	var known []string
	for _, c := range audit.Checks() {
		known = append(known, c.ID)
	}
	if !slices.Contains(known, check) {
		return store.Suppression{}, fmt.Errorf("%w: %s", ErrBadDocument, suggest.Unknown("check", check, known))
	}
	if !expires.After(now) || expires.After(now.Add(366*24*time.Hour)) {
		return store.Suppression{}, fmt.Errorf("%w: a suppression must expire within a year from now", ErrBadDocument)
	}
	id, err := secret.NewID(6)
	if err != nil {
		return store.Suppression{}, err
	}
	sup := store.Suppression{ID: "sup-" + id, Check: check, Resource: resource, Reason: reason, CreatedBy: by, CreatedAt: now, ExpiresAt: expires.UTC()}
	return sup, s.opts.Store.PutSuppression(ctx, sup)
}

// Unsuppress deletes a suppression by ID (store.ErrNotFound when there is
// none): the findings it hid show again from the next audit run.
func (s *Service) Unsuppress(ctx context.Context, id string) error {
	return s.opts.Store.DeleteSuppression(ctx, id)
}

// Suppressions lists the suppressions.
func (s *Service) Suppressions(ctx context.Context) ([]store.Suppression, error) {
	return s.opts.Store.ListSuppressions(ctx)
}

// Trend returns open-finding counts over time.
func (s *Service) Trend(ctx context.Context, since time.Time) ([]store.TrendPoint, error) {
	return s.opts.Store.ListTrend(ctx, since)
}

// Loop audits the fleet every Options.Every until ctx is done.
func (s *Service) Loop(ctx context.Context) error {
	t := time.NewTicker(s.opts.Every)
	defer t.Stop()
	for {
		if _, err := s.Run(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("scheduled fleet audit", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Report renders the compliance report for a standard in a format (html,
// json, sarif, csv) to w and returns its content type.
func (s *Service) Report(ctx context.Context, w io.Writer, standard, format string) (string, error) {
	ct, ok := map[string]string{"html": "text/html; charset=utf-8", "json": "application/json", "sarif": "application/sarif+json", "csv": "text/csv; charset=utf-8"}[format]
	if !ok {
		return "", fmt.Errorf("%w: format %q: want html, json, sarif or csv", ErrBadDocument, format)
	}
	devs, err := s.opts.Store.ListDevices(ctx)
	if err != nil {
		return "", err
	}
	fs, err := s.Findings(ctx, true)
	if err != nil {
		return "", err
	}
	card, err := audit.Score(fs, standard, len(devs))
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadDocument, err)
	}
	r := report.Report{Generated: s.opts.Now().UTC(), Scorecard: card, Findings: fs,
		Fleet: report.FleetSummary{Devices: len(devs), ByStatus: map[string]int{}}}
	infos, err := s.opts.Store.ListModelInfo(ctx)
	if err != nil {
		return "", err
	}
	perModel := map[string]int{}
	firmware := map[string][]string{} // model -> its devices' firmware
	perDevice := map[string][]vuln.Finding{}
	info := map[string]report.DeviceInfo{}
	m := &matcher{s: s, cache: map[string]*vuln.Result{}}
	for _, d := range devs {
		r.Fleet.ByStatus[string(d.Status)]++
		perModel[d.Model]++
		firmware[d.Model] = append(firmware[d.Model], d.Firmware)
		res, _, err := m.match(ctx, d.Model, d.Firmware)
		if err != nil {
			return "", err
		}
		if res != nil && len(res.Findings) > 0 {
			perDevice[d.ID] = res.Findings
			info[d.ID] = report.DeviceInfo{Model: d.Model, Firmware: d.Firmware}
		}
	}
	names := make([]string, 0, len(perModel))
	for n := range perModel {
		names = append(names, n)
	}
	sort.Strings(names)
	models, source := s.modelsWithFirmware(ctx, infos)
	for _, n := range names {
		ms := report.ModelSummary{Name: n, Devices: perModel[n]}
		if mi := models[n]; mi != nil {
			ms.LatestFirmware, ms.LatestFirmwareReleased, ms.SupportEnds = mi.LatestFirmware, mi.LatestFirmwareReleased, mi.SupportEnds
			ms.LatestFirmwareSource = source[n]
			ms.PatchLevel = patchLevel(mi.LatestFirmware, firmware[n])
		}
		r.Fleet.Models = append(r.Fleet.Models, ms)
	}
	r.Exposure = report.BuildExposure(perDevice, info)
	trend, err := s.opts.Store.ListTrend(ctx, s.opts.Now().Add(-90*24*time.Hour))
	if err != nil {
		return "", err
	}
	for _, p := range trend {
		r.Trends = append(r.Trends, report.TrendPoint{At: p.Time, Critical: p.Counts["critical"], High: p.Counts["high"],
			Medium: p.Counts["medium"], Low: p.Counts["low"], Info: p.Counts["info"]})
	}
	if err := report.Render(w, format, r); err != nil {
		return "", err
	}
	return ct, nil
}
