package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// readCommand reports whether c only reads: the commands whose -o is
// the output format.
func readCommand(c *cobra.Command) bool {
	switch c.Name() {
	case "list", "show", "get", "feeds", "findings", "log", "status", "whoami", "version":
		return true
	}
	return false
}

// TestReadCommandsHaveOutput walks the command tree: every read command
// has -o/--output, its values include json and come from table, json and
// yaml (yaml only where the command already printed YAML), and its
// default is one of them.
func TestReadCommandsHaveOutput(t *testing.T) {
	n := 0
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if !readCommand(c) || c.Hidden {
			return
		}
		n++
		f := c.Flags().Lookup("output")
		if f == nil || f.Shorthand != "o" {
			t.Errorf("%s has no -o/--output", c.CommandPath())
			return
		}
		allowed := enumValues(c, f)
		if !slices.Contains(allowed, "json") || slices.ContainsFunc(allowed, func(v string) bool { return v != "table" && v != "json" && v != "yaml" }) {
			t.Errorf("%s -o accepts %v, want json and only table, json or yaml", c.CommandPath(), allowed)
		}
		if !slices.Contains(allowed, f.DefValue) {
			t.Errorf("%s -o defaults to %q, not one of %v", c.CommandPath(), f.DefValue, allowed)
		}
	}
	walk(newRootCmd())
	if n < 20 {
		t.Errorf("only %d read commands found", n)
	}
}

// TestReportOut: ward report writes --format to --out; -o FILE still
// works, and -o with a format name is refused with a pointer to --format
// (it used to write a file named json).
func TestReportOut(t *testing.T) {
	w := startForCLI(t)
	dir := t.TempDir()
	t.Chdir(dir)
	for _, f := range []string{"json", "JSON", "csv", "html", "sarif", "table"} {
		_, err := w.run("report", "-o", f)
		if err == nil || !strings.Contains(err.Error(), "looks like a format") || !strings.Contains(err.Error(), "--format "+strings.ToLower(f)) {
			t.Errorf("report -o %s: %v", f, err)
		}
		if _, err := os.Stat(filepath.Join(dir, f)); !os.IsNotExist(err) {
			t.Errorf("report -o %s wrote a file named %s", f, f)
		}
	}
	out := filepath.Join(dir, "r.json")
	w.must("report", "--format", "json", "--out", out)
	if b, err := os.ReadFile(out); err != nil || !strings.HasPrefix(strings.TrimSpace(string(b)), "{") {
		t.Errorf("--out %s: %v %.40s", out, err, b)
	}
	old := filepath.Join(dir, "r.csv")
	w.must("report", "--format", "csv", "-o", old)
	if _, err := os.Stat(old); err != nil {
		t.Errorf("-o FILE no longer writes: %v", err)
	}
	if _, err := w.run("report", "--format", "pdf"); err == nil || !strings.Contains(err.Error(), "one of: html, json, sarif, csv") {
		t.Errorf("--format pdf: %v", err)
	}
	if _, err := w.run("report", "--out", out, "-o", old); err == nil {
		t.Error("--out and -o together accepted")
	}
}
