package netids

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/wardproject/ward/internal/netids/conntrack"
)

// RuleIncident is the rule name of incident alerts: one per host and hour
// of capture time, raised when the fused evidence of one of the host's
// connections reaches the threshold, and raised again only when its
// severity rises.
const RuleIncident = "incident"

// SeverityInfo is the severity of an incident whose evidence is novelty
// alone (a new device or service).
const SeverityInfo Severity = "info"

// Incident is one host's incident in one hour of capture time.
type Incident struct {
	Host     netip.Addr `json:"host"`
	Hour     time.Time  `json:"hour"`
	First    time.Time  `json:"first"`  // first evidence at the threshold
	Packet   uint64     `json:"packet"` // the packet that opened it
	Severity Severity   `json:"severity"`
	// Flows lists the evidence connections (at most 16), with their terms
	// when they first reached the threshold.
	Flows []IncidentFlow `json:"flows"`
	// More counts evidence connections beyond Flows.
	More int `json:"more,omitempty"`
}

// IncidentFlow is one connection's evidence in an incident.
type IncidentFlow struct {
	Conn     conntrack.Key `json:"-"`
	Flow     Flow          `json:"flow"`
	Name     string        `json:"name,omitempty"` // the DNS name the server was resolved from
	Score    float64       `json:"score"`
	Evidence string        `json:"evidence"`
	// Period and Regularity are context, never evidence: the mean
	// interval in seconds between the connection's attempts and 1 − their
	// mean deviation over it (1: like a clock), once it had at least 5
	// attempts, as of its last packet above the threshold this hour. A bot beaconing to its
	// C&C is periodic; so are NTP, SSDP and MQTT keep-alives.
	Period     float64 `json:"period_s,omitempty"`
	Regularity float64 `json:"regularity,omitempty"`
}

type incidentKey struct {
	host netip.Addr
	hour int64
}

const (
	maxIncidentFlows = 16
	maxIncidentsKept = 1 << 14 // in memory for Incidents(); counts go on
)

var sevRank = map[Severity]int{SeverityInfo: 0, SeverityLow: 1, SeverityMedium: 2, SeverityHigh: 3}

// incident records connection c's evidence e (fused score v, at the
// threshold) on its client's incident for the hour, and raises an alert
// when the incident opens or its severity rises.
func (s *Sensor) incident(p *Packet, c *conntrack.Conn, e *Evidence, v float64, emit func(Alert)) {
	host := c.Client
	hour := p.Time.Unix() / 3600
	k := incidentKey{host, hour}
	in, ok := s.incidents[k]
	sev := s.eo.Severity(e)
	if !ok {
		// Incidents of earlier hours are final: drop them from the index.
		if len(s.incidents) > 4096 {
			for old := range s.incidents {
				if old.hour < hour-1 {
					delete(s.incidents, old)
				}
			}
		}
		in = &Incident{Host: host, Hour: time.Unix(hour*3600, 0).UTC(), First: p.Time, Packet: p.Number, Severity: sev}
		s.incidents[k] = in
		if len(s.incidentLog) < maxIncidentsKept {
			s.incidentLog = append(s.incidentLog, in)
		}
		s.sum.Incidents[string(sev)]++
	}
	listed := false
	for i := range in.Flows {
		if f := &in.Flows[i]; f.Conn == c.Key {
			listed = true
			if period, reg, ok := beat(&c.Mark); ok {
				f.Period, f.Regularity = period, reg
			}
			break
		}
	}
	if !listed {
		if len(in.Flows) < maxIncidentFlows {
			f := IncidentFlow{Conn: c.Key, Score: v, Evidence: s.eo.Explain(e), Name: s.dns.name(c.Server),
				Flow: Flow{Proto: protoName(c.Proto), Src: c.Client, Dst: c.Server, DstPort: c.Port}}
			if period, reg, ok := beat(&c.Mark); ok {
				f.Period, f.Regularity = period, reg
			}
			in.Flows = append(in.Flows, f)
		} else {
			in.More++
		}
	}
	raise := !ok
	if ok && sevRank[sev] > sevRank[in.Severity] {
		s.sum.Incidents[string(in.Severity)]--
		s.sum.Incidents[string(sev)]++
		in.Severity = sev
		raise = true
	}
	if !raise {
		return
	}
	emit(Alert{Time: p.Time, Rule: RuleIncident, Severity: in.Severity, Packet: p.Number, Score: v,
		Threshold: s.eo.Threshold, Flow: Flow{Proto: protoName(c.Proto), Src: c.Client, Dst: c.Server, DstPort: c.Port},
		SrcMAC: s.macOf(p, host), Count: len(in.Flows) + in.More,
		Message: fmt.Sprintf("%s: %s incident, connection to %s%s port %d/%s scores %.2f (%s)",
			host, in.Severity, c.Server, nameSuffix(s.dns.name(c.Server)), c.Port, protoName(c.Proto), v, s.eo.Explain(e))})
}

// macOf returns the MAC address of host as p carries it ("" when p's
// sender is the other end).
func (s *Sensor) macOf(p *Packet, host netip.Addr) string {
	if p.SrcIP == host && p.HasEth {
		return net.HardwareAddr(p.SrcMAC[:]).String()
	}
	if p.DstIP == host && p.HasEth {
		return net.HardwareAddr(p.DstMAC[:]).String()
	}
	return ""
}

// Incidents returns the incidents raised so far (the first 16,384).
func (s *Sensor) Incidents() []Incident {
	out := make([]Incident, len(s.incidentLog))
	for i, in := range s.incidentLog {
		out[i] = *in
		out[i].Flows = append([]IncidentFlow(nil), in.Flows...)
	}
	return out
}

func nameSuffix(n string) string {
	if n == "" {
		return ""
	}
	return " (" + n + ")"
}
