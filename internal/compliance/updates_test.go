package compliance

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/audit"
	"github.com/wardproject/ward/internal/pki"
	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/update"
	"github.com/wardproject/ward/internal/wardtest"
)

// TestUpdateFacts: the audit's update checks see the real repository
// (releases, notes, expiries) and the devices' reports from the rollouts:
// a model without signed firmware, a failed install with its reason, a
// device's later success superseding its earlier failure, and the
// timestamp expiring once ward serve stops re-signing it.
func TestUpdateFacts(t *testing.T) {
	ctx := context.Background()
	db := wardtest.SQLite(t)
	ca, err := pki.Open(ctx, pki.Options{Dir: t.TempDir(), Store: db})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	clock := now
	dataDir := t.TempDir()
	s, err := New(ctx, Options{Store: db, CA: ca, Firmware: update.Site{DataDir: dataDir}, Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	for id, d := range map[string][2]string{"th-1": {"acme-th1", "1.4.0"}, "th-2": {"acme-th1", "1.4.0"}, "th-3": {"acme-th1", "1.5.0"}, "cam-1": {"cam-x", "1.0"}} {
		if err := db.CreateDevice(ctx, store.Device{ID: id, Model: d[0], Firmware: d[1], Status: store.StatusActive, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	byCheck := func() map[string]string {
		t.Helper()
		fs, err := s.Run(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, f := range fs {
			out[f.Check] += f.Evidence + "\n"
		}
		return out
	}

	got := byCheck()
	if ev := got[audit.CheckModelNoSignedUpdates]; !strings.Contains(ev, "ward update init has not run") || !strings.Contains(ev, `"acme-th1"`) || !strings.Contains(ev, `"cam-x"`) {
		t.Errorf("before ward update init, every model lacks a signed update path; got:\n%s", ev)
	}

	repo, err := update.InitSite(ctx, dataDir, nil, nil, update.Options{Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	for _, rel := range []update.Release{{Model: "acme-th1", Version: "1.4.0", File: "fw.bin"}, {Model: "acme-th1", Version: "1.5.0", File: "fw.bin", Notes: "fixes CVE-2026-0001"}} {
		if _, err := repo.Publish(ctx, rel, strings.NewReader("fw "+rel.Version)); err != nil {
			t.Fatal(err)
		}
	}
	got = byCheck()
	if ev := got[audit.CheckModelNoSignedUpdates]; strings.Contains(ev, "acme-th1") || !strings.Contains(ev, `Ward's update repository holds no signed firmware for model "cam-x"`) {
		t.Errorf("model-no-signed-updates after publishing acme-th1: got:\n%s", ev)
	}
	if ev := got[audit.CheckModelUpdatesUnconfirmed]; !strings.Contains(ev, `model "acme-th1" has 2 releases signed (latest 1.5.0)`) {
		t.Errorf("no device has reported yet: got:\n%s", ev)
	}
	if ev := got[audit.CheckReleaseNotesMissing]; ev != "" {
		t.Errorf("the latest release has notes, got:\n%s", ev)
	}

	// Two rollouts of 1.5.0: th-1 fails in the first and succeeds in the
	// second; th-2 fails.
	for i, states := range []map[string]store.RolloutDeviceState{{"th-1": store.DeviceFailed, "th-2": store.DeviceFailed}, {"th-1": store.DeviceInstalled}} {
		id := []string{"ro-1", "ro-2"}[i]
		at := now.Add(time.Duration(i+1) * time.Minute)
		r := store.Rollout{ID: id, Model: "acme-th1", Version: "1.5.0", Waves: []float64{100}, MaxFailure: 2, Soak: time.Minute, Status: store.RolloutRunning, CreatedAt: at, UpdatedAt: at}
		var devs []store.RolloutDevice
		for dev := range states {
			devs = append(devs, store.RolloutDevice{DeviceID: dev, State: store.DevicePending, FromVersion: "1.4.0", UpdatedAt: at})
		}
		if err := db.CreateRollout(ctx, r, devs); err != nil {
			t.Fatal(err)
		}
		for dev, st := range states {
			if _, err := db.UpdateRolloutDevice(ctx, store.RolloutDeviceUpdate{RolloutID: id, DeviceID: dev, From: store.FailedFrom, State: st,
				Reason: map[store.RolloutDeviceState]string{store.DeviceFailed: "install command exited with status 3"}[st], Now: at}); err != nil {
				t.Fatal(err)
			}
		}
	}
	got = byCheck()
	if ev := got[audit.CheckUpdateFailed]; !strings.Contains(ev, `1 device of model "acme-th1" failed to install firmware 1.5.0; reasons: install command exited with status 3`) {
		t.Errorf("th-2 failed, th-1's later install supersedes its failure; got:\n%s", ev)
	}
	if ev := got[audit.CheckModelUpdatesUnconfirmed]; ev != "" {
		t.Errorf("devices have reported, got:\n%s", ev)
	}
	if ev := got[audit.CheckUpdateMetadataExpiring]; ev != "" {
		t.Errorf("fresh metadata reported as expiring:\n%s", ev)
	}

	// Nobody re-signs for 20 hours: the timestamp (1 day) has 4 left.
	clock = clock.Add(20 * time.Hour)
	if ev := byCheck()[audit.CheckUpdateMetadataExpiring]; !strings.Contains(ev, "timestamp metadata expires on") {
		t.Errorf("the timestamp has 4 hours left, got:\n%s", ev)
	}
	fs, err := s.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := audit.Score(fs, audit.StandardETSI, 4)
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]audit.ProvisionStatus{}
	for _, p := range sc.Provisions {
		status[p.Ref] = p.Status
	}
	for ref, want := range map[string]audit.ProvisionStatus{"5.3-10": audit.Fail, "5.3-9": audit.Fail, "5.3-11": audit.Pass, "5.3-12": audit.NotAssessed, "5.3-3": audit.Pass} {
		if status[ref] != want {
			t.Errorf("ETSI EN 303 645 %s: %s, want %s", ref, status[ref], want)
		}
	}
}
