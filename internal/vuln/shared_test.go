package vuln

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/wardtest"
)

// importTime is the clock for tests that import feeds.
var importTime = time.Date(2025, 8, 26, 12, 0, 0, 0, time.UTC)

// sharedDB imports every shared OSV record and the KEV catalogue.
func sharedDB(t testing.TB) (*DB, *ImportReport) {
	t.Helper()
	osvDir := wardtest.SharedData(t, "vuln/osv")
	kevFile := wardtest.SharedData(t, "vuln/kev/known_exploited_vulnerabilities.json")
	db, err := New(Options{Now: func() time.Time { return importTime }})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := db.ImportOSVPath(context.Background(), osvDir)
	if err != nil {
		t.Fatalf("import OSV: %v", err)
	}
	f, err := os.Open(kevFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := db.ImportKEV(filepath.Base(kevFile), f); err != nil {
		t.Fatalf("import KEV: %v", err)
	}
	return db, rep
}

func sbomComponents(t testing.TB, path string) []Component {
	t.Helper()
	s, err := parseFile(t, path)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	return s.Components
}

var _ = strings.TrimSpace
