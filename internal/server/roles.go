package server

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/wardproject/ward/internal/config"
	"github.com/wardproject/ward/internal/fleet"
	"github.com/wardproject/ward/internal/gwevent"
	"github.com/wardproject/ward/internal/leader"
	"github.com/wardproject/ward/internal/presence"
	"github.com/wardproject/ward/internal/rollout"
)

// A node's role (config.Role) decides which parts it runs; every part is
// built on every node (construction binds nothing but the HTTPS
// listener), and Run starts those of the role:
//
//	part                                   gateway detector api all
//	MQTT gateway, admission resync, presence  x                  x
//	detection consumers and evaluation               x           x
//	HTTPS: API, EST, console, /crl, stream                  x    x
//	HTTPS: /healthz and /metrics only         x      x
//	leader jobs: audit, crl, rollouts, retention            x    x
//	live stream hub, audit anchor, responder  x      x      x    x
//
// A gateway or detector node serves /healthz and /metrics on its HTTPS
// address, with the same TLS and rate limits as an API node, and nothing
// else: monitoring finds every node the same way, and no second listener
// (or plain-HTTP port) is opened on a node that holds devices' sessions.

// runsGateway reports whether this node's role includes the MQTT gateway.
func (s *Server) runsGateway() bool {
	return s.cfg.Role == config.RoleAll || s.cfg.Role == config.RoleGateway
}

// runsDetector reports whether this node's role includes detection.
func (s *Server) runsDetector() bool {
	return s.cfg.Role == config.RoleAll || s.cfg.Role == config.RoleDetector
}

// runsAPI reports whether this node's role includes the HTTPS API and
// the scheduled work.
func (s *Server) runsAPI() bool {
	return s.cfg.Role == config.RoleAll || s.cfg.Role == config.RoleAPI
}

// buildElector builds the elector of the scheduled work (newElector).
func (s *Server) buildElector(context.Context) (err error) {
	s.elector, err = newElector(s.cfg, s.node, s.log, s.registry)
	return err
}

// buildPresence builds, on a gateway node of a cluster, the reporter of
// its sessions to the cluster's session directory, told of every session
// admitted or ended through the gateway's observers.
func (s *Server) buildPresence(context.Context) (err error) {
	if s.bus == nil || !s.runsGateway() {
		return nil
	}
	if s.presence, err = presence.NewReporter(presence.ReporterOptions{Node: s.node, Store: s.db, Sessions: s.gw,
		Logger: s.log.With("component", "presence"), Metrics: s.registry, Now: s.opts.Now}); err != nil {
		return err
	}
	*s.observers = append(*s.observers, presenceFeed{s.presence})
	return nil
}

// newElector returns the elector of the scheduled work: advisory locks in
// the PostgreSQL store, which every node of a cluster shares, or Local on
// SQLite (the data directory's lock already makes this node the only
// one). ward_leader{job} is registered on reg.
func newElector(cfg *config.Config, node string, log *slog.Logger, reg prometheus.Registerer) (leader.Elector, error) {
	var e leader.Elector = leader.Local()
	if dsn := string(cfg.Store.PostgresDSN); dsn != "" {
		p, err := leader.NewPostgres(leader.PostgresOptions{DSN: dsn, Schema: cfg.Store.PostgresSchema, Node: node,
			Logger: log.With("component", "leader")})
		if err != nil {
			return nil, err
		}
		e = p
	}
	return leader.Metered(e, reg, log.With("component", "leader")), nil
}

// lead runs work on g under the cluster-wide lock job.
func (s *Server) lead(ctx context.Context, g *errgroup.Group, job string, work func(ctx context.Context) error) {
	g.Go(func() error { return s.elector.Lead(ctx, job, work) })
}

// startScheduled starts the scheduled work, each job under its leader
// lock, so that it runs on one node of a cluster at a time.
func (s *Server) startScheduled(ctx context.Context, g *errgroup.Group) {
	s.lead(ctx, g, "rollouts", s.rollouts.Run)
	s.lead(ctx, g, "crl", s.refreshCRL)
	s.lead(ctx, g, "retention", func(ctx context.Context) error {
		rg, rctx := errgroup.WithContext(ctx)
		rg.Go(func() error { return s.reg.Run(rctx) }) // device events
		rg.Go(func() error { return s.api.Run(rctx) }) // ended user sessions
		return rg.Wait()
	})
	if !s.opts.ManualWindows {
		s.lead(ctx, g, "audit", s.comp.Loop)
	}
}

// refreshCRL re-signs the CRL every hour when it is older than half its
// validity (leader job "crl"), and tells the other nodes, which re-sign
// theirs from the store (each node serves its own copy at /crl).
func (s *Server) refreshCRL(ctx context.Context) error {
	return hourly(ctx, func() {
		before := s.ca.CRL()
		if err := s.ca.RefreshCRL(ctx); err != nil {
			s.log.Error("refresh CRL", "err", err)
			return
		}
		if s.cluster != nil && !bytes.Equal(before, s.ca.CRL()) {
			s.cluster.publish("crl", "")
		}
	})
}

// pruneIssued drops expired and revoked certificates from this node's
// in-memory issued set every hour (every node keeps its own).
func (s *Server) pruneIssued(ctx context.Context) error {
	return hourly(ctx, func() { s.ca.PruneIssued() })
}

// hourly calls fn every hour until ctx is done, then returns nil.
func hourly(ctx context.Context, fn func()) error {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			fn()
		}
	}
}

// partHandler serves, on a node without the API role, only /healthz and
// /metrics of h.
func partHandler(role string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || r.URL.Path == "/metrics" {
			h.ServeHTTP(w, r)
			return
		}
		http.Error(w, fmt.Sprintf("not found: this is a %s node of a Ward cluster; it serves only /healthz and /metrics (the API is on the api nodes)", role), http.StatusNotFound)
	})
}

// presenceFeed marks a device in the session directory's reporter on
// each session admitted or ended.
type presenceFeed struct{ r *presence.Reporter }

func (p presenceFeed) Observe(e gwevent.Event) {
	if e.Kind == gwevent.Connected || e.Kind == gwevent.Disconnected {
		p.r.Changed(e.Device)
	}
}

// sessionDirectory is the fleet registry's cluster-wide view of who is
// connected: the store's session directory on a cluster, nil (the local
// gateway's view) on a single node.
func (s *Server) sessionDirectory() fleet.SessionDirectory {
	if s.bus == nil {
		return nil
	}
	return presence.NewDirectory(s.db, 0, s.opts.Now)
}

// connectedCount is the overview's count of connected devices on a
// cluster (nil on a single node: the API counts the local gateway's).
func (s *Server) connectedCount() func(ctx context.Context) (int, error) {
	if s.bus == nil {
		return nil
	}
	return presence.NewDirectory(s.db, 0, s.opts.Now).Count
}

// connectedAddresses maps, on a cluster, the devices connected to any
// gateway node to their sessions' addresses (GET /api/v1/network/devices);
// nil on a single node: the API reads the local gateway's.
func (s *Server) connectedAddresses() func(ctx context.Context) (map[string][]string, error) {
	if s.bus == nil {
		return nil
	}
	return presence.NewDirectory(s.db, 0, s.opts.Now).Addresses
}

// rolloutsOnCluster sets, on a cluster, the rollout engine's bus and
// session directory, and declares the leader's group on the inputs queue
// (so that no input enqueued before a leader consumes is discarded). A
// single node leaves o as it is: the engine uses the local gateway.
func (s *Server) rolloutsOnCluster(ctx context.Context, o *rollout.Options) error {
	if s.bus == nil {
		return nil
	}
	o.Bus, o.Sessions = s.bus, presence.NewDirectory(s.db, 0, s.opts.Now)
	if err := s.bus.DeclareGroup(ctx, rollout.InputsQueue, rollout.InputsGroup); err != nil {
		return fmt.Errorf("declare the rollouts group on queue %s: %w", rollout.InputsQueue, err)
	}
	return nil
}

// redeliverOrders has, on a gateway node of a cluster, the rollout
// orders its connected devices may have missed while its bus connection
// was down (fan-out is at most once) published to them again after each
// reconnection (rollout.Engine.Redeliver), until ctx ends.
func (s *Server) redeliverOrders(ctx context.Context) error {
	if s.bus == nil || !s.runsGateway() {
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.ordersReconnected:
		}
		for {
			n, err := s.rollouts.Redeliver(ctx, s.gw)
			if err == nil {
				if n > 0 {
					s.log.Info("bus reconnected: published again the rollout orders of devices connected here", "orders", n)
				}
				break
			}
			if ctx.Err() != nil {
				return nil
			}
			s.log.Error("publish again the rollout orders missed while the bus was down; retrying", "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(2 * time.Second):
			}
		}
	}
}

// deliverOrders has, on a gateway node of a cluster, the rollout orders
// of the cluster's engines published to the devices connected here.
func (s *Server) deliverOrders() error {
	if s.bus == nil || !s.runsGateway() {
		return nil
	}
	_, err := s.rollouts.DeliverOrders(s.gw)
	return err
}
