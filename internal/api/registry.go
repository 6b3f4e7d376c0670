package api

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/wardproject/ward/internal/fleet"
	"github.com/wardproject/ward/internal/store"
)

// PolicyPatchRequest documents the body of PATCH
// /api/v1/devices/{id}/policy and /api/v1/models/{model}/policy (package
// fleet parses it: ParsePolicyPatch). Its policy members are an RFC 7396
// JSON merge patch of store.Policy: a member with a value replaces the
// field (a list whole), null resets it, a member left out is kept. The
// add_ and remove_ lists then take grants out and add them, so that two
// clients adding grants at once both keep theirs.
type PolicyPatchRequest struct {
	store.Policy
	AddPublish      []string `json:"add_publish,omitempty"`
	AddSubscribe    []string `json:"add_subscribe,omitempty"`
	RemovePublish   []string `json:"remove_publish,omitempty"`
	RemoveSubscribe []string `json:"remove_subscribe,omitempty"`
}

// PolicyPatchResponse answers PATCH /api/v1/devices/{id}/policy: the
// device as it is after the patch (as it would be, on a dry run) and its
// policy before.
type PolicyPatchResponse struct {
	store.Device
	PreviousPolicy store.Policy `json:"previous_policy"`
	DryRun         bool         `json:"dry_run"`
}

// ModelPolicyPatchResponse answers PATCH /api/v1/models/{model}/policy.
type ModelPolicyPatchResponse struct {
	store.ModelPolicy
	PreviousPolicy store.Policy `json:"previous_policy"`
	DryRun         bool         `json:"dry_run"`
}

// ImportDevicesRequest is the body of POST /api/v1/devices/import.
type ImportDevicesRequest struct {
	Devices []AddDeviceRequest `json:"devices"`
}

// ImportedDevice is one registered device of an import and its one-time
// enrollment token, shown once.
type ImportedDevice struct {
	ID             string    `json:"id"`
	Token          string    `json:"token"`
	TokenExpiresAt time.Time `json:"token_expires_at"`
}

// ImportDevicesResponse answers POST /api/v1/devices/import.
type ImportDevicesResponse struct {
	Imported int              `json:"imported"`
	Devices  []ImportedDevice `json:"devices"`
}

// maxImportBodyBytes bounds an import's body: fleet.MaxImport devices
// of a few hundred bytes each.
const maxImportBodyBytes = 32 << 20

// policyPatch reads a patch body and the dry_run parameter.
func policyPatch(w http.ResponseWriter, r *http.Request) (fleet.PolicyPatch, bool, error) {
	dry, err := boolParam(r, "dry_run")
	if err != nil {
		return fleet.PolicyPatch{}, false, err
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		return fleet.PolicyPatch{}, false, &Error{Status: http.StatusRequestEntityTooLarge, Public: "policy patch over 1 MiB"}
	}
	pp, err := fleet.ParsePolicyPatch(b)
	if err != nil {
		return pp, false, err
	}
	if pp.Empty() {
		return pp, false, &Error{Status: http.StatusBadRequest, Public: "nothing to change: the patch names no policy field and no grant to add or remove"}
	}
	return pp, dry, nil
}

// boolParam reads an optional boolean query parameter: true, false or absent.
func boolParam(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, &Error{Status: http.StatusBadRequest, Public: name + " must be true or false"}
	}
	return b, nil
}

func (s *Server) patchPolicy(w http.ResponseWriter, r *http.Request) error {
	pp, dry, err := policyPatch(w, r)
	if err != nil {
		return err
	}
	ch, err := s.opts.Registry.PatchPolicy(r.Context(), r.PathValue("id"), pp, dry)
	if err != nil {
		return err
	}
	if !dry {
		s.audit(r, "device.policy", ch.Device.ID, map[string]string{"change": "patch"})
	}
	writeJSON(w, http.StatusOK, PolicyPatchResponse{Device: ch.Device, PreviousPolicy: ch.Previous, DryRun: dry})
	return nil
}

func (s *Server) patchModelPolicy(w http.ResponseWriter, r *http.Request) error {
	pp, dry, err := policyPatch(w, r)
	if err != nil {
		return err
	}
	ch, err := s.opts.Registry.PatchModelPolicy(r.Context(), r.PathValue("model"), pp, dry)
	if err != nil {
		return err
	}
	if !dry {
		s.audit(r, "model.policy", ch.Model.Model, map[string]string{"change": "patch"})
	}
	writeJSON(w, http.StatusOK, ModelPolicyPatchResponse{ModelPolicy: ch.Model, PreviousPolicy: ch.Previous, DryRun: dry})
	return nil
}

func (s *Server) deleteDevice(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := s.opts.Registry.Delete(r.Context(), id); err != nil {
		return err
	}
	s.audit(r, "device.delete", id, nil)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) importDevices(w http.ResponseWriter, r *http.Request) error {
	var req ImportDevicesRequest
	if err := decodeN(w, r, &req, maxImportBodyBytes); err != nil {
		return err
	}
	nds := make([]fleet.NewDevice, len(req.Devices))
	for i, d := range req.Devices {
		ttl, err := parseTTL(d.TokenTTL)
		if err != nil {
			var ae *Error
			if errors.As(err, &ae) {
				ae.Public = "device " + strconv.Itoa(i+1) + " (" + strconv.Quote(d.ID) + "): " + ae.Public
			}
			return err
		}
		nds[i] = fleet.NewDevice{ID: d.ID, Model: d.Model, Firmware: d.Firmware, Tags: d.Tags, Policy: d.Policy, TokenTTL: ttl}
	}
	out, err := s.opts.Registry.Import(r.Context(), nds)
	if err != nil {
		return err
	}
	res := ImportDevicesResponse{Imported: len(out), Devices: make([]ImportedDevice, len(out))}
	for i, im := range out {
		res.Devices[i] = ImportedDevice{ID: im.Device.ID, Token: im.Enrollment.Token.Reveal(), TokenExpiresAt: im.Enrollment.ExpiresAt}
	}
	first, last := out[0].Device.ID, out[len(out)-1].Device.ID
	s.audit(r, "device.import", first, map[string]string{"devices": strconv.Itoa(len(out)), "first": first, "last": last})
	writeJSON(w, http.StatusCreated, res)
	return nil
}
