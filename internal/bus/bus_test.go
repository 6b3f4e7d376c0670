package bus

import (
	"errors"
	"testing"
	"time"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		name, pattern, subject string
		want                   bool
	}{
		{"literal", "a.b", "a.b", true},
		{"literal-other", "a.b", "a.c", false},
		{"shorter-subject", "a.b", "a", false},
		{"longer-subject", "a", "a.b", false},
		{"star", "a.*", "a.b", true},
		{"star-one-token", "a.*", "a.b.c", false},
		{"star-needs-token", "a.*", "a", false},
		{"star-middle", "*.b", "a.b", true},
		{"gt", "a.>", "a.b.c", true},
		{"gt-needs-token", "a.>", "a", false},
		{"gt-all", ">", "a", true},
		{"prefix-token", "ab", "a", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Match(tt.pattern, tt.subject); got != tt.want {
				t.Errorf("Match(%q, %q) = %v, want %v", tt.pattern, tt.subject, got, tt.want)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	b := []time.Duration{1, 2}
	for attempt, want := range map[int]time.Duration{0: 1, 1: 1, 2: 2, 3: 2, 10: 2} {
		if got := Backoff(b, attempt); got != want {
			t.Errorf("Backoff(%d) = %v, want %v", attempt, got, want)
		}
	}
	if got := Backoff(nil, 3); got != 0 {
		t.Errorf("Backoff(nil) = %v", got)
	}
}

func TestRejectReason(t *testing.T) {
	if got := RejectReason(ValidateSubject("a..b")); got != "invalid_subject" {
		t.Errorf("got %q", got)
	}
	if got := RejectReason(errors.New("x")); got != "error" {
		t.Errorf("got %q", got)
	}
}

func FuzzValidatePattern(f *testing.F) {
	for _, s := range []string{"a.b", "a.*", "a.>", "", "a..b", "*.>"} {
		f.Add(s, "a.b")
	}
	f.Fuzz(func(t *testing.T, pattern, subject string) {
		if ValidatePattern(pattern) != nil || ValidateSubject(subject) != nil {
			return
		}
		Match(pattern, subject) // must not panic
		if Match(pattern, subject) && pattern == subject {
			return
		}
		if ValidateSubject(pattern) == nil && Match(pattern, subject) != (pattern == subject) {
			t.Errorf("literal pattern %q vs %q: Match = %v", pattern, subject, Match(pattern, subject))
		}
	})
}
