package stream

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/wardproject/ward/internal/alert"
)

// Filter selects the events a subscriber gets. The zero Filter selects
// every event.
type Filter struct {
	// Types selects event types (empty: all).
	Types []Type
	// Device selects one device's events ("": every device).
	Device string
	// Severities selects alert events of these severities (empty: all);
	// it does not apply to device events.
	Severities []string
}

// Match reports whether f selects e.
func (f Filter) Match(e Event) bool {
	if len(f.Types) > 0 && !slices.Contains(f.Types, e.Type) {
		return false
	}
	if f.Device != "" && e.Device != f.Device {
		return false
	}
	if e.Type == Alert && len(f.Severities) > 0 && !slices.Contains(f.Severities, e.Severity) {
		return false
	}
	return true
}

func (t Type) valid() bool { return t == Alert || t == Device || t == DeviceEvent }

// ParseFilter reads a Filter from the stream's query parameters:
// types=alert,device,event (comma-separated), device=ID and
// severity=low,medium,high,critical (alerts only). An unknown parameter
// or value is an error that says what is accepted.
func ParseFilter(q url.Values) (Filter, error) {
	var f Filter
	for k, vs := range q {
		switch k {
		case "types":
			for _, v := range splitList(vs) {
				t := Type(v)
				if !t.valid() {
					return Filter{}, fmt.Errorf("unknown event type %q in types: use alert, device or event", v)
				}
				if !slices.Contains(f.Types, t) {
					f.Types = append(f.Types, t)
				}
			}
		case "device":
			if len(vs) != 1 || vs[0] == "" || len(vs[0]) > 128 || strings.ContainsFunc(vs[0], func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				return Filter{}, fmt.Errorf("device must be one device ID of 1-128 printable characters")
			}
			f.Device = vs[0]
		case "severity":
			for _, v := range splitList(vs) {
				if !alert.Severity(v).Valid() {
					return Filter{}, fmt.Errorf("unknown severity %q: use low, medium, high or critical", v)
				}
				if !slices.Contains(f.Severities, v) {
					f.Severities = append(f.Severities, v)
				}
			}
		default:
			return Filter{}, fmt.Errorf("unknown query parameter %q: the stream takes types, device and severity", k)
		}
	}
	return f, nil
}

// splitList splits repeated and comma-separated values, dropping empty ones.
func splitList(vs []string) []string {
	var out []string
	for _, v := range vs {
		for p := range strings.SplitSeq(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}
