package suggest

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestClosest(t *testing.T) {
	reasons := []string{"unspecified", "keyCompromise", "affiliationChanged", "superseded", "cessationOfOperation", "privilegeWithdrawn"}
	tests := []struct {
		name, in string
		known    []string
		want     []string
	}{
		{"case-only", "keycompromise", reasons, []string{"keyCompromise"}},
		{"typo", "keyCompromize", reasons, []string{"keyCompromise"}},
		{"prefix", "cess", reasons, []string{"cessationOfOperation"}},
		{"nothing-close", "banana", reasons, []string{}},
		{"short", "hgh", []string{"low", "medium", "high", "critical"}, []string{"high"}},
		{"empty-known", "x", nil, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Closest(tt.in, tt.known)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestUnknown(t *testing.T) {
	got := Unknown("reason", "keycompromize", []string{"keyCompromise", "superseded"})
	want := `unknown reason "keycompromize": did you mean keyCompromise? (one of: keyCompromise, superseded)`
	if got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
	if got := Unknown("check", "zzz", []string{"a"}); strings.Contains(got, "did you mean") {
		t.Errorf("suggested for nothing close: %s", got)
	}
}

func TestDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{{"", "", 0}, {"a", "", 1}, {"kitten", "sitting", 3}, {"flaw", "lawn", 2}, {"ü", "u", 1}} {
		if got := distance(tt.a, tt.b); got != tt.want {
			t.Errorf("distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
