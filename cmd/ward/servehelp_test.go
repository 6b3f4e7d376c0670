package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/wardproject/ward/internal/config"
)

// TestServeHelpAndDocsListEverySetting: every setting's flag is listed by
// `ward serve --help` with its config key and WARD_* variable, and the
// README or docs/*.md mention the setting (by key or by flag), so that no
// setting exists only in the code.
func TestServeHelpAndDocsListEverySetting(t *testing.T) {
	fs := pflag.NewFlagSet("settings", pflag.ContinueOnError)
	config.RegisterFlags(fs)
	help, err := runWard("", "serve", "--help")
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join("..", "..", "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	var docs strings.Builder
	for _, p := range append(files, filepath.Join("..", "..", "README.md")) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		docs.Write(b)
	}
	n := 0
	fs.VisitAll(func(f *pflag.Flag) {
		keys := f.Annotations["ward-config-key"]
		if len(keys) != 1 {
			return // not a setting (--config)
		}
		n++
		key := keys[0]
		t.Run(f.Name, func(t *testing.T) {
			line := regexp.MustCompile(`(?m)^\s+--` + regexp.QuoteMeta(f.Name) + `[ =\[].*$`).FindString(help)
			if line == "" {
				t.Errorf("ward serve --help does not list --%s", f.Name)
			} else if env := "WARD_" + strings.ToUpper(strings.NewReplacer(".", "_").Replace(key)); !strings.Contains(line, "config "+key) || !strings.Contains(line, env) {
				t.Errorf("ward serve --help line of --%s names neither config %s nor %s: %s", f.Name, key, env, line)
			}
			if !strings.Contains(docs.String(), key) && !strings.Contains(docs.String(), "--"+f.Name) {
				t.Errorf("no doc (README.md, docs/*.md) mentions %s or --%s", key, f.Name)
			}
		})
	})
	if n < 40 {
		t.Fatalf("only %d settings registered as flags", n)
	}
}
