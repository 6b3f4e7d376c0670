package update

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestParseOrder(t *testing.T) {
	good := `{"rollout":"r-20261206-1","model":"acme-th1","version":"1.5.0"}`
	o, err := ParseOrder([]byte(good))
	if err != nil || o != (Order{Rollout: "r-20261206-1", Model: "acme-th1", Version: "1.5.0"}) {
		t.Fatalf("ParseOrder(%s) = %+v, %v", good, o, err)
	}
	if o, err := ParseOrder([]byte(`{"rollout":"r1","model":"m","version":"2","extra":{"future":1}}`)); err != nil || o.Version != "2" {
		t.Errorf("unknown fields must be ignored: %+v, %v", o, err)
	}
	for name, in := range map[string]string{
		"empty":           ``,
		"not an object":   `[]`,
		"no rollout":      `{"model":"m","version":"1"}`,
		"no model":        `{"rollout":"r","version":"1"}`,
		"no version":      `{"rollout":"r","model":"m"}`,
		"model with path": `{"rollout":"r","model":"../m","version":"1"}`,
		"version slash":   `{"rollout":"r","model":"m","version":"1/../2"}`,
		"rollout spaces":  `{"rollout":"r 1","model":"m","version":"1"}`,
		"wrong type":      `{"rollout":"r","model":"m","version":1}`,
		"trailing":        `{"rollout":"r","model":"m","version":"1"}{}`,
		"too large":       `{"rollout":"r","model":"m","version":"1","pad":"` + strings.Repeat("x", 5000) + `"}`,
	} {
		if _, err := ParseOrder([]byte(in)); err == nil {
			t.Errorf("%s: ParseOrder(%.60q) accepted", name, in)
		}
	}
}

func TestStatusRoundTripAndRefusals(t *testing.T) {
	at := time.Date(2026, 12, 6, 4, 0, 0, 0, time.UTC)
	s := Status{Rollout: "r1", Version: "1.5.0", State: StateFailed, Reason: "install command exited with status 3", At: at}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"rollout":"r1","version":"1.5.0","state":"failed","reason":"install command exited with status 3","at":"2026-12-06T04:00:00Z"}`; string(b) != want {
		t.Fatalf("wire form\n got %s\nwant %s", b, want)
	}
	back, err := ParseStatus(b)
	if err != nil || back != s {
		t.Fatalf("ParseStatus(%s) = %+v, %v", b, back, err)
	}
	if _, err := ParseStatus([]byte(`{"rollout":"r1","version":"1","state":"installed","at":"2026-12-06T04:00:00+01:00"}`)); err != nil {
		t.Errorf("a status without reason and with an offset must parse: %v", err)
	}
	for name, in := range map[string]string{
		"unknown state":  `{"rollout":"r1","version":"1","state":"done","at":"2026-12-06T04:00:00Z"}`,
		"no time":        `{"rollout":"r1","version":"1","state":"installed"}`,
		"bad time":       `{"rollout":"r1","version":"1","state":"installed","at":"yesterday"}`,
		"no version":     `{"rollout":"r1","state":"installed","at":"2026-12-06T04:00:00Z"}`,
		"long reason":    `{"rollout":"r1","version":"1","state":"failed","reason":"` + strings.Repeat("x", 1100) + `","at":"2026-12-06T04:00:00Z"}`,
		"rollout inject": `{"rollout":"r1\n","version":"1","state":"installed","at":"2026-12-06T04:00:00Z"}`,
	} {
		if _, err := ParseStatus([]byte(in)); err == nil {
			t.Errorf("%s: ParseStatus accepted %.80q", name, in)
		}
	}
	// JSON decoding replaces invalid UTF-8 with U+FFFD: what is stored or
	// logged from a device's reason is always valid text.
	if s, err := ParseStatus([]byte("{\"rollout\":\"r1\",\"version\":\"1\",\"state\":\"failed\",\"reason\":\"\xff\",\"at\":\"2026-12-06T04:00:00Z\"}")); err != nil || s.Reason != "\ufffd" {
		t.Errorf("invalid UTF-8 in reason: %+q, %v; want the replacement character", s.Reason, err)
	}
	if OrderTopic("dev-1") != "devices/dev-1/update/cmd" || StatusTopic("dev-1") != "devices/dev-1/update/status" {
		t.Errorf("topics: %s %s", OrderTopic("dev-1"), StatusTopic("dev-1"))
	}
}

// FuzzParseOrderAndStatus checks that neither parser panics and that what
// they accept passes Check and survives a round trip.
func FuzzParseOrderAndStatus(f *testing.F) {
	f.Add([]byte(`{"rollout":"r1","model":"acme-th1","version":"1.5.0"}`))
	f.Add([]byte(`{"rollout":"r1","version":"1.5.0","state":"installed","reason":"","at":"2026-12-06T04:00:00Z"}`))
	f.Add([]byte(`{"rollout":"r1","version":"1","state":"failed","at":"2026-12-06T04:00:00.123456789-07:00"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if o, err := ParseOrder(b); err == nil {
			if err := o.Check(); err != nil {
				t.Fatalf("ParseOrder accepted %+v that Check refuses: %v", o, err)
			}
			out, _ := json.Marshal(o)
			if back, err := ParseOrder(out); err != nil || back != o {
				t.Fatalf("order round trip: %+v -> %s -> %+v, %v", o, out, back, err)
			}
		}
		if s, err := ParseStatus(b); err == nil {
			out, err := json.Marshal(s)
			if err != nil {
				t.Fatalf("marshal accepted status %+v: %v", s, err)
			}
			back, err := ParseStatus(out)
			if err != nil || back.Rollout != s.Rollout || back.State != s.State || !back.At.Equal(s.At) {
				t.Fatalf("status round trip: %+v -> %s -> %+v, %v", s, out, back, err)
			}
		}
	})
}
