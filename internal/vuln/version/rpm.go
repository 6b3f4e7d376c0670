package version

import (
	"strconv"
	"strings"
)

// RPM is an RPM package version, [epoch:]version[-release], ordered as
// rpm's rpmVersionCompare with rpmvercmp (rpmio/rpmvercmp.c).
type RPM struct {
	Epoch   uint64 // 0 when absent
	Version string
	Release string // "" when absent
	epoch   bool   // the epoch was written
}

// ParseRPM parses [epoch:]version[-release]. The epoch is decimal; version
// and release may not be empty when their separator is present.
func ParseRPM(s string) (RPM, error) {
	var v RPM
	if s == "" {
		return v, perr("rpm", s, "version string is empty")
	}
	if strings.ContainsAny(s, " \t\r\n") {
		return v, perr("rpm", s, "version string has spaces")
	}
	rest := s
	if e, r, ok := strings.Cut(s, ":"); ok {
		if !allDigits(e) {
			return v, perr("rpm", s, "epoch %q is not a number", e)
		}
		n, err := strconv.ParseUint(e, 10, 32)
		if err != nil {
			return v, perr("rpm", s, "epoch %q is too big", e)
		}
		v.Epoch, v.epoch, rest = n, true, r
	}
	if i := strings.LastIndexByte(rest, '-'); i >= 0 {
		v.Version, v.Release = rest[:i], rest[i+1:]
		if v.Release == "" {
			return v, perr("rpm", s, "release after '-' is empty")
		}
	} else {
		v.Version = rest
	}
	if v.Version == "" {
		return v, perr("rpm", s, "version is empty")
	}
	if strings.ContainsRune(v.Version, ':') || strings.ContainsRune(v.Release, ':') {
		return v, perr("rpm", s, "more than one ':'")
	}
	return v, nil
}

// String returns [epoch:]version[-release].
func (v RPM) String() string {
	s := v.Version
	if v.epoch || v.Epoch != 0 {
		s = strconv.FormatUint(v.Epoch, 10) + ":" + s
	}
	if v.Release != "" {
		s += "-" + v.Release
	}
	return s
}

// Scheme returns RPMScheme.
func (RPM) Scheme() *Scheme { return RPMScheme }

func (v RPM) cmp(o Version) int { return v.Compare(o.(RPM)) }

// Compare orders by epoch (absent = 0), then version, then release with
// rpmvercmp. An absent release compares as "".
func (v RPM) Compare(o RPM) int {
	if v.Epoch != o.Epoch {
		if v.Epoch < o.Epoch {
			return -1
		}
		return 1
	}
	if c := rpmvercmp(v.Version, o.Version); c != 0 {
		return c
	}
	return rpmvercmp(v.Release, o.Release)
}

// rpmvercmp is rpm's rpmio/rpmvercmp.c: alternating alphabetic and numeric
// segments, other characters separate; "~" sorts before everything (even
// the end), "^" after the end but before any further segment; numeric
// segments beat alphabetic ones; whoever has segments left wins.
func rpmvercmp(a, b string) int {
	if a == b {
		return 0
	}
	i, j := 0, 0
	sep := func(s string, k int) bool { return k < len(s) && !isAlnum(s[k]) && s[k] != '~' && s[k] != '^' }
	for i < len(a) || j < len(b) {
		for sep(a, i) {
			i++
		}
		for sep(b, j) {
			j++
		}
		ca, cb := byte(0), byte(0)
		if i < len(a) {
			ca = a[i]
		}
		if j < len(b) {
			cb = b[j]
		}
		if ca == '~' || cb == '~' {
			if ca != '~' {
				return 1
			}
			if cb != '~' {
				return -1
			}
			i++
			j++
			continue
		}
		if ca == '^' || cb == '^' {
			if i >= len(a) {
				return -1
			}
			if j >= len(b) {
				return 1
			}
			if ca != '^' {
				return 1
			}
			if cb != '^' {
				return -1
			}
			i++
			j++
			continue
		}
		if i >= len(a) || j >= len(b) {
			break
		}
		si, sj := i, j
		isnum := isDigit(a[i])
		if isnum {
			for i < len(a) && isDigit(a[i]) {
				i++
			}
			for j < len(b) && isDigit(b[j]) {
				j++
			}
		} else {
			for i < len(a) && isAlpha(a[i]) {
				i++
			}
			for j < len(b) && isAlpha(b[j]) {
				j++
			}
		}
		if sj == j {
			// Segments of different types: numeric is newer.
			if isnum {
				return 1
			}
			return -1
		}
		var c int
		if isnum {
			c = cmpDigits(a[si:i], b[sj:j])
		} else {
			c = strings.Compare(a[si:i], b[sj:j])
		}
		if c != 0 {
			return c
		}
	}
	if i >= len(a) && j >= len(b) {
		return 0
	}
	if i >= len(a) {
		return -1
	}
	return 1
}
