// Package agent is Ward's reference device-side agent: on a Linux device it
// reads what the device itself sees (bytes and packets in and out from
// /proc/net/dev, listening TCP and UDP ports, established connections and
// their remote addresses from /proc/net/{tcp,tcp6,udp,udp6}) and builds the
// JSON metrics report that the gateway's detection expects on
// devices/{id}/metrics (see detect.DeviceReport). The MQTT side (mutual TLS
// with the device's certificate) is wired in cmd/ward.
//
// It reads /proc directly: no Go library parses these tables without
// pulling in far more than an agent on a small device should carry.
package agent

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Counters are interface totals from /proc/net/dev (loopback excluded).
type Counters struct {
	BytesIn, BytesOut, PacketsIn, PacketsOut int64
}

// Sockets are what the socket tables show.
type Sockets struct {
	ListeningTCP   []int
	ListeningUDP   []int
	Established    int
	DestinationIPs []string
}

// maxLines bounds the tables read (a device with more sockets than this is
// itself a finding).
const maxLines = 100000

// ParseNetDev parses /proc/net/dev, summing every interface but lo.
func ParseNetDev(r io.Reader) (Counters, error) {
	var c Counters
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		if line <= 2 {
			continue // headers
		}
		if line > maxLines {
			return c, errors.New("/proc/net/dev: too many lines")
		}
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			return c, fmt.Errorf("/proc/net/dev line %d: no interface name", line)
		}
		if strings.TrimSpace(name) == "lo" {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 10 {
			return c, fmt.Errorf("/proc/net/dev line %d: %d fields, want 16", line, len(f))
		}
		var v [4]int64
		for i, idx := range []int{0, 1, 8, 9} {
			n, err := strconv.ParseInt(f[idx], 10, 64)
			if err != nil || n < 0 {
				return c, fmt.Errorf("/proc/net/dev line %d field %d: %q is not a counter", line, idx+1, f[idx])
			}
			v[i] = n
		}
		c.BytesIn += v[0]
		c.PacketsIn += v[1]
		c.BytesOut += v[2]
		c.PacketsOut += v[3]
		if c.BytesIn < 0 || c.PacketsIn < 0 || c.BytesOut < 0 || c.PacketsOut < 0 {
			return Counters{}, fmt.Errorf("/proc/net/dev line %d: counters overflow", line)
		}
	}
	return c, sc.Err()
}

// TCP states in /proc/net/tcp.
const (
	tcpEstablished = "01"
	tcpListen      = "0A"
	udpUnconnected = "07"
)

// parseAddr decodes "0100007F:1F90" (IPv4) or the 32-hex-digit IPv6 form.
func parseAddr(s string) (netip.Addr, int, error) {
	h, p, ok := strings.Cut(s, ":")
	if !ok {
		return netip.Addr{}, 0, fmt.Errorf("address %q has no port", s)
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("port %q: %w", p, err)
	}
	b, err := hex.DecodeString(h)
	if err != nil || (len(b) != 4 && len(b) != 16) {
		return netip.Addr{}, 0, fmt.Errorf("address %q is not 8 or 32 hex digits", h)
	}
	// The kernel prints each 32-bit word in host (little-endian) order.
	for i := 0; i+4 <= len(b); i += 4 {
		b[i], b[i+1], b[i+2], b[i+3] = b[i+3], b[i+2], b[i+1], b[i]
	}
	a, _ := netip.AddrFromSlice(b)
	return a.Unmap(), int(port), nil
}

// ParseSockets parses a /proc/net/{tcp,udp}[6] table into s.
func ParseSockets(r io.Reader, udp bool, s *Sockets, dst map[string]bool) error {
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		if line == 1 {
			continue
		}
		if line > maxLines {
			return errors.New("socket table: too many lines")
		}
		f := strings.Fields(sc.Text())
		if len(f) < 4 {
			return fmt.Errorf("socket table line %d: %d fields", line, len(f))
		}
		_, lport, err := parseAddr(f[1])
		if err != nil {
			return fmt.Errorf("socket table line %d local address: %w", line, err)
		}
		raddr, _, err := parseAddr(f[2])
		if err != nil {
			return fmt.Errorf("socket table line %d remote address: %w", line, err)
		}
		switch st := f[3]; {
		case !udp && st == tcpListen:
			s.ListeningTCP = append(s.ListeningTCP, lport)
		case !udp && st == tcpEstablished:
			s.Established++
			if !raddr.IsLoopback() && !raddr.IsUnspecified() {
				dst[raddr.String()] = true
			}
		case udp && st == udpUnconnected && raddr.IsUnspecified():
			s.ListeningUDP = append(s.ListeningUDP, lport)
		}
	}
	return sc.Err()
}

// Read collects the counters and sockets under a /proc root ("/proc").
func Read(proc string) (Counters, Sockets, error) {
	var s Sockets
	f, err := os.Open(filepath.Join(proc, "net", "dev"))
	if err != nil {
		return Counters{}, s, err
	}
	c, err := ParseNetDev(f)
	f.Close()
	if err != nil {
		return c, s, err
	}
	dst := map[string]bool{}
	for _, t := range []struct {
		name string
		udp  bool
	}{{"tcp", false}, {"tcp6", false}, {"udp", true}, {"udp6", true}} {
		f, err := os.Open(filepath.Join(proc, "net", t.name))
		if errors.Is(err, os.ErrNotExist) {
			continue // no IPv6 on this device
		}
		if err != nil {
			return c, s, err
		}
		err = ParseSockets(f, t.udp, &s, dst)
		f.Close()
		if err != nil {
			return c, s, fmt.Errorf("%s: %w", t.name, err)
		}
	}
	s.ListeningTCP, s.ListeningUDP = uniq(s.ListeningTCP), uniq(s.ListeningUDP)
	for ip := range dst {
		s.DestinationIPs = append(s.DestinationIPs, ip)
	}
	sort.Strings(s.DestinationIPs)
	if len(s.DestinationIPs) > 4096 {
		s.DestinationIPs = s.DestinationIPs[:4096]
	}
	return c, s, nil
}

func uniq(ps []int) []int {
	sort.Ints(ps)
	out := ps[:0]
	for i, p := range ps {
		if i == 0 || p != ps[i-1] {
			out = append(out, p)
		}
	}
	if len(out) > 1024 {
		out = out[:1024]
	}
	return out
}

// Report is the device-side report (the schema of detect.DeviceReport).
type Report struct {
	Version                int       `json:"version"`
	Timestamp              time.Time `json:"timestamp"`
	IntervalSeconds        float64   `json:"interval_seconds"`
	BytesIn                int64     `json:"bytes_in"`
	BytesOut               int64     `json:"bytes_out"`
	PacketsIn              int64     `json:"packets_in"`
	PacketsOut             int64     `json:"packets_out"`
	DestinationIPs         []string  `json:"destination_ips"`
	ListeningTCPPorts      []int     `json:"listening_tcp_ports"`
	ListeningUDPPorts      []int     `json:"listening_udp_ports"`
	EstablishedConnections int64     `json:"established_connections"`
}

// Build makes the report for an interval from two counter readings (a
// counter that went backwards, after a reboot or a wrap, counts from 0).
func Build(prev, cur Counters, s Sockets, now time.Time, interval time.Duration) Report {
	d := func(a, b int64) int64 {
		if b < a {
			return b
		}
		return b - a
	}
	r := Report{Version: 1, Timestamp: now.UTC(), IntervalSeconds: min(86400, max(1, interval.Seconds())),
		BytesIn: d(prev.BytesIn, cur.BytesIn), BytesOut: d(prev.BytesOut, cur.BytesOut),
		PacketsIn: d(prev.PacketsIn, cur.PacketsIn), PacketsOut: d(prev.PacketsOut, cur.PacketsOut),
		DestinationIPs: s.DestinationIPs, ListeningTCPPorts: s.ListeningTCP, ListeningUDPPorts: s.ListeningUDP,
		EstablishedConnections: int64(s.Established)}
	if r.DestinationIPs == nil {
		r.DestinationIPs = []string{}
	}
	if r.ListeningTCPPorts == nil {
		r.ListeningTCPPorts = []int{}
	}
	if r.ListeningUDPPorts == nil {
		r.ListeningUDPPorts = []int{}
	}
	return r
}
