package detect

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"
)

// DeviceReport is the device-side metrics report a device (or ward agent)
// publishes as JSON on devices/{id}/metrics. Counts cover the interval
// since the device's previous report. Schema (version 1):
//
//	{
//	  "version": 1,                      // required, must be 1
//	  "timestamp": "2026-11-25T08:00:00Z",// optional RFC 3339
//	  "interval_seconds": 60,            // optional, 1..86400
//	  "bytes_in": 1200, "bytes_out": 800,         // optional, >= 0
//	  "packets_in": 20, "packets_out": 15,        // optional, >= 0
//	  "destination_ips": ["192.0.2.10"],          // optional, IPv4/IPv6, at most 4096
//	  "listening_tcp_ports": [443],               // optional, 1..65535, at most 1024
//	  "listening_udp_ports": [5353],              // optional, 1..65535, at most 1024
//	  "established_connections": 2               // optional, >= 0
//	}
//
// Unknown fields, wrong types, negative counts, bad addresses or ports and
// trailing data are errors: a report is all valid or ignored (and counted
// in invalid_device_reports).
type DeviceReport struct {
	Version                int        `json:"version"`
	Timestamp              *time.Time `json:"timestamp,omitempty"`
	IntervalSeconds        *float64   `json:"interval_seconds,omitempty"`
	BytesIn                *int64     `json:"bytes_in,omitempty"`
	BytesOut               *int64     `json:"bytes_out,omitempty"`
	PacketsIn              *int64     `json:"packets_in,omitempty"`
	PacketsOut             *int64     `json:"packets_out,omitempty"`
	DestinationIPs         []string   `json:"destination_ips,omitempty"`
	ListeningTCPPorts      []int      `json:"listening_tcp_ports,omitempty"`
	ListeningUDPPorts      []int      `json:"listening_udp_ports,omitempty"`
	EstablishedConnections *int64     `json:"established_connections,omitempty"`
}

// MaxReportBytes bounds a device report.
const MaxReportBytes = 64 << 10

// ErrBadReport wraps every report validation error.
var ErrBadReport = errors.New("invalid device metrics report")

// ParseDeviceReport decodes and validates a report strictly.
func ParseDeviceReport(data []byte) (DeviceReport, error) {
	var r DeviceReport
	if len(data) > MaxReportBytes {
		return r, fmt.Errorf("%w: %d bytes is over the %d-byte limit", ErrBadReport, len(data), MaxReportBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return r, fmt.Errorf("%w: %v", ErrBadReport, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return r, fmt.Errorf("%w: trailing data after the JSON object", ErrBadReport)
	}
	if r.Version != 1 {
		return r, fmt.Errorf("%w: version must be 1, got %d", ErrBadReport, r.Version)
	}
	if r.IntervalSeconds != nil && (*r.IntervalSeconds < 1 || *r.IntervalSeconds > 86400) {
		return r, fmt.Errorf("%w: interval_seconds must be 1..86400", ErrBadReport)
	}
	for name, v := range map[string]*int64{"bytes_in": r.BytesIn, "bytes_out": r.BytesOut, "packets_in": r.PacketsIn,
		"packets_out": r.PacketsOut, "established_connections": r.EstablishedConns()} {
		if v != nil && *v < 0 {
			return r, fmt.Errorf("%w: %s must not be negative", ErrBadReport, name)
		}
	}
	if len(r.DestinationIPs) > 4096 {
		return r, fmt.Errorf("%w: destination_ips has more than 4096 entries", ErrBadReport)
	}
	for i, ip := range r.DestinationIPs {
		a, err := netip.ParseAddr(ip)
		if err != nil {
			return r, fmt.Errorf("%w: destination_ips[%d]: %q is not an IP address", ErrBadReport, i, ip)
		}
		r.DestinationIPs[i] = a.Unmap().String()
	}
	for name, ports := range map[string][]int{"listening_tcp_ports": r.ListeningTCPPorts, "listening_udp_ports": r.ListeningUDPPorts} {
		if len(ports) > 1024 {
			return r, fmt.Errorf("%w: %s has more than 1024 entries", ErrBadReport, name)
		}
		for i, p := range ports {
			if p < 1 || p > 65535 {
				return r, fmt.Errorf("%w: %s[%d]: %d is not a port (1..65535)", ErrBadReport, name, i, p)
			}
		}
	}
	return r, nil
}

// EstablishedConns returns the established_connections field.
func (r DeviceReport) EstablishedConns() *int64 { return r.EstablishedConnections }
