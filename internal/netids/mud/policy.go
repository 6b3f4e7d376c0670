package mud

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/wardproject/ward/internal/netids"
	"github.com/wardproject/ward/internal/netids/afterimage"
)

// ModelLookup says which device model an address belongs to; ok is false
// for addresses of no known device (their flows are not checked).
type ModelLookup func(mac [6]byte, ip netip.Addr) (model string, ok bool)

// Options configure a Policy.
type Options struct {
	// Profiles maps a device model to its MUD profile. Required.
	Profiles map[string]*Profile
	// Lookup maps addresses to device models. Required.
	Lookup ModelLookup
	// LocalNetworks are what the local-networks abstraction means.
	// Default: RFC 1918, RFC 4193 ULA and link-local ranges.
	LocalNetworks []netip.Prefix
	// Controllers maps a controller class URI to its addresses.
	Controllers map[string][]netip.Prefix
	// MyControllers are the addresses of my-controller.
	MyControllers []netip.Prefix
	// Holdoff folds repeated violations of one flow (device, peer,
	// protocol, port) into one alert. Default 10 minutes.
	Holdoff time.Duration
	// MaxEntries bounds the DNS-name cache, the allowed-connection table
	// and the violation table. Default 65,536 each.
	MaxEntries int
}

// Policy enforces MUD profiles on traffic. It is a netids.Inspector and is
// not safe for concurrent use.
type Policy struct {
	opts    Options
	holdoff float64
	names   map[netip.Addr][]string // addresses seen in DNS answers
	conns   map[connKey]float64     // reverse tuples of allowed flows
	seen    map[violKey]float64
}

type connKey struct {
	a, b         netip.Addr
	aport, bport uint16
	proto        afterimage.Proto
}

type violKey struct {
	dev, peer netip.Addr
	proto     afterimage.Proto
	port      uint16
	from      bool
}

// NewPolicy returns a Policy.
func NewPolicy(opts Options) (*Policy, error) {
	if opts.Lookup == nil || opts.Profiles == nil {
		return nil, fmt.Errorf("mud: Options.Profiles and Options.Lookup are required")
	}
	if opts.LocalNetworks == nil {
		for _, s := range []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "fc00::/7", "fe80::/10"} {
			opts.LocalNetworks = append(opts.LocalNetworks, netip.MustParsePrefix(s))
		}
	}
	if opts.Holdoff <= 0 {
		opts.Holdoff = 10 * time.Minute
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = 1 << 16
	}
	return &Policy{opts: opts, holdoff: opts.Holdoff.Seconds(), names: map[netip.Addr][]string{},
		conns: map[connKey]float64{}, seen: map[violKey]float64{}}, nil
}

// Inspect checks p against the profiles of its source and destination.
func (pl *Policy) Inspect(p *netids.Packet, emit func(netids.Alert)) {
	for _, a := range p.DNS {
		pl.learnName(a.Addr, a.Name)
	}
	if !p.SrcIP.IsValid() || p.Proto == afterimage.ProtoARP || implicit(p) {
		return
	}
	t := float64(p.Time.UnixNano()) / 1e9
	rev := connKey{p.DstIP, p.SrcIP, p.DstPort, p.SrcPort, p.Proto}
	if until, ok := pl.conns[connKey{p.SrcIP, p.DstIP, p.SrcPort, p.DstPort, p.Proto}]; ok && t < until {
		return // reply within an allowed conversation
	}
	if model, ok := pl.opts.Lookup(p.SrcMAC, p.SrcIP); ok {
		if prof := pl.opts.Profiles[model]; prof != nil {
			if pl.allowed(prof, prof.FromDevice, p, p.DstIP, p.SrcPort, p.DstPort, model) {
				p.Policy = netids.PolicyAllowed
				pl.remember(rev, t)
			} else {
				p.Policy = netids.PolicyOutside
				pl.violation(p, t, model, true, emit)
			}
		}
	}
	if model, ok := pl.opts.Lookup(p.DstMAC, p.DstIP); ok {
		if prof := pl.opts.Profiles[model]; prof != nil {
			if pl.allowed(prof, prof.ToDevice, p, p.SrcIP, p.SrcPort, p.DstPort, model) {
				pl.remember(rev, t)
			} else {
				pl.violation(p, t, model, false, emit)
			}
		}
	}
}

// implicit reports traffic every device needs and MUD files rarely list:
// DHCP, DNS, ICMP error/neighbour messages.
func implicit(p *netids.Packet) bool {
	switch p.Proto {
	case afterimage.ProtoUDP:
		return p.DstPort == 67 || p.DstPort == 68 || p.DstPort == 53 || p.SrcPort == 53
	case afterimage.ProtoTCP:
		return p.DstPort == 53 || p.SrcPort == 53
	case afterimage.ProtoICMP:
		return p.DstIP.Is6() // ICMPv6 neighbour discovery
	}
	return p.DstIP.IsMulticast() || p.DstIP == netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

func (pl *Policy) remember(k connKey, t float64) {
	if len(pl.conns) >= pl.opts.MaxEntries {
		for ck, until := range pl.conns {
			if until < t {
				delete(pl.conns, ck)
			}
		}
		if len(pl.conns) >= pl.opts.MaxEntries {
			return
		}
	}
	pl.conns[k] = t + 300
}

func (pl *Policy) learnName(a netip.Addr, name string) {
	names := pl.names[a]
	for _, n := range names {
		if n == name {
			return
		}
	}
	if names == nil && len(pl.names) >= pl.opts.MaxEntries {
		for k := range pl.names { // drop an arbitrary entry
			delete(pl.names, k)
			break
		}
	}
	if len(names) < 8 {
		pl.names[a] = append(names, name)
	}
}

func protoNumber(p afterimage.Proto, v6 bool) int {
	switch p {
	case afterimage.ProtoTCP:
		return 6
	case afterimage.ProtoUDP:
		return 17
	case afterimage.ProtoICMP:
		if v6 {
			return 58
		}
		return 1
	}
	return -1
}

// allowed reports whether an accept ACE of aces matches the flow with peer.
func (pl *Policy) allowed(prof *Profile, aces []ACE, p *netids.Packet, peer netip.Addr, sport, dport uint16, model string) bool {
	proto := protoNumber(p.Proto, p.SrcIP.Is6())
	fromDevice := peer == p.DstIP
	for i := range aces {
		a := &aces[i]
		if !a.Accept || a.V6 != p.SrcIP.Is6() {
			continue
		}
		if a.Protocol != 0 && a.Protocol != proto {
			continue
		}
		if !a.SrcPort.Matches(sport) || !a.DstPort.Matches(dport) {
			continue
		}
		if a.Protocol == 6 && a.Initiated != "" && p.TCPFlags&netids.FlagSYN != 0 && p.TCPFlags&netids.FlagACK == 0 {
			if (a.Initiated == "from-device") != fromDevice {
				continue
			}
		}
		if fromDevice {
			if a.DstNet.IsValid() && !a.DstNet.Contains(peer) || a.DstDNS != "" && !pl.hasName(peer, a.DstDNS) {
				continue
			}
		} else {
			if a.SrcNet.IsValid() && !a.SrcNet.Contains(peer) || a.SrcDNS != "" && !pl.hasName(peer, a.SrcDNS) {
				continue
			}
		}
		if a.LocalNetworks && !inAny(pl.opts.LocalNetworks, peer) {
			continue
		}
		if a.Controller != "" && !inAny(pl.opts.Controllers[a.Controller], peer) {
			continue
		}
		if a.MyController && !inAny(pl.opts.MyControllers, peer) {
			continue
		}
		if a.Manufacturer != "" || a.SameManufacturer {
			want := a.Manufacturer
			if a.SameManufacturer {
				want = prof.Manufacturer
			}
			peerModel, ok := pl.opts.Lookup([6]byte{}, peer)
			if !ok || pl.opts.Profiles[peerModel] == nil || !strings.EqualFold(pl.opts.Profiles[peerModel].Manufacturer, want) {
				continue
			}
		}
		return true
	}
	return false
}

func (pl *Policy) hasName(a netip.Addr, name string) bool {
	for _, n := range pl.names[a.Unmap()] {
		if n == name {
			return true
		}
	}
	return false
}

func inAny(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (pl *Policy) violation(p *netids.Packet, t float64, model string, fromDevice bool, emit func(netids.Alert)) {
	k := violKey{dev: p.DstIP, peer: p.SrcIP, proto: p.Proto, port: p.SrcPort, from: fromDevice}
	dir := "to"
	if fromDevice {
		k = violKey{dev: p.SrcIP, peer: p.DstIP, proto: p.Proto, port: p.DstPort, from: true}
		dir = "from"
	} else if p.Proto == afterimage.ProtoTCP || p.Proto == afterimage.ProtoUDP {
		k.port = p.DstPort // the device's service port
	}
	if last, ok := pl.seen[k]; ok && t-last < pl.holdoff {
		return
	}
	if len(pl.seen) >= pl.opts.MaxEntries {
		for vk, last := range pl.seen {
			if t-last >= pl.holdoff {
				delete(pl.seen, vk)
			}
		}
		if len(pl.seen) >= pl.opts.MaxEntries {
			return
		}
	}
	pl.seen[k] = t
	peerName := ""
	if names := pl.names[k.peer]; len(names) > 0 {
		peerName = " (" + names[0] + ")"
	}
	emit(netids.Alert{Time: p.Time, Rule: netids.RuleMUD, Severity: netids.SeverityMedium, Packet: p.Number,
		Flow: netids.FlowOf(p), SrcMAC: net.HardwareAddr(p.SrcMAC[:]).String(),
		Message: fmt.Sprintf("flow %s a %q device with %s%s is outside its MUD profile", dir, model, k.peer, peerName)})
}
