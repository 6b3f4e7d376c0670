package api

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/wardproject/ward/internal/audit"
	"github.com/wardproject/ward/internal/compliance"
	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/vuln"
)

// Compliance is the audit and vulnerability service. *compliance.Service
// implements it.
type Compliance interface {
	ImportSBOM(ctx context.Context, model, firmware, source string, data []byte) (store.SBOMRecord, error)
	ImportOSV(ctx context.Context, source string, data []byte) (*vuln.ImportReport, error)
	ImportKEV(ctx context.Context, source string, data []byte) (*vuln.KEVCatalog, error)
	SetModel(ctx context.Context, m audit.Model) error
	Feeds() []vuln.Feed
	Exposure(ctx context.Context, id string) ([]compliance.DeviceExposure, error)
	Run(ctx context.Context) ([]audit.Finding, error)
	Findings(ctx context.Context, includeResolved bool) ([]audit.Finding, error)
	Suppress(ctx context.Context, check, resource, reason string, expires time.Time, by string) (store.Suppression, error)
	Suppressions(ctx context.Context) ([]store.Suppression, error)
	Unsuppress(ctx context.Context, id string) error
	Report(ctx context.Context, w io.Writer, standard, format string) (contentType string, err error)
	// Summary is the compliance part of GET /api/v1/overview.
	Summary(ctx context.Context) (compliance.Summary, error)
}

// SBOMStore lists imported SBOMs.
type SBOMStore interface {
	ListSBOMs(ctx context.Context) ([]store.SBOMRecord, error)
}

// MaxUploadBytes bounds an uploaded document (SBOM, OSV zip, KEV).
const MaxUploadBytes = 256 << 20

func (s *Server) complianceRoutes() {
	if s.opts.Compliance == nil {
		return
	}
	auth := s.auth
	auth("POST /api/v1/sboms", store.RoleOperator, s.importSBOM)
	auth("GET /api/v1/sboms", store.RoleViewer, s.listSBOMs)
	auth("POST /api/v1/advisories", store.RoleOperator, s.importOSV)
	auth("POST /api/v1/kev", store.RoleOperator, s.importKEV)
	auth("GET /api/v1/feeds", store.RoleViewer, s.feeds)
	auth("GET /api/v1/vulnerabilities", store.RoleViewer, s.vulnerabilities)
	auth("POST /api/v1/audit/run", store.RoleOperator, s.auditRun)
	auth("GET /api/v1/audit/findings", store.RoleViewer, s.auditFindings)
	auth("GET /api/v1/audit/suppressions", store.RoleViewer, s.listSuppressions)
	auth("POST /api/v1/audit/suppressions", store.RoleOperator, s.suppress)
	auth("DELETE /api/v1/audit/suppressions/{id}", store.RoleOperator, s.unsuppress)
	auth("PUT /api/v1/models/{model}", store.RoleOperator, s.setModel)
	auth("GET /api/v1/report", store.RoleViewer, s.report)
}

func readUpload(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxUploadBytes))
	if err != nil {
		return nil, &Error{Status: http.StatusRequestEntityTooLarge, Public: "document over 256 MiB"}
	}
	if len(b) == 0 {
		return nil, &Error{Status: http.StatusBadRequest, Public: "empty document"}
	}
	return b, nil
}

func badDoc(err error) error {
	if errors.Is(err, compliance.ErrBadDocument) {
		return &Error{Status: http.StatusBadRequest, Public: err.Error(), Err: err}
	}
	return err
}

func (s *Server) importSBOM(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	b, err := readUpload(w, r)
	if err != nil {
		return err
	}
	rec, err := s.opts.Compliance.ImportSBOM(r.Context(), q.Get("model"), q.Get("firmware"), orDefault(q.Get("source"), "upload"), b)
	if err != nil {
		return badDoc(err)
	}
	s.audit(r, "sbom.import", rec.Model+" "+rec.Firmware, map[string]string{"source": rec.Source, "format": rec.Format})
	writeJSON(w, http.StatusCreated, rec)
	return nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	if len(s) > 256 {
		return s[:256]
	}
	return s
}

func (s *Server) listSBOMs(w http.ResponseWriter, r *http.Request) error {
	st, ok := s.opts.Store.(SBOMStore)
	if !ok {
		return &Error{Status: http.StatusNotImplemented, Public: "not available"}
	}
	ls, err := st.ListSBOMs(r.Context())
	if err != nil {
		return err
	}
	if ls == nil {
		ls = []store.SBOMRecord{}
	}
	writeJSON(w, http.StatusOK, ls)
	return nil
}

// OSVImportResponse answers POST /api/v1/advisories.
type OSVImportResponse struct {
	*vuln.ImportReport
	Errors []string `json:"errors"`
}

func (s *Server) importOSV(w http.ResponseWriter, r *http.Request) error {
	b, err := readUpload(w, r)
	if err != nil {
		return err
	}
	rep, err := s.opts.Compliance.ImportOSV(r.Context(), orDefault(r.URL.Query().Get("source"), "upload"), b)
	if err != nil {
		return badDoc(err)
	}
	res := OSVImportResponse{ImportReport: rep, Errors: []string{}}
	for _, e := range rep.Rejected {
		res.Errors = append(res.Errors, e.Error())
	}
	s.audit(r, "advisories.import", rep.Source, map[string]string{"imported": strconv.Itoa(rep.Imported), "rejected": strconv.Itoa(len(rep.Rejected))})
	writeJSON(w, http.StatusCreated, res)
	return nil
}

func (s *Server) importKEV(w http.ResponseWriter, r *http.Request) error {
	b, err := readUpload(w, r)
	if err != nil {
		return err
	}
	cat, err := s.opts.Compliance.ImportKEV(r.Context(), orDefault(r.URL.Query().Get("source"), "upload"), b)
	if err != nil {
		return badDoc(err)
	}
	s.audit(r, "kev.import", cat.CatalogVersion, map[string]string{"entries": strconv.Itoa(len(cat.Vulnerabilities))})
	writeJSON(w, http.StatusCreated, map[string]any{"catalog_version": cat.CatalogVersion, "date_released": cat.DateReleased, "entries": len(cat.Vulnerabilities)})
	return nil
}

func (s *Server) feeds(w http.ResponseWriter, r *http.Request) error {
	fs := s.opts.Compliance.Feeds()
	if fs == nil {
		fs = []vuln.Feed{}
	}
	writeJSON(w, http.StatusOK, fs)
	return nil
}

func (s *Server) vulnerabilities(w http.ResponseWriter, r *http.Request) error {
	ex, err := s.opts.Compliance.Exposure(r.Context(), r.URL.Query().Get("device"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ex)
	return nil
}

func (s *Server) auditRun(w http.ResponseWriter, r *http.Request) error {
	fs, err := s.opts.Compliance.Run(r.Context())
	if err != nil {
		return err
	}
	s.audit(r, "audit.run", "fleet", map[string]string{"findings": strconv.Itoa(len(fs))})
	writeJSON(w, http.StatusOK, fs)
	return nil
}

func (s *Server) auditFindings(w http.ResponseWriter, r *http.Request) error {
	fs, err := s.opts.Compliance.Findings(r.Context(), r.URL.Query().Get("resolved") == "true")
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, fs)
	return nil
}

// SuppressRequest is the body of POST /api/v1/audit/suppressions.
type SuppressRequest struct {
	Check     string    `json:"check"`
	Resource  string    `json:"resource,omitempty"`
	Reason    string    `json:"reason"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (s *Server) suppress(w http.ResponseWriter, r *http.Request) error {
	var req SuppressRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	sup, err := s.opts.Compliance.Suppress(r.Context(), req.Check, req.Resource, req.Reason, req.ExpiresAt, actor(r))
	if err != nil {
		return badDoc(err)
	}
	s.audit(r, "audit.suppress", req.Check, map[string]string{"resource": req.Resource, "reason": req.Reason, "expires": req.ExpiresAt.Format(time.RFC3339)})
	writeJSON(w, http.StatusCreated, sup)
	return nil
}

func (s *Server) unsuppress(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := s.opts.Compliance.Unsuppress(r.Context(), id); err != nil {
		return err
	}
	s.audit(r, "audit.unsuppress", id, nil)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listSuppressions(w http.ResponseWriter, r *http.Request) error {
	ss, err := s.opts.Compliance.Suppressions(r.Context())
	if err != nil {
		return err
	}
	if ss == nil {
		ss = []store.Suppression{}
	}
	writeJSON(w, http.StatusOK, ss)
	return nil
}

func (s *Server) setModel(w http.ResponseWriter, r *http.Request) error {
	var m audit.Model
	if err := decode(w, r, &m); err != nil {
		return err
	}
	m.Name = r.PathValue("model")
	if err := s.opts.Compliance.SetModel(r.Context(), m); err != nil {
		return badDoc(err)
	}
	s.audit(r, "model.set", m.Name, nil)
	writeJSON(w, http.StatusOK, m)
	return nil
}

func (s *Server) report(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	standard, format := orDefault(q.Get("standard"), "etsi-en-303-645"), orDefault(q.Get("format"), "html")
	var buf bytes.Buffer
	ct, err := s.opts.Compliance.Report(r.Context(), &buf, standard, format)
	if err != nil {
		return badDoc(err)
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "no-store")
	w.Write(buf.Bytes())
	return nil
}
