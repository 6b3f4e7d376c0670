package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/wardproject/ward/internal/audit"
	"github.com/wardproject/ward/internal/fleet"
	"github.com/wardproject/ward/internal/store"
)

// ModelView answers GET /api/v1/models/{model}: what Ward knows of one
// device model.
type ModelView struct {
	Model string `json:"model"`
	// Policy is the model's shared topic grants and limits (empty: none set).
	Policy store.Policy `json:"policy"`
	// Info is the model's declared metadata for the audit (support
	// period, latest firmware), nil when none was set (ward model set).
	Info *audit.Model `json:"info,omitempty"`
	// Devices counts the model's registered devices, ByStatus by status
	// and Firmware by firmware version.
	Devices  int                        `json:"devices"`
	ByStatus map[store.DeviceStatus]int `json:"by_status"`
	Firmware map[string]int             `json:"firmware"`
	// Findings are the open audit findings about the model, its firmware
	// or its devices (empty when the audit is not mounted).
	Findings []audit.Finding `json:"findings"`
}

// ModelInfoStore lists the models' audit metadata.
type ModelInfoStore interface {
	ListModelInfo(ctx context.Context) (map[string][]byte, error)
}

func (s *Server) getModel(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	name := r.PathValue("model")
	v := ModelView{Model: name, ByStatus: map[store.DeviceStatus]int{}, Firmware: map[string]int{}, Findings: []audit.Finding{}}
	known := false
	ps, err := s.opts.Store.ListModelPolicies(ctx)
	if err != nil {
		return err
	}
	if i := slices.IndexFunc(ps, func(p store.ModelPolicy) bool { return p.Model == name }); i >= 0 {
		v.Policy, known = ps[i].Policy, true
	}
	if st, ok := s.opts.Store.(ModelInfoStore); ok {
		infos, err := st.ListModelInfo(ctx)
		if err != nil {
			return err
		}
		if b, ok := infos[name]; ok {
			var m audit.Model
			if err := json.Unmarshal(b, &m); err != nil {
				return fmt.Errorf("model %s metadata: %w", name, err)
			}
			v.Info, known = &m, true
		}
	}
	devices := map[string]bool{}
	q := fleet.Query{DeviceQuery: store.DeviceQuery{Model: name, Limit: store.MaxDeviceQueryLimit}}
	for {
		page, next, err := s.opts.Registry.Query(ctx, q)
		if err != nil {
			return err
		}
		for _, d := range page {
			v.Devices++
			v.ByStatus[d.Status]++
			v.Firmware[d.Firmware]++
			devices["device:"+d.ID] = true
		}
		if next == "" {
			break
		}
		q.After = next
	}
	if v.Devices > 0 {
		known = true
	}
	if !known {
		return &Error{Status: http.StatusNotFound, Public: "model " + name + ": no device, policy or metadata names it"}
	}
	if s.opts.Compliance != nil {
		fs, err := s.opts.Compliance.Findings(ctx, false)
		if err != nil {
			return err
		}
		for _, f := range fs {
			if slices.ContainsFunc(f.Resources, func(res string) bool {
				return res == "model:"+name || strings.HasPrefix(res, "firmware:"+name+"@") || devices[res]
			}) {
				v.Findings = append(v.Findings, f)
			}
		}
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}
