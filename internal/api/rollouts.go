package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/wardproject/ward/internal/rollout"
	"github.com/wardproject/ward/internal/store"
)

// Rollouts runs staged firmware rollouts. *rollout.Engine implements it;
// it writes each transition to the audit trail itself, with the actor.
type Rollouts interface {
	Create(ctx context.Context, spec rollout.Spec, actor string) (store.Rollout, error)
	Get(ctx context.Context, id string) (rollout.View, error)
	List(ctx context.Context, limit int) ([]rollout.View, error)
	Detail(ctx context.Context, id string, q rollout.DeviceQuery) (rollout.Detail, error)
	Pause(ctx context.Context, id, actor string) (store.Rollout, error)
	Resume(ctx context.Context, id, actor string) (store.Rollout, error)
	Abort(ctx context.Context, id, actor string) (store.Rollout, error)
	Next(ctx context.Context, id, actor string) (store.Rollout, error)
}

func (s *Server) rolloutRoutes() {
	if s.opts.Rollouts == nil {
		return
	}
	auth := s.auth
	auth("POST /api/v1/rollouts", store.RoleOperator, s.createRollout)
	auth("GET /api/v1/rollouts", store.RoleViewer, s.listRollouts)
	auth("GET /api/v1/rollouts/{id}", store.RoleViewer, s.getRollout)
	auth("POST /api/v1/rollouts/{id}/pause", store.RoleOperator, s.rolloutAction(s.opts.Rollouts.Pause))
	auth("POST /api/v1/rollouts/{id}/resume", store.RoleOperator, s.rolloutAction(s.opts.Rollouts.Resume))
	auth("POST /api/v1/rollouts/{id}/abort", store.RoleOperator, s.rolloutAction(s.opts.Rollouts.Abort))
	auth("POST /api/v1/rollouts/{id}/next", store.RoleOperator, s.rolloutAction(s.opts.Rollouts.Next))
}

// rolloutError maps the engine's errors to API errors.
func rolloutError(err error) error {
	switch {
	case errors.Is(err, rollout.ErrBadSpec):
		return &Error{Status: http.StatusBadRequest, Public: err.Error(), Err: err}
	case errors.Is(err, rollout.ErrNoRelease), errors.Is(err, rollout.ErrNoDevices):
		return &Error{Status: http.StatusUnprocessableEntity, Public: err.Error(), Err: err}
	case errors.Is(err, rollout.ErrLastWave), errors.Is(err, store.ErrConflict):
		return &Error{Status: http.StatusConflict, Public: err.Error(), Err: err}
	}
	return err
}

func (s *Server) createRollout(w http.ResponseWriter, r *http.Request) error {
	var spec rollout.Spec
	if err := decode(w, r, &spec); err != nil {
		return err
	}
	ro, err := s.opts.Rollouts.Create(r.Context(), spec, actor(r))
	if err != nil {
		return rolloutError(err)
	}
	v, err := s.opts.Rollouts.Get(r.Context(), ro.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, v)
	return nil
}

func (s *Server) listRollouts(w http.ResponseWriter, r *http.Request) error {
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return &Error{Status: http.StatusBadRequest, Public: "limit must be between 1 and 1000"}
		}
		limit = n
	}
	vs, err := s.opts.Rollouts.List(r.Context(), limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, vs)
	return nil
}

func (s *Server) getRollout(w http.ResponseWriter, r *http.Request) error {
	qv := r.URL.Query()
	q := rollout.DeviceQuery{After: qv.Get("after")}
	if v := qv.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return &Error{Status: http.StatusBadRequest, Public: "limit must be between 1 and 1000"}
		}
		q.Limit = n
	}
	if v := qv.Get("state"); v != "" {
		for st := range strings.SplitSeq(v, ",") {
			ds := store.RolloutDeviceState(st)
			if !ds.Valid() {
				return &Error{Status: http.StatusBadRequest, Public: "state " + strconv.Quote(st) +
					": use pending, downloading, installing, installed, failed, skipped or aborted"}
			}
			q.States = append(q.States, ds)
		}
	}
	d, err := s.opts.Rollouts.Detail(r.Context(), r.PathValue("id"), q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

// rolloutAction serves POST /api/v1/rollouts/{id}/<action>.
func (s *Server) rolloutAction(do func(ctx context.Context, id, actor string) (store.Rollout, error)) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		ro, err := do(r.Context(), r.PathValue("id"), actor(r))
		if err != nil {
			return rolloutError(err)
		}
		v, err := s.opts.Rollouts.Get(r.Context(), ro.ID)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, v)
		return nil
	}
}
