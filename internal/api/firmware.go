package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/update"
)

// Firmware is the firmware repository the API lists and publishes to.
// update.Site implements it.
type Firmware interface {
	ListFirmware(ctx context.Context) ([]update.Firmware, error)
	// PublishStream spools the upload to disk beside the repository
	// (never whole in memory), bounded by maxBytes, and publishes it.
	PublishStream(ctx context.Context, rel update.Release, r io.Reader, maxBytes int64) (update.Firmware, error)
}

// MaxFirmwareBytes bounds a firmware file published over the API.
const MaxFirmwareBytes = 2 << 30

// firmwareUploadTime is how long a firmware upload may take: the
// server's read timeout (30 s) is lifted for this route only.
const firmwareUploadTime = 30 * time.Minute

func (s *Server) firmwareRoutes() {
	if s.opts.Firmware == nil {
		return
	}
	s.auth("GET /api/v1/firmware", store.RoleViewer, s.listFirmware)
	s.auth("GET /api/v1/firmware/{model}/{version}", store.RoleViewer, s.showFirmware)
	s.auth("POST /api/v1/firmware", store.RoleOperator, s.publishFirmware)
}

func (s *Server) listFirmware(w http.ResponseWriter, r *http.Request) error {
	fws, err := s.opts.Firmware.ListFirmware(r.Context())
	if err != nil {
		return err
	}
	out := []update.Firmware{}
	for _, fw := range fws {
		if m := r.URL.Query().Get("model"); m == "" || fw.Model == m {
			out = append(out, fw)
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) showFirmware(w http.ResponseWriter, r *http.Request) error {
	fws, err := s.opts.Firmware.ListFirmware(r.Context())
	if err != nil {
		return err
	}
	model, version := r.PathValue("model"), r.PathValue("version")
	for _, fw := range fws {
		if fw.Model == model && fw.Version == version {
			writeJSON(w, http.StatusOK, fw)
			return nil
		}
	}
	return &Error{Status: http.StatusNotFound, Public: fmt.Sprintf("no firmware %s %s is published", model, version)}
}

// publishFirmware streams the body to a temporary file beside the
// repository (never whole in memory), then publishes it with the server's
// keys.
func (s *Server) publishFirmware(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	rel := update.Release{Model: q.Get("model"), Version: q.Get("version"), MinVersion: q.Get("min_version"), Notes: q.Get("notes"), File: q.Get("file")}
	if err := rel.Check(); err != nil {
		return &Error{Status: http.StatusBadRequest, Public: err.Error(), Err: err}
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(firmwareUploadTime))
	fw, err := s.opts.Firmware.PublishStream(r.Context(), rel, r.Body, MaxFirmwareBytes)
	var mk *update.MissingKeyError
	switch {
	case errors.As(err, &mk):
		return &Error{Status: http.StatusConflict, Public: "this server cannot sign " + rel.Model + "'s firmware: " + err.Error() +
			" (publish with ward firmware publish where the key is)", Err: err}
	case errors.Is(err, update.ErrTooLarge):
		return &Error{Status: http.StatusRequestEntityTooLarge, Public: "firmware over 2 GiB", Err: err}
	case errors.Is(err, update.ErrBadRelease), errors.Is(err, update.ErrUpload):
		return &Error{Status: http.StatusBadRequest, Public: err.Error(), Err: err}
	case errors.Is(err, update.ErrPublished), errors.Is(err, update.ErrNotInitialized):
		return &Error{Status: http.StatusConflict, Public: err.Error(), Err: err}
	case err != nil:
		return err
	}
	s.audit(r, "firmware.publish", fw.Model+" "+fw.Version, map[string]string{"path": fw.Path, "sha256": fw.SHA256, "length": strconv.FormatInt(fw.Length, 10)})
	writeJSON(w, http.StatusCreated, fw)
	return nil
}
