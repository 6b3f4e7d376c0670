package netids

import (
	"net"
	"net/netip"
	"slices"
	"time"
)

// Asset is a device seen on the network, keyed by MAC address.
type Asset struct {
	MAC       string       `json:"mac"`
	IPs       []netip.Addr `json:"ips,omitempty"`
	FirstSeen time.Time    `json:"first_seen"`
	LastSeen  time.Time    `json:"last_seen"`
	Packets   uint64       `json:"packets"`
	// DeviceID and Model are set when the registry knows the device.
	DeviceID string `json:"device_id,omitempty"`
	Model    string `json:"model,omitempty"`
}

// maxIPsPerAsset bounds the addresses remembered per MAC (a router's MAC
// carries every remote address).
const maxIPsPerAsset = 16

// Inventory is the set of devices seen (asset discovery). It is bounded
// and not safe for concurrent use.
type Inventory struct {
	max    int
	assets map[[6]byte]*Asset
	byStr  map[string]*Asset
}

// NewInventory returns an inventory holding at most max assets (default
// 65,536; later devices are not recorded).
func NewInventory(max int) *Inventory {
	if max <= 0 {
		max = 1 << 16
	}
	return &Inventory{max: max, assets: map[[6]byte]*Asset{}, byStr: map[string]*Asset{}}
}

// observe records p's source. It returns the asset and whether it is new.
func (inv *Inventory) observe(p *Packet) (*Asset, bool) {
	if !p.HasEth && p.SrcMAC == ([6]byte{}) {
		return nil, false
	}
	a, ok := inv.assets[p.SrcMAC]
	if !ok {
		if len(inv.assets) >= inv.max {
			return nil, false
		}
		a = &Asset{MAC: net.HardwareAddr(p.SrcMAC[:]).String(), FirstSeen: p.Time}
		inv.assets[p.SrcMAC] = a
		inv.byStr[a.MAC] = a
	}
	a.LastSeen = p.Time
	a.Packets++
	if ip := p.SrcIP; ip.IsValid() && !ip.IsUnspecified() && len(a.IPs) < maxIPsPerAsset && !slices.Contains(a.IPs, ip) {
		a.IPs = append(a.IPs, ip)
	}
	return a, !ok
}

func (inv *Inventory) byMAC(mac string) *Asset { return inv.byStr[mac] }

// Len returns the number of assets.
func (inv *Inventory) Len() int { return len(inv.assets) }

// List returns copies of the assets, ordered by first sighting.
func (inv *Inventory) List() []Asset {
	out := make([]Asset, 0, len(inv.assets))
	for _, a := range inv.assets {
		c := *a
		c.IPs = slices.Clone(a.IPs)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Asset) int {
		if c := a.FirstSeen.Compare(b.FirstSeen); c != 0 {
			return c
		}
		return compareStr(a.MAC, b.MAC)
	})
	return out
}

func compareStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
