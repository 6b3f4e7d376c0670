// Package server assembles Ward's parts into the running server that `ward
// serve` starts: the SQLite store, the CA, the device registry and its event
// recorder, the MQTT gateway, and the HTTPS listener for EST, the API, /crl,
// /healthz and /metrics. It owns their goroutines and stops them together.
//
// cmd/ward only parses configuration and calls Run; this package exists so
// that end-to-end tests start exactly the server an operator runs, on random
// ports in a temporary directory.
package server

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/wardproject/ward/internal/alert"
	"github.com/wardproject/ward/internal/api"
	"github.com/wardproject/ward/internal/audit"
	"github.com/wardproject/ward/internal/auditlog"
	"github.com/wardproject/ward/internal/bus"
	natsbus "github.com/wardproject/ward/internal/bus/nats"
	"github.com/wardproject/ward/internal/compliance"
	"github.com/wardproject/ward/internal/config"
	"github.com/wardproject/ward/internal/detect"
	"github.com/wardproject/ward/internal/est"
	"github.com/wardproject/ward/internal/fleet"
	"github.com/wardproject/ward/internal/gateway"
	"github.com/wardproject/ward/internal/gwevent"
	"github.com/wardproject/ward/internal/leader"
	"github.com/wardproject/ward/internal/notify"
	"github.com/wardproject/ward/internal/pki"
	"github.com/wardproject/ward/internal/presence"
	"github.com/wardproject/ward/internal/respond"
	"github.com/wardproject/ward/internal/rollout"
	"github.com/wardproject/ward/internal/secret"
	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/store/metered"
	"github.com/wardproject/ward/internal/store/postgres"
	"github.com/wardproject/ward/internal/store/sqlite"
	"github.com/wardproject/ward/internal/stream"
	"github.com/wardproject/ward/internal/update"
	"github.com/wardproject/ward/web"
)

// Options configure a Server. Config is required.
type Options struct {
	Config *config.Config
	Logger *slog.Logger
	// Out receives the first-start summary for a person (paths of
	// admin.token and ca.pem, CA fingerprint), which is also logged; nil:
	// only logged (ward serve --log-format json).
	Out io.Writer
	Now func() time.Time
	// ManualWindows stops the detection engine's own timer: the caller
	// closes windows with Detect().CloseWindow (tests with an injected clock).
	ManualWindows bool
	// ManualRollouts stops the rollout engine's own timer: the caller
	// checks the gates with Rollouts().Evaluate after moving its clock.
	ManualRollouts bool
	// rolloutProcessed (tests) is called after the rollout engine has
	// handled each observation or alert.
	rolloutProcessed func()
	// rolloutNow (tests) is the rollout engine's clock (nil: Now), so a
	// test can move rollouts through their soak times without moving the
	// clock that certificates are checked with.
	rolloutNow func() time.Time
	// rolloutQueueSize (tests) bounds the rollout engine's queue (0: its
	// default).
	rolloutQueueSize int
	// admissionApplied (tests) is called after each admission change from
	// another cluster node has been applied.
	admissionApplied func(admissionMsg)
	// admissionResynced (tests) is called after each re-read of the
	// admission state that follows a bus reconnection.
	admissionResynced func()
	// revocationCheck (tests) is how often a cluster node re-reads the
	// revocations from the store (0: every minute).
	revocationCheck time.Duration
	// streamRecheck (tests) is how often a live stream re-checks its
	// token (0: the stream package's default).
	streamRecheck time.Duration
}

// Server is a running Ward.
type Server struct {
	opts   Options
	cfg    *config.Config
	log    *slog.Logger
	db     store.Store
	ca     *pki.CA
	reg    *fleet.Registry
	rec    *fleet.Recorder
	gw     *gateway.Gateway
	alerts *alert.Manager
	engine *detect.Engine
	// detection is the cluster's detection (shipper, workers); nil
	// without a bus.
	detection *clusterDetection
	resp      *respond.Responder
	rollouts  *rollout.Engine
	notify    *notify.Dispatcher
	comp      *compliance.Service
	resigner  *update.Resigner
	bus       bus.Bus  // nil: a single node
	cluster   *cluster // nil: a single node
	// elector chooses the node that runs each scheduled job (leader
	// locks); presence reports this gateway node's sessions to the
	// cluster's directory (nil: no gateway role, or a single node).
	elector  leader.Elector
	presence *presence.Reporter
	// reconnected receives a value when the bus reconnects (cluster.run
	// then re-reads the admission state); ordersReconnected too
	// (redeliverOrders then publishes again the rollout orders this
	// gateway node may have missed).
	reconnected, ordersReconnected chan struct{}
	// collector gathers the gateway's events for detection; observers
	// are the gateway's observers (the collector, the rollout engine).
	collector *detect.Collector
	observers *observers
	// crt and key are the server certificate of both listeners.
	crt      *x509.Certificate
	key      crypto.Signer
	node     string // this node's name on the bus
	hub      *stream.Hub
	lock     *dirLock
	anchor   *auditlog.Anchor
	api      *api.Server
	httpSrv  *http.Server
	httpsLn  net.Listener
	ready    chan struct{}
	isReady  atomic.Bool
	registry *prometheus.Registry
}

// Files written to the data directory.
const (
	AdminTokenFile = "admin.token"
	CAFile         = "ca.pem"
	StoreFile      = "ward.db"
)

// New opens the store and the CA (creating them on first start), writes
// admin.token and ca.pem, builds every part in dependency order and binds
// both listeners. Run serves.
//
// Each part has one build method below, in the order New calls them; each
// translates its configuration with a named function (gatewayOptions,
// fleetOptions, ...) and takes its dependencies from the parts built
// before it. The one exception is the gateway's observers: the rollout
// engine observes the gateway and publishes through it, so it joins the
// observers after the gateway is built, before Run starts it.
func New(ctx context.Context, opts Options) (_ *Server, err error) {
	if opts.Config == nil {
		return nil, errors.New("server: Options.Config is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts, cfg: opts.Config, log: opts.Logger, ready: make(chan struct{}), registry: prometheus.NewRegistry()}
	s.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	for _, build := range []func(context.Context) error{
		s.openDataDir,     // data directory, its lock
		s.openStore,       // SQLite or PostgreSQL
		s.openCA,          // CA, server certificate
		s.firstStart,      // admin.token, ca.pem
		s.openAuditTrail,  // hash-chained audit log and its anchor
		s.joinBus,         // NATS (cluster only)
		s.buildElector,    // leader locks of the scheduled work
		s.buildStream,     // live stream hub
		s.buildRecorder,   // device event recorder
		s.buildAlerts,     // alert manager
		s.buildDetection,  // collector, engine, cluster detection
		s.buildGateway,    // MQTT gateway (observed by detection)
		s.buildPresence,   // session directory reporter (cluster gateway only)
		s.joinCluster,     // admission changes between nodes (cluster only)
		s.buildRegistry,   // device registry (tells the gateway or the cluster)
		s.buildResponder,  // automatic response
		s.buildRollouts,   // firmware rollouts (observe the gateway)
		s.buildNotify,     // alert sinks
		s.buildCompliance, // fleet audit
		s.buildAPI,        // EST, TUF, console, API
		s.listenHTTPS,     // HTTPS server and listener
	} {
		if err := build(ctx); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// openDataDir creates the data directory and locks it for this process.
func (s *Server) openDataDir(context.Context) (err error) {
	if err := os.MkdirAll(s.cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data directory %s: %w", s.cfg.DataDir, err)
	}
	s.lock, err = lockDataDir(s.cfg.DataDir)
	return err
}

// openStore opens the configured store.
func (s *Server) openStore(ctx context.Context) (err error) {
	s.db, err = openStore(ctx, s.cfg, s.registry)
	return err
}

// pkiOptions translates the configuration of the CA.
func pkiOptions(cfg *config.Config) pki.Options {
	return pki.Options{Dir: filepath.Join(cfg.DataDir, "ca"), Passphrase: []byte(cfg.PKI.KeyPassphrase),
		ImportCert: cfg.PKI.CACert, ImportKey: cfg.PKI.CAKey, DeviceValidity: cfg.PKI.DeviceCertValidity,
		AllowCNIdentity: cfg.Gateway.AllowCNIdentity}
}

// openCA opens (on first start creates) the CA and the server certificate
// of the HTTPS and MQTT listeners.
func (s *Server) openCA(ctx context.Context) (err error) {
	o := pkiOptions(s.cfg)
	o.Store, o.Logger, o.Now = s.db, s.log, s.opts.Now
	if s.ca, err = pki.Open(ctx, o); err != nil {
		return err
	}
	s.crt, s.key, err = s.ca.ServerCertificate(ctx, s.cfg.Hostnames)
	return err
}

// auditlogOptions translates the configuration of the audit trail.
func auditlogOptions(cfg *config.Config) auditlog.Options {
	return auditlog.Options{Dir: cfg.DataDir, Every: cfg.Audit.AnchorInterval, Passphrase: []byte(cfg.PKI.KeyPassphrase)}
}

// openAuditTrail opens the audit trail's anchor and anchors its head now:
// on the first start after an upgrade the trail has entries and no
// checkpoint yet. A tampered trail is logged (and found by the audit); it
// does not stop the server.
func (s *Server) openAuditTrail(ctx context.Context) (err error) {
	o := auditlogOptions(s.cfg)
	o.Store, o.Logger, o.Now = s.db, s.log, s.opts.Now
	if s.anchor, err = auditlog.New(o); err != nil {
		return err
	}
	if err := s.anchor.Checkpoint(ctx); err != nil && !errors.Is(err, auditlog.ErrTampered) {
		return fmt.Errorf("audit checkpoint: %w", err)
	}
	return nil
}

// joinBus connects to NATS when the configuration names it (a cluster);
// a single node has no bus.
func (s *Server) joinBus(context.Context) (err error) {
	s.reconnected, s.ordersReconnected = make(chan struct{}, 1), make(chan struct{}, 1)
	url := string(s.cfg.Bus.NATSURL)
	if url == "" {
		return nil
	}
	if s.node, err = secret.NewID(6); err != nil {
		return err
	}
	// Through a *natsbus.Bus first: a failed New must leave s.bus a nil
	// interface, not one holding a nil pointer that close calls.
	nb, err := natsbus.New(natsbus.Options{URL: url, Namespace: s.cfg.Bus.Namespace, Name: "ward-" + s.node,
		Reconnected: func() {
			for _, c := range []chan struct{}{s.reconnected, s.ordersReconnected} {
				select {
				case c <- struct{}{}:
				default:
				}
			}
		},
		Logger: s.log, Metrics: s.registry})
	if err != nil {
		return err
	}
	s.bus = nb
	return nil
}

// buildStream builds the live stream hub (fed by alerts and device events).
func (s *Server) buildStream(context.Context) (err error) {
	s.hub, err = newHub(s.cfg, s.bus, s.opts.streamRecheck, s.log, s.registry)
	return err
}

// buildRecorder builds the recorder that stores the gateway's events in
// batches.
func (s *Server) buildRecorder(context.Context) (err error) {
	s.rec, err = fleet.NewRecorder(fleet.RecorderOptions{Store: s.db, Logger: s.log, Metrics: s.registry})
	return err
}

// buildAlerts builds the alert manager; the live stream shows its changes.
func (s *Server) buildAlerts(ctx context.Context) (err error) {
	if s.alerts, err = alert.NewManager(ctx, alert.Options{Store: s.db, Logger: s.log, Metrics: s.registry, Now: s.opts.Now}); err != nil {
		return err
	}
	s.alerts.Subscribe(streamFeed{s.hub})
	return nil
}

// detectOptions translates the configuration of the detection engine.
func detectOptions(cfg *config.Config) detect.Options {
	return detect.Options{Window: cfg.Detect.Window, Retention: cfg.Detect.Retention, Grace: cfg.Detect.Grace}
}

// buildDetection builds the collector of the gateway's events, the
// engine, and on a cluster the shipper and ingester of window batches.
func (s *Server) buildDetection(ctx context.Context) (err error) {
	s.collector = detect.NewCollector()
	o := detectOptions(s.cfg)
	o.Collector, o.Store, o.Alerts, o.Logger, o.Metrics, o.Now = s.collector, s.db, s.alerts, s.log, s.registry, s.opts.Now
	if s.bus != nil {
		o.Partials = s.db
	}
	if s.engine, err = detect.New(ctx, o); err != nil {
		return err
	}
	if s.bus != nil {
		s.detection, err = s.newClusterDetection(ctx, s.collector)
	}
	return err
}

// gatewayOptions translates the configuration of the MQTT gateway.
func gatewayOptions(cfg *config.Config) gateway.Options {
	return gateway.Options{Addr: cfg.MQTTAddr, Limits: gateway.Limits{
		MaxMessageBytes: cfg.Gateway.MaxMessageBytes, MessagesPerSecond: cfg.Gateway.MessagesPerSecond,
		BytesPerSecond: cfg.Gateway.BytesPerSecond, ConnectsPerMinute: cfg.Gateway.ConnectsPerMinute,
		SessionsPerDevice: cfg.Gateway.SessionsPerDevice, HandshakesPerAddress: cfg.Gateway.HandshakesPerAddress,
		HandshakesPerPrefix: cfg.Gateway.HandshakesPerPrefix, SubscriberQueueBytes: cfg.Gateway.SubscriberQueueBytes,
		DeliveryWait: cfg.Gateway.DeliveryWait, DeliveryWaitQoS0: cfg.Gateway.DeliveryWaitQoS0,
		OfflineQueueBytes: cfg.Gateway.OfflineQueueBytes,
	}}
}

// buildGateway builds the MQTT gateway: its events go to the recorder and
// the live stream, its observations to detection (and to the rollout
// engine, which buildRollouts adds).
func (s *Server) buildGateway(context.Context) (err error) {
	s.observers = &observers{s.collector}
	o := gatewayOptions(s.cfg)
	o.TLS, o.Revoked, o.Identities, o.Devices = s.ca.MQTTConfig(s.crt, s.key, nil), s.ca, s.ca, s.db
	o.Events, o.Observer = teeEvents{s.rec, streamFeed{s.hub}}, s.observers
	o.Logger, o.Metrics, o.Now = s.log, s.registry, s.opts.Now
	s.gw, err = gateway.New(o)
	return err
}

// joinCluster subscribes to the admission changes of the other nodes and
// announces this node's (cluster only).
func (s *Server) joinCluster(context.Context) error {
	if s.bus == nil {
		return nil
	}
	s.cluster = &cluster{node: s.node, bus: s.bus, gw: s.gw, ca: s.ca, db: s.db, log: s.log.With("component", "cluster"),
		applied: s.opts.admissionApplied, resynced: s.opts.admissionResynced, reconnected: s.reconnected,
		revocationCheck: s.opts.revocationCheck}
	if _, err := s.bus.Subscribe(admissionSubject, s.cluster.receive); err != nil {
		return err
	}
	s.ca.NotifyIssued(s.cluster.CertificateIssued)
	s.log.Info("joined the cluster", "node", s.node)
	return nil
}

// fleetOptions translates the configuration of the device registry.
func fleetOptions(cfg *config.Config) fleet.Options {
	return fleet.Options{TokenTTL: cfg.Enroll.TokenTTL, ReenrollInterval: cfg.Enroll.ReenrollInterval,
		MaxCertificates: cfg.Enroll.MaxDeviceCerts, SupersededGrace: cfg.Enroll.SupersededGrace,
		EventRetention: cfg.Events.Retention, EventsPerDevice: cfg.Events.PerDevice}
}

// buildRegistry builds the device registry. It tells the local gateway of
// every admission change, and on a cluster every other node too.
func (s *Server) buildRegistry(context.Context) (err error) {
	o := fleetOptions(s.cfg)
	o.Store, o.CA, o.Observer, o.Gateway, o.Sessions = s.db, s.ca, streamFeed{s.hub}, s.gw, s.sessionDirectory()
	if s.cluster != nil {
		o.Gateway = s.cluster
	}
	o.Logger, o.Metrics, o.Now = s.log, s.registry, s.opts.Now
	s.reg, err = fleet.New(o)
	return err
}

// buildResponder builds the automatic response to alerts.
func (s *Server) buildResponder(context.Context) (err error) {
	if s.resp, err = respond.New(respond.Options{Registry: s.reg, LogLevel: s.gw, Alerts: s.alerts, Audit: s.anchor,
		Logger: s.log, Metrics: s.registry, Now: s.opts.Now}); err != nil {
		return err
	}
	s.alerts.Subscribe(s.resp)
	return nil
}

// buildRollouts builds the rollout engine, which publishes orders through
// the gateway and observes it (the one part added to the gateway's
// observers after the gateway is built). On a cluster it forwards what it
// observes to the "rollouts" leader's engine and orders through every
// gateway node, over the bus (rolloutsOnCluster).
func (s *Server) buildRollouts(ctx context.Context) (err error) {
	interval := time.Duration(0)
	if s.opts.ManualRollouts {
		interval = -1
	}
	now := s.opts.Now
	if s.opts.rolloutNow != nil {
		now = s.opts.rolloutNow
	}
	o := rollout.Options{Store: s.db, Releases: rollout.TUFReleases{Dir: filepath.Join(s.cfg.DataDir, update.SiteRepoDir)},
		Gateway: s.gw, Audit: s.anchor, Interval: interval, Logger: s.log, Metrics: s.registry, Now: now,
		Processed: s.opts.rolloutProcessed, StopTimeout: s.cfg.ShutdownGrace, QueueSize: s.opts.rolloutQueueSize}
	if err := s.rolloutsOnCluster(ctx, &o); err != nil {
		return err
	}
	if s.rollouts, err = rollout.New(o); err != nil {
		return err
	}
	if err := s.deliverOrders(); err != nil {
		return err
	}
	*s.observers = append(*s.observers, s.rollouts)
	s.alerts.Subscribe(s.rollouts)
	return nil
}

// buildNotify builds the alert sinks of the notify section, if any.
func (s *Server) buildNotify(context.Context) (err error) {
	if s.notify, err = s.newDispatcher(); err != nil {
		return err
	}
	if s.notify != nil {
		s.alerts.Subscribe(alert.SubscriberFunc(s.notify.Notify))
	}
	return nil
}

// serverFacts are the settings the fleet audit checks this server against.
func serverFacts(cfg *config.Config) audit.ServerFacts {
	return audit.ServerFacts{MinTLSVersion: tls.VersionTLS12, AuditLogEnabled: true, EventLogEnabled: true,
		CAKeyEncrypted: len(cfg.PKI.KeyPassphrase) > 0, MaxMessageBytes: cfg.Gateway.MaxMessageBytes,
		ConnectsPerMin: cfg.Gateway.ConnectsPerMinute, TokenTTL: cfg.Enroll.TokenTTL, DeviceCertMaxAge: cfg.PKI.DeviceCertValidity}
}

// site is the firmware repository of the data directory.
func (s *Server) site() update.Site {
	return update.Site{DataDir: s.cfg.DataDir, Passphrase: []byte(s.cfg.PKI.KeyPassphrase), Expiries: UpdateExpiries(s.cfg), Now: s.opts.Now, Logger: s.log}
}

// UpdateExpiries are the TUF metadata lifetimes of the update section,
// which the server and the ward update commands sign with. Delegated
// roles live as long as targets.
func UpdateExpiries(cfg *config.Config) update.Expiries {
	u := cfg.Update
	return update.Expiries{Root: u.RootExpiry, Targets: u.TargetsExpiry, Snapshot: u.SnapshotExpiry, Timestamp: u.TimestampExpiry, Delegation: u.TargetsExpiry}
}

// buildCompliance builds the fleet audit.
func (s *Server) buildCompliance(ctx context.Context) (err error) {
	s.comp, err = compliance.New(ctx, compliance.Options{Store: s.db, CA: s.ca, Facts: s.engine, Every: s.cfg.Audit.Interval,
		AuditTrail: s.anchor, Firmware: s.site(), Server: serverFacts(s.cfg), Logger: s.log, Metrics: s.registry, Now: s.opts.Now})
	return err
}

// estLimits translates the configuration of the EST front-end.
func estLimits(cfg *config.Config) est.Limits {
	return est.Limits{SourceRate: cfg.EST.SourceRate, SourceBurst: cfg.EST.SourceBurst, DeviceAttemptsPerHour: cfg.EST.DeviceAttemptsPerHour}
}

// apiOptions translates the configuration of the API.
func apiOptions(cfg *config.Config) api.Options {
	return api.Options{
		Limits:        api.Limits{PublicRate: cfg.API.PublicRate, PublicBurst: cfg.API.PublicBurst, AuthFailuresPerMinute: cfg.API.AuthFailuresPerMinute},
		AdminTokenTTL: cfg.API.AdminTokenTTL,
		Sessions: api.Sessions{IdleTimeout: cfg.API.SessionIdleTimeout, Lifetime: cfg.API.SessionLifetime,
			MaxFailures: cfg.API.LoginMaxFailures, Lockout: cfg.API.LoginLockout},
	}
}

// buildAPI builds the HTTPS handlers: EST, the TUF repository, the
// console and the API over every part built before.
func (s *Server) buildAPI(context.Context) (err error) {
	cfg := s.cfg
	estH, err := est.New(est.Options{Enroller: s.reg, Chain: s.ca.Chain, Limits: estLimits(cfg), Logger: s.log, Metrics: s.registry, Now: s.opts.Now})
	if err != nil {
		return err
	}
	if s.resigner, err = update.NewResigner(update.ResignerOptions{RepoDir: filepath.Join(cfg.DataDir, update.SiteRepoDir),
		KeysDir: filepath.Join(cfg.DataDir, update.SiteKeysDir), Passphrase: []byte(cfg.PKI.KeyPassphrase),
		Expiries: UpdateExpiries(cfg), Now: s.opts.Now, Logger: s.log, Metrics: s.registry}); err != nil {
		return err
	}
	tufH, err := update.NewHandler(update.HandlerOptions{Dir: filepath.Join(cfg.DataDir, update.SiteRepoDir), Logger: s.log})
	if err != nil {
		return err
	}
	console, err := web.New()
	if err != nil {
		return err
	}
	o := apiOptions(cfg)
	o.Console, o.Registry, o.Store, o.CA, o.EST = console, s.reg, s.db, s.ca, estH
	o.Alerts, o.Mitigator, o.Detection, o.DetectStore = s.alerts, s.resp, s.engine, anchoredStore{s.db, s.anchor}
	o.Addresses, o.Compliance, o.AuditVerifier, o.TUF = s.gw, s.comp, s.anchor, tufH
	o.Devices, o.Rollouts, o.Firmware, o.Stream = s.reg, s.rollouts, s.site(), s.hub
	o.ConnectedCount, o.ConnectedAddresses = s.connectedCount(), s.connectedAddresses()
	o.Metrics = promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{})
	o.Ready, o.Problems, o.Logger, o.Registerer, o.Now = s.isReady.Load, s.problems, s.log, s.registry, s.opts.Now
	if s.runsGateway() { // an API node of a cluster has no port to report
		o.MQTTPort = func() int {
			if a, ok := s.gw.Addr().(*net.TCPAddr); ok {
				return a.Port
			}
			return 0
		}
	}
	s.api, err = api.New(o)
	return err
}

// listenHTTPS builds the HTTPS server and binds its listener.
func (s *Server) listenHTTPS(context.Context) (err error) {
	var handler http.Handler = s.api
	if !s.runsAPI() {
		handler = partHandler(s.cfg.Role, s.api)
	}
	s.httpSrv = &http.Server{
		Handler:           handler,
		TLSConfig:         s.ca.HTTPSConfig(s.crt, s.key),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.With("component", "https").Handler(), slog.LevelDebug),
	}
	// Live streams never go idle: end them when shutdown begins, or
	// Shutdown would wait the whole grace period for them.
	s.httpSrv.RegisterOnShutdown(s.hub.Close)
	if s.httpsLn, err = net.Listen("tcp", s.cfg.HTTPSAddr); err != nil {
		return fmt.Errorf("listen on https_addr %s: %w", s.cfg.HTTPSAddr, err)
	}
	return nil
}

// firstStart writes admin.token (once) and ca.pem, and prints where they are.
func (s *Server) firstStart(ctx context.Context) error {
	dir := s.cfg.DataDir
	tokPath := filepath.Join(dir, AdminTokenFile)
	caPath := filepath.Join(dir, CAFile)
	if err := pki.WritePublicFile(caPath, s.ca.RootPEM()); err != nil {
		return fmt.Errorf("write %s: %w", caPath, err)
	}
	created := false
	if _, err := os.Stat(tokPath); errors.Is(err, os.ErrNotExist) {
		tok, _, err := api.CreateToken(ctx, s.db, "admin (first start)", store.RoleAdmin, s.cfg.API.AdminTokenTTL, s.opts.Now())
		if err != nil {
			return err
		}
		if err := pki.WriteSecretFile(tokPath, []byte(tok.Reveal()+"\n")); err != nil {
			return fmt.Errorf("write %s: %w", tokPath, err)
		}
		created = true
	} else if err != nil {
		return fmt.Errorf("check %s: %w", tokPath, err)
	} else if err := s.checkAdminToken(ctx, tokPath); err != nil {
		return err
	}
	absTok, _ := filepath.Abs(tokPath)
	absCA, _ := filepath.Abs(caPath)
	fp := pki.Fingerprint(s.ca.Root())
	// The token itself is never printed or logged: the operator reads it
	// from the 0600 file these lines name.
	if created {
		s.log.Info("first start: admin API token written", "path", absTok, "mode", "0600")
		fmt.Fprintf(s.opts.Out, "ward: first start: admin API token written to %s (mode 0600)\n", absTok)
	} else {
		s.log.Info("admin API token", "path", absTok)
		fmt.Fprintf(s.opts.Out, "ward: admin API token: %s\n", absTok)
	}
	s.log.Info("CA certificate", "path", absCA, "fingerprint_sha256", fp)
	fmt.Fprintf(s.opts.Out, "ward: CA certificate: %s\nward: CA fingerprint (SHA-256): %s\n", absCA, fp)
	return nil
}

// checkAdminToken refuses an admin.token that group or others can read
// (it is the key to the whole API) and warns when the token in it has
// expired or expires within two weeks: ward token rotate-admin replaces it
// (or, once expired, delete admin.token and restart: a new one is minted).
func (s *Server) checkAdminToken(ctx context.Context, path string) error {
	b, err := pki.ReadSecretFile(path)
	if err != nil {
		return fmt.Errorf("admin token: %w", err)
	}
	id, ok := api.TokenID(strings.TrimSpace(string(b)))
	if !ok {
		s.log.Warn("admin.token does not hold a Ward API token", "path", path)
		return nil
	}
	t, err := s.db.GetAPIToken(ctx, id)
	if err != nil {
		s.log.Warn("the token in admin.token is unknown to the store", "path", path, "token_id", id, "err", err)
		return nil
	}
	now := s.opts.Now()
	switch {
	case !t.RevokedAt.IsZero():
		s.log.Warn("the token in admin.token is revoked: delete the file and restart to mint a new one", "path", path, "token_id", id)
	case !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt):
		s.log.Warn("the token in admin.token has expired: delete the file and restart to mint a new one", "path", path, "token_id", id, "expired_at", t.ExpiresAt)
	case !t.ExpiresAt.IsZero() && t.ExpiresAt.Sub(now) < 14*24*time.Hour:
		s.log.Warn("the token in admin.token expires soon: run ward token rotate-admin --write "+path, "token_id", id, "expires_at", t.ExpiresAt)
	}
	return nil
}

// problems lists what /healthz reports as degraded.
func (s *Server) problems() []string {
	if p := s.resigner.Problem(); p != "" {
		return []string{p}
	}
	return nil
}

// Resigner returns the TUF timestamp re-sign timer (tests drive Check).
func (s *Server) Resigner() *update.Resigner { return s.resigner }

// Ready is closed once both listeners accept connections.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// HTTPSAddr is the bound HTTPS address.
func (s *Server) HTTPSAddr() net.Addr { return s.httpsLn.Addr() }

// MQTTAddr is the bound MQTT address (valid after Ready).
func (s *Server) MQTTAddr() net.Addr { return s.gw.Addr() }

// Detect returns the detection engine (tests close windows by hand).
func (s *Server) Detect() *detect.Engine { return s.engine }

// Rollouts returns the rollout engine (tests check its gates by hand).
func (s *Server) Rollouts() *rollout.Engine { return s.rollouts }

// Alerts returns the alert manager.
func (s *Server) Alerts() *alert.Manager { return s.alerts }

// CA returns the certificate authority (tests use it to inspect state).
func (s *Server) CA() *pki.CA { return s.ca }

// Run serves until ctx is done, then shuts everything down within the
// configured grace period and returns after every goroutine has exited.
func (s *Server) Run(ctx context.Context) error {
	defer s.close()
	g, gctx := errgroup.WithContext(ctx)
	recCtx, stopRec := context.WithCancel(context.WithoutCancel(ctx))
	recDone := make(chan error, 1)
	go func() { recDone <- s.rec.Run(recCtx) }()
	var gwReady <-chan struct{}
	if s.runsGateway() {
		g.Go(func() error { return s.gw.Run(gctx) })
		gwReady = s.gw.Ready()
	} else {
		none := make(chan struct{})
		close(none)
		gwReady = none
	}
	if s.presence != nil {
		g.Go(func() error { return s.presence.Run(gctx) })
	}
	if s.runsAPI() {
		s.startScheduled(gctx, g) // audit, crl, rollouts, retention under leader locks
		g.Go(func() error { return s.resigner.Run(gctx) })
	}
	g.Go(func() error { return s.pruneIssued(gctx) })
	g.Go(func() error { return s.rollouts.Forward(gctx) }) // cluster only
	g.Go(func() error { return s.redeliverOrders(gctx) })  // cluster gateway only
	g.Go(func() error { return s.resp.Run(gctx) })
	g.Go(func() error { return s.anchor.Run(gctx) })
	g.Go(func() error { return s.hub.Run(gctx) })
	if s.notify != nil {
		g.Go(func() error { return s.notify.Run(gctx) })
	}
	if s.cluster != nil {
		g.Go(func() error { return s.cluster.run(gctx) })
	}
	if s.runsGateway() {
		s.startShipper(gctx, g)
	}
	if s.runsDetector() {
		s.startDetector(gctx, g)
	}
	s.followDetection(gctx, g)
	g.Go(func() error {
		err := s.httpSrv.ServeTLS(s.httpsLn, "", "")
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("https listener: %w", err)
	})
	g.Go(func() error {
		select {
		case <-gwReady:
		case <-gctx.Done():
			return nil
		}
		s.isReady.Store(true)
		close(s.ready)
		attrs := []any{"role", s.cfg.Role, "https_addr", s.httpsLn.Addr().String()}
		if s.runsGateway() {
			attrs = append(attrs, "mqtt_addr", s.gw.Addr().String())
		}
		if s.node != "" {
			attrs = append(attrs, "node", s.node)
		}
		s.log.Info("ward ready", attrs...)
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownGrace)
		defer cancel()
		if err := s.httpSrv.Shutdown(sctx); err != nil {
			s.httpSrv.Close()
		}
		return nil
	})
	err := g.Wait()
	stopRec()
	<-recDone
	s.log.Info("ward stopped")
	return err
}

func (s *Server) close() {
	if s.hub != nil {
		s.hub.Close()
	}
	if s.bus != nil {
		s.bus.Close()
	}
	if s.httpsLn != nil {
		s.httpsLn.Close()
	}
	if s.db != nil {
		s.db.Close()
	}
	s.lock.release()
}

// observers hands each gateway observation to every observer in turn.
// It is complete before the gateway runs and never changes after.
type observers []gateway.Observer

func (os *observers) Observe(o gwevent.Event) {
	for _, x := range *os {
		x.Observe(o)
	}
}

// HoldPublish implements gateway.PublishHolder: the observers that may
// refuse a QoS 1/2 publish (the rollout engine) are asked first, and only
// when all took it do the others observe it. A holder that took it before
// a later one refused sees it again when the device resends it (one
// holder today; the rollout engine's handling is idempotent).
func (os *observers) HoldPublish(o gwevent.Event) bool {
	for _, x := range *os {
		if h, ok := x.(gateway.PublishHolder); ok && !h.HoldPublish(o) {
			return false
		}
	}
	for _, x := range *os {
		if _, ok := x.(gateway.PublishHolder); !ok {
			x.Observe(o)
		}
	}
	return true
}

// anchoredStore is the store with its audit appends going through the
// anchor, which signs a checkpoint of each.
type anchoredStore struct {
	store.Store
	anchor *auditlog.Anchor
}

func (s anchoredStore) AppendAudit(ctx context.Context, e store.AuditEntry) (store.AuditEntry, error) {
	return s.anchor.AppendAudit(ctx, e)
}

// openStore opens the configured store: PostgreSQL when a DSN is
// configured, else the embedded SQLite file in the data directory.
//
// Every call is timed (ward_store_operation_duration_seconds) by the
// metered decorator.
func openStore(ctx context.Context, cfg *config.Config, reg prometheus.Registerer) (store.Store, error) {
	if dsn := string(cfg.Store.PostgresDSN); dsn != "" {
		db, err := postgres.Open(ctx, dsn, postgres.Options{Schema: cfg.Store.PostgresSchema, UrgentConns: cfg.Store.PostgresUrgentConns})
		if err != nil {
			return nil, err
		}
		return metered.New(db, "postgres", reg), nil
	}
	db, err := sqlite.Open(ctx, filepath.Join(cfg.DataDir, StoreFile))
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return metered.New(db, "sqlite", reg), nil
}
