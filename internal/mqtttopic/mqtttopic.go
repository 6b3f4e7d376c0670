// Package mqtttopic matches and validates MQTT topic names and filters
// (MQTT 3.1.1 and 5.0, section 4.7). It is a leaf package, apart from the
// gateway that enforces topic ACLs with it, so that packages that only
// reason about topics (rollouts: does a subscription cover a device's
// order topic) do not link the MQTT broker.
package mqtttopic

import "strings"

// Covers reports whether every topic matched by filter f is matched by
// grant g (both valid filters). Each level of f must be matched by the same
// level of g: '#' in g covers everything from there on (including the
// parent level, as '#' matches it); '+' in g covers a literal or '+'; a
// literal in g covers only the same literal. A '#' in f is covered only by a
// '#' in g at the same level or above.
func Covers(g, f string) bool {
	gi, fi := 0, 0
	for {
		if gi > len(g) {
			return fi > len(f)
		}
		gl, gnext := level(g, gi)
		if gl == "#" {
			return true
		}
		if fi > len(f) {
			return false
		}
		fl, fnext := level(f, fi)
		switch {
		case fl == "#":
			return false
		case gl == "+":
		case fl == "+" || fl != gl:
			return false
		}
		gi, fi = gnext, fnext
	}
}

// level returns the level of s starting at i and the index after its
// separator (len(s)+1 when it was the last level).
func level(s string, i int) (string, int) {
	if j := strings.IndexByte(s[i:], '/'); j >= 0 {
		return s[i : i+j], i + j + 1
	}
	return s[i:], len(s) + 1
}

// Match reports whether the topic filter matches the concrete topic name
// (MQTT 3.1.1 and 5 §4.7): '+' matches exactly one level, a trailing '#'
// matches the parent level and any number of levels below, and a filter
// starting with a wildcard does not match a topic starting with '$'.
func Match(filter, topic string) bool {
	if topic != "" && topic[0] == '$' && filter != "" && (filter[0] == '+' || filter[0] == '#') {
		return false
	}
	fi, ti := 0, 0
	for {
		if fi > len(filter) {
			return ti > len(topic)
		}
		fl, fnext := level(filter, fi)
		if fl == "#" {
			return true
		}
		if ti > len(topic) {
			return false
		}
		tl, tnext := level(topic, ti)
		if fl != "+" && fl != tl {
			return false
		}
		fi, ti = fnext, tnext
	}
}

// MaxBytes is the longest topic MQTT can encode.
const MaxBytes = 65535

// ValidFilter reports whether f is a well-formed topic filter: non-empty,
// at most 65535 bytes, no NUL, '+' only as a whole level and '#' only as the
// whole last level.
func ValidFilter(f string) bool {
	if f == "" || len(f) > MaxBytes || strings.IndexByte(f, 0) >= 0 {
		return false
	}
	for i := 0; i <= len(f); {
		l, next := level(f, i)
		if len(l) > 1 && strings.ContainsAny(l, "+#") {
			return false
		}
		if l == "#" && next <= len(f) {
			return false
		}
		i = next
	}
	return true
}

// ValidTopic reports whether t is a well-formed concrete topic name: a
// valid filter without wildcards.
func ValidTopic(t string) bool {
	if t == "" || len(t) > MaxBytes {
		return false
	}
	for i := 0; i < len(t); i++ {
		switch t[i] {
		case 0, '+', '#':
			return false
		}
	}
	return true
}
