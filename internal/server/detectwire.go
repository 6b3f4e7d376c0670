package server

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sync/errgroup"

	"github.com/wardproject/ward/internal/bus"
	"github.com/wardproject/ward/internal/detect"
)

// Detection in a cluster (see package detect's cluster.go): gateway nodes
// ship their window aggregates (startShipper), detector nodes store them
// and one of them, the detect leader, evaluates the whole fleet
// (startDetector). Every node of a cluster follows the leader's state in
// the store, so that any node answers the API and runs the audit
// (followDetection). A single node without a bus closes its windows from
// its own collector, as before.

// clusterDetection holds the cluster's detection parts; nil without a bus.
type clusterDetection struct {
	shipper  *detect.Shipper
	ingester *detect.Ingester
	elector  detect.Elector
}

// newClusterDetection builds the shipper and the ingester of a node on a
// bus, and declares the detector group so that no batch enqueued before a
// detector starts is discarded.
func (s *Server) newClusterDetection(ctx context.Context, collector *detect.Collector) (*clusterDetection, error) {
	cfg := s.cfg
	if err := s.bus.DeclareGroup(ctx, detect.WindowsQueue, detect.DetectGroup); err != nil {
		return nil, fmt.Errorf("declare the detector group on queue %s: %w", detect.WindowsQueue, err)
	}
	sh, err := detect.NewShipper(detect.ShipperOptions{Collector: collector, Bus: s.bus, Node: s.node, Window: cfg.Detect.Window,
		SpoolBytes: int64(cfg.Detect.SpoolBytes), Logger: s.log, Metrics: s.registry, Now: s.opts.Now, Manual: s.opts.ManualWindows})
	if err != nil {
		return nil, err
	}
	in, err := detect.NewIngester(detect.IngesterOptions{Partials: s.db, DeadLetters: s.bus, Window: cfg.Detect.Window,
		Stored: s.engine.Prompt, Logger: s.log, Metrics: s.registry})
	if err != nil {
		return nil, err
	}
	// A cluster has a shared PostgreSQL store (config checks it): one
	// node at a time leads "detect", through the server's elector.
	return &clusterDetection{shipper: sh, ingester: in, elector: s.elector}, nil
}

// startShipper runs the gateway role's half of detection: at each window
// end the node's partial datapoints go on the bus (spooled while NATS is
// down). Without a bus it does nothing: startDetector closes the windows.
func (s *Server) startShipper(ctx context.Context, g *errgroup.Group) {
	if s.detection == nil {
		return
	}
	g.Go(func() error { return s.detection.shipper.Run(ctx) })
}

// startDetector runs the detector role: detect.workers consumers of the
// window batches and the fleet-wide evaluation whenever this node is the
// detect leader. Without a bus it runs the single node's engine, which
// closes windows from the local collector (unless ManualWindows).
func (s *Server) startDetector(ctx context.Context, g *errgroup.Group) {
	if s.detection == nil {
		if !s.opts.ManualWindows {
			g.Go(func() error { return s.engine.Run(ctx) })
		}
		return
	}
	for range s.cfg.Detect.Workers {
		g.Go(func() error {
			err := s.bus.Consume(ctx, detect.WindowsQueue, detect.DetectGroup, s.detection.ingester.Handle)
			if errors.Is(err, bus.ErrClosed) {
				return nil
			}
			return err
		})
	}
	if !s.opts.ManualWindows {
		g.Go(func() error { return s.engine.Lead(ctx, s.detection.elector) })
	}
}

// followDetection keeps, on every node of a cluster, the profiles,
// baselines and device facts the API and the audit read as the detect
// leader stored them.
func (s *Server) followDetection(ctx context.Context, g *errgroup.Group) {
	if s.detection == nil || s.opts.ManualWindows {
		return
	}
	g.Go(func() error { return s.engine.Follow(ctx) })
}
