package detect

import (
	"maps"
	"sort"
	"time"
)

// Metric names. Counts are per window; the gateway-side metrics are the
// ones AWS IoT Device Defender offers (messages and bytes sent and
// received, message size, authorization failures, connection attempts,
// disconnects and disconnect duration, source IPs) plus what a broker sees
// that a cloud service does not (distinct topics, subscriptions outside the
// device's tree, client-ID collisions, payload-format changes, limit hits).
// The device_* metrics come from the device's own report on
// devices/{id}/metrics.
const (
	MessagesSent        = "messages_sent"
	BytesSent           = "bytes_sent"
	MessagesReceived    = "messages_received"
	BytesReceived       = "bytes_received"
	MessageSizeMax      = "message_size_max"
	AuthzFailures       = "authz_failures"
	SubscribeDenied     = "subscribe_denied"
	ConnectionAttempts  = "connection_attempts"
	ConnectionsRefused  = "connections_refused"
	Disconnects         = "disconnects"
	DisconnectedSeconds = "disconnected_seconds"
	SourceIPCount       = "source_ip_count"
	TopicCount          = "topic_count"
	ClientIDCollisions  = "clientid_collisions"
	FormatChanges       = "payload_format_changes"
	LimitHits           = "limit_hits"

	DeviceBytesIn        = "device_bytes_in"
	DeviceBytesOut       = "device_bytes_out"
	DevicePacketsIn      = "device_packets_in"
	DevicePacketsOut     = "device_packets_out"
	DestinationIPCount   = "destination_ip_count"
	ListeningTCPCount    = "listening_tcp_port_count"
	ListeningUDPCount    = "listening_udp_port_count"
	EstablishedConns     = "established_connections"
	DeviceReports        = "device_reports"
	InvalidDeviceReports = "invalid_device_reports"
)

// Set-valued metrics (for in-set / not-in-set rules).
const (
	SourceIPs         = "source_ips"
	Topics            = "topics"
	DestinationIPs    = "destination_ips"
	ListeningTCPPorts = "listening_tcp_ports"
	ListeningUDPPorts = "listening_udp_ports"
)

// NumericMetrics lists every numeric metric, in report order.
var NumericMetrics = []string{
	MessagesSent, BytesSent, MessagesReceived, BytesReceived, MessageSizeMax, AuthzFailures, SubscribeDenied,
	ConnectionAttempts, ConnectionsRefused, Disconnects, DisconnectedSeconds, SourceIPCount, TopicCount,
	ClientIDCollisions, FormatChanges, LimitHits,
	DeviceBytesIn, DeviceBytesOut, DevicePacketsIn, DevicePacketsOut, DestinationIPCount, ListeningTCPCount,
	ListeningUDPCount, EstablishedConns, DeviceReports, InvalidDeviceReports,
}

// SetMetrics lists every set-valued metric.
var SetMetrics = []string{SourceIPs, Topics, DestinationIPs, ListeningTCPPorts, ListeningUDPPorts}

func isNumeric(m string) bool {
	for _, n := range NumericMetrics {
		if n == m {
			return true
		}
	}
	return false
}

func isSet(m string) bool {
	for _, n := range SetMetrics {
		if n == m {
			return true
		}
	}
	return false
}

// Datapoint is one device's metrics over one closed window.
type Datapoint struct {
	Device string              `json:"device"`
	Window time.Duration       `json:"window_ns"`
	Start  time.Time           `json:"start"`
	End    time.Time           `json:"end"`
	Values map[string]float64  `json:"values"`
	Sets   map[string][]string `json:"sets,omitempty"`
}

// merge adds a later datapoint of the same device into d (for the longer
// windows): counts add, maxima take the max, sets union.
func (d *Datapoint) merge(o Datapoint) {
	if d.Values == nil {
		// The first datapoint of a longer window: o's values as they are
		// (a copy of the table), maxima of 0 left out as the loop below
		// leaves them, counts recomputed from the sets below.
		d.Values = maps.Clone(o.Values)
		if d.Values == nil {
			d.Values = map[string]float64{}
		}
		for _, k := range maxMetrics {
			if d.Values[k] <= 0 {
				delete(d.Values, k)
			}
		}
		o.Values = nil
	}
	for k, v := range o.Values {
		switch k {
		case MessageSizeMax, ListeningTCPCount, ListeningUDPCount, EstablishedConns: // maxMetrics
			if v > d.Values[k] {
				d.Values[k] = v
			}
		case SourceIPCount, TopicCount, DestinationIPCount:
			// recomputed from the sets below
		default:
			d.Values[k] += v
		}
	}
	for k, vs := range o.Sets {
		if d.Sets == nil {
			d.Sets = map[string][]string{}
		}
		d.Sets[k] = unionCapped(d.Sets[k], vs, setCap(k))
	}
	d.Values[SourceIPCount] = float64(len(d.Sets[SourceIPs]))
	d.Values[TopicCount] = float64(len(d.Sets[Topics]))
	d.Values[DestinationIPCount] = float64(len(d.Sets[DestinationIPs]))
	if o.End.After(d.End) {
		d.End = o.End
	}
}

// maxMetrics are the metrics whose longer windows take the maximum.
var maxMetrics = [...]string{MessageSizeMax, ListeningTCPCount, ListeningUDPCount, EstablishedConns}

// zeroValues is every numeric metric at 0 (a decoded datapoint's start).
var zeroValues = func() map[string]float64 {
	m := make(map[string]float64, len(NumericMetrics))
	for _, k := range NumericMetrics {
		m[k] = 0
	}
	return m
}()

// setCap bounds the members kept per set metric and window.
func setCap(metric string) int {
	switch metric {
	case Topics:
		return 256
	case DestinationIPs:
		return 4096
	}
	return 1024
}

func unionCapped(a, b []string, limit int) []string {
	if n := len(a) + len(b); n > 0 && n <= limit && strictlySorted(a) && strictlySorted(b) {
		return unionSorted(a, b) // the usual case: no map needed, the same result
	}
	seen := make(map[string]bool, len(a)+len(b))
	out := make([]string, 0, len(a)+len(b))
	for _, s := range append(append([]string{}, a...), b...) {
		if !seen[s] && len(out) < limit {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// strictlySorted reports whether s is sorted without repeats.
func strictlySorted(s []string) bool {
	for i := 1; i < len(s); i++ {
		if s[i-1] >= s[i] {
			return false
		}
	}
	return true
}

// unionSorted is the sorted union of two strictly sorted lists.
func unionSorted(a, b []string) []string {
	out := make([]string, 0, len(a)+len(b))
	for len(a) > 0 || len(b) > 0 {
		switch {
		case len(b) == 0 || len(a) > 0 && a[0] < b[0]:
			out, a = append(out, a[0]), a[1:]
		case len(a) == 0 || b[0] < a[0]:
			out, b = append(out, b[0]), b[1:]
		default:
			out, a, b = append(out, a[0]), a[1:], b[1:]
		}
	}
	return out
}
