package version

import (
	"strconv"
	"strings"
)

// Dpkg is a Debian package version, epoch:upstream-revision, as defined by
// Debian policy §5.6.12 and implemented by dpkg's parseversion and
// verrevcmp (lib/dpkg/parsehelp.c, lib/dpkg/version.c).
type Dpkg struct {
	Epoch    uint32 // 0 when absent
	Upstream string
	Revision string // "" when absent
}

// ParseDpkg parses a Debian version with dpkg's rules: the epoch is a
// decimal number before the first ":"; the revision follows the last "-";
// the upstream version starts with a digit and holds only alphanumerics and
// ".+-~:" ("-" only with a revision, ":" only with an epoch); the revision
// holds only alphanumerics and ".+~".
func ParseDpkg(s string) (Dpkg, error) {
	var v Dpkg
	str := strings.TrimSpace(s)
	if str == "" {
		return v, perr("dpkg", s, "version string is empty")
	}
	if strings.ContainsAny(str, " \t\n\r") {
		return v, perr("dpkg", s, "version string has embedded spaces")
	}
	rest := str
	if e, r, ok := strings.Cut(str, ":"); ok {
		if e == "" {
			return v, perr("dpkg", s, "epoch in version is empty")
		}
		if !allDigits(e) {
			return v, perr("dpkg", s, "epoch in version is not a number")
		}
		n, err := strconv.ParseUint(e, 10, 31)
		if err != nil {
			return v, perr("dpkg", s, "epoch in version is too big")
		}
		v.Epoch = uint32(n)
		rest = r
		if rest == "" {
			return v, perr("dpkg", s, "nothing after colon in version number")
		}
	}
	if i := strings.LastIndexByte(rest, '-'); i >= 0 {
		v.Upstream, v.Revision = rest[:i], rest[i+1:]
		if v.Revision == "" {
			return v, perr("dpkg", s, "revision number is empty")
		}
	} else {
		v.Upstream = rest
	}
	if v.Upstream == "" {
		return v, perr("dpkg", s, "version number is empty")
	}
	if !isDigit(v.Upstream[0]) {
		return v, perr("dpkg", s, "version number does not start with digit")
	}
	for i := 0; i < len(v.Upstream); i++ {
		c := v.Upstream[i]
		if !isAlnum(c) && !strings.ContainsRune(".-+~:", rune(c)) {
			return v, perr("dpkg", s, "invalid character %q in version number", c)
		}
	}
	for i := 0; i < len(v.Revision); i++ {
		c := v.Revision[i]
		if !isAlnum(c) && !strings.ContainsRune(".+~", rune(c)) {
			return v, perr("dpkg", s, "invalid character %q in revision number", c)
		}
	}
	return v, nil
}

// String returns epoch:upstream-revision, leaving out a zero epoch and an
// empty revision.
func (v Dpkg) String() string {
	s := v.Upstream
	if v.Epoch != 0 || strings.Contains(v.Upstream, ":") {
		s = strconv.FormatUint(uint64(v.Epoch), 10) + ":" + s
	}
	if v.Revision != "" {
		s += "-" + v.Revision
	}
	return s
}

// Scheme returns DpkgScheme.
func (Dpkg) Scheme() *Scheme { return DpkgScheme }

func (v Dpkg) cmp(o Version) int { return v.Compare(o.(Dpkg)) }

// Compare orders as dpkg --compare-versions: epochs numerically, then the
// upstream versions and then the revisions with verrevcmp. An absent
// revision compares as "" (which is what dpkg does: it sorts before "0"
// only through "~").
func (v Dpkg) Compare(o Dpkg) int {
	if v.Epoch != o.Epoch {
		if v.Epoch < o.Epoch {
			return -1
		}
		return 1
	}
	if c := verrevcmp(v.Upstream, o.Upstream); c != 0 {
		return c
	}
	return verrevcmp(v.Revision, o.Revision)
}

// dpkgOrder is dpkg's order(): digits and the end weigh 0, letters their
// ASCII value, "~" sorts before everything, and other characters after all
// letters.
func dpkgOrder(c int) int {
	switch {
	case c >= '0' && c <= '9':
		return 0
	case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		return c
	case c == '~':
		return -1
	case c != 0:
		return c + 256
	}
	return 0
}

// verrevcmp is dpkg's lib/dpkg/version.c verrevcmp.
func verrevcmp(a, b string) int {
	at := func(s string, i int) int {
		if i < len(s) {
			return int(s[i])
		}
		return 0
	}
	dig := func(c int) bool { return c >= '0' && c <= '9' }
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		firstDiff := 0
		for (i < len(a) && !dig(at(a, i))) || (j < len(b) && !dig(at(b, j))) {
			ac, bc := dpkgOrder(at(a, i)), dpkgOrder(at(b, j))
			if ac != bc {
				return sign(ac - bc)
			}
			i++
			j++
		}
		for at(a, i) == '0' {
			i++
		}
		for at(b, j) == '0' {
			j++
		}
		for dig(at(a, i)) && dig(at(b, j)) {
			if firstDiff == 0 {
				firstDiff = at(a, i) - at(b, j)
			}
			i++
			j++
		}
		if dig(at(a, i)) {
			return 1
		}
		if dig(at(b, j)) {
			return -1
		}
		if firstDiff != 0 {
			return sign(firstDiff)
		}
	}
	return 0
}
