package secret

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestValueNeverPrints(t *testing.T) {
	v, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Reveal()) != 43 {
		t.Fatalf("secret of %d characters, want 43 (32 bytes base64url)", len(v.Reveal()))
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "token", v)
	for _, s := range []string{fmt.Sprint(v), fmt.Sprintf("%v %s %#v %+v", v, v, v, v), buf.String()} {
		if strings.Contains(s, v.Reveal()) {
			t.Errorf("secret leaked: %s", s)
		}
	}
}

func TestEqual(t *testing.T) {
	v, _ := New()
	h := Hash(v.Reveal())
	if !Equal(v.Reveal(), h) || Equal(v.Reveal()+"x", h) || Equal("", h) {
		t.Error("Equal does not compare correctly")
	}
	a, _ := New()
	b, _ := New()
	if a == b {
		t.Error("two secrets are equal")
	}
}

func TestEqualText(t *testing.T) {
	tests := []struct {
		name, presented, expected string
		want                      bool
	}{
		{"same", "csrf-abc", "csrf-abc", true},
		{"different", "csrf-abd", "csrf-abc", false},
		{"prefix", "csrf-ab", "csrf-abc", false},
		{"empty-presented", "", "csrf-abc", false},
		{"empty-expected", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := EqualText(tt.presented, tt.expected); got != tt.want {
				t.Errorf("EqualText(%q, %q) = %v, want %v", tt.presented, tt.expected, got, tt.want)
			}
		})
	}
}
