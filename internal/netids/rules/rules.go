// Package rules holds the network sensor's signature rules, which run beside
// the learned detector: port scans, host scans, telnet/SSH brute force, MQTT
// credential brute force (refused logins read from the broker's CONNACKs), SYN
// floods, traffic to or from known-bad addresses (a reloadable blocklist)
// and slow retries to a server that never answers. An *Engine is a
// netids.Inspector and a netids.OutcomeInspector.
//
// Scan and brute-force rules count probes: packets that open a connection
// attempt in the sensor's connection tracker (Packet.Opens), never replies.
// Every rule counts events per source in fixed windows of capture time, so
// a packet costs O(1) and memory is bounded by Options.MaxSources; a rule
// fires once per source and window and says how many events it saw.
package rules

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/wardproject/ward/internal/netids"
	"github.com/wardproject/ward/internal/netids/afterimage"
	"github.com/wardproject/ward/internal/netids/conntrack"
)

// Options configure an Engine. Zero values mean the documented defaults.
type Options struct {
	// Window is the counting window. Default 60 s.
	Window time.Duration
	// PortScanPorts: distinct destination ports of one host probed by one
	// source within a window. Default 20.
	PortScanPorts int
	// HostScanHosts: distinct hosts probed on one port by one source
	// within a window. Default 20.
	HostScanHosts int
	// BruteAttempts: connection attempts (SYN) from one source to the
	// telnet or SSH port of one host within a window. Default 10.
	BruteAttempts int
	// BrutePorts are the login ports watched. Default 22, 23, 2323.
	BrutePorts []uint16
	// MQTTPorts are the plaintext MQTT ports whose CONNACKs are read for
	// refused logins. Default 1883.
	MQTTPorts []uint16
	// MQTTRefusals: logins one broker refused to one client (CONNACK
	// "bad user name or password" or "not authorised", MQTT 3.1.1 and 5)
	// within a window before the MQTT brute-force rule fires. Default 5.
	MQTTRefusals int
	// SYNFloodRate: SYNs (without ACK) to one host per second, averaged
	// over the window. Default 200.
	SYNFloodRate float64
	// UnansweredAttempts: failed TCP handshakes (unanswered, refused or
	// unreachable) from one client to one server and port that never
	// answered any of them, before the slow unanswered-connection rule
	// fires. Default 3.
	UnansweredAttempts int
	// UnansweredSpan: the first attempt must be at least this long
	// before the one that fires the rule: the rule is for slow, patient
	// retries (a bot calling a dead command-and-control server), which no
	// rate-based rule sees. Default 1 minute.
	UnansweredSpan time.Duration
	// MaxSources bounds the sources tracked per rule. Default 65,536.
	MaxSources int
	// Blocklist of known-bad addresses; nil disables the rule.
	Blocklist *Blocklist
}

// Engine evaluates the rules. It is not safe for concurrent use, except
// that its Blocklist may be reloaded from another goroutine.
type Engine struct {
	opts   Options
	window float64
	brute  map[uint16]bool
	scans  map[netip.Addr]*srcState
	floods map[netip.Addr]*floodState
	bl     map[blKey]float64 // last blocklist alert per pair
	dead   map[conntrack.Key]struct{}
	mqtt   map[uint16]bool
	logins map[loginKey]*loginState // refused MQTT logins per client and broker
}

// loginKey is a client and the broker that refuses it.
type loginKey struct{ client, broker netip.Addr }

// loginState counts a client's refused logins in the current window.
type loginState struct {
	start float64
	n     int
	fired bool
}

type blKey struct{ a, b netip.Addr }

// srcState counts one source's probes in the current window.
type srcState struct {
	start    float64
	ports    map[portKey]struct{} // (dst, port) pairs: port scan per dst
	perDst   map[netip.Addr]int
	hosts    map[hostKey]struct{} // (port, dst) pairs: host scan per port
	perPort  map[uint16]int
	attempts map[hostKey]int
	firedPS  map[netip.Addr]bool
	firedHS  map[uint16]bool
	firedBF  map[hostKey]bool
}

type portKey struct {
	dst  netip.Addr
	port uint16
}

type hostKey struct {
	port uint16
	dst  netip.Addr
}

type floodState struct {
	start float64
	syns  int
	fired bool
}

// New returns an Engine.
func New(opts Options) *Engine {
	if opts.Window <= 0 {
		opts.Window = time.Minute
	}
	if opts.PortScanPorts <= 0 {
		opts.PortScanPorts = 20
	}
	if opts.HostScanHosts <= 0 {
		opts.HostScanHosts = 20
	}
	if opts.BruteAttempts <= 0 {
		opts.BruteAttempts = 10
	}
	if len(opts.BrutePorts) == 0 {
		opts.BrutePorts = []uint16{22, 23, 2323}
	}
	if len(opts.MQTTPorts) == 0 {
		opts.MQTTPorts = []uint16{1883}
	}
	if opts.MQTTRefusals <= 0 {
		opts.MQTTRefusals = 5
	}
	if opts.SYNFloodRate <= 0 {
		opts.SYNFloodRate = 200
	}
	if opts.MaxSources <= 0 {
		opts.MaxSources = 1 << 16
	}
	if opts.UnansweredAttempts <= 0 {
		opts.UnansweredAttempts = 3
	}
	if opts.UnansweredSpan <= 0 {
		opts.UnansweredSpan = time.Minute
	}
	e := &Engine{opts: opts, window: opts.Window.Seconds(), brute: map[uint16]bool{},
		scans: map[netip.Addr]*srcState{}, floods: map[netip.Addr]*floodState{}, bl: map[blKey]float64{}, dead: map[conntrack.Key]struct{}{},
		mqtt: map[uint16]bool{}, logins: map[loginKey]*loginState{}}
	for _, p := range opts.BrutePorts {
		e.brute[p] = true
	}
	for _, p := range opts.MQTTPorts {
		e.mqtt[p] = true
	}
	return e
}

func seconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// Inspect runs the rules on p.
func (e *Engine) Inspect(p *netids.Packet, emit func(netids.Alert)) {
	if !p.SrcIP.IsValid() || p.Proto == afterimage.ProtoARP {
		return
	}
	t := seconds(p.Time)
	if e.opts.Blocklist != nil {
		e.blocklist(p, t, emit)
	}
	syn := p.Proto == afterimage.ProtoTCP && p.TCPFlags&netids.FlagSYN != 0 && p.TCPFlags&netids.FlagACK == 0
	if syn {
		e.flood(p, t, emit)
	}
	// A probe opens a connection attempt: a client's SYN (not a
	// retransmission) or its first UDP datagram on a socket. Replies
	// never are, so a resolver answering its clients does not scan them.
	if p.Opens && (p.Proto == afterimage.ProtoTCP || p.Proto == afterimage.ProtoUDP) {
		e.probe(p, t, p.Proto == afterimage.ProtoTCP, emit)
	}
	if p.Proto == afterimage.ProtoTCP && e.mqtt[p.SrcPort] && len(p.Data) >= 4 && RefusedLogin(p.Data) {
		e.refusedLogin(p, t, emit)
	}
}

// RefusedLogin reports whether an MQTT broker's TCP segment begins with a
// CONNACK that refuses the client's credentials: return code 4 (bad user
// name or password) or 5 (not authorised) in MQTT 3.1.1, reason code 0x86,
// 0x87 or 0x8C (bad authentication method) in MQTT 5. Anything else,
// including a truncated or malformed packet, is not one.
func RefusedLogin(b []byte) bool {
	if len(b) < 4 || b[0] != 0x20 { // CONNACK, flags 0
		return false
	}
	// The remaining length: a variable byte integer of at most 4 bytes.
	i, n := 1, 0
	for shift := 0; ; shift += 7 {
		if i >= len(b) || shift > 21 {
			return false
		}
		n |= int(b[i]&0x7f) << shift
		i++
		if b[i-1]&0x80 == 0 {
			break
		}
	}
	if n < 2 || i+1 >= len(b) || b[i]&^1 != 0 { // acknowledge flags: only session present
		return false
	}
	switch b[i+1] {
	case 4, 5, 0x86, 0x87, 0x8c:
		return true
	}
	return false
}

// refusedLogin counts a broker's refusal of a client's login (p goes from
// the broker to the client) and fires the brute-force rule on the
// client's flow to the broker once per window.
func (e *Engine) refusedLogin(p *netids.Packet, t float64, emit func(netids.Alert)) {
	k := loginKey{client: p.DstIP, broker: p.SrcIP}
	st := e.logins[k]
	if st == nil || t-st.start >= e.window {
		if st == nil && len(e.logins) >= e.opts.MaxSources {
			clear(e.logins) // at worst a client's count starts again
		}
		st = &loginState{start: t}
		e.logins[k] = st
	}
	st.n++
	if st.n >= e.opts.MQTTRefusals && !st.fired {
		st.fired = true
		emit(netids.Alert{Time: p.Time, Rule: netids.RuleBrute, Severity: netids.SeverityHigh, Packet: p.Number,
			Flow:  netids.Flow{Proto: "tcp", Src: p.DstIP, Dst: p.SrcIP, DstPort: p.SrcPort},
			Count: st.n,
			Message: fmt.Sprintf("the MQTT broker %s:%d refused %d logins from %s within %s (bad user name or password, or not authorised): credential brute force",
				p.SrcIP, p.SrcPort, st.n, p.DstIP, e.opts.Window)})
	}
}

// Outcome runs the slow unanswered-connection rule when a connection
// attempt ends (rules.Engine is a netids.OutcomeInspector): a client that
// keeps trying, slowly, to reach a server and port that never answered
// any of its TCP handshakes.
func (e *Engine) Outcome(c *conntrack.Conn, o conntrack.Outcome, at time.Time, emit func(netids.Alert)) {
	switch o {
	case conntrack.Unanswered, conntrack.Refused, conntrack.Unreachable:
	default:
		return
	}
	if c.Proto != afterimage.ProtoTCP || c.Ever.Answered > 0 || int(c.Ever.Failed) < e.opts.UnansweredAttempts ||
		at.Sub(c.First) < e.opts.UnansweredSpan {
		return
	}
	if _, ok := e.dead[c.Key]; ok {
		return
	}
	if len(e.dead) >= e.opts.MaxSources {
		clear(e.dead) // at worst a connection fires once more
	}
	e.dead[c.Key] = struct{}{}
	emit(netids.Alert{Time: at, Rule: netids.RuleUnanswered, Severity: netids.SeverityHigh,
		Flow: netids.Flow{Proto: "tcp", Src: c.Client, Dst: c.Server, DstPort: c.Port}, Count: int(c.Ever.Failed),
		Message: fmt.Sprintf("%s tried %d times over %s to connect to %s port %d/tcp, which never answered (last: %s): a device calling a dead command-and-control server looks like this",
			c.Client, c.Ever.Failed, at.Sub(c.First).Round(time.Second), c.Server, c.Port, o)})
}

func (e *Engine) alert(p *netids.Packet, rule string, sev netids.Severity, count int, msg string) netids.Alert {
	return netids.Alert{Time: p.Time, Rule: rule, Severity: sev, Packet: p.Number, Flow: netids.FlowOf(p),
		SrcMAC: net.HardwareAddr(p.SrcMAC[:]).String(), Count: count, Message: msg}
}

func (e *Engine) probe(p *netids.Packet, t float64, syn bool, emit func(netids.Alert)) {
	s := e.scans[p.SrcIP]
	if s == nil || t-s.start >= e.window {
		if s == nil && len(e.scans) >= e.opts.MaxSources {
			e.expire(t)
			if len(e.scans) >= e.opts.MaxSources {
				return
			}
		}
		s = &srcState{start: t, ports: map[portKey]struct{}{}, perDst: map[netip.Addr]int{},
			hosts: map[hostKey]struct{}{}, perPort: map[uint16]int{}, attempts: map[hostKey]int{},
			firedPS: map[netip.Addr]bool{}, firedHS: map[uint16]bool{}, firedBF: map[hostKey]bool{}}
		e.scans[p.SrcIP] = s
	}
	// Bound the per-source sets: a scanner past every threshold need not
	// be tracked further in this window.
	const maxSet = 4096
	pk := portKey{p.DstIP, p.DstPort}
	if _, ok := s.ports[pk]; !ok && len(s.ports) < maxSet {
		s.ports[pk] = struct{}{}
		s.perDst[p.DstIP]++
		if n := s.perDst[p.DstIP]; n >= e.opts.PortScanPorts && !s.firedPS[p.DstIP] {
			s.firedPS[p.DstIP] = true
			emit(e.alert(p, netids.RulePortScan, netids.SeverityMedium, n,
				fmt.Sprintf("%s probed %d ports of %s within %s", p.SrcIP, n, p.DstIP, e.opts.Window)))
		}
	}
	hk := hostKey{p.DstPort, p.DstIP}
	if _, ok := s.hosts[hk]; !ok && len(s.hosts) < maxSet {
		s.hosts[hk] = struct{}{}
		s.perPort[p.DstPort]++
		if n := s.perPort[p.DstPort]; n >= e.opts.HostScanHosts && !s.firedHS[p.DstPort] {
			s.firedHS[p.DstPort] = true
			emit(e.alert(p, netids.RuleHostScan, netids.SeverityMedium, n,
				fmt.Sprintf("%s probed port %d on %d hosts within %s", p.SrcIP, p.DstPort, n, e.opts.Window)))
		}
	}
	if syn && e.brute[p.DstPort] && (len(s.attempts) < maxSet || s.attempts[hk] > 0) {
		s.attempts[hk]++
		if n := s.attempts[hk]; n >= e.opts.BruteAttempts && !s.firedBF[hk] {
			s.firedBF[hk] = true
			emit(e.alert(p, netids.RuleBrute, netids.SeverityHigh, n,
				fmt.Sprintf("%s opened %d connections to %s port %d within %s (login brute force)", p.SrcIP, n, p.DstIP, p.DstPort, e.opts.Window)))
		}
	}
}

func (e *Engine) flood(p *netids.Packet, t float64, emit func(netids.Alert)) {
	f := e.floods[p.DstIP]
	if f == nil || t-f.start >= e.window {
		if f == nil && len(e.floods) >= e.opts.MaxSources {
			e.expire(t)
			if len(e.floods) >= e.opts.MaxSources {
				return
			}
		}
		f = &floodState{start: t}
		e.floods[p.DstIP] = f
	}
	f.syns++
	limit := int(e.opts.SYNFloodRate * e.window)
	if f.syns >= limit && !f.fired {
		f.fired = true
		emit(e.alert(p, netids.RuleSYNFlood, netids.SeverityHigh, f.syns,
			fmt.Sprintf("%s received %d SYNs within %s (more than %.0f/s)", p.DstIP, f.syns, e.opts.Window, e.opts.SYNFloodRate)))
	}
}

func (e *Engine) blocklist(p *netids.Packet, t float64, emit func(netids.Alert)) {
	var bad netip.Addr
	var entry string
	if m, ok := e.opts.Blocklist.Match(p.DstIP); ok {
		bad, entry = p.DstIP, m
	} else if m, ok := e.opts.Blocklist.Match(p.SrcIP); ok {
		bad, entry = p.SrcIP, m
	} else {
		return
	}
	k := blKey{p.SrcIP, p.DstIP}
	if last, ok := e.bl[k]; ok && t-last < e.window {
		return
	}
	if len(e.bl) >= e.opts.MaxSources {
		for k, last := range e.bl {
			if t-last >= e.window {
				delete(e.bl, k)
			}
		}
		if len(e.bl) >= e.opts.MaxSources {
			return
		}
	}
	e.bl[k] = t
	emit(e.alert(p, netids.RuleBlocklist, netids.SeverityHigh, 0,
		fmt.Sprintf("traffic with %s, listed as known bad (%s)", bad, entry)))
}

// expire drops state whose window ended.
func (e *Engine) expire(t float64) {
	for k, s := range e.scans {
		if t-s.start >= e.window {
			delete(e.scans, k)
		}
	}
	for k, f := range e.floods {
		if t-f.start >= e.window {
			delete(e.floods, k)
		}
	}
}
