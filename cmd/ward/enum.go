package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/wardproject/ward/internal/suggest"
)

// enumLists are the enum flags that take a comma-separated list.
var enumLists = map[string]bool{
	"ward alert list --state":   true,
	"ward rollout show --state": true,
}

// enumValues returns the values an enum flag of cmd accepts (the same
// tables that shell completion offers), or nil for a flag that is not an
// enum. A value ending in "/" admits any non-empty name after it
// ("models/" admits models/cam).
func enumValues(cmd *cobra.Command, f *pflag.Flag) []string {
	if v, ok := enumOverrides[cmd.CommandPath()+" --"+f.Name]; ok {
		return v
	}
	return enumCompletions[f.Name]
}

// checkEnums validates, before any command runs, every enum flag given
// on its command line: a value is accepted in any case and set to its
// canonical spelling (--reason keycompromise is keyCompromise); an
// unknown one is refused with the list of values and the closest ones.
func checkEnums(cmd *cobra.Command) error {
	var err error
	cmd.Flags().Visit(func(f *pflag.Flag) {
		allowed := enumValues(cmd, f)
		if err != nil || allowed == nil {
			return
		}
		given := []string{f.Value.String()}
		list := enumLists[cmd.CommandPath()+" --"+f.Name]
		if list {
			given = strings.Split(f.Value.String(), ",")
		}
		out := make([]string, 0, len(given))
		for _, v := range given {
			c, ok := canonicalEnum(strings.TrimSpace(v), allowed)
			if !ok {
				err = fmt.Errorf("--%s: %s", f.Name, suggest.Unknown("value", v, allowed))
				return
			}
			out = append(out, c)
		}
		if canon := strings.Join(out, ","); canon != f.Value.String() {
			err = f.Value.Set(canon)
		}
	})
	return err
}

// canonicalEnum returns the allowed spelling of v and whether v is allowed.
func canonicalEnum(v string, allowed []string) (string, bool) {
	if i := slices.IndexFunc(allowed, func(a string) bool { return !strings.HasSuffix(a, "/") && strings.EqualFold(a, v) }); i >= 0 {
		return allowed[i], true
	}
	for _, a := range allowed {
		if strings.HasSuffix(a, "/") && len(v) > len(a) && strings.EqualFold(v[:len(a)], a) {
			return a + v[len(a):], true
		}
	}
	return v, false
}
