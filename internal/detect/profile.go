package detect

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/wardproject/ward/internal/alert"
)

// Profile is a security profile: rules (and the learned baseline) that
// apply to the devices it targets. Profiles are written in YAML or JSON:
//
//	name: cameras
//	targets: {models: [acme-cam2], tags: [], devices: []}  # empty: every device
//	auto_mitigate: true          # opt-in: run the rules' mitigations automatically
//	baseline: {enabled: true, sensitivity: medium, severity: medium, mitigation: notify}
//	rules:
//	  - name: authz-failures
//	    metric: authz_failures
//	    window: 1m               # 1m, 5m or 1h: the detection window and its 5x and 60x multiples
//	    comparison: ">"          # >, >=, <, <=, in-set, not-in-set
//	    value: 5                 # static threshold
//	    statistic: p99           # optional fleet percentile over the profile's devices: p50..p99.9
//	    factor: 3                # threshold = max(value, factor x statistic)
//	    values: ["23", "2323"]   # for in-set / not-in-set on set metrics
//	    raise_after: 1           # consecutive breaching datapoints to raise
//	    clear_after: 3           # consecutive clean datapoints to clear
//	    severity: high
//	    mitre: [T1110]
//	    mitigation: quarantine   # notify, quarantine, quarantine-restrict, revoke, log-level
//
// Windows scale with `ward serve --detect-window`: "1m" is that window,
// "5m" five of them and "1h" sixty.
type Profile struct {
	Name         string   `json:"name" yaml:"name"`
	Description  string   `json:"description,omitempty" yaml:"description,omitempty"`
	Targets      Targets  `json:"targets" yaml:"targets"`
	AutoMitigate bool     `json:"auto_mitigate" yaml:"auto_mitigate"`
	Baseline     Baseline `json:"baseline" yaml:"baseline"`
	Rules        []Rule   `json:"rules" yaml:"rules"`
}

// Targets selects devices; a device matches when any list names it. All
// empty: every device.
type Targets struct {
	Models  []string `json:"models,omitempty" yaml:"models,omitempty"`
	Tags    []string `json:"tags,omitempty" yaml:"tags,omitempty"`
	Devices []string `json:"devices,omitempty" yaml:"devices,omitempty"`
}

// Baseline configures the learned model for the profile's devices.
type Baseline struct {
	Enabled     bool           `json:"enabled" yaml:"enabled"`
	Sensitivity string         `json:"sensitivity,omitempty" yaml:"sensitivity,omitempty"` // low, medium, high
	Severity    alert.Severity `json:"severity,omitempty" yaml:"severity,omitempty"`
	Mitigation  string         `json:"mitigation,omitempty" yaml:"mitigation,omitempty"`
}

// Rule is one detection rule.
type Rule struct {
	Name       string         `json:"name" yaml:"name"`
	Title      string         `json:"title,omitempty" yaml:"title,omitempty"`
	Metric     string         `json:"metric" yaml:"metric"`
	Window     string         `json:"window" yaml:"window"`
	Comparison string         `json:"comparison" yaml:"comparison"`
	Value      float64        `json:"value,omitempty" yaml:"value,omitempty"`
	Statistic  string         `json:"statistic,omitempty" yaml:"statistic,omitempty"`
	Factor     float64        `json:"factor,omitempty" yaml:"factor,omitempty"`
	Values     []string       `json:"values,omitempty" yaml:"values,omitempty"`
	RaiseAfter int            `json:"raise_after,omitempty" yaml:"raise_after,omitempty"`
	ClearAfter int            `json:"clear_after,omitempty" yaml:"clear_after,omitempty"`
	Severity   alert.Severity `json:"severity" yaml:"severity"`
	MITRE      []string       `json:"mitre,omitempty" yaml:"mitre,omitempty"`
	Mitigation string         `json:"mitigation,omitempty" yaml:"mitigation,omitempty"`
}

// Mitigations a rule may request.
const (
	MitigateNotify     = "notify"
	MitigateQuarantine = "quarantine"
	// MitigateQuarantineRestrict keeps the device connected but limited
	// to its quarantine topic tree.
	MitigateQuarantineRestrict = "quarantine-restrict"
	MitigateRevoke             = "revoke"
	MitigateLogLevel           = "log-level"
)

// windowTiers maps a rule's window name to its multiple of the base window.
var windowTiers = map[string]int{"1m": 1, "5m": 5, "1h": 60}

var nameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
var statRe = regexp.MustCompile(`^p(50|75|90|95|99|99\.9)$`)
var mitreRe = regexp.MustCompile(`^T\d{4}(\.\d{3})?$`)

// Error is a profile validation error with the path of the bad field.
type Error struct {
	Path string
	Msg  string
}

func (e *Error) Error() string { return e.Path + ": " + e.Msg }

// percentile returns the statistic's quantile (0..1).
func percentile(stat string) float64 {
	f, _ := strconv.ParseFloat(strings.TrimPrefix(stat, "p"), 64)
	return f / 100
}

// Validate checks a profile and fills defaults.
func (p *Profile) Validate() error {
	if !nameRe.MatchString(p.Name) {
		return &Error{"name", fmt.Sprintf("%q must be 1-64 lower-case letters, digits, '.', '_' or '-'", p.Name)}
	}
	switch p.Baseline.Sensitivity {
	case "":
		p.Baseline.Sensitivity = "medium"
	case "low", "medium", "high":
	default:
		return &Error{"baseline.sensitivity", fmt.Sprintf("%q must be low, medium or high", p.Baseline.Sensitivity)}
	}
	if p.Baseline.Severity == "" {
		p.Baseline.Severity = alert.Medium
	}
	if !p.Baseline.Severity.Valid() {
		return &Error{"baseline.severity", fmt.Sprintf("%q must be low, medium, high or critical", p.Baseline.Severity)}
	}
	if err := checkMitigation(p.Baseline.Mitigation); err != nil {
		return &Error{"baseline.mitigation", err.Error()}
	}
	seen := map[string]bool{}
	for i := range p.Rules {
		r := &p.Rules[i]
		path := fmt.Sprintf("rules[%d]", i)
		if err := r.validate(); err != nil {
			var pe *Error
			if errors.As(err, &pe) {
				pe.Path = path + "." + pe.Path
			}
			return err
		}
		if seen[r.Name] {
			return &Error{path + ".name", fmt.Sprintf("duplicate rule name %q", r.Name)}
		}
		seen[r.Name] = true
	}
	return nil
}

func checkMitigation(m string) error {
	switch m {
	case "", MitigateNotify, MitigateQuarantine, MitigateQuarantineRestrict, MitigateRevoke, MitigateLogLevel:
		return nil
	}
	return fmt.Errorf("%q must be notify, quarantine, quarantine-restrict, revoke or log-level", m)
}

func (r *Rule) validate() error {
	if !nameRe.MatchString(r.Name) {
		return &Error{"name", fmt.Sprintf("%q must be 1-64 lower-case letters, digits, '.', '_' or '-'", r.Name)}
	}
	set := isSet(r.Metric)
	if !set && !isNumeric(r.Metric) {
		return &Error{"metric", fmt.Sprintf("unknown metric %q (numeric: %s; sets: %s)", r.Metric, strings.Join(NumericMetrics, ", "), strings.Join(SetMetrics, ", "))}
	}
	if r.Window == "" {
		r.Window = "1m"
	}
	if _, ok := windowTiers[r.Window]; !ok {
		return &Error{"window", fmt.Sprintf("%q must be 1m, 5m or 1h", r.Window)}
	}
	switch r.Comparison {
	case ">", ">=", "<", "<=":
		if set {
			return &Error{"comparison", fmt.Sprintf("%s is a set metric: use in-set or not-in-set", r.Metric)}
		}
		if r.Statistic != "" && !statRe.MatchString(r.Statistic) {
			return &Error{"statistic", fmt.Sprintf("%q must be p50, p75, p90, p95, p99 or p99.9", r.Statistic)}
		}
		if r.Statistic != "" && r.Factor == 0 {
			r.Factor = 1
		}
		if r.Factor < 0 || r.Value < 0 {
			return &Error{"value", "thresholds must not be negative"}
		}
		if len(r.Values) > 0 {
			return &Error{"values", "values are for in-set / not-in-set rules"}
		}
	case "in-set", "not-in-set":
		if !set {
			return &Error{"comparison", fmt.Sprintf("%s is numeric: use >, >=, < or <=", r.Metric)}
		}
		if len(r.Values) == 0 {
			return &Error{"values", "an in-set / not-in-set rule needs values"}
		}
		if r.Statistic != "" {
			return &Error{"statistic", "set rules take no statistic"}
		}
	default:
		return &Error{"comparison", fmt.Sprintf("%q must be >, >=, <, <=, in-set or not-in-set", r.Comparison)}
	}
	if r.RaiseAfter == 0 {
		r.RaiseAfter = 1
	}
	if r.ClearAfter == 0 {
		r.ClearAfter = 3
	}
	if r.RaiseAfter < 1 || r.RaiseAfter > 100 || r.ClearAfter < 1 || r.ClearAfter > 100 {
		return &Error{"raise_after", "raise_after and clear_after must be 1..100"}
	}
	if !r.Severity.Valid() {
		return &Error{"severity", fmt.Sprintf("%q must be low, medium, high or critical", r.Severity)}
	}
	for _, t := range r.MITRE {
		if !mitreRe.MatchString(t) {
			return &Error{"mitre", fmt.Sprintf("%q is not an ATT&CK technique id like T1110 or T1110.001", t)}
		}
	}
	if err := checkMitigation(r.Mitigation); err != nil {
		return &Error{"mitigation", err.Error()}
	}
	return nil
}

// ParseProfiles reads one profile or a list of profiles from YAML or JSON
// (JSON is YAML), strictly: unknown fields are errors.
func ParseProfiles(data []byte) ([]Profile, error) {
	if len(data) > 1<<20 {
		return nil, errors.New("profile document over 1 MiB")
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, errors.New("empty profile document")
	}
	var ps []Profile
	var err error
	if trimmed[0] == '[' || (trimmed[0] == '-' && !bytes.HasPrefix(trimmed, []byte("---"))) {
		err = decodeStrict(data, &ps)
	} else {
		var p Profile
		err = decodeStrict(data, &p)
		ps = []Profile{p}
	}
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for i := range ps {
		if err := ps[i].Validate(); err != nil {
			if len(ps) > 1 {
				return nil, fmt.Errorf("profile %d (%s): %w", i, ps[i].Name, err)
			}
			return nil, err
		}
		if names[ps[i].Name] {
			return nil, fmt.Errorf("duplicate profile name %q", ps[i].Name)
		}
		names[ps[i].Name] = true
	}
	return ps, nil
}

func decodeStrict(data []byte, v any) error {
	if json.Valid(data) {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			return fmt.Errorf("invalid profile JSON: %w", err)
		}
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("invalid profile YAML: %w", err)
	}
	return nil
}

// Matches reports whether the profile applies to a device.
func (t Targets) Matches(id, model string, tags []string) bool {
	if len(t.Models) == 0 && len(t.Tags) == 0 && len(t.Devices) == 0 {
		return true
	}
	if slices.Contains(t.Devices, id) || slices.Contains(t.Models, model) {
		return true
	}
	for _, tag := range tags {
		if slices.Contains(t.Tags, tag) {
			return true
		}
	}
	return false
}

// DefaultProfiles ship enabled so a new installation detects the
// simulator's scenarios (and their real counterparts) without
// configuration. Thresholds are per detection window and chosen with the
// simulator's benign devices, which never reach them.
func DefaultProfiles() []Profile {
	ps := []Profile{{
		Name:        "default",
		Description: "Ward's default detection for every device",
		Baseline:    Baseline{Enabled: true, Sensitivity: "medium", Severity: alert.Medium, Mitigation: MitigateNotify},
		Rules: []Rule{
			{Name: "authz-failures", Title: "Authorization failure storm (topic brute force)", Metric: AuthzFailures, Comparison: ">", Value: 5,
				Severity: alert.High, MITRE: []string{"T1110", "T0859"}, Mitigation: MitigateQuarantine},
			{Name: "subscription-scan", Title: "Subscriptions to other devices' topics (topic scanning)", Metric: SubscribeDenied, Comparison: ">", Value: 2,
				Severity: alert.High, MITRE: []string{"T1046", "T0846"}, Mitigation: MitigateQuarantine},
			{Name: "message-flood", Title: "Message flood", Metric: MessagesSent, Comparison: ">", Value: 50, Statistic: "p99", Factor: 10,
				Severity: alert.High, MITRE: []string{"T1498", "T0814"}, Mitigation: MitigateQuarantine},
			{Name: "rate-limit-hits", Title: "Device repeatedly over its rate limits", Metric: LimitHits, Comparison: ">", Value: 10,
				Severity: alert.Medium, MITRE: []string{"T1498"}, Mitigation: MitigateNotify},
			{Name: "exfiltration", Title: "Data exfiltration burst (bytes out)", Metric: BytesSent, Comparison: ">", Value: 64 << 10, Statistic: "p99", Factor: 20,
				Severity: alert.High, MITRE: []string{"T1041", "T0882"}, Mitigation: MitigateQuarantine},
			{Name: "connection-flapping", Title: "Reconnect flapping", Metric: ConnectionAttempts, Comparison: ">", Value: 4,
				Severity: alert.Medium, MITRE: []string{"T0814"}, Mitigation: MitigateNotify},
			{Name: "clientid-collision", Title: "Client ID collisions (cloned device or session hijack)", Metric: ClientIDCollisions, Comparison: ">", Value: 2,
				Severity: alert.Medium, MITRE: []string{"T1078"}, Mitigation: MitigateNotify},
			{Name: "insecure-service", Title: "Telnet or another insecure service listening", Metric: ListeningTCPPorts, Comparison: "in-set",
				Values: []string{"23", "2323", "21", "5555", "7547", "1900"}, Severity: alert.Critical, MITRE: []string{"T1021", "T0886"}, Mitigation: MitigateQuarantine},
			{Name: "network-scanning", Title: "Device contacting many destinations (scanning)", Metric: DestinationIPCount, Comparison: ">", Value: 32,
				Severity: alert.Critical, MITRE: []string{"T1046", "T0846"}, Mitigation: MitigateQuarantine},
			{Name: "invalid-metrics-report", Title: "Malformed device metrics reports", Metric: InvalidDeviceReports, Comparison: ">", Value: 3,
				Severity: alert.Low, Mitigation: MitigateNotify},
		},
	}}
	for i := range ps {
		if err := ps[i].Validate(); err != nil {
			panic("default profile invalid: " + err.Error()) // constant input: a programmer error
		}
	}
	return ps
}
