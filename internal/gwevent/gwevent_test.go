package gwevent_test

import (
	"bytes"
	"encoding"
	"errors"
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/gwevent"
)

var (
	_ encoding.BinaryMarshaler   = (*gwevent.Event)(nil)
	_ encoding.BinaryAppender    = (*gwevent.Event)(nil)
	_ encoding.BinaryUnmarshaler = (*gwevent.Event)(nil)
)

// TestKindNames holds the kind names to the stored event kinds and the
// numbers to the encoding: both are contracts.
func TestKindNames(t *testing.T) {
	want := []struct {
		k      gwevent.Kind
		n      byte
		name   string
		stored bool
	}{
		{gwevent.Connected, 1, "connected", true},
		{gwevent.Refused, 2, "refused", true},
		{gwevent.Disconnected, 3, "disconnected", true},
		{gwevent.Published, 4, "published", false},
		{gwevent.Delivered, 5, "delivered", false},
		{gwevent.ACLDenied, 6, "acl-denied", true},
		{gwevent.Limit, 7, "limit", true},
		{gwevent.ClientIDCollision, 8, "client-id-collision", false},
		{gwevent.Subscribed, 9, "subscribed", false},
	}
	for _, w := range want {
		if byte(w.k) != w.n || w.k.String() != w.name || w.k.Stored() != w.stored || !w.k.Valid() {
			t.Errorf("kind %d: number %d name %q stored %v valid %v, want %d %q %v true", w.k, byte(w.k), w.k.String(), w.k.Stored(), w.k.Valid(), w.n, w.name, w.stored)
		}
	}
	for _, k := range []gwevent.Kind{0, 10, 255} {
		if k.Valid() || k.Stored() || k.String() != "unknown" {
			t.Errorf("kind %d: valid %v stored %v name %q", k, k.Valid(), k.Stored(), k.String())
		}
	}
}

// TestDetail holds the stored events' detail keys to what the gateway has
// always stored (the API, the audit and the event log read them).
func TestDetail(t *testing.T) {
	long := strings.Repeat("t", 300)
	tests := []struct {
		name string
		e    gwevent.Event
		want map[string]string
	}{
		{"connected", gwevent.Event{Kind: gwevent.Connected, RemoteAddr: "192.0.2.1:5000", ClientID: "d-1", Serial: "0a"},
			map[string]string{"remote_addr": "192.0.2.1:5000", "client_id": "d-1", "serial": "0a"}},
		{"connected-empty-fields-kept", gwevent.Event{Kind: gwevent.Connected},
			map[string]string{"remote_addr": "", "client_id": "", "serial": ""}},
		{"disconnected", gwevent.Event{Kind: gwevent.Disconnected, ClientID: "d-1", Reason: "closed", RemoteAddr: "192.0.2.1:5000", Duration: time.Second},
			map[string]string{"client_id": "d-1", "reason": "closed"}},
		{"refused-empty-fields-dropped", gwevent.Event{Kind: gwevent.Refused, Reason: gwevent.ReasonNoCertificate, RemoteAddr: "192.0.2.1:5000"},
			map[string]string{"reason": "no-certificate", "remote_addr": "192.0.2.1:5000"}},
		{"refused-all", gwevent.Event{Kind: gwevent.Refused, Reason: gwevent.ReasonRevoked, RemoteAddr: "a:1", Serial: "0b", ClientID: "d-1", LimitName: "x"},
			map[string]string{"reason": "revoked", "remote_addr": "a:1", "serial": "0b", "client_id": "d-1"}},
		{"refused-live", gwevent.Event{Kind: gwevent.Refused, Reason: gwevent.ReasonExpired, Serial: "0c", ClientID: "d-1", Live: true},
			map[string]string{"reason": "expired", "serial": "0c", "client_id": "d-1", "live": "true"}},
		{"acl-denied-truncates-topic", gwevent.Event{Kind: gwevent.ACLDenied, Topic: long, Action: gwevent.ActionPublish, ClientID: "d-1"},
			map[string]string{"topic": long[:256], "action": "publish", "client_id": "d-1"}},
		{"limit", gwevent.Event{Kind: gwevent.Limit, LimitName: gwevent.LimitMessageRate, ClientID: "d-1", Reason: "x", QoS: 1},
			map[string]string{"limit": "message-rate", "client_id": "d-1"}},
		{"limit-delivery-dropped", gwevent.Event{Kind: gwevent.Limit, LimitName: gwevent.LimitDeliveryDropped, ClientID: "d-1:app", Reason: gwevent.DropReasonQueueFull},
			map[string]string{"limit": "delivery-dropped", "client_id": "d-1:app", "qos": "0", "reason": "queue-full"}},
		{"published-not-stored", gwevent.Event{Kind: gwevent.Published, Topic: "x"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.e.Detail(); !maps.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
				t.Errorf("Detail() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRemoteIP(t *testing.T) {
	for addr, want := range map[string]string{"192.0.2.1:5000": "192.0.2.1", "[2001:db8::1]:8883": "2001:db8::1", "192.0.2.9": "192.0.2.9", "": ""} {
		e := gwevent.Event{RemoteAddr: addr}
		if got := e.RemoteIP(); got != want {
			t.Errorf("RemoteIP(%q) = %q, want %q", addr, got, want)
		}
	}
}

func full() gwevent.Event {
	return gwevent.Event{Kind: gwevent.Published, Time: time.Date(2026, 12, 6, 9, 30, 0, 123456789, time.UTC),
		Device: "d-1", ClientID: "d-1:a", RemoteAddr: "192.0.2.1:5000", Serial: "0a", Topic: "devices/d-1/t", Reason: "r",
		Action: "publish", LimitName: "byte-rate", Bytes: 5, PacketBytes: 20, Duration: -3 * time.Second, Live: true,
		QoS: 2, Payload: []byte("hello")}
}

func TestRoundTrip(t *testing.T) {
	zone := time.FixedZone("x", 3600)
	tests := []struct {
		name string
		e    gwevent.Event
	}{
		{"every-field", full()},
		{"minimal", gwevent.Event{Kind: gwevent.Subscribed}},
		{"zero-time-stays-zero", gwevent.Event{Kind: gwevent.Connected, Device: "d"}},
		{"before-1970", gwevent.Event{Kind: gwevent.Delivered, Time: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC)}},
		{"far-future", gwevent.Event{Kind: gwevent.Limit, Time: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)}},
		{"other-zone-comes-back-utc", gwevent.Event{Kind: gwevent.Refused, Time: time.Date(2026, 1, 2, 3, 4, 5, 6, zone)}},
		{"binary-payload", gwevent.Event{Kind: gwevent.Published, Payload: []byte{0, 0xff, 0x80, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.e.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			var got gwevent.Event
			if err := got.UnmarshalBinary(b); err != nil {
				t.Fatalf("UnmarshalBinary: %v", err)
			}
			want := tt.e
			if !want.Time.IsZero() {
				want.Time = want.Time.UTC()
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
			}
			// Decoding copies: reusing the buffer does not change the event.
			for i := range b {
				b[i] = 0
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("the decoded event aliases its input")
			}
		})
	}
}

// TestEncodingIsStable holds version 1's layout byte for byte: H4's bus
// consumers on other nodes (possibly older builds) read it.
func TestEncodingIsStable(t *testing.T) {
	e := gwevent.Event{Kind: gwevent.ACLDenied, Time: time.Unix(2, 5).UTC(), Device: "d", Topic: "t/x", Action: "will", Bytes: 1, Live: true, Payload: []byte{9}}
	got, err := e.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{
		1, 6, 3, 0, // version, kind acl-denied, flags live|time, QoS
		4, 5, // time: zigzag 2, 5 ns
		2, 0, 0, // bytes 1 (zigzag), packet bytes, duration
		1, 'd', 0, 0, 0, 3, 't', '/', 'x', 0, 4, 'w', 'i', 'l', 'l', 0, // strings
		1, 9, // payload
	}
	if !bytes.Equal(got, want) {
		t.Errorf("encoding\n got %v\nwant %v", got, want)
	}
	buf, err := e.AppendBinary([]byte("prefix"))
	if err != nil || !bytes.Equal(buf, append([]byte("prefix"), want...)) {
		t.Errorf("AppendBinary = %v, %v", buf, err)
	}
}

func TestMarshalUnknownKind(t *testing.T) {
	for _, k := range []gwevent.Kind{0, 10} {
		e := gwevent.Event{Kind: k}
		if _, err := e.MarshalBinary(); err == nil {
			t.Errorf("kind %d encoded", k)
		}
	}
}

// TestUnmarshalBadInput: each malformed input is an error wrapping
// ErrEncoding, the target is left as it was, and nothing panics.
func TestUnmarshalBadInput(t *testing.T) {
	good, err := (&gwevent.Event{Kind: gwevent.Connected, Time: time.Unix(10, 0), Device: "d"}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	with := func(i int, v byte) []byte { b := bytes.Clone(good); b[i] = v; return b }
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "shorter than the 4-byte header"},
		{"header-only-3", "\x01\x01\x00", "shorter than the 4-byte header"},
		{"version-0", string(with(0, 0)), "version 0"},
		{"version-2", string(with(0, 2)), "version 2"},
		{"kind-0", string(with(1, 0)), "unknown kind 0"},
		{"kind-200", string(with(1, 200)), "unknown kind 200"},
		{"unknown-flag", string(with(2, 0x83)), "unknown flags 0x80"},
		{"truncated-after-header", string(good[:4]), "truncated"},
		{"truncated-in-strings", string(good[:len(good)-3]), "truncated"},
		{"nanoseconds-out-of-range", "\x01\x01\x02\x00\x00\xff\xff\xff\xff\x0f", "out of range"},
		{"overlong-varint", "\x01\x01\x00\x00" + strings.Repeat("\xff", 11), "overlong"},
		{"string-longer-than-input", "\x01\x01\x00\x00\x00\x00\x00\x7f", "device: length 127"},
		{"payload-longer-than-input", string(good[:len(good)-1]) + "\x05ab", "payload: length 5"},
		{"trailing-bytes", string(good) + "x", "1 bytes after the payload"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := full()
			err := e.UnmarshalBinary([]byte(tt.in))
			if !errors.Is(err, gwevent.ErrEncoding) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("UnmarshalBinary(%q) = %v, want an ErrEncoding saying %q", tt.in, err, tt.want)
			}
			if !reflect.DeepEqual(e, full()) {
				t.Errorf("a failed decode changed the event: %+v", e)
			}
		})
	}
}

// FuzzUnmarshal: no input panics, and whatever decodes re-encodes to a
// form that decodes to the same event and encodes identically.
func FuzzUnmarshal(f *testing.F) {
	for _, e := range []gwevent.Event{full(), {Kind: gwevent.Subscribed}, {Kind: gwevent.Refused, Time: time.Unix(-5, 7), Reason: "revoked"}} {
		b, err := e.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{1, 1, 2, 0, 0x80})
	f.Fuzz(func(t *testing.T, data []byte) {
		var e gwevent.Event
		if err := e.UnmarshalBinary(data); err != nil {
			if !errors.Is(err, gwevent.ErrEncoding) {
				t.Fatalf("error does not wrap ErrEncoding: %v", err)
			}
			return
		}
		b1, err := e.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded event does not encode: %v", err)
		}
		var e2 gwevent.Event
		if err := e2.UnmarshalBinary(b1); err != nil {
			t.Fatalf("re-encoded event does not decode: %v", err)
		}
		if !reflect.DeepEqual(e, e2) {
			t.Fatalf("round trip changed the event:\n%+v\n%+v", e, e2)
		}
		if b2, _ := e2.MarshalBinary(); !bytes.Equal(b1, b2) {
			t.Fatalf("encoding is not stable: %x vs %x", b1, b2)
		}
	})
}

// FuzzRoundTrip: any event built from arbitrary fields survives the
// encoding.
func FuzzRoundTrip(f *testing.F) {
	f.Add(uint8(4), int64(1), int64(5), "d", "c", "192.0.2.1:1", "0a", "t", "r", "a", "l", 3, 40, int64(7), true, uint8(1), []byte("p"))
	f.Fuzz(func(t *testing.T, kind uint8, sec, nsec int64, dev, cid, addr, serial, topic, reason, action, limit string, n, pn int, dur int64, live bool, qos uint8, payload []byte) {
		e := gwevent.Event{Kind: gwevent.Kind(kind), Device: dev, ClientID: cid, RemoteAddr: addr, Serial: serial, Topic: topic,
			Reason: reason, Action: action, LimitName: limit, Bytes: n, PacketBytes: pn, Duration: time.Duration(dur), Live: live, QoS: qos}
		if sec != 0 || nsec != 0 {
			e.Time = time.Unix(sec, nsec).UTC()
		}
		if len(payload) > 0 {
			e.Payload = payload
		}
		b, err := e.MarshalBinary()
		if !e.Kind.Valid() {
			if err == nil {
				t.Fatalf("kind %d encoded", kind)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		var got gwevent.Event
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, e) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, e)
		}
	})
}

func TestQoSName(t *testing.T) {
	for q, want := range map[uint8]string{0: "0", 1: "1", 2: "2", 3: "2", 255: "2"} {
		if got := gwevent.QoSName(q); got != want {
			t.Errorf("QoSName(%d) = %q, want %q", q, got, want)
		}
	}
}
