// Package alert defines Ward's security alerts and their lifecycle:
// raised, updated (deduplicated per device × rule while open),
// acknowledged, cleared. Detection (package detect, package netids) raises
// and clears alerts; operators acknowledge and clear them; notification
// sinks (package notify) and automatic response (package respond) receive
// every change.
package alert

import (
	"time"
)

// Severity ranks an alert.
type Severity string

// Severities, lowest first.
const (
	Low      Severity = "low"
	Medium   Severity = "medium"
	High     Severity = "high"
	Critical Severity = "critical"
)

// Rank orders severities: low 1 … critical 4, unknown 0.
func (s Severity) Rank() int {
	switch s {
	case Low:
		return 1
	case Medium:
		return 2
	case High:
		return 3
	case Critical:
		return 4
	}
	return 0
}

// Valid reports whether s is a known severity.
func (s Severity) Valid() bool { return s.Rank() > 0 }

// State is where an alert is in its lifecycle.
type State string

// Alert states.
const (
	Open         State = "open"         // raised, possibly updated since
	Acknowledged State = "acknowledged" // an operator has seen it; still active
	Cleared      State = "cleared"      // condition gone or closed by an operator
)

// Evidence is what made the alert fire: the metric, its value and the
// threshold it crossed in which window, or the packets and score of the
// network sensor.
type Evidence struct {
	Metric     string  `json:"metric,omitempty"`
	Window     string  `json:"window,omitempty"` // e.g. "1m"
	Comparison string  `json:"comparison,omitempty"`
	Value      float64 `json:"value"`
	Threshold  float64 `json:"threshold"`
	// Statistic names a statistical threshold ("p99 of model acme-th1") or
	// the model score kind ("baseline score").
	Statistic string `json:"statistic,omitempty"`
	// Values are set-valued evidence (new IPs, ports, topics).
	Values []string `json:"values,omitempty"`
	// WindowStart and WindowEnd bound the datapoint that fired.
	WindowStart time.Time `json:"window_start,omitzero"`
	WindowEnd   time.Time `json:"window_end,omitzero"`
	// Detail is free-form context (flow 5-tuple, packet numbers, score).
	Detail map[string]string `json:"detail,omitempty"`
}

// Alert is one security alert about one device (or network host).
type Alert struct {
	ID          string    `json:"id"`
	Device      string    `json:"device"`
	Rule        string    `json:"rule"`
	Source      string    `json:"source"` // "detect", "baseline", "netids"
	Severity    Severity  `json:"severity"`
	State       State     `json:"state"`
	Title       string    `json:"title"`
	Description string    `json:"description,omitempty"`
	Evidence    Evidence  `json:"evidence"`
	MITRE       []string  `json:"mitre,omitempty"` // ATT&CK technique IDs, e.g. "T0814", "T1110"
	RaisedAt    time.Time `json:"raised_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	// Count is how many datapoints confirmed the alert while it was open.
	Count          int       `json:"count"`
	AcknowledgedAt time.Time `json:"acknowledged_at,omitzero"`
	AcknowledgedBy string    `json:"acknowledged_by,omitempty"`
	ClearedAt      time.Time `json:"cleared_at,omitzero"`
	ClearedBy      string    `json:"cleared_by,omitempty"` // "auto" or an operator
	// Mitigation is what the rule asks for (notify, quarantine, revoke,
	// log-level); AutoMitigate says whether its profile opted in to doing it
	// automatically.
	Mitigation   string `json:"mitigation,omitempty"`
	AutoMitigate bool   `json:"auto_mitigate,omitempty"`
	// Mitigations lists what was done automatically or by hand.
	Mitigations []string `json:"mitigations,omitempty"`
}

// Active reports whether the alert is open or acknowledged.
func (a Alert) Active() bool { return a.State == Open || a.State == Acknowledged }

// Change is what happened to an alert.
type Change string

// Changes delivered to sinks.
const (
	Raised          Change = "raised"
	Updated         Change = "updated"
	Acknowledge     Change = "acknowledged"
	Clear           Change = "cleared"
	MitigationTaken Change = "mitigated"
)

// Notification is one alert change, as sinks receive it.
type Notification struct {
	Change Change    `json:"change"`
	Time   time.Time `json:"time"`
	Alert  Alert     `json:"alert"`
}
