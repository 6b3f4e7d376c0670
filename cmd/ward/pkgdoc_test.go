package main

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPackageDocs fails when a package under internal/ or cmd/ has no
// package doc comment (as tailscale's pkgdoc_test does).
func TestPackageDocs(t *testing.T) {
	root := filepath.Join("..", "..")
	docs := map[string]bool{}
	seen := map[string]bool{}
	for _, top := range []string{"internal", "cmd"} {
		err := filepath.WalkDir(filepath.Join(root, top), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return nil
			}
			f, err := parser.ParseFile(token.NewFileSet(), p, nil, parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				return err
			}
			dir := filepath.Dir(p)
			seen[dir] = true
			if f.Doc != nil && strings.TrimSpace(f.Doc.Text()) != "" {
				docs[dir] = true
			}
			return nil
		})
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	if len(seen) < 10 {
		t.Fatalf("only %d packages found", len(seen))
	}
	for dir := range seen {
		if !docs[dir] {
			t.Errorf("package %s has no package doc comment", dir)
		}
	}
}
