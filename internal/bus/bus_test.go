package bus

import (
	"errors"
	"strings"
	"testing"
	"time"
)

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
		// Neither validator panics; a literal subject is a valid pattern,
		// and a pattern with a wildcard token is never a subject.
		perr, serr := ValidatePattern(pattern), ValidateSubject(subject)
		if serr == nil && ValidatePattern(subject) != nil {
			t.Errorf("subject %q is not a valid pattern", subject)
		}
		if perr == nil && ValidateSubject(pattern) == nil && strings.ContainsAny(pattern, "*>") {
			t.Errorf("pattern %q with a wildcard passes as a subject", pattern)
		}
	})
}
