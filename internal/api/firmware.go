package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/update"
)

// Firmware is the firmware repository the API lists and publishes to.
// update.Site implements it.
type Firmware interface {
	ListFirmware(ctx context.Context) ([]update.Firmware, error)
	Publish(ctx context.Context, rel update.Release, content io.ReadSeeker) (update.Firmware, error)
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

// publishFirmware streams the body to a temporary file (never whole in
// memory), then publishes it with the server's keys.
func (s *Server) publishFirmware(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	rel := update.Release{Model: q.Get("model"), Version: q.Get("version"), MinVersion: q.Get("min_version"), Notes: q.Get("notes"), File: q.Get("file")}
	if err := rel.Check(); err != nil {
		return &Error{Status: http.StatusBadRequest, Public: err.Error(), Err: err}
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(firmwareUploadTime))
	tmp, err := os.CreateTemp("", "ward-firmware-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	n, err := io.Copy(tmp, http.MaxBytesReader(w, r.Body, MaxFirmwareBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &Error{Status: http.StatusRequestEntityTooLarge, Public: "firmware over 2 GiB"}
		}
		return &Error{Status: http.StatusBadRequest, Public: "reading the firmware failed: " + err.Error(), Err: err}
	}
	if n == 0 {
		return &Error{Status: http.StatusBadRequest, Public: "empty firmware file"}
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return err
	}
	fw, err := s.opts.Firmware.Publish(r.Context(), rel, tmp)
	var mk *update.MissingKeyError
	switch {
	case errors.As(err, &mk):
		return &Error{Status: http.StatusConflict, Public: "this server cannot sign " + rel.Model + "'s firmware: " + err.Error() +
			" (publish with ward firmware publish where the key is)", Err: err}
	case errors.Is(err, update.ErrBadRelease):
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
