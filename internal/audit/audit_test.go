package audit

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wardproject/ward/internal/wardtest"
)

func findingsJSON(t *testing.T, f []Finding) []byte {
	t.Helper()
	if f == nil {
		f = []Finding{}
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

func TestRunGolden(t *testing.T) {
	tests := []struct {
		name   string
		snap   func(t *testing.T) *Snapshot
		opts   Options
		checks int // minimum number of distinct checks expected
	}{
		{"fleet", func(t *testing.T) *Snapshot { return fixtureFleet(t) }, Options{}, 30},
		{"clean", func(t *testing.T) *Snapshot { return cleanFleet(t) }, Options{}, 0},
		{"ca-expiring-no-feeds", func(t *testing.T) *Snapshot {
			s := cleanFleet(t)
			s.Issuer = mustParse(t, loadCerts(t)["issuer"])
			s.Feeds = nil
			return s
		}, Options{}, 2},
		{"ca-expired", func(t *testing.T) *Snapshot {
			s := cleanFleet(t)
			s.Issuer = mustParse(t, loadCerts(t)["issuer"])
			s.Now = time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
			return s
		}, Options{CertExpiringWithin: time.Hour, NotSeenFor: 365 * day, FeedMaxAge: 365 * day}, 1},
		{"audit-log-disabled", func(t *testing.T) *Snapshot {
			s := cleanFleet(t)
			s.Server.AuditLogEnabled = false
			return s
		}, Options{}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Run(tt.snap(t), tt.opts)
			checks := map[string]bool{}
			for _, f := range got {
				checks[f.Check] = true
				if _, ok := LookupCheck(f.Check); !ok {
					t.Errorf("finding of unknown check %q", f.Check)
				}
				if len(f.Resources) == 0 || f.Evidence == "" || f.Remediation == "" || len(f.Standards) == 0 || f.Title == "" || f.Severity.Rank() == 0 {
					t.Errorf("incomplete finding %+v", f)
				}
			}
			if len(checks) < tt.checks {
				t.Errorf("%d distinct checks fired, want at least %d", len(checks), tt.checks)
			}
			if tt.checks == 0 && len(got) != 0 {
				t.Errorf("clean fleet has findings:\n%s", findingsJSON(t, got))
			}
			if !slices.IsSortedFunc(got, compareFindings) {
				t.Error("findings not sorted")
			}
			wardtest.Golden(t, "testdata/"+tt.name+".golden", findingsJSON(t, got))
		})
	}
}

// TestEveryCheckFires makes sure the fixtures exercise every check in
// the catalogue.
func TestEveryCheckFires(t *testing.T) {
	fired := map[string]bool{}
	for _, s := range []*Snapshot{fixtureFleet(t), func() *Snapshot {
		s := cleanFleet(t)
		s.Issuer = mustParse(t, loadCerts(t)["issuer"])
		s.Feeds = nil
		s.Server.AuditLogEnabled = false
		return s
	}()} {
		for _, f := range Run(s, Options{}) {
			fired[f.Check] = true
		}
	}
	for _, c := range Checks() {
		if !fired[c.ID] {
			t.Errorf("check %s never fires on the fixtures", c.ID)
		}
	}
}

func TestRunDeterministic(t *testing.T) {
	a := Run(fixtureFleet(t), Options{})
	b := Run(fixtureFleet(t), Options{})
	if d := cmp.Diff(a, b); d != "" {
		t.Errorf("two runs differ (-first +second):\n%s", d)
	}
}

func TestRunDisabled(t *testing.T) {
	got := Run(fixtureFleet(t), Options{Disabled: []string{CheckKEVExposure, CheckFirmwareVulnerable}})
	for _, f := range got {
		if f.Check == CheckKEVExposure || f.Check == CheckFirmwareVulnerable {
			t.Errorf("disabled check %s ran", f.Check)
		}
	}
}

func TestCatalogue(t *testing.T) {
	known := map[string]bool{}
	for _, s := range Standards() {
		for _, p := range s.Items {
			if known[p.ID] {
				t.Errorf("duplicate provision %s", p.ID)
			}
			known[p.ID] = true
			if standardOf(p.ID) != s.ID {
				t.Errorf("provision %s has the wrong prefix for %s", p.ID, s.ID)
			}
		}
	}
	ids := map[string]bool{}
	for _, c := range Checks() {
		if ids[c.ID] {
			t.Errorf("duplicate check id %s", c.ID)
		}
		ids[c.ID] = true
		if c.Title == "" || c.Description == "" || c.Remediation == "" || c.Severity.Rank() == 0 || c.Scope == "" {
			t.Errorf("check %s incomplete", c.ID)
		}
		for _, p := range c.Standards {
			if !known[p] {
				t.Errorf("check %s maps to unknown provision %q", c.ID, p)
			}
		}
	}
}
