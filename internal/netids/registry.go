package netids

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
)

// StaticRegistry is a DeviceRegistry read from a file, for running the
// sensor without Ward's server: CSV rows "mac_or_ip,device_id,model"
// (blank lines and # comments ignored).
type StaticRegistry struct {
	byMAC map[[6]byte]Device
	byIP  map[netip.Addr]Device
}

// maxRegistryRows bounds a registry file.
const maxRegistryRows = 1 << 20

// ParseStaticRegistry reads a registry file.
func ParseStaticRegistry(r io.Reader) (*StaticRegistry, error) {
	reg := &StaticRegistry{byMAC: map[[6]byte]Device{}, byIP: map[netip.Addr]Device{}}
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' {
			continue
		}
		if line > maxRegistryRows {
			return nil, fmt.Errorf("devices: more than %d rows", maxRegistryRows)
		}
		f := strings.Split(text, ",")
		for i := range f {
			f[i] = strings.TrimSpace(f[i])
		}
		if len(f) < 2 || f[1] == "" {
			return nil, fmt.Errorf("devices line %d: want mac_or_ip,device_id[,model]", line)
		}
		d := Device{ID: f[1]}
		if len(f) > 2 {
			d.Model = f[2]
		}
		if ip, err := netip.ParseAddr(f[0]); err == nil {
			reg.byIP[ip.Unmap()] = d
			continue
		}
		mac, err := net.ParseMAC(f[0])
		if err != nil || len(mac) != 6 {
			if line == 1 {
				continue // header
			}
			return nil, fmt.Errorf("devices line %d: %q is neither an IP nor a MAC address", line, f[0])
		}
		reg.byMAC[[6]byte(mac)] = d
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read devices: %w", err)
	}
	return reg, nil
}

// NewStaticRegistry returns an empty registry; Add fills it.
func NewStaticRegistry() *StaticRegistry {
	return &StaticRegistry{byMAC: map[[6]byte]Device{}, byIP: map[netip.Addr]Device{}}
}

// Add maps an IP or MAC address to a device.
func (r *StaticRegistry) Add(ipOrMAC string, d Device) error {
	if ip, err := netip.ParseAddr(ipOrMAC); err == nil {
		r.byIP[ip.Unmap()] = d
		return nil
	}
	mac, err := net.ParseMAC(ipOrMAC)
	if err != nil || len(mac) != 6 {
		return fmt.Errorf("%q is neither an IP nor a MAC address", ipOrMAC)
	}
	r.byMAC[[6]byte(mac)] = d
	return nil
}

// LookupDevice finds a device by MAC address, then by IP address.
func (r *StaticRegistry) LookupDevice(_ context.Context, mac net.HardwareAddr, ip netip.Addr) (Device, bool, error) {
	if len(mac) == 6 {
		if d, ok := r.byMAC[[6]byte(mac)]; ok {
			return d, true, nil
		}
	}
	d, ok := r.byIP[ip.Unmap()]
	return d, ok, nil
}

// Model returns the model of the device at mac or ip (for mud.ModelLookup).
func (r *StaticRegistry) Model(mac [6]byte, ip netip.Addr) (string, bool) {
	if d, ok := r.byMAC[mac]; ok && d.Model != "" {
		return d.Model, true
	}
	if d, ok := r.byIP[ip.Unmap()]; ok && d.Model != "" {
		return d.Model, true
	}
	return "", false
}
