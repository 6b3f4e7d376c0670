// Package suggest finds, for a mistyped name (a subcommand, an enum
// value, an audit check), the known names it was most likely meant to be:
// the closest by edit distance (Levenshtein, case-insensitive) and those
// it is a prefix of. It is what cobra does for subcommands, whose
// distance function is not exported, made available to flag values and
// to the API's answers.
package suggest

import (
	"fmt"
	"sort"
	"strings"
)

// Closest returns the known names within a small edit distance of input
// (2, or a third of input's length when longer) or that start with it,
// case-insensitively: at most three, the closest first.
func Closest(input string, known []string) []string {
	in := strings.ToLower(input)
	limit := max(2, len([]rune(in))/3)
	type cand struct {
		name string
		d    int
	}
	var cs []cand
	for _, k := range known {
		kl := strings.ToLower(k)
		d := distance(in, kl)
		if d <= limit || (len(in) >= 2 && strings.HasPrefix(kl, in)) {
			cs = append(cs, cand{k, d})
		}
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].d < cs[j].d })
	out := make([]string, 0, min(3, len(cs)))
	for _, c := range cs[:min(3, len(cs))] {
		out = append(out, c.name)
	}
	return out
}

// Unknown words the refusal of an unknown value: what was given, the
// closest known names and the whole list, as in
// `unknown reason "keycompromize": did you mean keyCompromise? (one of: ...)`.
func Unknown(what, input string, known []string) string {
	msg := fmt.Sprintf("unknown %s %q", what, input)
	if s := Closest(input, known); len(s) > 0 {
		msg += ": did you mean " + strings.Join(s, " or ") + "?"
	}
	return msg + " (one of: " + strings.Join(known, ", ") + ")"
}

// distance is the Levenshtein distance between a and b, in runes.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
