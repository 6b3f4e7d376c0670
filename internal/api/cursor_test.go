package api

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCursor(t *testing.T) {
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"id", encodeCursor("sensor-17"), true},
		{"unicode-id", encodeCursor("capteur-é"), true},
		{"empty", "", false},
		{"padding", "c2Vuc29yLTE3==", false},
		{"standard-alphabet", "c2Vu+29y", false},
		{"not-base64", "sensor 17", false},
		{"control-character", encodeCursor("a\nb"), false},
		{"invalid-utf8", encodeCursor("\xff\xfe"), false},
		{"too-long", encodeCursor(strings.Repeat("a", 257)), false},
		{"longest", encodeCursor(strings.Repeat("a", 256)), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := decodeCursor(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("decodeCursor(%q) = %q, %v; want ok=%v", tt.in, id, err, tt.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "after") {
				t.Errorf("error %q does not name the parameter", err)
			}
		})
	}
}

// FuzzDecodeCursor: decoding never panics, accepts only printable UTF-8
// IDs within the store's bound, and whatever it accepts re-encodes to the
// same cursor.
func FuzzDecodeCursor(f *testing.F) {
	for _, s := range []string{encodeCursor("sensor-17"), "", "====", "c2Vuc29yLTE3==", encodeCursor("a\x00b"), strings.Repeat("A", 400)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := decodeCursor(s)
		if err != nil {
			return
		}
		if id == "" || len(id) > 256 || !utf8.ValidString(id) || strings.ContainsFunc(id, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Fatalf("decodeCursor(%q) accepted %q", s, id)
		}
		if enc := encodeCursor(id); enc != s {
			t.Fatalf("decodeCursor(%q) = %q re-encodes to %q", s, id, enc)
		}
	})
}
