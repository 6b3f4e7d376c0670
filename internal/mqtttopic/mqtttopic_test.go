package mqtttopic_test

import (
	"strings"
	"testing"

	"github.com/wardproject/ward/internal/mqtttopic"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		name          string
		filter, topic string
		want          bool
	}{
		{"exact", "a/b", "a/b", true},
		{"exact-mismatch", "a/b", "a/c", false},
		{"plus-one-level", "a/+", "a/b", true},
		{"plus-not-two-levels", "a/+", "a/b/c", false},
		{"plus-empty-level", "a/+/c", "a//c", true},
		{"plus-not-parent", "a/+", "a", false},
		{"hash-parent", "a/#", "a", true},
		{"hash-deep", "a/#", "a/b/c", true},
		{"hash-all", "#", "a/b", true},
		{"hash-not-dollar", "#", "$SYS/x", false},
		{"plus-not-dollar", "+/x", "$SYS/x", false},
		{"literal-dollar", "$SYS/#", "$SYS/x", true},
		{"longer-topic", "a/b", "a/b/c", false},
		{"longer-filter", "a/b/c", "a/b", false},
		{"case-sensitive", "A/b", "a/b", false},
		{"trailing-slash", "a/+", "a/", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mqtttopic.Match(tt.filter, tt.topic); got != tt.want {
				t.Errorf("Match(%q, %q) = %v, want %v", tt.filter, tt.topic, got, tt.want)
			}
		})
	}
}

func TestValid(t *testing.T) {
	tests := []struct {
		s             string
		filter, topic bool
	}{
		{"a/b", true, true},
		{"", false, false},
		{"a/+/c", true, false},
		{"a/#", true, false},
		{"#", true, false},
		{"a/#/c", false, false},
		{"a+/b", false, false},
		{"a/b#", false, false},
		{"a\x00b", false, false},
		{strings.Repeat("x", mqtttopic.MaxBytes), true, true},
		{strings.Repeat("x", mqtttopic.MaxBytes+1), false, false},
	}
	for _, tt := range tests {
		s := tt.s
		if got := mqtttopic.ValidFilter(s); got != tt.filter {
			t.Errorf("ValidFilter(%.20q) = %v, want %v", s, got, tt.filter)
		}
		if got := mqtttopic.ValidTopic(s); got != tt.topic {
			t.Errorf("ValidTopic(%.20q) = %v, want %v", s, got, tt.topic)
		}
	}
}

// FuzzMatch: nothing panics; a valid topic matches itself as a filter; a
// filter covered by a grant matches only topics the grant matches.
func FuzzMatch(f *testing.F) {
	for _, s := range [][3]string{{"a/#", "a/+/c", "a/b/c"}, {"+/+", "x/y", "x/y"}, {"#", "$SYS/x", "$SYS/x"}, {"a/b", "a/b", "a/b/"}} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, grant, filter, topic string) {
		m := mqtttopic.Match(filter, topic)
		if mqtttopic.ValidTopic(topic) && topic[0] != '$' && !mqtttopic.Match(topic, topic) {
			t.Fatalf("topic %q does not match itself", topic)
		}
		if m && mqtttopic.ValidFilter(grant) && mqtttopic.ValidFilter(filter) && mqtttopic.ValidTopic(topic) && topic[0] != '$' &&
			mqtttopic.Covers(grant, filter) && !mqtttopic.Match(grant, topic) {
			t.Fatalf("grant %q covers %q, which matches %q, but the grant does not", grant, filter, topic)
		}
	})
}
