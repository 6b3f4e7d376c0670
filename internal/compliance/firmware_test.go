package compliance

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wardproject/ward/internal/audit"
	"github.com/wardproject/ward/internal/pki"
	"github.com/wardproject/ward/internal/report"
	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/update"
	"github.com/wardproject/ward/internal/wardtest"
)

// TestLatestFirmwareFromRepository: the audit takes a model's latest
// firmware, and when it was published, from the TUF repository (over a
// stale manual value), keeps the manual value for a model the repository
// does not know, flags devices behind it, and the report counts each
// model's patch level.
func TestLatestFirmwareFromRepository(t *testing.T) {
	ctx := context.Background()
	db := wardtest.SQLite(t)
	ca, err := pki.Open(ctx, pki.Options{Dir: t.TempDir(), Store: db})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	clk := now.Add(-400 * 24 * time.Hour)
	dataDir := t.TempDir()
	repo, err := update.InitSite(ctx, dataDir, nil, nil, update.Options{Now: func() time.Time { return clk }})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"1.4.0", "1.5.0"} {
		if _, err := repo.Publish(ctx, update.Release{Model: "acme-th1", Version: v, File: "fw.bin"}, strings.NewReader("fw "+v)); err != nil {
			t.Fatal(err)
		}
		clk = clk.Add(300 * 24 * time.Hour) // 1.5.0 published 100 days ago, 300 after 1.4.0
	}
	s, err := New(ctx, Options{Store: db, CA: ca, Firmware: update.Site{DataDir: dataDir}, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	// Manual values: a stale one the repository overrides, one it keeps.
	if err := s.SetModel(ctx, audit.Model{Name: "acme-th1", LatestFirmware: "1.0.0", LatestFirmwareReleased: now.Add(-900 * 24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetModel(ctx, audit.Model{Name: "acme-gw1", LatestFirmware: "3.3.0"}); err != nil {
		t.Fatal(err)
	}
	for id, d := range map[string][2]string{"th-1": {"acme-th1", "1.5.0"}, "th-2": {"acme-th1", "1.5"}, "th-3": {"acme-th1", "1.4.0"},
		"th-4": {"acme-th1", "custom-build"}, "gw-1": {"acme-gw1", "3.2.0"}} {
		if err := db.CreateDevice(ctx, store.Device{ID: id, Model: d[0], Firmware: d[1], Status: store.StatusActive, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}

	snap, err := s.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]audit.Model{}
	for _, m := range snap.Models {
		got[m.Name] = m
	}
	th1 := got["acme-th1"]
	// th-2's "1.5" is the published 1.5.0: filed under its date too.
	if th1.LatestFirmware != "1.5.0" || !th1.LatestFirmwareReleased.Equal(now.Add(-100*24*time.Hour)) || len(th1.Releases) != 3 ||
		!th1.Releases["1.5"].Equal(th1.Releases["1.5.0"]) || th1.Releases["1.4.0"].IsZero() {
		t.Errorf("acme-th1 = %+v, want 1.5.0 from the repository, published 100 days ago, with 2 releases and 1.5 filed as 1.5.0", th1)
	}
	if gw := got["acme-gw1"]; gw.LatestFirmware != "3.3.0" {
		t.Errorf("acme-gw1 = %+v, want the manual 3.3.0", gw)
	}
	fs, err := s.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	outdated := ""
	for _, f := range fs {
		if f.Check == audit.CheckFirmwareOutdated && strings.Contains(f.Evidence, "acme-th1") {
			outdated += f.Evidence + "\n"
		}
	}
	if !strings.Contains(outdated, "firmware 1.4.0") || !strings.Contains(outdated, "1.5.0") {
		t.Errorf("no firmware-outdated finding for acme-th1 1.4.0 against the published 1.5.0:\n%s", outdated)
	}

	var buf bytes.Buffer
	if _, err := s.Report(ctx, &buf, audit.StandardETSI, "json"); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Fleet struct{ Models []report.ModelSummary } `json:"fleet"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	want := []report.ModelSummary{
		{Name: "acme-gw1", Devices: 1, LatestFirmware: "3.3.0", LatestFirmwareSource: LatestFromManual, PatchLevel: &report.PatchLevel{Behind: 1}},
		{Name: "acme-th1", Devices: 4, LatestFirmware: "1.5.0", LatestFirmwareReleased: now.Add(-100 * 24 * time.Hour),
			LatestFirmwareSource: LatestFromRepository, PatchLevel: &report.PatchLevel{OnLatest: 2, Behind: 1, Other: 1}},
	}
	if d := cmp.Diff(want, doc.Fleet.Models); d != "" {
		t.Errorf("report models (-want +got):\n%s", d)
	}
}

func TestPatchLevel(t *testing.T) {
	tests := []struct {
		name   string
		latest string
		fw     []string
		want   *report.PatchLevel
	}{
		{"no latest", "", []string{"1.0"}, nil},
		{"same release spelled shorter", "1.5.0", []string{"1.5", "v1.5.0", "1.5.0+b7"}, &report.PatchLevel{OnLatest: 3}},
		{"behind, newer, unorderable", "1.5.0", []string{"1.4.9", "1.5.0-rc.1", "1.6.0", "", "beta"}, &report.PatchLevel{Behind: 2, Other: 3}},
		{"unorderable latest, same string", "build-7", []string{"build-7", "build-6"}, &report.PatchLevel{OnLatest: 1, Other: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d := cmp.Diff(tt.want, patchLevel(tt.latest, tt.fw)); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

// TestSameReleaseSpelledShorterIsNotOutdated: a device reporting 1.5 runs
// the published 1.5.0, the latest: not outdated, however long ago 1.5.0
// came out; a device on 1.4 (the published 1.4.0) is behind by the
// releases' dates.
func TestSameReleaseSpelledShorterIsNotOutdated(t *testing.T) {
	ctx := context.Background()
	db := wardtest.SQLite(t)
	ca, err := pki.Open(ctx, pki.Options{Dir: t.TempDir(), Store: db})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	clk := now.Add(-400 * 24 * time.Hour)
	dataDir := t.TempDir()
	repo, err := update.InitSite(ctx, dataDir, nil, nil, update.Options{Now: func() time.Time { return clk }})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"1.4.0", "1.5.0"} {
		if _, err := repo.Publish(ctx, update.Release{Model: "acme-th1", Version: v, File: "fw.bin", Notes: "n"}, strings.NewReader("fw "+v)); err != nil {
			t.Fatal(err)
		}
		clk = clk.Add(200 * 24 * time.Hour) // 1.5.0 published 200 days ago, 200 after 1.4.0
	}
	s, err := New(ctx, Options{Store: db, CA: ca, Firmware: update.Site{DataDir: dataDir}, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	for id, fw := range map[string]string{"th-new": "1.5", "th-old": "1.4"} {
		if err := db.CreateDevice(ctx, store.Device{ID: id, Model: "acme-th1", Firmware: fw, Status: store.StatusActive, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	fs, err := s.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var outdated []string
	for _, f := range fs {
		if f.Check == audit.CheckFirmwareOutdated {
			outdated = append(outdated, f.Evidence)
		}
	}
	if len(outdated) != 1 || !strings.Contains(outdated[0], "firmware 1.4 (released") || !strings.Contains(outdated[0], "200 days older than the latest 1.5.0") {
		t.Errorf("firmware-outdated: %q; want only the device on 1.4, 200 days behind 1.5.0", outdated)
	}
}
