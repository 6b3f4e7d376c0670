package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wardproject/ward/internal/store"
)

// TestUpdates is the conformance suite of the Updates contract: rollouts,
// their devices, conditional per-device changes and their races.
func TestUpdates(t *testing.T, open func(t *testing.T) store.Store) {
	runAll(t, open, []subtest{
		{"create-get-list", testRolloutCreate},
		{"transitions", testRolloutTransitions},
		{"device-states", testRolloutDeviceStates},
		{"device-listing", testRolloutDeviceListing},
		{"counts", testRolloutCounts},
		{"concurrent-reports", testRolloutConcurrentReports},
		{"concurrent-abort-order", testRolloutConcurrentAbortOrder},
		{"concurrent-advance", testRolloutConcurrentAdvance},
	})
}

// newRollout stores a running rollout in wave 0 with n devices spread
// over three waves (device i in wave i%3), named d-00, d-01...
func newRollout(t *testing.T, s store.Store, id string, n int, at time.Time) store.Rollout {
	t.Helper()
	r := store.Rollout{ID: id, Model: "acme-th1", Version: "1.5.0", Waves: []float64{1, 50, 100}, MaxFailure: 2, HaltOnAlerts: "high",
		Soak: 10 * time.Minute, Status: store.RolloutRunning, WaveStartedAt: at, CreatedBy: "tok-1", CreatedAt: at, UpdatedAt: at}
	devs := make([]store.RolloutDevice, n)
	for i := range devs {
		devs[i] = store.RolloutDevice{DeviceID: fmt.Sprintf("d-%02d", i), Wave: i % 3, State: store.DevicePending, FromVersion: "1.4.0", UpdatedAt: at}
	}
	if err := s.CreateRollout(context.Background(), r, devs); err != nil {
		t.Fatal(err)
	}
	return r
}

func testRolloutCreate(t *testing.T, s store.Store) {
	ctx := context.Background()
	r := newRollout(t, s, "ro-1", 4, t0)
	got, err := s.GetRollout(ctx, "ro-1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r, got); diff != "" {
		t.Errorf("GetRollout (-want +got):\n%s", diff)
	}
	if err := s.CreateRollout(ctx, r, nil); !errors.Is(err, store.ErrConflict) {
		t.Errorf("duplicate rollout: got %v, want ErrConflict", err)
	}
	if _, err := s.GetRollout(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown rollout: got %v, want ErrNotFound", err)
	}
	bad := []struct {
		name string
		r    store.Rollout
		devs []store.RolloutDevice
	}{
		{"no-waves", store.Rollout{ID: "b1", Model: "m", Version: "1", Status: store.RolloutRunning}, nil},
		{"bad-status", store.Rollout{ID: "b2", Model: "m", Version: "1", Waves: []float64{100}, Status: "flying"}, nil},
		{"twice", store.Rollout{ID: "b3", Model: "m", Version: "1", Waves: []float64{100}, Status: store.RolloutRunning},
			[]store.RolloutDevice{{DeviceID: "x", State: store.DevicePending}, {DeviceID: "x", State: store.DevicePending}}},
		{"bad-state", store.Rollout{ID: "b4", Model: "m", Version: "1", Waves: []float64{100}, Status: store.RolloutRunning},
			[]store.RolloutDevice{{DeviceID: "x", State: "sleeping"}}},
		{"bad-wave", store.Rollout{ID: "b5", Model: "m", Version: "1", Waves: []float64{100}, Status: store.RolloutRunning},
			[]store.RolloutDevice{{DeviceID: "x", State: store.DevicePending, Wave: 1}}},
	}
	for _, b := range bad {
		if err := s.CreateRollout(ctx, b.r, b.devs); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: got %v, want ErrInvalid", b.name, err)
		}
		if _, err := s.GetRollout(ctx, b.r.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: a refused rollout was stored (%v)", b.name, err)
		}
	}
	newRollout(t, s, "ro-2", 1, t0.Add(time.Hour))
	other := store.Rollout{ID: "ro-3", Model: "other", Version: "2", Waves: []float64{100}, Status: store.RolloutRunning, CreatedAt: t0.Add(2 * time.Hour)}
	if err := s.CreateRollout(ctx, other, nil); err != nil {
		t.Fatal(err)
	}
	ids := func(rs []store.Rollout) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	for _, tt := range []struct {
		name string
		f    store.RolloutFilter
		want []string
	}{
		{"all-newest-first", store.RolloutFilter{}, []string{"ro-3", "ro-2", "ro-1"}},
		{"limit", store.RolloutFilter{Limit: 1}, []string{"ro-3"}},
		{"model", store.RolloutFilter{Model: "acme-th1"}, []string{"ro-2", "ro-1"}},
		{"status", store.RolloutFilter{Statuses: []store.RolloutStatus{store.RolloutHalted}}, nil},
	} {
		got, err := s.ListRollouts(ctx, tt.f)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, ids(got)); diff != "" {
			t.Errorf("ListRollouts %s (-want +got):\n%s", tt.name, diff)
		}
	}
	h, err := s.RolloutHistory(ctx, "ro-1")
	if err != nil || len(h) != 1 || h[0].Action != "create" || h[0].Actor != "tok-1" || !h[0].Time.Equal(t0) {
		t.Errorf("history after create = %+v, %v", h, err)
	}
}

func testRolloutTransitions(t *testing.T, s store.Store) {
	ctx := context.Background()
	newRollout(t, s, "ro-1", 6, t0)
	t1 := t0.Add(time.Minute)
	r, err := s.TransitionRollout(ctx, store.RolloutTransition{RolloutID: "ro-1", Action: "pause", Actor: "op",
		From: []store.RolloutStatus{store.RolloutRunning}, To: store.RolloutPaused, Now: t1})
	if err != nil || r.Status != store.RolloutPaused || !r.UpdatedAt.Equal(t1) || r.Wave != 0 {
		t.Fatalf("pause: %+v, %v", r, err)
	}
	var se *store.RolloutStateError
	if _, err := s.TransitionRollout(ctx, store.RolloutTransition{RolloutID: "ro-1", Action: "pause",
		From: []store.RolloutStatus{store.RolloutRunning}, To: store.RolloutPaused, Now: t1}); !errors.As(err, &se) || se.Status != store.RolloutPaused || !errors.Is(err, store.ErrConflict) {
		t.Errorf("pause twice: got %v, want a RolloutStateError naming paused", err)
	}
	if _, err := s.TransitionRollout(ctx, store.RolloutTransition{RolloutID: "nope", Action: "pause",
		From: []store.RolloutStatus{store.RolloutRunning}, To: store.RolloutPaused, Now: t1}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown rollout: got %v, want ErrNotFound", err)
	}
	if _, err := s.TransitionRollout(ctx, store.RolloutTransition{RolloutID: "ro-1", Action: "x", To: store.RolloutPaused, Now: t1}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("no precondition: got %v, want ErrInvalid", err)
	}
	// next: the wave precondition holds once.
	t2 := t0.Add(2 * time.Minute)
	next := store.RolloutTransition{RolloutID: "ro-1", Action: "next", Actor: "op", From: []store.RolloutStatus{store.RolloutRunning, store.RolloutPaused},
		CheckWave: true, FromWave: 0, To: store.RolloutRunning, StartWave: true, Wave: 1, Now: t2}
	if r, err = s.TransitionRollout(ctx, next); err != nil || r.Wave != 1 || !r.WaveStartedAt.Equal(t2) || r.Status != store.RolloutRunning {
		t.Fatalf("next: %+v, %v", r, err)
	}
	if _, err := s.TransitionRollout(ctx, next); !errors.As(err, &se) || se.Wave != 1 {
		t.Errorf("next from a wave already left: got %v, want a RolloutStateError in wave 1", err)
	}
	// halt keeps its reason; abort moves pending devices to aborted and
	// leaves the others alone.
	if _, err := s.UpdateRolloutDevice(ctx, store.RolloutDeviceUpdate{RolloutID: "ro-1", DeviceID: "d-00", From: store.InstalledFrom,
		State: store.DeviceInstalled, InstalledAt: t2, Now: t2}); err != nil {
		t.Fatal(err)
	}
	if r, err = s.TransitionRollout(ctx, store.RolloutTransition{RolloutID: "ro-1", Action: "halt", Actor: "system",
		From: []store.RolloutStatus{store.RolloutRunning}, To: store.RolloutHalted, Reason: "2 of 2 failed", Now: t2}); err != nil || r.Reason != "2 of 2 failed" {
		t.Fatalf("halt: %+v, %v", r, err)
	}
	if r, err = s.TransitionRollout(ctx, store.RolloutTransition{RolloutID: "ro-1", Action: "abort", Actor: "op",
		From: []store.RolloutStatus{store.RolloutRunning, store.RolloutPaused, store.RolloutHalted}, To: store.RolloutAborted,
		Reason: "aborted by op", AbortPending: true, Now: t2}); err != nil || r.Status != store.RolloutAborted {
		t.Fatalf("abort: %+v, %v", r, err)
	}
	devs, err := s.ListRolloutDevices(ctx, store.RolloutDeviceFilter{RolloutID: "ro-1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range devs {
		want := store.DeviceAborted
		if d.DeviceID == "d-00" {
			want = store.DeviceInstalled
		}
		if d.State != want {
			t.Errorf("after abort %s is %s, want %s", d.DeviceID, d.State, want)
		}
	}
	h, err := s.RolloutHistory(ctx, "ro-1")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range h {
		got = append(got, fmt.Sprintf("%s:%s:%d", e.Action, e.Status, e.Wave))
	}
	if diff := cmp.Diff([]string{"create:running:0", "pause:paused:0", "next:running:1", "halt:halted:1", "abort:aborted:1"}, got); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
}

func testRolloutDeviceStates(t *testing.T, s store.Store) {
	ctx := context.Background()
	newRollout(t, s, "ro-1", 3, t0)
	t1 := t0.Add(time.Minute)
	upd := func(dev string, from []store.RolloutDeviceState, to store.RolloutDeviceState) (store.RolloutDevice, error) {
		return s.UpdateRolloutDevice(ctx, store.RolloutDeviceUpdate{RolloutID: "ro-1", DeviceID: dev, From: from, State: to, Reason: "r-" + string(to), Now: t1})
	}
	steps := []struct {
		from []store.RolloutDeviceState
		to   store.RolloutDeviceState
		ok   bool
	}{
		{store.DownloadingFrom, store.DeviceDownloading, true},
		{store.DownloadingFrom, store.DeviceDownloading, false}, // a duplicate changes nothing
		{store.InstallingFrom, store.DeviceInstalling, true},
		{store.DownloadingFrom, store.DeviceDownloading, false}, // late: never backwards
		{store.InstalledFrom, store.DeviceInstalled, true},
		{store.InstallingFrom, store.DeviceInstalling, false},
		{store.FailedFrom, store.DeviceFailed, false}, // installed is final
	}
	for i, st := range steps {
		d, err := upd("d-00", st.from, st.to)
		var de *store.DeviceStateError
		switch {
		case st.ok && err != nil:
			t.Fatalf("step %d → %s: %v", i, st.to, err)
		case !st.ok && (!errors.As(err, &de) || !errors.Is(err, store.ErrConflict)):
			t.Fatalf("step %d → %s: got %v, want a DeviceStateError", i, st.to, err)
		case !st.ok && de.State != d.State:
			t.Errorf("step %d: error names %s, record is %s", i, de.State, d.State)
		}
	}
	if d, _ := s.GetRolloutDevice(ctx, "ro-1", "d-00"); d.State != store.DeviceInstalled || d.Reason != "r-installed" || !d.UpdatedAt.Equal(t1) {
		t.Errorf("d-00 = %+v, want installed", d)
	}
	// Timestamps only: From nil means any state that is not final.
	if d, err := s.UpdateRolloutDevice(ctx, store.RolloutDeviceUpdate{RolloutID: "ro-1", DeviceID: "d-01", OrderedAt: t1, Now: t1}); err != nil || !d.OrderedAt.Equal(t1) || d.State != store.DevicePending {
		t.Errorf("order d-01: %+v, %v", d, err)
	}
	if _, err := s.UpdateRolloutDevice(ctx, store.RolloutDeviceUpdate{RolloutID: "ro-1", DeviceID: "d-00", OrderedAt: t1, Now: t1}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("ordering an installed device: got %v, want ErrConflict", err)
	}
	if d, err := s.UpdateRolloutDevice(ctx, store.RolloutDeviceUpdate{RolloutID: "ro-1", DeviceID: "d-00", From: []store.RolloutDeviceState{store.DeviceInstalled},
		SeenAt: t1.Add(time.Second), Now: t1}); err != nil || !d.SeenAt.Equal(t1.Add(time.Second)) || d.State != store.DeviceInstalled {
		t.Errorf("seen d-00: %+v, %v", d, err)
	}
	// Unknown device or rollout: not found.
	if _, err := upd("d-99", store.DownloadingFrom, store.DeviceDownloading); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("device not in the rollout: got %v, want ErrNotFound", err)
	}
	if _, err := s.GetRolloutDevice(ctx, "ro-2", "d-00"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown rollout device: got %v, want ErrNotFound", err)
	}
	// The rollout-status precondition: no order while paused.
	if _, err := s.TransitionRollout(ctx, store.RolloutTransition{RolloutID: "ro-1", Action: "pause",
		From: []store.RolloutStatus{store.RolloutRunning}, To: store.RolloutPaused, Now: t1}); err != nil {
		t.Fatal(err)
	}
	var de *store.DeviceStateError
	if _, err := s.UpdateRolloutDevice(ctx, store.RolloutDeviceUpdate{RolloutID: "ro-1", DeviceID: "d-02", From: []store.RolloutDeviceState{store.DevicePending},
		RolloutStatuses: []store.RolloutStatus{store.RolloutRunning}, OrderedAt: t1, Now: t1}); !errors.As(err, &de) || de.Status != store.RolloutPaused {
		t.Errorf("order while paused: got %v, want a DeviceStateError naming paused", err)
	}
	// Aborted devices stay aborted: no later report moves them.
	if _, err := s.TransitionRollout(ctx, store.RolloutTransition{RolloutID: "ro-1", Action: "abort",
		From: []store.RolloutStatus{store.RolloutPaused}, To: store.RolloutAborted, AbortPending: true, Now: t1}); err != nil {
		t.Fatal(err)
	}
	for _, to := range []store.RolloutDeviceState{store.DeviceDownloading, store.DeviceInstalling, store.DeviceInstalled, store.DeviceFailed} {
		from := map[store.RolloutDeviceState][]store.RolloutDeviceState{store.DeviceDownloading: store.DownloadingFrom,
			store.DeviceInstalling: store.InstallingFrom, store.DeviceInstalled: store.InstalledFrom, store.DeviceFailed: store.FailedFrom}[to]
		if _, err := upd("d-02", from, to); !errors.Is(err, store.ErrConflict) {
			t.Errorf("aborted device → %s: got %v, want ErrConflict", to, err)
		}
	}
	if d, _ := s.GetRolloutDevice(ctx, "ro-1", "d-02"); d.State != store.DeviceAborted {
		t.Errorf("aborted device is now %s", d.State)
	}
}

func testRolloutDeviceListing(t *testing.T, s store.Store) {
	ctx := context.Background()
	newRollout(t, s, "ro-a", 7, t0)
	newRollout(t, s, "ro-b", 2, t0)
	if _, err := s.TransitionRollout(ctx, store.RolloutTransition{RolloutID: "ro-b", Action: "pause",
		From: []store.RolloutStatus{store.RolloutRunning}, To: store.RolloutPaused, Now: t0}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateRolloutDevice(ctx, store.RolloutDeviceUpdate{RolloutID: "ro-a", DeviceID: "d-03", From: store.FailedFrom,
		State: store.DeviceFailed, Reason: "hash mismatch", Now: t0}); err != nil {
		t.Fatal(err)
	}
	keys := func(ds []store.RolloutDevice) []string {
		var out []string
		for _, d := range ds {
			out = append(out, d.RolloutID+"/"+d.DeviceID)
		}
		return out
	}
	for _, tt := range []struct {
		name string
		f    store.RolloutDeviceFilter
		want []string
	}{
		{"rollout", store.RolloutDeviceFilter{RolloutID: "ro-b"}, []string{"ro-b/d-00", "ro-b/d-01"}},
		{"wave", store.RolloutDeviceFilter{RolloutID: "ro-a", Waves: []int{1}}, []string{"ro-a/d-01", "ro-a/d-04"}},
		{"state", store.RolloutDeviceFilter{States: []store.RolloutDeviceState{store.DeviceFailed}}, []string{"ro-a/d-03"}},
		{"device", store.RolloutDeviceFilter{DeviceID: "d-01"}, []string{"ro-a/d-01", "ro-b/d-01"}},
		{"running-only", store.RolloutDeviceFilter{DeviceID: "d-01", RolloutStatuses: []store.RolloutStatus{store.RolloutRunning}}, []string{"ro-a/d-01"}},
		{"page", store.RolloutDeviceFilter{After: "ro-a\x00d-05", Limit: 2}, []string{"ro-a/d-06", "ro-b/d-00"}},
	} {
		got, err := s.ListRolloutDevices(ctx, tt.f)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, keys(got)); diff != "" {
			t.Errorf("ListRolloutDevices %s (-want +got):\n%s", tt.name, diff)
		}
	}
	// Paging walks every row once.
	var all []string
	for f := (store.RolloutDeviceFilter{Limit: 2}); ; {
		page, err := s.ListRolloutDevices(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, keys(page)...)
		if len(page) < f.Limit {
			break
		}
		f.After = page[len(page)-1].Cursor()
	}
	if len(all) != 9 {
		t.Errorf("paging returned %d rows, want 9: %v", len(all), all)
	}
	d, err := s.GetRolloutDevice(ctx, "ro-a", "d-03")
	if err != nil || d.Reason != "hash mismatch" || d.FromVersion != "1.4.0" || d.Wave != 0 {
		t.Errorf("GetRolloutDevice = %+v, %v", d, err)
	}
}

func testRolloutCounts(t *testing.T, s store.Store) {
	ctx := context.Background()
	r := store.Rollout{ID: "ro-c", Model: "m", Version: "2", Waves: []float64{10, 50, 100}, Status: store.RolloutRunning, CreatedAt: t0}
	devs := []store.RolloutDevice{
		{DeviceID: "a", Wave: 0, State: store.DevicePending},
		{DeviceID: "b", Wave: 0, State: store.DeviceSkipped, Reason: "already current"},
		{DeviceID: "c", Wave: 1, State: store.DevicePending},
		{DeviceID: "d", Wave: 1, State: store.DevicePending},
	}
	if err := s.CreateRollout(ctx, r, devs); err != nil {
		t.Fatal(err)
	}
	for i, id := range []string{"a", "c"} {
		at := t0.Add(time.Duration(i+1) * time.Minute)
		if _, err := s.UpdateRolloutDevice(ctx, store.RolloutDeviceUpdate{RolloutID: "ro-c", DeviceID: id, From: store.InstalledFrom,
			State: store.DeviceInstalled, InstalledAt: at, Now: at}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.CountRolloutDevices(ctx, "ro-c")
	if err != nil {
		t.Fatal(err)
	}
	want := []store.WaveCount{
		{Wave: 0, Total: 2, States: map[store.RolloutDeviceState]int{store.DeviceInstalled: 1, store.DeviceSkipped: 1}, LastInstalledAt: t0.Add(time.Minute)},
		{Wave: 1, Total: 2, States: map[store.RolloutDeviceState]int{store.DeviceInstalled: 1, store.DevicePending: 1}, LastInstalledAt: t0.Add(2 * time.Minute)},
		{Wave: 2, States: map[store.RolloutDeviceState]int{}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CountRolloutDevices (-want +got):\n%s", diff)
	}
	if _, err := s.CountRolloutDevices(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown rollout: got %v, want ErrNotFound", err)
	}
}

// race runs fns at once and returns their errors.
func race(fns ...func() error) []error {
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, fn := range fns {
		wg.Add(1)
		go func() { defer wg.Done(); <-start; errs[i] = fn() }()
	}
	close(start)
	wg.Wait()
	return errs
}

// testRolloutConcurrentReports: whatever order reports of one device land
// in, the furthest state wins (a late downloading never overwrites
// installed), and of installed and failed exactly one sticks.
func testRolloutConcurrentReports(t *testing.T, s store.Store) {
	ctx := context.Background()
	const rounds = 12
	newRollout(t, s, "ro-r", rounds, t0)
	report := func(dev string, from []store.RolloutDeviceState, to store.RolloutDeviceState) func() error {
		return func() error {
			_, err := s.UpdateRolloutDevice(ctx, store.RolloutDeviceUpdate{RolloutID: "ro-r", DeviceID: dev, From: from, State: to, Now: t0})
			return err
		}
	}
	for i := range rounds {
		dev := fmt.Sprintf("d-%02d", i)
		var errs []error
		want := store.DeviceInstalled
		if i%2 == 0 {
			errs = race(report(dev, store.DownloadingFrom, store.DeviceDownloading), report(dev, store.InstallingFrom, store.DeviceInstalling),
				report(dev, store.InstalledFrom, store.DeviceInstalled))
		} else {
			errs = race(report(dev, store.InstalledFrom, store.DeviceInstalled), report(dev, store.FailedFrom, store.DeviceFailed))
			if errs[0] != nil {
				want = store.DeviceFailed
			}
			if (errs[0] == nil) == (errs[1] == nil) {
				t.Errorf("%s: installed (%v) and failed (%v): exactly one must win", dev, errs[0], errs[1])
			}
		}
		for _, err := range errs {
			if err != nil && !errors.Is(err, store.ErrConflict) {
				t.Errorf("%s: unexpected error %v", dev, err)
			}
		}
		if d, _ := s.GetRolloutDevice(ctx, "ro-r", dev); d.State != want {
			t.Errorf("%s: final state %s, want %s (errors %v)", dev, d.State, want, errs)
		}
	}
}

// testRolloutConcurrentAbortOrder: an order recorded at the same time as
// an abort either lands before it (and its device is then aborted) or is
// refused; no device is left ordered and pending in an aborted rollout.
func testRolloutConcurrentAbortOrder(t *testing.T, s store.Store) {
	ctx := context.Background()
	const n = 10
	for round := range 3 {
		id := fmt.Sprintf("ro-x%d", round)
		newRollout(t, s, id, n, t0)
		fns := []func() error{func() error {
			_, err := s.TransitionRollout(ctx, store.RolloutTransition{RolloutID: id, Action: "abort",
				From: []store.RolloutStatus{store.RolloutRunning}, To: store.RolloutAborted, AbortPending: true, Now: t0})
			return err
		}}
		for i := range n {
			fns = append(fns, func() error {
				_, err := s.UpdateRolloutDevice(ctx, store.RolloutDeviceUpdate{RolloutID: id, DeviceID: fmt.Sprintf("d-%02d", i),
					From: []store.RolloutDeviceState{store.DevicePending}, RolloutStatuses: []store.RolloutStatus{store.RolloutRunning}, OrderedAt: t0, Now: t0})
				return err
			})
		}
		errs := race(fns...)
		if errs[0] != nil {
			t.Fatalf("abort: %v", errs[0])
		}
		for i, err := range errs[1:] {
			if err != nil && !errors.Is(err, store.ErrConflict) {
				t.Errorf("order %d: unexpected error %v", i, err)
			}
		}
		devs, err := s.ListRolloutDevices(ctx, store.RolloutDeviceFilter{RolloutID: id})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range devs {
			if d.State != store.DeviceAborted {
				t.Errorf("%s/%s is %s after abort", id, d.DeviceID, d.State)
			}
		}
	}
}

// testRolloutConcurrentAdvance: two advances of the same wave at once
// start the next wave once.
func testRolloutConcurrentAdvance(t *testing.T, s store.Store) {
	ctx := context.Background()
	for round := range 5 {
		id := fmt.Sprintf("ro-n%d", round)
		newRollout(t, s, id, 1, t0)
		next := func() error {
			_, err := s.TransitionRollout(ctx, store.RolloutTransition{RolloutID: id, Action: "next", From: []store.RolloutStatus{store.RolloutRunning},
				CheckWave: true, FromWave: 0, To: store.RolloutRunning, StartWave: true, Wave: 1, Now: t0})
			return err
		}
		errs := race(next, next, next)
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else if !errors.Is(err, store.ErrConflict) {
				t.Errorf("next: unexpected error %v", err)
			}
		}
		if ok != 1 {
			t.Errorf("%s: %d advances of wave 1 succeeded, want 1", id, ok)
		}
		h, _ := s.RolloutHistory(ctx, id)
		if len(h) != 2 {
			t.Errorf("%s: %d history entries, want 2 (create, next)", id, len(h))
		}
	}
}
