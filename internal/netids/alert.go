package netids

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/wardproject/ward/internal/netids/afterimage"
)

// Severity ranks an alert.
type Severity string

// Severities.
const (
	SeverityLow    Severity = "low"
	SeverityMedium Severity = "medium"
	SeverityHigh   Severity = "high"
)

// Rule names carried in Alert.Rule.
const (
	RuleAnomaly    = "anomaly"        // no longer raised: the learned score is one evidence term of an incident
	RulePortScan   = "port-scan"      // one source probing many ports of one host
	RuleHostScan   = "host-scan"      // one source probing one port on many hosts
	RuleBrute      = "brute-force"    // repeated connections to telnet or SSH
	RuleSYNFlood   = "syn-flood"      // many SYNs without handshakes
	RuleBlocklist  = "blocklist"      // traffic to or from a known-bad address
	RuleMUD        = "mud-policy"     // flow outside the device model's MUD profile
	RuleNewDevice  = "unknown-device" // a device the registry does not know
	RuleUnanswered = "unanswered"     // repeated connection attempts to a server that never answered
)

// Flow is the 5-tuple of the packet that raised an alert.
type Flow struct {
	Proto   string     `json:"proto"`
	Src     netip.Addr `json:"src,omitzero"`
	Dst     netip.Addr `json:"dst,omitzero"`
	SrcPort uint16     `json:"src_port,omitempty"`
	DstPort uint16     `json:"dst_port,omitempty"`
}

// FlowOf returns p's 5-tuple.
func FlowOf(p *Packet) Flow {
	return Flow{Proto: protoName(p.Proto), Src: p.SrcIP, Dst: p.DstIP, SrcPort: p.SrcPort, DstPort: p.DstPort}
}

func protoName(p afterimage.Proto) string {
	switch p {
	case afterimage.ProtoTCP:
		return "tcp"
	case afterimage.ProtoUDP:
		return "udp"
	case afterimage.ProtoICMP:
		return "icmp"
	case afterimage.ProtoARP:
		return "arp"
	}
	return "other"
}

// Alert is one detection with its evidence.
type Alert struct {
	Time     time.Time `json:"time"`
	Rule     string    `json:"rule"`
	Severity Severity  `json:"severity"`
	// Packet is the number (from 1) of the packet that raised the alert.
	Packet uint64 `json:"packet"`
	// Score and Threshold are set for RuleIncident (the fused score).
	Score     float64 `json:"score,omitempty"`
	Threshold float64 `json:"threshold,omitempty"`
	Flow      Flow    `json:"flow"`
	SrcMAC    string  `json:"src_mac,omitempty"`
	// DeviceID is the enrolled device the source maps to, when a registry
	// is configured and knows it.
	DeviceID string `json:"device_id,omitempty"`
	Message  string `json:"message"`
	// Count is how many matching events the alert sums up (scan targets,
	// connection attempts, suppressed repeats).
	Count int `json:"count,omitempty"`
}

// AlertSink receives alerts. Ward's alert pipeline implements it; the
// default is a JSONSink.
type AlertSink interface {
	Send(ctx context.Context, a Alert) error
}

// Device is what a registry knows about an address.
type Device struct {
	ID    string
	Model string // device model, the key of its MUD profile
}

// DeviceRegistry maps addresses seen on the network to enrolled devices.
// Ward's fleet registry implements it; StaticRegistry is a file-based one.
type DeviceRegistry interface {
	LookupDevice(ctx context.Context, mac net.HardwareAddr, ip netip.Addr) (Device, bool, error)
}

// JSONSink writes alerts as JSON lines. It is safe for concurrent use.
type JSONSink struct {
	mu  sync.Mutex
	enc *json.Encoder
}

// NewJSONSink returns a sink writing one JSON object per line to w.
func NewJSONSink(w io.Writer) *JSONSink { return &JSONSink{enc: json.NewEncoder(w)} }

// Send writes a as one JSON line.
func (s *JSONSink) Send(_ context.Context, a Alert) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.enc.Encode(a); err != nil {
		return fmt.Errorf("write alert: %w", err)
	}
	return nil
}

// DiscardSink drops alerts (for evaluation runs).
type DiscardSink struct{}

// Send does nothing.
func (DiscardSink) Send(context.Context, Alert) error { return nil }
