package update

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func timestampOf(t *testing.T, dir string) *metadata.Metadata[metadata.TimestampType] {
	t.Helper()
	m, err := new(metadata.Metadata[metadata.TimestampType]).FromFile(filepath.Join(dir, timestampFile))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestResignerTimer drives the server's re-sign timer with an injected
// clock: nothing before half the timestamp's lifetime, a re-sign after it,
// and a loud failure (counter, Problem) when the timestamp key is gone,
// which clears once the key is back.
func TestResignerTimer(t *testing.T) {
	clk := &clock{t: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	f := newFixture(t, clk.Now)
	reg := prometheus.NewPedanticRegistry()
	rs, err := NewResigner(ResignerOptions{RepoDir: f.dir(), KeysDir: filepath.Join(f.dataDir, SiteKeysDir), Now: clk.Now, Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	v0 := timestampOf(t, f.dir()).Signed.Version

	steps := []struct {
		name    string
		advance time.Duration
		setup   func()
		resign  bool
		fail    bool
		problem string
	}{
		{name: "fresh", resign: false},
		{name: "11h59m: not yet", advance: 11*time.Hour + 59*time.Minute, resign: false},
		{name: "12h: half the day gone", advance: time.Minute, resign: true},
		{name: "without the timestamp key", advance: 12 * time.Hour, setup: func() { moveKeys(t, f, "timestamp", "hidden") },
			fail: true, problem: "expires at"},
		{name: "still failing once expired", advance: 13 * time.Hour, fail: true, problem: "expired at"},
		{name: "key back", setup: func() { moveKeys(t, f, "hidden", "timestamp") }, resign: true},
	}
	failures := 0.0
	for _, s := range steps {
		clk.Add(s.advance)
		if s.setup != nil {
			s.setup()
		}
		before := timestampOf(t, f.dir()).Signed.Version
		did, err := rs.Check(ctx)
		if (err != nil) != s.fail || did != s.resign {
			t.Fatalf("%s: Check = %v, %v; want resigned %v, failure %v", s.name, did, err, s.resign, s.fail)
		}
		if s.fail {
			failures++
		}
		if got := testutil.ToFloat64(rs.failures); got != failures {
			t.Errorf("%s: ward_update_resign_failures_total = %v, want %v", s.name, got, failures)
		}
		if p := rs.Problem(); (s.problem == "") != (p == "") || !strings.Contains(p, s.problem) {
			t.Errorf("%s: Problem() = %q, want it to mention %q", s.name, p, s.problem)
		}
		after := timestampOf(t, f.dir())
		if changed := after.Signed.Version != before; changed != s.resign {
			t.Errorf("%s: timestamp version %d → %d", s.name, before, after.Signed.Version)
		}
		if s.resign {
			if want := clk.Now().Add(DefaultExpiries.Timestamp); !after.Signed.Expires.Equal(want) {
				t.Errorf("%s: new timestamp expires %s, want %s", s.name, after.Signed.Expires, want)
			}
			if g := testutil.ToFloat64(rs.expiry); g != float64(after.Signed.Expires.Unix()) {
				t.Errorf("%s: expiry gauge %v", s.name, g)
			}
		}
	}
	if v := timestampOf(t, f.dir()).Signed.Version; v != v0+2 {
		t.Errorf("timestamp version %d after two re-signs from %d", v, v0)
	}
}

// moveKeys renames the key files whose name starts with from (a name
// without the .key extension is not loaded).
func moveKeys(t *testing.T, f *fixture, from, to string) {
	t.Helper()
	dir := filepath.Join(f.dataDir, SiteKeysDir)
	files, _ := filepath.Glob(filepath.Join(dir, from+"*"))
	if len(files) == 0 {
		t.Fatalf("no %s key in %s", from, dir)
	}
	for _, p := range files {
		name := to + strings.TrimPrefix(filepath.Base(p), from)
		if to == "hidden" {
			name += ".off"
		} else {
			name = strings.TrimSuffix(name, ".off")
		}
		if err := os.Rename(p, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestResignerWithoutRepository(t *testing.T) {
	dir := t.TempDir()
	rs, err := NewResigner(ResignerOptions{RepoDir: filepath.Join(dir, SiteRepoDir), KeysDir: filepath.Join(dir, SiteKeysDir)})
	if err != nil {
		t.Fatal(err)
	}
	if did, err := rs.Check(context.Background()); did || err != nil || rs.Problem() != "" {
		t.Fatalf("Check on no repository = %v, %v, problem %q", did, err, rs.Problem())
	}
}
