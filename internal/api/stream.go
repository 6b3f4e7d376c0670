package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/wardproject/ward/internal/ratelimit"
	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/stream"
)

// Stream is the live feed behind GET /api/v1/stream. *stream.Hub
// implements it.
type Stream interface {
	Subscribe(ctx context.Context, req stream.Request) (*stream.Subscription, error)
	Serve(w http.ResponseWriter, r *http.Request, sub *stream.Subscription, alive stream.Alive) error
	Disconnect(principal string) int
}

// streamRetry is the Retry-After of a stream refused for the limits.
const streamRetry = 5 * time.Second

// streamRoute mounts the live stream when the server has one.
func (s *Server) streamRoute() {
	if s.opts.Stream == nil {
		return
	}
	s.auth("GET /api/v1/stream", store.RoleViewer, s.stream)
}

// streamRoles may open the stream: it shows every alert and device
// event, which is what a viewer may read. Any other role (the
// provisioning role of factory lines, or one added later) is refused:
// deny by default, whatever rank a new role is given.
var streamRoles = []store.Role{store.RoleAdmin, store.RoleOperator, store.RoleViewer}

// streamCredential names the credential a stream was opened with: the
// session of a user, or the API token. Revoking it ends its streams.
func streamCredential(p Principal) string {
	if p.SessionID != "" {
		return "session:" + p.SessionID
	}
	return p.Actor()
}

// stream serves GET /api/v1/stream (text/event-stream, see package
// stream). The credentials are checked again every stream.Options.Recheck
// (without counting as the session's activity: an open console tab alone
// does not keep a session from idling out) and the stream ends when they
// are revoked, expire or lose the role; revoking a token, signing out or
// disabling the user on this node ends the streams at once.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) error {
	p := principalOf(r)
	if !slices.Contains(streamRoles, p.Role) {
		return &Error{Status: http.StatusForbidden, Public: fmt.Sprintf("role %s may not read the live stream", p.Role)}
	}
	f, err := stream.ParseFilter(r.URL.Query())
	if err != nil {
		return &Error{Status: http.StatusBadRequest, Public: err.Error()}
	}
	sub, err := s.opts.Stream.Subscribe(r.Context(), stream.Request{Filter: f, LastEventID: strings.TrimSpace(r.Header.Get("Last-Event-ID")),
		Principal: p.Actor(), Credential: streamCredential(p)})
	switch {
	case errors.Is(err, stream.ErrTooMany):
		s.limited.WithLabelValues("GET /api/v1/stream", "streams").Inc()
		w.Header().Set("Retry-After", ratelimit.RetryAfter(streamRetry))
		return &Error{Status: http.StatusTooManyRequests, Public: err.Error() + "; close another stream or retry later"}
	case errors.Is(err, stream.ErrClosed):
		return &Error{Status: http.StatusServiceUnavailable, Public: "the server is shutting down; reconnect"}
	case err != nil:
		return err
	}
	if err := s.opts.Stream.Serve(w, r, sub, func(ctx context.Context) error { return s.streamAllowed(ctx, p) }); err != nil {
		// The response has begun: nothing more can be said to the client.
		s.log.Debug("live stream ended", "request_id", requestID(r), "actor", p.Actor(), "err", err)
	}
	return nil
}

// streamAllowed re-checks a stream's principal: the token neither revoked
// nor expired; or the session live (not revoked, within its lifetime and
// idle timeout), its user enabled and still of a role that may read the
// stream.
func (s *Server) streamAllowed(ctx context.Context, p Principal) error {
	now := s.now()
	if p.Kind != PrincipalUser {
		t, err := s.opts.Store.GetAPIToken(ctx, p.ID)
		if err != nil {
			return fmt.Errorf("re-check stream token %s: %w", p.ID, err)
		}
		if !t.RevokedAt.IsZero() || (!t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt)) {
			return fmt.Errorf("stream token %s: %w", p.ID, ErrUnauthenticated)
		}
		return nil
	}
	sess, err := s.opts.Store.GetSession(ctx, p.SessionID)
	if err != nil {
		return fmt.Errorf("re-check stream session of %s: %w", p.Name, err)
	}
	if !sess.RevokedAt.IsZero() || !now.Before(sess.ExpiresAt) || now.Sub(sess.LastSeenAt) >= sess.IdleTimeout {
		return fmt.Errorf("stream session of %s: %w", p.Name, errSessionEnded)
	}
	u, err := s.opts.Store.GetUser(ctx, sess.User)
	if err != nil {
		return fmt.Errorf("re-check stream user %s: %w", p.Name, err)
	}
	if !u.DisabledAt.IsZero() || !slices.Contains(streamRoles, u.Role) {
		return fmt.Errorf("stream user %s (%s): %w", u.Name, u.Role, errSessionEnded)
	}
	return nil
}

// endStreams ends this node's live streams opened with a credential (an
// actor "token:ID" or "user:NAME", or "session:ID") that was just revoked;
// other nodes notice at their next re-check.
func (s *Server) endStreams(credential string) {
	if s.opts.Stream != nil {
		if n := s.opts.Stream.Disconnect(credential); n > 0 {
			s.log.Info("live streams of a revoked credential ended", "credential", credential, "streams", n)
		}
	}
}
