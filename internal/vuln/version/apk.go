package version

import "strings"

// APK is an Alpine package version, digit{.digit}{letter}{_suffix{N}}{~hash}{-rN},
// ordered as apk-tools v3 src/version.c orders it.
type APK struct {
	s    string
	toks []apkToken // ends with apkEnd, or apkInvalid for a version apk rejects
}

// Token kinds in the order apk-tools declares them; a version's tokens must
// not go backwards except digit → digit and suffix-number → suffix.
const (
	apkInitialDigit = iota
	apkDigit
	apkLetter
	apkSuffix
	apkSuffixNo
	apkCommitHash
	apkRevisionNo
	apkEnd
	apkInvalid
)

// Suffix ranks: pre-release suffixes sort below a version without suffix,
// post-release ones above it.
var apkSuffixes = map[string]int{
	"alpha": 1, "beta": 2, "pre": 3, "rc": 4, // below apkSuffixNone
	"cvs": 6, "svn": 7, "git": 8, "hg": 9, "p": 10,
}

const apkSuffixNone = 5

type apkToken struct {
	kind   int
	value  string // the token's text (digits, letter, suffix word, hash)
	suffix int
}

// ParseAPK parses an apk version and rejects what apk_version_validate
// rejects.
func ParseAPK(s string) (APK, error) {
	v := APK{s: s, toks: apkTokens(s)}
	if last := v.toks[len(v.toks)-1]; last.kind == apkInvalid {
		return v, perr("apk", s, "does not follow digit{.digit}{letter}{_suffix{N}}{~hash}{-rN} (suffixes: alpha, beta, pre, rc, cvs, svn, git, hg, p)")
	}
	return v, nil
}

// CompareAPK compares two strings as apk version compares them, including
// strings that are not valid versions (apk-tools orders those too).
func CompareAPK(a, b string) int {
	return apkCompare(apkTokens(a), apkTokens(b))
}

func apkTokens(s string) []apkToken {
	var toks []apkToken
	b := s
	digits := func() string {
		i := 0
		for i < len(b) && isDigit(b[i]) {
			i++
		}
		d := b[:i]
		b = b[i:]
		return d
	}
	t := apkToken{kind: apkInitialDigit, value: digits()}
	if t.value == "" {
		t.kind = apkInvalid
	}
	for {
		toks = append(toks, t)
		if t.kind >= apkEnd {
			return toks
		}
		prev := t.kind
		t = apkToken{}
		if b == "" {
			t.kind = apkEnd
			continue
		}
		c := b[0]
		switch {
		case c >= 'a' && c <= 'z':
			if prev > apkDigit {
				t.kind = apkInvalid
				break
			}
			t = apkToken{kind: apkLetter, value: b[:1]}
			b = b[1:]
		case c == '.' || isDigit(c):
			if c == '.' {
				if prev > apkDigit {
					t.kind = apkInvalid
					break
				}
				b = b[1:]
			}
			switch prev {
			case apkInitialDigit, apkDigit:
				t.kind = apkDigit
			case apkSuffix:
				t.kind = apkSuffixNo
			default:
				t.kind = apkInvalid
			}
			if t.kind != apkInvalid {
				if t.value = digits(); t.value == "" {
					t.kind = apkInvalid
				}
			}
		case c == '_':
			if prev > apkSuffixNo {
				t.kind = apkInvalid
				break
			}
			b = b[1:]
			i := 0
			for i < len(b) && b[i] >= 'a' && b[i] <= 'z' {
				i++
			}
			t.value, b = b[:i], b[i:]
			if r, ok := apkSuffixes[t.value]; ok {
				t.kind, t.suffix = apkSuffix, r
			} else {
				t.kind = apkInvalid
			}
		case c == '~':
			if prev >= apkCommitHash {
				t.kind = apkInvalid
				break
			}
			b = b[1:]
			i := 0
			for i < len(b) && (isDigit(b[i]) || b[i] >= 'a' && b[i] <= 'f') {
				i++
			}
			t.value, b = b[:i], b[i:]
			t.kind = apkCommitHash
			if t.value == "" {
				t.kind = apkInvalid
			}
		case c == '-':
			if prev >= apkRevisionNo || !strings.HasPrefix(b, "-r") {
				t.kind = apkInvalid
				break
			}
			b = b[2:]
			t.kind = apkRevisionNo
			if t.value = digits(); t.value == "" {
				t.kind = apkInvalid
			}
		default:
			t.kind = apkInvalid
		}
	}
}

func apkTokenCmp(a, b apkToken) int {
	switch a.kind {
	case apkDigit:
		if a.value[0] == '0' || b.value[0] == '0' {
			// A leading zero makes the part a decimal fraction, compared
			// as a string (Gentoo's rule).
			return strings.Compare(a.value, b.value)
		}
		return cmpDigits(a.value, b.value)
	case apkInitialDigit, apkSuffixNo, apkRevisionNo:
		return cmpDigits(a.value, b.value)
	case apkLetter:
		return strings.Compare(a.value, b.value)
	case apkSuffix:
		return sign(a.suffix - b.suffix)
	}
	return strings.Compare(a.value, b.value)
}

func apkCompare(a, b []apkToken) int {
	i := 0
	for ; i < len(a) && i < len(b) && a[i].kind == b[i].kind && a[i].kind < apkEnd; i++ {
		if c := apkTokenCmp(a[i], b[i]); c != 0 {
			return c
		}
	}
	ta, tb := a[min(i, len(a)-1)], b[min(i, len(b)-1)]
	switch {
	case ta.kind == tb.kind:
		return 0
	case ta.kind == apkSuffix && ta.suffix < apkSuffixNone:
		return -1
	case tb.kind == apkSuffix && tb.suffix < apkSuffixNone:
		return 1
	case ta.kind > tb.kind:
		return -1
	}
	return 1
}

// String returns the version as given.
func (v APK) String() string { return v.s }

// Scheme returns APKScheme.
func (APK) Scheme() *Scheme { return APKScheme }

func (v APK) cmp(o Version) int { return v.Compare(o.(APK)) }

// Compare orders as apk version -t does.
func (v APK) Compare(o APK) int {
	if v.toks == nil || o.toks == nil {
		return CompareAPK(v.s, o.s)
	}
	return apkCompare(v.toks, o.toks)
}
