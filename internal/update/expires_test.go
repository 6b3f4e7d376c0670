package update

import (
	"bytes"
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

// TestSitePublishSignsWithExpiries: a publish through Site signs targets,
// snapshot and timestamp with Site.Expiries, not the defaults (the
// server's update.*_expiry settings reach it this way).
func TestSitePublishSignsWithExpiries(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	now := time.Date(2026, 12, 6, 4, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	if _, err := InitSite(ctx, dir, nil, nil, Options{Now: clock}); err != nil {
		t.Fatal(err)
	}
	e := Expiries{Root: 400 * 24 * time.Hour, Targets: 50 * 24 * time.Hour, Snapshot: 5 * 24 * time.Hour, Timestamp: 13 * time.Hour, Delegation: 50 * 24 * time.Hour}
	site := Site{DataDir: dir, Expiries: e, Now: clock}
	if _, err := site.Publish(ctx, Release{Model: "acme-th1", Version: "1.0.0", File: "fw.bin"}, bytes.NewReader([]byte("firmware"))); err != nil {
		t.Fatal(err)
	}
	got, err := site.Expires(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Root is not re-signed by a publish: it keeps init's default.
	want := map[string]time.Duration{"root": DefaultExpiries.Root, "targets": e.Targets, "snapshot": e.Snapshot, "timestamp": e.Timestamp}
	for role, life := range want {
		if !got[role].Equal(now.Add(life)) {
			t.Errorf("%s expires %s, want %s", role, got[role], now.Add(life))
		}
	}
}
