package version

import (
	"strings"

	pep440 "github.com/aquasecurity/go-pep440-version"
)

// PEP440 is a Python package version as PEP 440 defines it
// (https://peps.python.org/pep-0440/), ordered as pypa/packaging's
// packaging.version.Version orders it, which is what OSV uses for the PyPI
// ecosystem:
//
//   - [N!]N(.N)*[{a|b|rc}N][.postN][.devN][+local];
//   - the epoch first, then the release with trailing zeros ignored
//     ("1.0" = "1.0.0"), then dev < a < b < rc < (none) < post, and a dev
//     release below the version it is the dev release of ("1.0.dev0" <
//     "1.0a1" < "1.0b1" < "1.0rc1" < "1.0" < "1.0.post1.dev1" <
//     "1.0.post1");
//   - PEP 440's normalisation: case is ignored, a leading "v" is dropped,
//     alpha, beta, c, pre and preview mean a, b, rc, rc and rc, rev and r
//     mean post, "1.0-1" is "1.0.post1", ".", "-" and "_" separators are
//     optional, missing numbers are 0 and leading zeros are ignored;
//   - a local label ("+ubuntu1") sorts after the same public version; its
//     segments, split at ".", "-" or "_", compare numerically when both are
//     numbers, a number after a name, names as lower-case strings, and a
//     shorter label before a longer one it starts.
//
// The public version (everything before "+") is parsed and ordered by
// github.com/aquasecurity/go-pep440-version, the library Trivy uses. Ward
// wraps it because, in v0.0.1, it compares local labels as if only "."
// separated them ("1.0+ubuntu-1" ≠ "1.0+ubuntu.1"), orders a local number
// beyond 2⁶⁴ as a name, and matches letters case-insensitively in
// Unicode, so that "1.0poſt" (long s) parses as "1.0". Ward therefore
// parses and orders the local label itself and refuses non-ASCII
// versions, and numbers beyond 2⁶⁴−1 in the public version, with an error
// saying so, where packaging would accept them.
type PEP440 struct {
	pub   pep440.Version
	local []string // lower-case segments; nil when the version has no label
	s     string   // normalised spelling
}

// maxUint64 is the largest number go-pep440-version can hold.
const maxUint64 = "18446744073709551615"

// ParsePEP440 parses a PEP 440 version. Surrounding whitespace is ignored,
// as packaging ignores it.
func ParsePEP440(s string) (PEP440, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return PEP440{}, perr("pep440", s, "empty")
	}
	for i := 0; i < len(in); i++ {
		c := in[i]
		switch {
		case c >= 0x80:
			return PEP440{}, perr("pep440", s, "contains a non-ASCII character")
		case c <= ' ' || c == 0x7f:
			return PEP440{}, perr("pep440", s, "contains spaces or control characters")
		}
	}
	pub, label, hasLabel := strings.Cut(in, "+")
	var v PEP440
	if hasLabel {
		if label == "" {
			return PEP440{}, perr("pep440", s, "local version label after '+' is empty")
		}
		v.local = strings.FieldsFunc(strings.ToLower(label), func(r rune) bool { return r == '.' || r == '-' || r == '_' })
		if strings.Count(label, ".")+strings.Count(label, "-")+strings.Count(label, "_")+1 != len(v.local) {
			return PEP440{}, perr("pep440", s, "local version label %q has an empty segment", label)
		}
		for _, seg := range v.local {
			for i := 0; i < len(seg); i++ {
				if !isDigit(seg[i]) && !(seg[i] >= 'a' && seg[i] <= 'z') {
					return PEP440{}, perr("pep440", s, "local version label %q may hold only letters, digits, '.', '-' and '_'", label)
				}
			}
		}
	}
	for i := 0; i < len(pub); {
		if !isDigit(pub[i]) {
			i++
			continue
		}
		j := i
		for j < len(pub) && isDigit(pub[j]) {
			j++
		}
		if cmpDigits(pub[i:j], maxUint64) > 0 {
			return PEP440{}, perr("pep440", s, "number %s is larger than %s, the largest Ward orders", pub[i:j], maxUint64)
		}
		i = j
	}
	p, err := pep440.Parse(pub)
	if err != nil {
		return PEP440{}, perr("pep440", s, "does not follow PEP 440's [N!]N(.N)*[{a|b|rc}N][.postN][.devN][+local]")
	}
	v.pub = p
	v.s = p.String()
	if v.local != nil {
		norm := make([]string, len(v.local))
		for i, seg := range v.local {
			norm[i] = seg
			if t := strings.TrimLeft(seg, "0"); isNumeric(seg) {
				if t == "" {
					t = "0"
				}
				norm[i] = t
			}
		}
		v.local = norm
		v.s += "+" + strings.Join(norm, ".")
	}
	return v, nil
}

func isNumeric(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}

// String returns the normalised form PEP 440 gives ("1.0a1.post2.dev3",
// "1!2.0", "1.0+ubuntu.1"); it parses back to an equal version.
func (v PEP440) String() string { return v.s }

// Scheme returns PEP440Scheme.
func (PEP440) Scheme() *Scheme { return PEP440Scheme }

func (v PEP440) cmp(o Version) int { return v.Compare(o.(PEP440)) }

// Compare orders as packaging.version.Version: the public versions by
// go-pep440-version, then the local labels.
func (v PEP440) Compare(o PEP440) int {
	if c := v.pub.Compare(o.pub); c != 0 {
		return sign(c)
	}
	switch {
	case v.local == nil && o.local == nil:
		return 0
	case v.local == nil:
		return -1
	case o.local == nil:
		return 1
	}
	for i := 0; i < len(v.local) && i < len(o.local); i++ {
		a, b := v.local[i], o.local[i]
		an, bn := isNumeric(a), isNumeric(b)
		var c int
		switch {
		case an && bn:
			c = cmpDigits(a, b)
		case an:
			c = 1
		case bn:
			c = -1
		default:
			c = strings.Compare(a, b)
		}
		if c != 0 {
			return c
		}
	}
	return sign(len(v.local) - len(o.local))
}
