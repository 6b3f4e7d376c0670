//go:build linux

package netids

import (
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// ErrNoCapturePermission is wrapped when live capture is refused.
var ErrNoCapturePermission = errors.New("live capture needs root or the CAP_NET_RAW capability")

// LiveSource captures packets from a network interface with an AF_PACKET
// socket (pure Go, no libpcap).
type LiveSource struct {
	h      *pcapgo.EthernetHandle
	number uint64
}

// OpenLive opens iface for capture in promiscuous mode.
func OpenLive(iface string) (*LiveSource, error) {
	// pcapgo formats the socket error as text; probe first so that a
	// missing privilege gets an error that says what to do.
	fd, err := syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
			return nil, fmt.Errorf("capture on %s: %w (run as root, or: sudo setcap cap_net_raw,cap_net_admin+ep $(command -v ward))", iface, ErrNoCapturePermission)
		}
		return nil, fmt.Errorf("capture on %s: open AF_PACKET socket: %w", iface, err)
	}
	syscall.Close(fd)
	h, err := pcapgo.NewEthernetHandle(iface)
	if err != nil {
		return nil, fmt.Errorf("capture on %s: %w", iface, err)
	}
	if err := h.SetPromiscuous(true); err != nil {
		h.Close()
		return nil, fmt.Errorf("capture on %s: set promiscuous mode: %w", iface, err)
	}
	return &LiveSource{h: h}, nil
}

// Next blocks until a packet arrives; after Close it returns an error.
func (s *LiveSource) Next() (Frame, error) {
	for {
		data, ci, err := s.h.ReadPacketData()
		if err != nil {
			if errors.Is(err, syscall.EINTR) || errors.Is(err, syscall.EAGAIN) {
				continue
			}
			return Frame{}, fmt.Errorf("live capture: %w", err)
		}
		if ci.Timestamp.IsZero() {
			ci.Timestamp = time.Now()
		}
		s.number++
		return Frame{Number: s.number, Data: data, Info: ci, LinkType: layers.LinkTypeEthernet}, nil
	}
}

// Close releases the socket; a blocked Next returns.
func (s *LiveSource) Close() error { return s.h.Close() }
