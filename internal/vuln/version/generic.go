package version

import "strings"

// Generic is the fallback ordering for ecosystems without a scheme of their
// own. See the package documentation for its rules; results that depend on
// it are approximate.
type Generic struct {
	s    string
	toks []string // digit runs and lower-cased letter runs
}

// ParseGeneric accepts any non-empty version that has at least one digit or
// letter.
func ParseGeneric(s string) (Generic, error) {
	g := Generic{s: s}
	for i := 0; i < len(s); {
		j := i
		switch {
		case isDigit(s[i]):
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			g.toks = append(g.toks, s[i:j])
		case isAlpha(s[i]):
			for j < len(s) && isAlpha(s[j]) {
				j++
			}
			g.toks = append(g.toks, strings.ToLower(s[i:j]))
		default:
			j++
		}
		i = j
	}
	if len(g.toks) == 0 {
		return g, perr("generic", s, "has no digits or letters")
	}
	return g, nil
}

// String returns the version as given.
func (g Generic) String() string { return g.s }

// Scheme returns GenericScheme.
func (Generic) Scheme() *Scheme { return GenericScheme }

func (g Generic) cmp(o Version) int { return g.Compare(o.(Generic)) }

// Compare orders token by token: digit runs numerically and above the end
// of a version, letter runs lexicographically and below the end.
func (g Generic) Compare(o Generic) int {
	for i := 0; i < len(g.toks) || i < len(o.toks); i++ {
		a, b := genericRank(g.toks, i), genericRank(o.toks, i)
		if a != b {
			return sign(a - b)
		}
		var c int
		if a == 2 {
			c = cmpDigits(g.toks[i], o.toks[i])
		} else {
			c = strings.Compare(g.toks[i], o.toks[i])
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

// genericRank: 0 letters, 1 end, 2 digits.
func genericRank(t []string, i int) int {
	if i >= len(t) {
		return 1
	}
	if isDigit(t[i][0]) {
		return 2
	}
	return 0
}
