package version

import "strings"

// Maven is a Maven artifact version, ordered as Maven 3's ComparableVersion
// (maven-artifact) orders it, which the POM reference describes in its
// "Version Order Specification":
//
//   - "." and "-" separate items, and so does a transition between digits
//     and letters; "-" and a transition start a nested list, so "1-1" <
//     "1.1"; an empty item is 0;
//   - numbers compare numerically; qualifiers compare case-insensitively as
//     alpha < beta < milestone < rc = cr < snapshot < "" = ga = final =
//     release < sp < any other qualifier (lexically); a, b and m followed
//     directly by a digit mean alpha, beta and milestone;
//   - trailing "null" items (0, "", an empty list) are dropped from every
//     list, so "1" = "1.0" = "1-ga";
//   - a number beats a qualifier and a nested list; a nested list beats a
//     qualifier.
type Maven struct {
	s    string
	root mavenItem
}

type mavenKind int

const (
	mavenInt mavenKind = iota
	mavenStr
	mavenList
)

type mavenItem struct {
	kind  mavenKind
	value string // digits without leading zeros, or the normalised qualifier
	list  []*mavenItem
}

func (it *mavenItem) isNull() bool {
	switch it.kind {
	case mavenInt, mavenStr:
		return it.value == ""
	}
	return len(it.list) == 0
}

var mavenQualifiers = []string{"alpha", "beta", "milestone", "rc", "snapshot", "", "sp"}

const mavenMaxLen = 256

// ParseMaven parses a Maven version: any non-empty string of at most 256
// bytes without spaces (Maven itself rejects nothing).
func ParseMaven(s string) (Maven, error) {
	if strings.TrimSpace(s) == "" || strings.ContainsAny(s, " \t\r\n") {
		return Maven{}, perr("maven", s, "empty or contains spaces")
	}
	if len(s) > mavenMaxLen {
		return Maven{}, perr("maven", s, "longer than 256 bytes")
	}
	in := strings.ToLower(s)
	root := &mavenItem{kind: mavenList}
	list := root
	stack := []*mavenItem{root}
	push := func() {
		l := &mavenItem{kind: mavenList}
		list.list = append(list.list, l)
		list = l
		stack = append(stack, l)
	}
	isDig, start := false, 0
	for i := 0; i < len(in); i++ {
		c := in[i]
		switch {
		case c == '.':
			if i == start {
				list.list = append(list.list, &mavenItem{kind: mavenInt})
			} else {
				list.list = append(list.list, mavenParseItem(isDig, in[start:i], false))
			}
			start = i + 1
		case c == '-':
			if i == start {
				list.list = append(list.list, &mavenItem{kind: mavenInt})
			} else {
				list.list = append(list.list, mavenParseItem(isDig, in[start:i], false))
			}
			start = i + 1
			push()
		case isDigit(c):
			if !isDig && i > start {
				list.list = append(list.list, mavenParseItem(false, in[start:i], true))
				start = i
				push()
			}
			isDig = true
		default:
			if isDig && i > start {
				list.list = append(list.list, mavenParseItem(true, in[start:i], false))
				start = i
				push()
			}
			isDig = false
		}
	}
	if len(in) > start {
		list.list = append(list.list, mavenParseItem(isDig, in[start:], false))
	}
	for i := len(stack) - 1; i >= 0; i-- {
		l := stack[i]
		for j := len(l.list) - 1; j >= 0; j-- {
			if l.list[j].isNull() {
				l.list = append(l.list[:j], l.list[j+1:]...)
			} else if l.list[j].kind != mavenList {
				break
			}
		}
	}
	return Maven{s: s, root: *root}, nil
}

func mavenParseItem(digits bool, buf string, followedByDigit bool) *mavenItem {
	if digits {
		return &mavenItem{kind: mavenInt, value: strings.TrimLeft(buf, "0")}
	}
	if followedByDigit && len(buf) == 1 {
		switch buf {
		case "a":
			buf = "alpha"
		case "b":
			buf = "beta"
		case "m":
			buf = "milestone"
		}
	}
	switch buf {
	case "ga", "final", "release":
		buf = ""
	case "cr":
		buf = "rc"
	}
	return &mavenItem{kind: mavenStr, value: buf}
}

// mavenQualifierKey is ComparableVersion.comparableQualifier: known
// qualifiers by rank, others after them, lexically.
func mavenQualifierKey(q string) string {
	for i, k := range mavenQualifiers {
		if k == q {
			return string(rune('0' + i))
		}
	}
	return "7-" + q
}

// mavenCmp is Item.compareTo; b may be nil.
func mavenCmp(a, b *mavenItem) int {
	switch a.kind {
	case mavenInt:
		switch {
		case b == nil:
			if a.value == "" {
				return 0
			}
			return 1
		case b.kind == mavenInt:
			return cmpDigits(a.value, b.value)
		}
		return 1
	case mavenStr:
		switch {
		case b == nil:
			return strings.Compare(mavenQualifierKey(a.value), "5")
		case b.kind == mavenStr:
			return strings.Compare(mavenQualifierKey(a.value), mavenQualifierKey(b.value))
		}
		return -1
	}
	switch {
	case b == nil:
		for _, it := range a.list {
			if c := mavenCmp(it, nil); c != 0 {
				return c
			}
		}
		return 0
	case b.kind == mavenInt:
		return -1
	case b.kind == mavenStr:
		return 1
	}
	for i := 0; i < len(a.list) || i < len(b.list); i++ {
		var c int
		switch {
		case i >= len(a.list):
			c = -mavenCmp(b.list[i], nil)
		case i >= len(b.list):
			c = mavenCmp(a.list[i], nil)
		default:
			c = mavenCmp(a.list[i], b.list[i])
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

// String returns the version as given.
func (v Maven) String() string { return v.s }

// Scheme returns MavenScheme.
func (Maven) Scheme() *Scheme { return MavenScheme }

func (v Maven) cmp(o Version) int { return v.Compare(o.(Maven)) }

// Compare orders as ComparableVersion.compareTo.
func (v Maven) Compare(o Maven) int { return mavenCmp(&v.root, &o.root) }
