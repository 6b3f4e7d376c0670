package client

import (
	"strings"
	"testing"
)

func TestNextLink(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want string
	}{
		{"ward", []string{`</api/v1/devices?limit=2&after=ZC0wMQ>; rel="next"`}, "/api/v1/devices?limit=2&after=ZC0wMQ"},
		{"unquoted", []string{`</a?b=1>; rel=next`}, "/a?b=1"},
		{"among-others", []string{`</first>; rel="first", </n>; rel="next"`}, "/n"},
		{"second-value", []string{`</p>; rel="prev"`, `</n>; rel="next"`}, "/n"},
		{"several-rels", []string{`</n>; rel="next last"`}, "/n"},
		{"case", []string{`</n>; REL="Next"`}, "/n"},
		{"none", nil, ""},
		{"prev-only", []string{`</p>; rel="prev"`}, ""},
		{"absolute-url-refused", []string{`<https://evil.example/steal>; rel="next"`}, ""},
		{"scheme-relative-refused", []string{`<//evil.example/steal>; rel="next"`}, ""},
		{"no-brackets", []string{`/n; rel="next"`}, ""},
		{"no-params", []string{`</n>`}, ""},
		{"garbage", []string{`<<>>;;;,,`}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NextLink(tt.in); got != tt.want {
				t.Errorf("NextLink(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// FuzzNextLink: any header value parses without panicking, and a found
// target is always a path on the same server.
func FuzzNextLink(f *testing.F) {
	for _, s := range []string{`</api/v1/devices?after=x>; rel="next"`, `<https://x>; rel=next`, `</a>; rel="prev", </b>; rel="next"`, "<>", ";", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		got := NextLink([]string{v})
		if got != "" && (!strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") || !strings.Contains(v, "<"+got+">")) {
			t.Fatalf("NextLink(%q) = %q", v, got)
		}
	})
}
