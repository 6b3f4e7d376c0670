package api

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"strings"

	"github.com/wardproject/ward/internal/fleet"
	"github.com/wardproject/ward/internal/ratelimit"
	"github.com/wardproject/ward/internal/store"
)

// DeviceChecker decides whether a client certificate that crypto/tls
// verified may use the device services (/tuf/). *fleet.Registry
// implements it; a refusal is a *fleet.CertificateRefusedError.
type DeviceChecker interface {
	CheckCertificate(ctx context.Context, c *x509.Certificate) (store.Device, error)
}

// tufRoute mounts Options.TUF at /tuf/ for devices holding a Ward
// certificate (mutual TLS) and for any valid API token. A request with an
// Authorization header is judged by its token alone; otherwise by its
// verified client certificate; with neither it gets 401. A refused token or
// certificate counts against its source's authentication-failure budget,
// past which the source gets 429 before anything is checked, as on every
// authenticated route.
func (s *Server) tufRoute() {
	if s.opts.TUF == nil {
		return
	}
	const route = "/tuf/"
	byToken := s.authenticated(route, permission{min: store.RoleViewer}, func(w http.ResponseWriter, r *http.Request) error {
		s.opts.TUF.ServeHTTP(w, r)
		return nil
	})
	s.mux.handle(route, store.RoleViewer, s.wrap(route, func(w http.ResponseWriter, r *http.Request) {
		hasCert := r.TLS != nil && len(r.TLS.VerifiedChains) > 0
		if r.Header.Get("Authorization") == "" && !hasCert {
			w.Header().Set("WWW-Authenticate", `Bearer realm="ward"`)
			s.writeError(w, r, &Error{Status: http.StatusUnauthorized,
				Public: "the firmware repository needs a Ward device certificate (mutual TLS) or an API token"})
			return
		}
		if !hasCert || r.Header.Get("Authorization") != "" {
			byToken(w, r)
			return
		}
		src := ratelimit.SourceKey(r.RemoteAddr)
		if ok, wait := s.authFail.Check(src); !ok {
			s.tooMany(w, r, route, "auth_failure", wait)
			return
		}
		_, err := s.opts.Devices.CheckCertificate(r.Context(), r.TLS.VerifiedChains[0][0])
		var ref *fleet.CertificateRefusedError
		switch {
		case errors.As(err, &ref):
			s.authFail.Allow(src)
			s.tufRefused.WithLabelValues(ref.Reason).Inc()
			s.log.Warn("TUF repository refused a device certificate", "device_id", ref.DeviceID, "serial", ref.Serial,
				"reason", ref.Reason, "remote_addr", r.RemoteAddr, "request_id", requestID(r))
			s.writeError(w, r, &Error{Status: http.StatusForbidden, Public: "this device certificate may not fetch updates: " + strings.ReplaceAll(ref.Reason, "-", " ")})
		case err != nil:
			s.writeError(w, r, &Error{Status: http.StatusInternalServerError, Public: "internal error", Err: err})
		default:
			s.opts.TUF.ServeHTTP(w, r)
		}
	}))
}
