package update

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestSiteExpires(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	now := time.Date(2026, 12, 6, 4, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	site := Site{DataDir: dir, Now: clock}
	if got, err := site.Expires(ctx); err != nil || got != nil {
		t.Fatalf("before ward update init: Expires = %v, %v; want nil, nil", got, err)
	}
	if _, err := InitSite(ctx, dir, nil, nil, Options{Now: clock}); err != nil {
		t.Fatal(err)
	}
	got, err := site.Expires(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d := DefaultExpiries
	want := map[string]time.Duration{"root": d.Root, "targets": d.Targets, "snapshot": d.Snapshot, "timestamp": d.Timestamp}
	if len(got) != len(want) {
		t.Fatalf("Expires = %v; want the four top-level roles", got)
	}
	for role, life := range want {
		if !got[role].Equal(now.Add(life)) {
			t.Errorf("%s expires %s, want %s", role, got[role], now.Add(life))
		}
	}
	// A root made offline, not yet finished by ward update init on the
	// server: no timestamp, so only root and targets are known.
	if err := os.Remove(filepath.Join(dir, SiteRepoDir, timestampFile)); err != nil {
		t.Fatal(err)
	}
	got, err = site.Expires(ctx)
	if err != nil || len(got) != 2 || got["timestamp"] != (time.Time{}) || got["root"].IsZero() {
		t.Errorf("without timestamp.json: Expires = %v, %v; want root and targets only", got, err)
	}
}
