package netids

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/wardproject/ward/internal/netids/afterimage"
	"github.com/wardproject/ward/internal/netids/conntrack"
	"github.com/wardproject/ward/internal/netids/kitnet"
)

// Inspector is a rule engine that looks at every decoded packet beside the
// learned model (scans, brute force, floods, blocklists, MUD policy). It
// calls emit for each alert; emit fills in the device and sends it on.
type Inspector interface {
	Inspect(p *Packet, emit func(Alert))
}

// OutcomeInspector is an Inspector that also hears how connection attempts
// end (answered, refused, unreachable, unanswered, one-way), which the
// tracker learns only later than the attempt's packet: rules.Engine's slow
// unanswered-connection rule is one. c is valid during the call only.
type OutcomeInspector interface {
	Outcome(c *conntrack.Conn, o conntrack.Outcome, at time.Time, emit func(Alert))
}

// Options configure a Sensor. Zero values mean the documented defaults.
type Options struct {
	// Learn is how many packets (from the first) train the detector,
	// feature-mapping grace included. Default 10,000. Ignored with Model.
	Learn int
	// FMGrace is how many of them map features. Default Learn/10.
	FMGrace int
	// Calibrate is how many of the last learning packets are held back
	// from training and scored by the frozen model; the threshold comes
	// from their scores. Default a fifth of those after FMGrace.
	Calibrate int
	// UncoupledFeatures feeds the detector only the 60 AfterImage
	// features that describe the sender alone (afterimage.Uncoupled),
	// without the 2-D host–host and socket–socket ones that couple every
	// client of a shared server. Default off: all 100, which detect more
	// on every capture measured (docs/detection.md), now that clipping
	// bounds what a drifted server statistic adds to a client's score.
	UncoupledFeatures bool
	// Seed makes the detector deterministic.
	Seed uint64
	// Model is a trained detector (kitnet.Load); every packet is then
	// scored and none is learnt from.
	Model *kitnet.Detector
	// Transform overrides the detector's feature transform (kitnet.Transform*).
	Transform string
	// Features bounds the AfterImage tables.
	Features afterimage.Options
	// Conns configures the connection tracker (handshake timeout, caps,
	// idle timeout, counters' half-life).
	Conns conntrack.Options
	// Window configures the per-host score window of the old pipeline,
	// off by default: with Window.On a packet's score is the window over
	// the learned score alone (a baseline for evaluation), not the fused
	// evidence.
	Window WindowOptions
	// Evidence sets the weights of the evidence terms and the incident
	// threshold.
	Evidence EvidenceOptions
	// ThresholdQuantile is the quantile of the learned scores of the
	// held-back calibration packets that becomes the learned detector's
	// threshold (saved with the model; TermLearned uses the calibration's
	// 99.9th percentile), before ThresholdMargin multiplies it. Default
	// 0.999.
	ThresholdQuantile float64
	// ThresholdMargin multiplies the threshold. Default 1.5.
	ThresholdMargin float64
	// Sink receives alerts. Default: DiscardSink.
	Sink AlertSink
	// Registry maps addresses to enrolled devices; nil means none, and no
	// unknown-device alerts.
	Registry DeviceRegistry
	// Inspectors run on every packet (rules, MUD policy).
	Inspectors []Inspector
	// Logger; nil discards.
	Logger *slog.Logger
}

// Result is what Process says about one packet.
type Result struct {
	// Score is the packet's score: the fused evidence of its connection
	// at this packet, in [0, 1] (for a packet outside any connection, its
	// learned and drift terms alone). With Options.Window.On it is the
	// per-host window of the learned score instead. Only meaningful after
	// learning.
	Score float64
	// Evidence holds the terms Score fuses.
	Evidence Evidence
	// Conn is the packet's connection (zero with HasConn false).
	Conn    conntrack.Key
	HasConn bool
	// Time, Src and Dst are the packet's (for evaluation by host).
	Time     time.Time
	Src, Dst netip.Addr
	// Raw is the detector's own score for the packet, in [0, 1].
	Raw float64
	// Drift is the fraction of the packet's features outside the range
	// seen in training (0 while learning, before calibration).
	Drift float64
	// Learning is set for packets used for learning.
	Learning bool
	// Alert is set when Score reached the incident threshold.
	Alert bool
	// Decoded is false for frames of an unsupported link type.
	Decoded bool
}

// Summary describes a run.
type Summary struct {
	Packets      uint64            `json:"packets"`
	Learned      uint64            `json:"learned"`
	Scored       uint64            `json:"scored"`
	Undecoded    uint64            `json:"undecoded,omitempty"`
	Alerts       uint64            `json:"alerts"`
	AlertsByRule map[string]uint64 `json:"alerts_by_rule,omitempty"`
	Threshold    float64           `json:"threshold"`
	// Incidents counts incidents (one per host and hour) by severity.
	Incidents   map[string]uint64 `json:"incidents,omitempty"`
	Hosts       int               `json:"hosts"`
	TrackedKeys int               `json:"tracked_keys"`
	// Connections tracked at the end, and how the attempts ended
	// (answered, refused, unreachable, unanswered, one-way).
	Connections int               `json:"connections"`
	Outcomes    map[string]uint64 `json:"outcomes,omitempty"`
	Evictions   int64             `json:"evictions,omitempty"`
	Warnings    []string          `json:"warnings,omitempty"`
	Elapsed     time.Duration     `json:"-"`
	PacketsPerS float64           `json:"packets_per_second"`
}

// Sensor turns packets into alerts: decoding, asset inventory, rules,
// AfterImage features, the KitNET detector and the per-host score window.
// It is not safe for concurrent use: one goroutine feeds it.
type Sensor struct {
	opts     Options
	log      *slog.Logger
	dec      *decoder
	fx       *afterimage.Extractor
	ct       *conntrack.Tracker
	ctp      conntrack.Packet
	det      *kitnet.Detector
	win      *window
	assets   *Inventory
	features []float64 // all AfterImage features
	selected []int     // indexes fed to the detector; nil: all
	input    []float64 // the detector's input
	pkt      Packet

	tail      []float64 // learned scores of the calibration packets
	learned   uint64
	threshold float64 // of the fused score (or of the window, with Window.On)
	eo        EvidenceOptions

	clients     map[netip.Addr]*client
	dns         dnsEvidence
	incidents   map[incidentKey]*Incident
	incidentLog []*Incident

	sum Summary
	ctx context.Context // only during Process, for emit
	// emit sends an alert of the packet being processed; set while the
	// tracker and the inspectors run.
	emit      func(Alert)
	outcomeIn []OutcomeInspector
}

// New returns a Sensor.
func New(opts Options) (*Sensor, error) {
	if opts.Learn <= 0 {
		opts.Learn = 10000
	}
	if opts.ThresholdQuantile <= 0 || opts.ThresholdQuantile > 1 {
		opts.ThresholdQuantile = 0.999
	}
	if opts.ThresholdMargin <= 0 {
		opts.ThresholdMargin = 1.5
	}
	opts.Evidence.defaults()
	if opts.Sink == nil {
		opts.Sink = DiscardSink{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Sensor{
		opts: opts,
		log:  opts.Logger.With("component", "netids"),
		dec:  newDecoder(),
		fx:   afterimage.New(opts.Features),

		win:       newWindow(opts.Window),
		assets:    NewInventory(0),
		features:  make([]float64, afterimage.NumFeatures),
		eo:        opts.Evidence,
		threshold: opts.Evidence.Threshold,
		clients:   map[netip.Addr]*client{},
		dns:       newDNSEvidence(),
		incidents: map[incidentKey]*Incident{},
	}
	for _, in := range opts.Inspectors {
		if oi, ok := in.(OutcomeInspector); ok {
			s.outcomeIn = append(s.outcomeIn, oi)
		}
	}
	co := opts.Conns
	user := co.OnOutcome
	co.OnOutcome = func(c *conntrack.Conn, o conntrack.Outcome, at time.Time) {
		if user != nil {
			user(c, o, at)
		}
		s.evidenceOutcome(c, o, seconds(at))
		if s.emit == nil {
			return
		}
		for _, oi := range s.outcomeIn {
			oi.Outcome(c, o, at, s.emit)
		}
	}
	s.ct = conntrack.New(co)
	s.input = s.features
	if opts.UncoupledFeatures {
		s.selected = afterimage.Uncoupled()
		s.input = make([]float64, len(s.selected))
	}
	s.sum.AlertsByRule = map[string]uint64{}
	s.sum.Incidents = map[string]uint64{}
	if opts.Model != nil {
		if n := opts.Model.Options().Features; n != len(s.input) {
			return nil, fmt.Errorf("netids: the model takes %d features and the sensor makes %d (a model trained with --uncoupled-features needs that flag, and the reverse)", n, len(s.input))
		}
		if opts.Model.Phase() != kitnet.PhaseExecuting {
			return nil, errors.New("netids: Options.Model must be a trained detector")
		}
		s.det = opts.Model
		if opts.Window.On {
			s.threshold = opts.Model.Threshold
		}
		return s, nil
	}
	det, err := kitnet.New(kitnet.Options{Features: len(s.input), Learn: opts.Learn,
		FMGrace: opts.FMGrace, Calibrate: opts.Calibrate, Seed: opts.Seed, Transform: opts.Transform})
	if err != nil {
		return nil, fmt.Errorf("netids: %w", err)
	}
	s.det = det
	for _, w := range det.Options().Warnings() {
		s.log.Warn("short learning: " + w)
		s.sum.Warnings = append(s.sum.Warnings, "short learning: "+w)
	}
	return s, nil
}

// track feeds p to the connection tracker and marks whether p opened an
// attempt and which way it went.
func (s *Sensor) track(p *Packet) conntrack.Event {
	s.ctp = p.Conntrack()
	ev := s.ct.Observe(&s.ctp)
	p.Opens, p.Up = ev.Opened, ev.Up
	return ev
}

// Tracker returns the sensor's connection tracker.
func (s *Sensor) Tracker() *conntrack.Tracker { return s.ct }

// Detector returns the sensor's detector (for saving once trained).
func (s *Sensor) Detector() *kitnet.Detector { return s.det }

// Threshold returns the incident threshold of Result.Score (with
// Window.On, the window's threshold, 0 until learning ends).
func (s *Sensor) Threshold() float64 { return s.threshold }

// Assets returns the inventory of hosts seen.
func (s *Sensor) Assets() *Inventory { return s.assets }

// Process runs one frame through the sensor. Alerts go to the sink; an
// error from the sink is returned after the packet has been processed.
func (s *Sensor) Process(ctx context.Context, f *Frame) (Result, error) {
	s.sum.Packets++
	s.ctx = ctx
	defer func() { s.ctx = nil }()
	p := &s.pkt
	if !s.dec.decode(f, p) {
		s.sum.Undecoded++
		return Result{}, nil
	}
	var sinkErr error
	emit := func(a Alert) {
		if err := s.send(a); err != nil && sinkErr == nil {
			sinkErr = err
		}
	}
	if dev, isNew := s.assets.observe(p); isNew && s.opts.Registry != nil {
		s.checkDevice(ctx, dev, p, emit)
	}
	s.emit = emit
	ev := s.track(p)
	if len(p.DNS) > 0 {
		s.dns.observe(p.DNS)
	}
	for _, in := range s.opts.Inspectors {
		in.Inspect(p, emit)
	}
	s.emit = nil

	s.fx.Extract(&p.Packet, s.features)
	for i, f := range s.selected {
		s.input[i] = s.features[f]
	}
	phase := s.det.Phase()
	raw, learning := s.det.Process(s.input)
	r := Result{Raw: raw, Learning: learning, Decoded: true, Drift: s.det.Drift(), Time: p.Time, Src: p.SrcIP, Dst: p.DstIP}
	e, c := s.evidence(p, ev, raw, r.Drift, !learning)
	r.Evidence = e
	if c != nil {
		r.Conn, r.HasConn = c.Key, true
	}
	if s.opts.Window.On {
		if phase != kitnet.PhaseMapping {
			r.Score = s.win.update(p, raw)
		}
	} else {
		r.Score = s.eo.Fuse(&e)
	}
	if learning {
		s.learned++
		s.sum.Learned++
		if phase == kitnet.PhaseCalibrating {
			s.tail = append(s.tail, raw)
		}
		if s.det.Phase() == kitnet.PhaseExecuting {
			s.setThreshold()
		}
		return r, sinkErr
	}
	s.sum.Scored++
	if s.threshold > 0 && r.Score > s.threshold && c != nil && !s.opts.Window.On {
		r.Alert = true
		s.incident(p, c, &e, r.Score, emit)
	}
	return r, sinkErr
}

func (s *Sensor) setThreshold() {
	if len(s.tail) == 0 {
		return
	}
	sorted := slices.Clone(s.tail)
	slices.Sort(sorted)
	s.det.Threshold = kitnet.Quantile(sorted, s.opts.ThresholdQuantile) * s.opts.ThresholdMargin
	if s.opts.Window.On {
		s.threshold = s.det.Threshold
	}
	s.tail = nil
	s.log.Info("learning finished", "packets", s.learned, "learned threshold", s.det.Threshold,
		"autoencoders", len(s.det.FeatureMap()))
}

func (s *Sensor) checkDevice(ctx context.Context, a *Asset, p *Packet, emit func(Alert)) {
	d, ok, err := s.opts.Registry.LookupDevice(ctx, net.HardwareAddr(p.SrcMAC[:]), p.SrcIP)
	if err != nil {
		s.log.Warn("device lookup failed", "mac", a.MAC, "err", err)
		return
	}
	if ok {
		a.DeviceID, a.Model = d.ID, d.Model
		return
	}
	emit(Alert{Time: p.Time, Rule: RuleNewDevice, Severity: SeverityLow, Packet: p.Number,
		Flow: FlowOf(p), SrcMAC: a.MAC,
		Message: "device on the network is not enrolled in Ward: enroll it or find out what it is"})
}

func (s *Sensor) send(a Alert) error {
	if a.DeviceID == "" && a.SrcMAC != "" {
		if as := s.assets.byMAC(a.SrcMAC); as != nil {
			a.DeviceID = as.DeviceID
		}
	}
	s.noteRule(&a)
	s.sum.Alerts++
	s.sum.AlertsByRule[a.Rule]++
	return s.opts.Sink.Send(s.ctx, a)
}

// Summary returns counts so far; the caller sets Elapsed and PacketsPerS.
func (s *Sensor) Summary() Summary {
	sum := s.sum
	sum.AlertsByRule = maps2(s.sum.AlertsByRule)
	sum.Incidents = maps2(s.sum.Incidents)
	sum.Threshold = s.threshold
	sum.Hosts = s.assets.Len()
	st := s.fx.Stats()
	sum.TrackedKeys, sum.Evictions = st.Keys, st.Evictions
	cs := s.ct.Stats()
	sum.Connections = cs.Conns
	sum.Outcomes = map[string]uint64{}
	for o, n := range cs.Outcomes {
		if n > 0 {
			sum.Outcomes[conntrack.Outcome(o).String()] = n
		}
	}
	return sum
}

func maps2(m map[string]uint64) map[string]uint64 {
	out := make(map[string]uint64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
