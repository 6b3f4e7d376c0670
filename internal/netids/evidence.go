package netids

import (
	"bytes"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"

	"github.com/wardproject/ward/internal/netids/afterimage"
	"github.com/wardproject/ward/internal/netids/conntrack"
)

// Term names an evidence term. Each is a number in [0, 1] that an operator
// can read on its own; the sensor fuses them per connection with a
// noisy-OR, 1 − Π(1 − wᵢ·eᵢ), whose weights wᵢ cap what one term alone can
// say (EvidenceOptions).
type Term int

// Evidence terms, in the order of Evidence.
const (
	// TermFailed: failed TCP handshakes to a server and port that never
	// answered this client (command-and-control attempts):
	// 1 − exp(−(failures − 1)/2).
	TermFailed Term = iota
	// TermFanOut: distinct connections of this client that failed in the
	// last minutes (decayed, half-life 5 min): 1 − exp(−n/10). Applied to
	// the client's unproven connections only.
	TermFanOut
	// TermBurst: new connections this client opened in the last minute
	// (decayed, half-life 1 min), beyond 30: (n − 30)/70, clipped. Applied
	// to unproven connections only.
	TermBurst
	// TermRule: a rule fired on a pattern this connection is part of
	// (port scan of its server, host scan of its port, brute force or
	// slow unanswered attempts on it, a blocklisted peer), decaying with a
	// half-life of 10 min.
	TermRule
	// TermNovelty: a service (server, port, protocol) this client did not
	// use while the sensor learnt, or a client not seen then; for a device
	// with a MUD profile (internal/netids/mud), a connection outside the
	// profile, learnt or not, and never one inside it.
	TermNovelty
	// TermLearned: the learned detector's score of the client's packets on
	// this connection, as ratio r to the 99.9th percentile of its
	// calibration: 0.1·r below 1, then 0.1 + 0.9·(r − 1)/2, clipped (1 at
	// three times the percentile); the connection keeps the
	// largest, decaying with a half-life of 30 s. Packets from the server
	// do not count: the server's statistics are shared by all its clients.
	TermLearned
	// TermDrift: the fraction of the client's packet features outside
	// their training range beyond the calibration's 99th percentile, over
	// 0.2, clipped; kept like TermLearned.
	TermDrift
	// TermDNS: the connection's server address was given by a DNS name
	// that also resolved to an address some client failed to reach, never
	// answered (TermFailed, weighted, at the threshold) — a C&C name moving
	// between addresses, or a second host calling the same name. Decays
	// with a half-life of 1 h.
	TermDNS
	// TermIRC: the client registered on an IRC server (NICK and USER
	// commands, RFC 2812 §3.1) on this connection: 1 for as long as the
	// connection lives. IRC is the command channel of the
	// Tsunami/Kaiten family of IoT bots (Muhstik and many Mirai and
	// Gafgyt variants) and no IoT device's business. The client's other
	// TCP connections to the same port, any server, inherit it with a
	// half-life of 1 h: a bot rotating between command-and-control servers
	// on one port (the attempts that failed or were reset included).
	TermIRC
	// TermFlood: connection attempts (new sockets: a client's SYN, its
	// first UDP datagram on a port, an echo request) on this one
	// connection, decayed with a half-life of 10 s, far above the busiest
	// connection of the client while the sensor learnt: with n the
	// decayed count and L = max(20, 4 × that peak), (n − L)/L, clipped (1
	// at twice the limit). An HTTP GET flood (a new socket, one request,
	// close, over and over, to one service) is one answered, proven
	// connection that no failure or novelty term sees.
	TermFlood
	// NumTerms is the number of terms.
	NumTerms
)

const numTerms = NumTerms

var termNames = [numTerms]string{"failed-handshakes", "fan-out", "new-connection-burst", "rule", "novelty", "learned", "drift", "dns", "irc", "flood"}

func (t Term) String() string { return termNames[t] }

// Evidence is one connection's terms at one packet.
type Evidence [numTerms]float64

// EvidenceOptions are the weights of the terms and the incident
// threshold. Zero values mean the documented defaults; docs/detection.md
// has the sensitivity of each.
type EvidenceOptions struct {
	// Weights of the terms (TermFailed…TermIRC). Defaults: failed 0.9,
	// fan-out 0.9, burst 0.8, rule 0.95, novelty 0.3, learned 0.6, drift
	// 0.4, dns 0.9, irc 0.9, flood 0.8. A weight at or below the threshold means the term alone never makes
	// an incident: novelty (info) and, with drift, learned (medium) need
	// company.
	Weights [numTerms]float64
	// Threshold of the fused score at which a connection is evidence of an
	// incident. Default 0.5.
	Threshold float64
	// Off disables a term (ablations).
	Off [numTerms]bool
	// FloodFloor and FloodPeakFactor set TermFlood's limit,
	// max(FloodFloor, FloodPeakFactor × the client's learnt peak), in
	// decayed attempts. Defaults 20 and 4.
	FloodFloor, FloodPeakFactor float64
}

var defaultWeights = [numTerms]float64{0.9, 0.9, 0.8, 0.95, 0.3, 0.6, 0.4, 0.9, 0.9, 0.8}

// DefaultEvidence returns the evidence options with every default filled
// in (to derive variants from).
func DefaultEvidence() EvidenceOptions {
	var o EvidenceOptions
	o.defaults()
	return o
}

func (o *EvidenceOptions) defaults() {
	for i, w := range o.Weights {
		if w <= 0 {
			o.Weights[i] = defaultWeights[i]
		}
		o.Weights[i] = min(o.Weights[i], 1)
	}
	if o.Threshold <= 0 || o.Threshold >= 1 {
		o.Threshold = 0.5
	}
	if o.FloodFloor <= 0 {
		o.FloodFloor = floodFloor
	}
	if o.FloodPeakFactor <= 0 {
		o.FloodPeakFactor = floodPeakFactor
	}
}

// Fuse returns the noisy-OR of e with the weights.
func (o *EvidenceOptions) Fuse(e *Evidence) float64 {
	p := 1.0
	for i, v := range e {
		if o.Off[i] {
			continue
		}
		p *= 1 - o.Weights[i]*clip01(v)
	}
	return 1 - p
}

func clip01(v float64) float64 {
	switch {
	case v > 1:
		return 1
	case v > 0:
		return v
	}
	return 0 // and NaN
}

// Half-lives (seconds) of the decayed evidence.
const (
	hlFanOut  = 300
	hlBurst   = 60
	hlRule    = 600
	hlLearned = 30
	hlDNS     = 3600
	hlIRC     = 3600
	hlFlood   = 10
)

// floodFloor is the smallest limit of TermFlood, in decayed attempts (20
// attempts at a half-life of 10 s: about 1.4 new sockets a second kept
// up); floodPeakFactor how far above the client's learnt peak the limit
// is.
const (
	floodFloor      = 20
	floodPeakFactor = 4
)

// Connection marks (conntrack.Conn.Mark.V) the sensor keeps.
const (
	markLearned  = iota // decayed maximum of the learned term
	markDrift           // decayed maximum of the drift term
	markRule            // rule term, at Mark.T
	markAttempts        // decayed attempts (TermFlood), at Mark.T
	markBeatLast        // time of the last attempt (periodicity, context only)
	markBeatGap         // mean interval between attempts (EWMA)
	markBeatDev         // mean absolute deviation of the intervals (EWMA)
	markBeatN           // attempts counted
)

// Mark.N bits.
const (
	markFailedCounted = 1 << iota // the connection's first failure reached the client's fan-out
	markNovel                     // the service was new when the connection was created
	markNoveltyKnown              // markNovel has been decided
	markMUDAllowed                // the client's MUD profile allows the connection
	markMUDOutside                // the client's MUD profile does not
	markIRCNick                   // the client sent an IRC NICK command on the connection
	markIRCUser                   // … and a USER command
)

const markIRC = markIRCNick | markIRCUser

// client is what the sensor keeps per client host.
type client struct {
	last                float64
	fanOut, burst       float64 // decayed counts at last
	rules               [4]rulePattern
	services            map[service]struct{} // learnt while learning
	learntWhileLearning bool
	overflowedProfile   bool
	ircPort             uint16  // the port of its last IRC registration
	ircAt               float64 // when (0: never)
	peakAttempts        float64 // the largest decayed attempts of one of its connections while learning
}

type service struct {
	server netip.Addr
	port   uint16
	proto  afterimage.Proto
}

// rulePattern is a rule hit and the flows it covers.
type rulePattern struct {
	rule   string
	server netip.Addr // port scan, brute force, unanswered, blocklist: the server
	port   uint16     // host scan, brute force, unanswered: the port
	at     float64
}

const maxClients = 1 << 16
const maxServicesPerClient = 512

func (s *Sensor) client(a netip.Addr, t float64) *client {
	c, ok := s.clients[a]
	if !ok {
		if len(s.clients) >= maxClients {
			// Evict a stale client among a few sampled.
			var victim netip.Addr
			oldest := math.Inf(1)
			n := 0
			for k, v := range s.clients {
				if v.last < oldest {
					victim, oldest = k, v.last
				}
				if n++; n == 8 {
					break
				}
			}
			delete(s.clients, victim)
		}
		c = &client{last: t}
		s.clients[a] = c
	}
	if dt := t - c.last; dt > 0 {
		c.fanOut *= math.Exp2(-dt / hlFanOut)
		c.burst *= math.Exp2(-dt / hlBurst)
		c.last = t
	}
	return c
}

// noteRule records an alert's pattern on its client, so that the flows in
// the pattern carry TermRule.
func (s *Sensor) noteRule(a *Alert) {
	if !a.Flow.Src.IsValid() {
		return
	}
	t := seconds(a.Time)
	pat := rulePattern{rule: a.Rule, at: t}
	switch a.Rule {
	case RulePortScan, RuleBlocklist:
		pat.server = a.Flow.Dst
	case RuleHostScan:
		pat.port = a.Flow.DstPort
	case RuleBrute, RuleUnanswered:
		pat.server, pat.port = a.Flow.Dst, a.Flow.DstPort
	default:
		return
	}
	c := s.client(a.Flow.Src, t)
	oldest := 0
	for i := range c.rules {
		if c.rules[i].at < c.rules[oldest].at {
			oldest = i
		}
	}
	c.rules[oldest] = pat
}

func seconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// onOutcome feeds attempt outcomes into the clients' fan-out.
func (s *Sensor) evidenceOutcome(c *conntrack.Conn, o conntrack.Outcome, t float64) {
	switch o {
	case conntrack.Unanswered, conntrack.Refused, conntrack.Unreachable:
	default:
		return
	}
	if c.Proto == afterimage.ProtoARP || c.Mark.N&markFailedCounted != 0 {
		return
	}
	c.Mark.N |= markFailedCounted
	s.client(c.Client, t).fanOut++
}

// evidence updates and returns the evidence of p's connection ev.Conn
// (nil: p forms no connection) given the learned score and drift of p.
func (s *Sensor) evidence(p *Packet, ev conntrack.Event, raw, drift float64, executing bool) (Evidence, *conntrack.Conn) {
	var e Evidence
	cal := s.det.Calibration()
	lt, dt := 0.0, 0.0
	if executing && cal.P999 > 0 {
		lt = learnedTerm(raw / cal.P999)
		dt = clip01((drift - cal.DriftP99) / 0.2)
	}
	c := ev.Conn
	if c == nil {
		e[TermLearned], e[TermDrift] = lt, dt
		return e, nil
	}
	t := seconds(p.Time)
	cl := s.client(c.Client, t)
	if ev.Opened && c.Ever.Attempts == 1 && c.Proto != afterimage.ProtoARP {
		cl.burst++ // a new connection
	}
	m := &c.Mark
	if m.N&markNoveltyKnown == 0 {
		m.N |= markNoveltyKnown
		switch {
		case !ev.Up:
		case p.Policy == PolicyAllowed:
			m.N |= markMUDAllowed
		case p.Policy == PolicyOutside:
			m.N |= markMUDOutside
		}
		svc := service{c.Server, c.Port, c.Proto}
		if !executing {
			if cl.services == nil {
				cl.services = map[service]struct{}{}
			}
			cl.learntWhileLearning = true
			if len(cl.services) < maxServicesPerClient {
				cl.services[svc] = struct{}{}
			} else {
				cl.overflowedProfile = true
			}
		} else if _, ok := cl.services[svc]; !ok && !cl.overflowedProfile && c.Proto != afterimage.ProtoARP {
			m.N |= markNovel
		}
	}
	// Learned and drift: the client's own packets only, decayed maximum.
	if d := t - m.T; d > 0 {
		f := math.Exp2(-d / hlLearned)
		m.V[markLearned] *= f
		m.V[markDrift] *= f
		m.V[markRule] *= math.Exp2(-d / hlRule)
		m.V[markAttempts] *= math.Exp2(-d / hlFlood)
		m.T = t
	}
	if ev.Opened && c.Proto != afterimage.ProtoARP {
		beatObserve(m, t)
		m.V[markAttempts]++
		if !executing {
			cl.peakAttempts = max(cl.peakAttempts, m.V[markAttempts])
		}
	}
	if ev.Up {
		m.V[markLearned] = max(m.V[markLearned], lt)
		m.V[markDrift] = max(m.V[markDrift], dt)
	}
	// Rules whose pattern covers this connection.
	for _, r := range cl.rules {
		if r.rule == "" || t-r.at > 4*hlRule {
			continue
		}
		if !matches(r, c) {
			continue
		}
		m.V[markRule] = max(m.V[markRule], math.Exp2(-max(0, t-r.at)/hlRule))
	}
	e[TermLearned] = m.V[markLearned]
	e[TermDrift] = m.V[markDrift]
	e[TermRule] = m.V[markRule]
	if c.Proto == afterimage.ProtoTCP && c.Ever.Answered == 0 && c.Ever.Failed > 1 {
		e[TermFailed] = 1 - math.Exp(-float64(c.Ever.Failed-1)/2)
	}
	if !c.Proven() && c.Proto != afterimage.ProtoARP {
		e[TermFanOut] = 1 - math.Exp(-cl.fanOut/10)
		e[TermBurst] = clip01((cl.burst - 30) / 70)
	}
	// Novelty needs a profile: the device's MUD profile where it has one
	// (the policy inspector's verdict on the connection's first packet),
	// else the services learnt (none when the model was loaded).
	if executing && c.Proto != afterimage.ProtoARP {
		switch {
		case m.N&markMUDOutside != 0:
			e[TermNovelty] = 1
		case m.N&markMUDAllowed != 0:
		case s.opts.Model == nil && (m.N&markNovel != 0 || !cl.learntWhileLearning):
			e[TermNovelty] = 1
		}
	}
	e[TermDNS] = s.dns.inherit(c.Server, &e, &s.eo, t)
	e[TermIRC] = s.irc(p, c, cl, t)
	e[TermFlood] = floodTerm(m.V[markAttempts], max(s.eo.FloodFloor, s.eo.FloodPeakFactor*cl.peakAttempts))
	return e, c
}

// irc returns TermIRC of connection c at packet p, after looking for an
// IRC registration in what the client sends.
func (s *Sensor) irc(p *Packet, c *conntrack.Conn, cl *client, t float64) float64 {
	if c.Proto != afterimage.ProtoTCP {
		return 0
	}
	m := &c.Mark
	if p.Up && len(p.Data) > 0 && m.N&markIRC != markIRC {
		m.N |= ircCommands(p.Data)
		if m.N&markIRC == markIRC {
			cl.ircPort, cl.ircAt = c.Port, t
		}
	}
	switch {
	case m.N&markIRC == markIRC:
		return 1
	case cl.ircAt > 0 && c.Port == cl.ircPort:
		return math.Exp2(-max(0, t-cl.ircAt) / hlIRC)
	}
	return 0
}

// ircCommands returns markIRCNick and markIRCUser for the IRC
// registration commands among the lines of the first 512 bytes of data
// (an IRC message's maximum length): "NICK nick" and
// "USER user mode unused :realname" (four parameters).
func ircCommands(data []byte) uint32 {
	data = data[:min(len(data), 512)]
	var found uint32
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) < 6 || line[4] != ' ' {
			continue
		}
		params := bytes.Fields(line[5:])
		switch {
		case bytes.EqualFold(line[:4], []byte("NICK")) && len(params) >= 1:
			found |= markIRCNick
		case bytes.EqualFold(line[:4], []byte("USER")) && len(params) >= 4:
			found |= markIRCUser
		}
	}
	return found
}

// beatObserve records an attempt at t in the connection's periodicity:
// exponentially weighted (α = 0.2) mean and mean absolute deviation of the
// intervals between attempts.
func beatObserve(m *conntrack.Mark, t float64) {
	const alpha = 0.2
	if n := m.V[markBeatN]; n > 0 {
		gap := max(0, t-m.V[markBeatLast])
		if n == 1 {
			m.V[markBeatGap] = gap
		} else {
			m.V[markBeatDev] += alpha * (math.Abs(gap-m.V[markBeatGap]) - m.V[markBeatDev])
			m.V[markBeatGap] += alpha * (gap - m.V[markBeatGap])
		}
	}
	m.V[markBeatN]++
	m.V[markBeatLast] = t
}

// beat returns a connection's periodicity, context for an operator and
// never evidence (benign NTP, SSDP and MQTT keep-alives are more regular
// than bots): the mean interval between its attempts and its regularity,
// 1 − mean absolute deviation / mean interval, clipped to [0, 1]. ok is
// false before 5 attempts.
func beat(m *conntrack.Mark) (period, regularity float64, ok bool) {
	if m.V[markBeatN] < 5 || m.V[markBeatGap] <= 0 {
		return 0, 0, false
	}
	return m.V[markBeatGap], clip01(1 - m.V[markBeatDev]/m.V[markBeatGap]), true
}

// floodTerm maps a connection's decayed attempts n to TermFlood given its
// limit (EvidenceOptions.FloodFloor, FloodPeakFactor): 0 up to the limit,
// 1 at twice it.
func floodTerm(n, limit float64) float64 {
	return clip01((n - limit) / limit)
}

// learnedTerm maps a learned score, as a ratio to the calibration's 99.9th
// percentile, to [0, 1]: up to 0.1 below it (so that the term still ranks
// packets), then 0.1 + 0.9·(ratio − 1)/2, reaching 1 at three times it.
func learnedTerm(ratio float64) float64 {
	if ratio < 1 {
		return 0.1 * max(ratio, 0)
	}
	return clip01(0.1 + 0.9*(ratio-1)/2)
}

func matches(r rulePattern, c *conntrack.Conn) bool {
	switch r.rule {
	case RulePortScan:
		return c.Server == r.server && !c.Proven()
	case RuleHostScan:
		return c.Port == r.port && !c.Proven()
	case RuleBlocklist:
		return c.Server == r.server
	default: // brute force, unanswered
		return c.Server == r.server && c.Port == r.port
	}
}

// Severity of a connection's evidence: high when a behavioural term
// (failed handshakes, fan-out, burst, rule, DNS inheritance, IRC, flood) carries weight, medium when
// only the learned detector or drift does, info for novelty alone.
func (o *EvidenceOptions) Severity(e *Evidence) Severity {
	const on = 0.2
	for _, t := range []Term{TermFailed, TermFanOut, TermBurst, TermRule, TermDNS, TermIRC, TermFlood} {
		if !o.Off[t] && o.Weights[t]*e[t] >= on {
			return SeverityHigh
		}
	}
	for _, t := range []Term{TermLearned, TermDrift} {
		if !o.Off[t] && o.Weights[t]*e[t] >= on {
			return SeverityMedium
		}
	}
	return SeverityInfo
}

// Explain lists the terms that carry weight, largest first, for an
// operator: "failed-handshakes 0.63, fan-out 0.45".
func (o *EvidenceOptions) Explain(e *Evidence) string {
	var parts []string
	for t := Term(0); t < numTerms; t++ {
		if !o.Off[t] && e[t] >= 0.05 {
			parts = append(parts, fmt.Sprintf("%s %.2f", t, e[t]))
		}
	}
	return strings.Join(parts, ", ")
}
