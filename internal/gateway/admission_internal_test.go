package gateway

import (
	"net"
	"testing"
)

// addrConn is a net.Conn with only a remote address.
type addrConn struct {
	net.Conn
	addr net.Addr
}

func (c addrConn) RemoteAddr() net.Addr { return c.addr }

func from(ip string) net.Conn {
	return addrConn{addr: &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000}}
}

// TestHandshakeTableEviction: at the total cap the oldest entry that has
// sent nothing is evicted first, then the oldest of the others.
func TestHandshakeTableEviction(t *testing.T) {
	h := newHandshakes(2, 8, 64)
	a, _, _ := h.acquire(from("10.0.1.1"))
	h.talked(a)
	b, _, _ := h.acquire(from("10.0.2.1"))
	steps := []struct {
		name    string
		talk    bool
		evicted *pendingConn
	}{
		{"silent-b-goes-before-older-talking-a", false, b},
		{"then-the-newer-silent-one", true, nil}, // evicted filled in below
		{"with-no-silent-one-the-oldest-talking", false, a},
	}
	var prev *pendingConn
	for i, st := range steps {
		pc, ev, refused := h.acquire(from("10.0.3.1"))
		if refused != "" {
			t.Fatalf("%s: refused %s", st.name, refused)
		}
		want := st.evicted
		if i == 1 {
			want = prev
		}
		if ev != want {
			t.Fatalf("%s: evicted %v, want %v", st.name, ev, want)
		}
		if st.talk {
			h.talked(pc)
		}
		prev = pc
	}
}

// TestHandshakeTableSources: per-address and per-prefix (/24, /64) caps,
// IPv4-mapped addresses counted as IPv4, and entries forgotten on release
// so the maps stay bounded.
func TestHandshakeTableSources(t *testing.T) {
	h := newHandshakes(100, 2, 3)
	tests := []struct {
		name, ip, refused string
	}{
		{"first", "10.0.0.1", ""},
		{"second-same-address", "::ffff:10.0.0.1", ""},
		{"third-same-address", "10.0.0.1", DropPerAddress},
		{"same-/24", "10.0.0.2", ""},
		{"prefix-full", "10.0.0.3", DropPerPrefix},
		{"other-/24", "10.0.1.3", ""},
		{"ipv6", "2001:db8::1", ""},
		{"ipv6-same-/64", "2001:db8::2", ""},
		{"ipv6-third-in-/64", "2001:db8::3", ""},
		{"ipv6-/64-full", "2001:db8::4", DropPerPrefix},
		{"ipv6-other-/64", "2001:db8:0:1::4", ""},
	}
	var held []*pendingConn
	for _, tt := range tests {
		pc, _, refused := h.acquire(from(tt.ip))
		if refused != tt.refused {
			t.Errorf("%s (%s): refused %q, want %q", tt.name, tt.ip, refused, tt.refused)
		}
		if pc != nil {
			held = append(held, pc)
		}
	}
	for _, pc := range held {
		h.release(pc)
		h.release(pc) // idempotent
	}
	if len(h.perAddr) != 0 || len(h.perPrefix) != 0 || h.silent.Len()+h.talking.Len() != 0 {
		t.Fatalf("after release: %d addresses, %d prefixes, %d entries", len(h.perAddr), len(h.perPrefix), h.silent.Len()+h.talking.Len())
	}
}
