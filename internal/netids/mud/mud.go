// Package mud reads RFC 8520 Manufacturer Usage Description files (the
// ietf-mud YANG model with RFC 8519 access lists, in JSON) and enforces
// them as segmentation policy: a *Policy is a netids.Inspector that raises
// a mud-policy alert for each flow of a device that its model's MUD profile
// does not allow, and NFTables turns a profile into nftables rules for the
// firewall that separates the device.
//
// Supported matches: ipv4/ipv6 protocol, source and destination networks,
// ietf-acldns src-dnsname/dst-dnsname (matched against the addresses seen
// in DNS responses on the wire, or resolved when rules are generated), tcp
// and udp ports with the eq, neq, lt, gt and range operators, and the MUD
// abstractions local-networks, controller, my-controller, manufacturer and
// same-manufacturer (the last three through the device registry's
// models). Only the "accept" forwarding action allows a flow; anything not
// accepted is a violation, as RFC 8520 section 1.1 intends.
package mud

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"strings"
)

// maxMUDBytes bounds a MUD file.
const maxMUDBytes = 1 << 20

// Profile is a parsed MUD file: the device model's allowed flows.
type Profile struct {
	URL          string
	Systeminfo   string
	Manufacturer string // authority of the MUD URL
	FromDevice   []ACE  // flows the device may start or send
	ToDevice     []ACE  // flows others may send to the device
}

// ACE is one access-control entry.
type ACE struct {
	Name     string
	ACL      string
	V6       bool
	Protocol int // 0: any
	SrcNet   netip.Prefix
	DstNet   netip.Prefix
	SrcDNS   string
	DstDNS   string
	SrcPort  PortMatch
	DstPort  PortMatch
	// MUD abstractions (RFC 8520 section 8).
	LocalNetworks    bool
	Controller       string // class URI
	MyController     bool
	Manufacturer     string
	SameManufacturer bool
	Accept           bool
	// Direction of a TCP connection the ACE allows to be initiated
	// ("from-device", "to-device"), empty for any.
	Initiated string
}

// PortMatch is an RFC 8519 port-range-or-operator.
type PortMatch struct {
	Op         string // "", "eq", "neq", "lt", "gt", "lte", "gte", "range"
	Port       uint16
	Lower, Upp uint16
}

// Matches reports whether port p satisfies m (an empty match is any port).
func (m PortMatch) Matches(p uint16) bool {
	switch m.Op {
	case "":
		return true
	case "eq":
		return p == m.Port
	case "neq":
		return p != m.Port
	case "lt":
		return p < m.Port
	case "gt":
		return p > m.Port
	case "lte":
		return p <= m.Port
	case "gte":
		return p >= m.Port
	case "range":
		return p >= m.Lower && p <= m.Upp
	}
	return false
}

// JSON shapes of RFC 8520 / RFC 8519.
type mudFile struct {
	MUD  *mudContainer `json:"ietf-mud:mud"`
	ACLs *struct {
		ACL []aclJSON `json:"acl"`
	} `json:"ietf-access-control-list:acls"`
}

type mudContainer struct {
	Version    int       `json:"mud-version"`
	URL        string    `json:"mud-url"`
	Systeminfo string    `json:"systeminfo"`
	From       *policyJS `json:"from-device-policy"`
	To         *policyJS `json:"to-device-policy"`
}

type policyJS struct {
	AccessLists struct {
		AccessList []struct {
			Name string `json:"name"`
		} `json:"access-list"`
	} `json:"access-lists"`
}

type aclJSON struct {
	Name string `json:"name"`
	Type string `json:"type"`
	Aces struct {
		Ace []aceJSON `json:"ace"`
	} `json:"aces"`
}

type aceJSON struct {
	Name    string `json:"name"`
	Matches struct {
		IPv4 *ipJSON  `json:"ipv4"`
		IPv6 *ipJSON  `json:"ipv6"`
		TCP  *l4JSON  `json:"tcp"`
		UDP  *l4JSON  `json:"udp"`
		MUD  *mudJSON `json:"ietf-mud:mud"`
	} `json:"matches"`
	Actions struct {
		Forwarding string `json:"forwarding"`
	} `json:"actions"`
}

type ipJSON struct {
	Protocol *int   `json:"protocol"`
	SrcNet4  string `json:"source-ipv4-network"`
	DstNet4  string `json:"destination-ipv4-network"`
	SrcNet6  string `json:"source-ipv6-network"`
	DstNet6  string `json:"destination-ipv6-network"`
	SrcDNS   string `json:"ietf-acldns:src-dnsname"`
	DstDNS   string `json:"ietf-acldns:dst-dnsname"`
}

type l4JSON struct {
	SrcPort   *portJSON `json:"source-port"`
	DstPort   *portJSON `json:"destination-port"`
	Initiated string    `json:"ietf-mud:direction-initiated"`
}

type portJSON struct {
	Operator string `json:"operator"`
	Port     *int   `json:"port"`
	Lower    *int   `json:"lower-port"`
	Upper    *int   `json:"upper-port"`
}

type mudJSON struct {
	Manufacturer     string `json:"manufacturer"`
	SameManufacturer *[]any `json:"same-manufacturer"`
	Controller       string `json:"controller"`
	MyController     *[]any `json:"my-controller"`
	LocalNetworks    *[]any `json:"local-networks"`
	Model            string `json:"model"`
}

// ErrInvalid is wrapped by every Parse error.
var ErrInvalid = errors.New("invalid MUD file")

// Parse reads a MUD file (JSON, RFC 8520).
func Parse(r io.Reader) (*Profile, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxMUDBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read MUD file: %w", err)
	}
	if len(b) > maxMUDBytes {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrInvalid, maxMUDBytes)
	}
	var f mudFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if f.MUD == nil {
		return nil, fmt.Errorf(`%w: no "ietf-mud:mud" container`, ErrInvalid)
	}
	if f.MUD.Version != 1 {
		return nil, fmt.Errorf("%w: mud-version %d, want 1", ErrInvalid, f.MUD.Version)
	}
	p := &Profile{URL: f.MUD.URL, Systeminfo: f.MUD.Systeminfo}
	if u, err := url.Parse(f.MUD.URL); err == nil {
		p.Manufacturer = u.Hostname()
	}
	acls := map[string]*aclJSON{}
	if f.ACLs != nil {
		for i := range f.ACLs.ACL {
			a := &f.ACLs.ACL[i]
			if a.Name == "" {
				return nil, fmt.Errorf("%w: access list %d has no name", ErrInvalid, i)
			}
			acls[a.Name] = a
		}
	}
	for _, dir := range []struct {
		pol *policyJS
		out *[]ACE
	}{{f.MUD.From, &p.FromDevice}, {f.MUD.To, &p.ToDevice}} {
		if dir.pol == nil {
			continue
		}
		for _, ref := range dir.pol.AccessLists.AccessList {
			a, ok := acls[ref.Name]
			if !ok {
				return nil, fmt.Errorf("%w: policy names access list %q, which is not defined", ErrInvalid, ref.Name)
			}
			for _, aj := range a.Aces.Ace {
				ace, err := convertACE(a, &aj)
				if err != nil {
					return nil, fmt.Errorf("%w: access list %q entry %q: %v", ErrInvalid, a.Name, aj.Name, err)
				}
				*dir.out = append(*dir.out, ace)
			}
		}
	}
	return p, nil
}

func convertACE(a *aclJSON, aj *aceJSON) (ACE, error) {
	ace := ACE{Name: aj.Name, ACL: a.Name, Accept: aj.Actions.Forwarding == "accept"}
	switch aj.Actions.Forwarding {
	case "accept", "drop", "reject":
	default:
		return ace, fmt.Errorf("forwarding action %q is not accept, drop or reject", aj.Actions.Forwarding)
	}
	m := &aj.Matches
	ip := m.IPv4
	if m.IPv6 != nil {
		ip, ace.V6 = m.IPv6, true
	} else if strings.Contains(a.Type, "ipv6") {
		ace.V6 = true
	}
	if ip != nil {
		if ip.Protocol != nil {
			if *ip.Protocol < 0 || *ip.Protocol > 255 {
				return ace, fmt.Errorf("protocol %d out of range", *ip.Protocol)
			}
			ace.Protocol = *ip.Protocol
		}
		var err error
		for _, n := range []struct {
			s   string
			out *netip.Prefix
		}{{ip.SrcNet4, &ace.SrcNet}, {ip.DstNet4, &ace.DstNet}, {ip.SrcNet6, &ace.SrcNet}, {ip.DstNet6, &ace.DstNet}} {
			if n.s == "" {
				continue
			}
			if *n.out, err = netip.ParsePrefix(n.s); err != nil {
				return ace, fmt.Errorf("network %q: %v", n.s, err)
			}
			*n.out = n.out.Masked()
		}
		ace.SrcDNS = normName(ip.SrcDNS)
		ace.DstDNS = normName(ip.DstDNS)
	}
	for _, l4 := range []struct {
		j     *l4JSON
		proto int
	}{{m.TCP, 6}, {m.UDP, 17}} {
		if l4.j == nil {
			continue
		}
		if ace.Protocol != 0 && ace.Protocol != l4.proto {
			return ace, fmt.Errorf("protocol %d conflicts with a %s match", ace.Protocol, map[int]string{6: "tcp", 17: "udp"}[l4.proto])
		}
		ace.Protocol = l4.proto
		var err error
		if ace.SrcPort, err = convertPort(l4.j.SrcPort); err != nil {
			return ace, fmt.Errorf("source port: %v", err)
		}
		if ace.DstPort, err = convertPort(l4.j.DstPort); err != nil {
			return ace, fmt.Errorf("destination port: %v", err)
		}
		ace.Initiated = l4.j.Initiated
	}
	if mm := m.MUD; mm != nil {
		ace.LocalNetworks = mm.LocalNetworks != nil
		ace.Controller = mm.Controller
		ace.MyController = mm.MyController != nil
		ace.Manufacturer = mm.Manufacturer
		ace.SameManufacturer = mm.SameManufacturer != nil
	}
	return ace, nil
}

func convertPort(p *portJSON) (PortMatch, error) {
	if p == nil {
		return PortMatch{}, nil
	}
	in := func(v *int, what string) (uint16, error) {
		if v == nil {
			return 0, fmt.Errorf("%s missing", what)
		}
		if *v < 0 || *v > 65535 {
			return 0, fmt.Errorf("%s %d out of range", what, *v)
		}
		return uint16(*v), nil
	}
	var m PortMatch
	var err error
	if p.Lower != nil || p.Upper != nil {
		m.Op = "range"
		if m.Lower, err = in(p.Lower, "lower-port"); err != nil {
			return m, err
		}
		if m.Upp, err = in(p.Upper, "upper-port"); err != nil {
			return m, err
		}
		if m.Lower > m.Upp {
			return m, fmt.Errorf("lower-port %d above upper-port %d", m.Lower, m.Upp)
		}
		return m, nil
	}
	switch p.Operator {
	case "", "eq":
		m.Op = "eq"
	case "neq", "lt", "gt", "lte", "gte":
		m.Op = p.Operator
	default:
		return m, fmt.Errorf("operator %q unknown", p.Operator)
	}
	m.Port, err = in(p.Port, "port")
	return m, err
}

func normName(s string) string { return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(s), ".")) }
