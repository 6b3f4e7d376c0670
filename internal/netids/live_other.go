//go:build !linux

package netids

import "errors"

// ErrNoCapturePermission is wrapped when live capture is refused.
var ErrNoCapturePermission = errors.New("live capture needs root or the CAP_NET_RAW capability")

// LiveSource is only available on Linux.
type LiveSource struct{}

// OpenLive is only available on Linux.
func OpenLive(iface string) (*LiveSource, error) {
	return nil, errors.New("live capture is only supported on Linux (AF_PACKET); analyze a capture file instead")
}

// Next is never reached.
func (s *LiveSource) Next() (Frame, error) { return Frame{}, errors.New("live capture unsupported") }

// Close does nothing.
func (s *LiveSource) Close() error { return nil }
