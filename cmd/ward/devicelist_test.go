package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/wardproject/ward/internal/fleet"
)

// runSplit runs the ward command and returns stdout and stderr apart.
func (c wardCLI) runSplit(args ...string) (stdout, stderr string, err error) {
	cmd := newRootCmd()
	var out, errb bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetArgs(append(args, c.env...))
	err = cmd.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

// listIDs runs ward device list -o json with args and returns the IDs.
func (c wardCLI) listIDs(args ...string) (ids []string, stderr string) {
	c.t.Helper()
	out, errs, err := c.runSplit(append([]string{"device", "list", "-o", "json"}, args...)...)
	if err != nil {
		c.t.Fatalf("ward device list %v: %v\n%s%s", args, err, out, errs)
	}
	var vs []fleet.View
	if err := json.Unmarshal([]byte(out), &vs); err != nil {
		c.t.Fatalf("ward device list %v: %v\n%s", args, err, out)
	}
	for _, v := range vs {
		ids = append(ids, v.ID)
	}
	return ids, errs
}

var nextPage = regexp.MustCompile(`next page: --after (\S+)`)

// TestDeviceListCLI: ward device list filters with --status, --model,
// --tag, --search and --connected, pages with --limit and --after (the
// next cursor on stderr), and follows every page with --all.
func TestDeviceListCLI(t *testing.T) {
	c := startForCLI(t)
	var all, cams, labs []string
	for i := range 12 {
		id, model := fmt.Sprintf("dev-%02d", i), "th1"
		args := []string{"device", "add", "--id", id, "--firmware", "1"}
		if i%2 == 0 {
			model = "cam"
			cams = append(cams, id)
		}
		if i%3 == 0 {
			args = append(args, "--tag", "lab")
			labs = append(labs, id)
		}
		c.must(append(args, "--model", model)...)
		all = append(all, id)
	}
	c.must("device", "quarantine", "dev-05")
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"everything", nil, all},
		{"model", []string{"--model", "cam"}, cams},
		{"tag", []string{"--tag", "lab"}, labs},
		{"status", []string{"--status", "quarantined"}, []string{"dev-05"}},
		{"search", []string{"--search", "DEV-1"}, []string{"dev-10", "dev-11"}},
		{"not-connected", []string{"--connected=false", "--model", "th1"}, slices.DeleteFunc(slices.Clone(all), func(id string) bool { return slices.Contains(cams, id) })},
		{"connected", []string{"--connected"}, nil},
		{"all-pages", []string{"--limit", "5", "--all"}, all},
		{"all-pages-filtered", []string{"--limit", "1", "--all", "--tag", "lab"}, labs},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs := c.listIDs(tt.args...)
			if diff := cmpIDs(tt.want, got); diff != "" {
				t.Errorf("ward device list %v: %s", tt.args, diff)
			}
			if strings.Contains(errs, "next page") {
				t.Errorf("a complete list printed a next page: %s", errs)
			}
		})
	}
	t.Run("pages-by-hand", func(t *testing.T) {
		var got []string
		args := []string{"--limit", "5", "--model", "cam"}
		for range 10 {
			ids, errs := c.listIDs(args...)
			got = append(got, ids...)
			m := nextPage.FindStringSubmatch(errs)
			if m == nil {
				break
			}
			args = []string{"--limit", "5", "--model", "cam", "--after", m[1]}
		}
		if diff := cmpIDs(cams, got); diff != "" {
			t.Errorf("pages followed by hand: %s", diff)
		}
	})
	t.Run("table-and-hint", func(t *testing.T) {
		out, errs, err := c.runSplit("device", "list", "--limit", "3")
		if err != nil || !strings.Contains(out, "dev-02") || strings.Contains(out, "dev-03") || !nextPage.MatchString(errs) || strings.Contains(out, "next page") {
			t.Errorf("table with --limit 3: %v\nstdout:\n%s\nstderr:\n%s", err, out, errs)
		}
	})
	for _, bad := range [][]string{{"--status", "sleeping"}, {"--limit", "0"}, {"--limit", "1001"}, {"--after", "not a cursor"}} {
		if out, errs, err := c.runSplit(append([]string{"device", "list"}, bad...)...); err == nil {
			t.Errorf("ward device list %v succeeded:\n%s%s", bad, out, errs)
		} else if name := strings.TrimPrefix(bad[0], "--"); !strings.Contains(err.Error(), name) {
			t.Errorf("ward device list %v: error %q does not name %s", bad, err, name)
		}
	}
}

func cmpIDs(want, got []string) string {
	if slices.Equal(want, got) {
		return ""
	}
	return fmt.Sprintf("got %v, want %v", got, want)
}
