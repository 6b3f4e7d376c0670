package rollout

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wardproject/ward/internal/alert"
	"github.com/wardproject/ward/internal/gwevent"
	"github.com/wardproject/ward/internal/update"
)

// TestInputRoundTrip: what the gateway keeps of an observation crosses
// the bus and comes back as the observation the engine would have had
// from its own gateway; what it does not keep never becomes an input.
func TestInputRoundTrip(t *testing.T) {
	status := []byte(`{"rollout":"ro-1","version":"1.5.0","state":"installed","at":"2026-12-06T04:00:00Z"}`)
	for _, o := range []gwevent.Event{
		{Kind: gwevent.Connected, Device: "th-1"},
		{Kind: gwevent.Subscribed, Device: "th-1", Topic: "devices/th-1/#"},
		{Kind: gwevent.Published, Device: "th-1", Topic: update.StatusTopic("th-1"), Payload: status},
	} {
		in, ok := inputOf(o)
		if !ok {
			t.Fatalf("%v not kept", o.Kind)
		}
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecodeInput(b)
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		want, _ := wanted(o)
		if o.Kind == gwevent.Subscribed {
			want.Topic = update.OrderTopic(o.Device) // the filter matched it
		}
		if diff := cmp.Diff(want, back.event()); diff != "" {
			t.Errorf("%v round trip (-want +got):\n%s", o.Kind, diff)
		}
	}
	for _, o := range []gwevent.Event{
		{Kind: gwevent.Published, Device: "th-1", Topic: update.StatusTopic("th-2"), Payload: status}, // not its own
		{Kind: gwevent.Published, Device: "th-1", Topic: "devices/th-1/telemetry", Payload: status},
		{Kind: gwevent.Subscribed, Device: "th-1", Topic: "devices/th-1/telemetry"},
		{Kind: gwevent.Connected},
		{Kind: gwevent.Disconnected, Device: "th-1"},
	} {
		if in, ok := inputOf(o); ok {
			t.Errorf("%+v became input %+v", o, in)
		}
	}
}

// TestDecodeRefusals: every message the decoders refuse says why and
// wraps ErrBadMessage.
func TestDecodeRefusals(t *testing.T) {
	for name, b := range map[string]string{
		"not-json":             `{"kind":`,
		"trailing":             `{"kind":"connected","device":"th-1"} {}`,
		"unknown-kind":         `{"kind":"reboot","device":"th-1"}`,
		"bad-device":           `{"kind":"connected","device":"../etc"}`,
		"no-device":            `{"kind":"subscribed"}`,
		"status-without-body":  `{"kind":"status","device":"th-1"}`,
		"connected-with-body":  `{"kind":"connected","device":"th-1","payload":"e30="}`,
		"alert-without-alert":  `{"kind":"alert"}`,
		"alert-with-device":    `{"kind":"alert","device":"th-1","alert":{"change":"raised","alert":{"device":"th-1","severity":"high"}}}`,
		"alert-bad-severity":   `{"kind":"alert","alert":{"change":"raised","alert":{"device":"th-1","severity":"severe"}}}`,
		"alert-cleared":        `{"kind":"alert","alert":{"change":"cleared","alert":{"device":"th-1","severity":"high"}}}`,
		"alert-without-device": `{"kind":"alert","alert":{"change":"raised","alert":{"severity":"high"}}}`,
		"oversized":            `{"kind":"status","device":"th-1","payload":"` + strings.Repeat("A", maxInputBytes) + `"}`,
	} {
		if in, err := DecodeInput([]byte(b)); !errors.Is(err, ErrBadMessage) {
			t.Errorf("%s: DecodeInput = %+v, %v; want ErrBadMessage", name, in, err)
		}
	}
	for name, b := range map[string]string{
		"bad-device": `{"device":"a b","order":{"rollout":"ro-1","model":"acme-th1","version":"1.5.0"}}`,
		"no-order":   `{"device":"th-1"}`,
		"bad-order":  `{"device":"th-1","order":{"rollout":"ro-1","model":"../x","version":"1.5.0"}}`,
		"trailing":   `{"device":"th-1","order":{"rollout":"ro-1","model":"acme-th1","version":"1.5.0"}}x`,
	} {
		if m, err := DecodeOrder([]byte(b)); !errors.Is(err, ErrBadMessage) {
			t.Errorf("%s: DecodeOrder = %+v, %v; want ErrBadMessage", name, m, err)
		}
	}
	ok := alert.Notification{Change: alert.Raised, Alert: alert.Alert{ID: "al-1", Device: "th-1", Rule: "mirai", Severity: alert.High}}
	b, _ := json.Marshal(Input{Kind: InputAlert, Alert: &ok})
	if in, err := DecodeInput(b); err != nil || in.Alert.Alert.Severity != alert.High {
		t.Errorf("a raised alert: %+v, %v", in, err)
	}
}

// FuzzDecodeInput checks that DecodeInput never panics and that what it
// accepts re-encodes to an input it accepts again, with the same device.
func FuzzDecodeInput(f *testing.F) {
	f.Add([]byte(`{"kind":"connected","device":"th-1"}`))
	f.Add([]byte(`{"kind":"subscribed","device":"th-1"}`))
	f.Add([]byte(`{"kind":"status","device":"th-1","payload":"eyJyb2xsb3V0Ijoicm8tMSJ9"}`))
	f.Add([]byte(`{"kind":"alert","alert":{"change":"raised","alert":{"id":"al-1","device":"th-1","rule":"r","severity":"high"}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		in, err := DecodeInput(b)
		if err != nil {
			if !errors.Is(err, ErrBadMessage) {
				t.Fatalf("error %v does not wrap ErrBadMessage", err)
			}
			return
		}
		out, err := json.Marshal(in)
		if err != nil {
			t.Fatalf("marshal accepted input %+v: %v", in, err)
		}
		back, err := DecodeInput(out)
		if err != nil || back.Kind != in.Kind || back.Device != in.Device || back.event().Device != in.Device {
			t.Fatalf("input round trip: %+v -> %s -> %+v, %v", in, out, back, err)
		}
	})
}

// FuzzDecodeOrder checks that DecodeOrder never panics and that what it
// accepts carries an order update.ParseOrder accepts.
func FuzzDecodeOrder(f *testing.F) {
	f.Add([]byte(`{"device":"th-1","order":{"rollout":"ro-1","model":"acme-th1","version":"1.5.0"}}`))
	f.Add([]byte(`{"device":"th-1","order":"x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeOrder(b)
		if err != nil {
			if !errors.Is(err, ErrBadMessage) {
				t.Fatalf("error %v does not wrap ErrBadMessage", err)
			}
			return
		}
		if _, err := update.ParseOrder(m.Order); err != nil {
			t.Fatalf("DecodeOrder accepted an order ParseOrder refuses: %v", err)
		}
	})
}
