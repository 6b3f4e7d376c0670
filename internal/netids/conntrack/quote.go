package conntrack

import (
	"encoding/binary"
	"net/netip"

	"github.com/wardproject/ward/internal/netids/afterimage"
)

// Quote is the packet an ICMP error quotes: its addresses, ports and
// transport, as the original sender sent it.
type Quote struct {
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Proto            Proto
	OK               bool
}

// ParseQuote reads the invoking packet quoted in the body of an ICMPv4 or
// ICMPv6 destination-unreachable message (the bytes after the 8-byte ICMP
// header): an IPv4 or IPv6 header and at least the first 8 bytes of its
// transport header (RFC 792, RFC 4443). It returns OK false for anything
// shorter or malformed; it never reads past b. IPv6 extension headers are
// not followed (the ports are then left 0).
func ParseQuote(b []byte) Quote {
	if len(b) < 1 {
		return Quote{}
	}
	var q Quote
	var proto byte
	var l4 []byte
	switch b[0] >> 4 {
	case 4:
		if len(b) < 20 {
			return Quote{}
		}
		ihl := int(b[0]&0x0f) * 4
		if ihl < 20 || len(b) < ihl {
			return Quote{}
		}
		q.Src = netip.AddrFrom4([4]byte(b[12:16]))
		q.Dst = netip.AddrFrom4([4]byte(b[16:20]))
		proto = b[9]
		if frag := binary.BigEndian.Uint16(b[6:8]) & 0x1fff; frag == 0 {
			l4 = b[ihl:]
		}
	case 6:
		if len(b) < 40 {
			return Quote{}
		}
		q.Src = netip.AddrFrom16([16]byte(b[8:24])).Unmap()
		q.Dst = netip.AddrFrom16([16]byte(b[24:40])).Unmap()
		proto = b[6]
		l4 = b[40:]
	default:
		return Quote{}
	}
	switch proto {
	case 6:
		q.Proto = afterimage.ProtoTCP
	case 17:
		q.Proto = afterimage.ProtoUDP
	case 1, 58:
		q.Proto = afterimage.ProtoICMP
	default:
		q.Proto = afterimage.ProtoOther
	}
	if (q.Proto == afterimage.ProtoTCP || q.Proto == afterimage.ProtoUDP) && len(l4) >= 4 {
		q.SrcPort = binary.BigEndian.Uint16(l4[0:2])
		q.DstPort = binary.BigEndian.Uint16(l4[2:4])
	}
	q.OK = true
	return q
}
