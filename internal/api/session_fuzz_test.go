package api

import (
	"strings"
	"testing"
)

// FuzzNormalizeUserName: never panics; what it accepts is 1 to 64 bytes
// of [a-z0-9._-], equal to the input folded to ASCII lower case, and
// accepted again unchanged.
func FuzzNormalizeUserName(f *testing.F) {
	for _, s := range []string{"alice", "Alice.Smith-2", "", "a b", "\u212aate", strings.Repeat("x", 65), "ALICE_"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := NormalizeUserName(s)
		if err != nil {
			return
		}
		if len(n) < 1 || len(n) > 64 || strings.Trim(n, "abcdefghijklmnopqrstuvwxyz0123456789._-") != "" {
			t.Errorf("NormalizeUserName(%q) = %q", s, n)
		}
		if !strings.EqualFold(n, s) || len(n) != len(s) {
			t.Errorf("NormalizeUserName(%q) = %q: not the input in lower case", s, n)
		}
		if again, err := NormalizeUserName(n); err != nil || again != n {
			t.Errorf("NormalizeUserName(%q) = %q, %v: not stable", n, again, err)
		}
	})
}

// FuzzCutToken: the split of a bearer token never panics, and what it
// accepts rebuilds the input from a 16-character ID and a non-empty
// secret.
func FuzzCutToken(f *testing.F) {
	for _, s := range []string{"wards_0011223344556677_secret", "ward_0011223344556677_s", "wards__", "wards_0011223344556677_", "wards_001122334455667_x_y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, prefix := range []string{sessionPrefix, tokenPrefix} {
			id, sec, ok := cutToken(prefix, s)
			if !ok {
				continue
			}
			if len(id) != 16 || sec == "" || prefix+id+"_"+sec != s {
				t.Errorf("cutToken(%q, %q) = %q, %q", prefix, s, id, sec)
			}
		}
	})
}
