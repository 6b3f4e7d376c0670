package sim_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/wardproject/ward/internal/rollout"
	"github.com/wardproject/ward/internal/sim"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"))
}

const window = 10 * time.Second

func start(t *testing.T) *sim.Stepped {
	t.Helper()
	st, err := sim.StartStepped(context.Background(), t.TempDir(), window)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("server: %v", err)
		}
	})
	return st
}

func run(t *testing.T, st *sim.Stepped, devices int, attacks map[string]int, rounds, attackAt int) *sim.Report {
	t.Helper()
	o := st.Options()
	o.Devices, o.Attacks, o.Duration, o.AttackAfter, o.Seed = devices, attacks, time.Duration(rounds)*window, time.Duration(attackAt)*window, 1
	rep, err := sim.Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	rep.Print(&b)
	t.Log("\n" + b.String())
	return rep
}

func allScenarios() map[string]int {
	attacks := map[string]int{}
	for s := range sim.Scenarios {
		attacks[s] = 1
	}
	return attacks
}

// TestScenariosDetected: every attack scenario raises its alert within two
// windows of the attack starting, and the benign devices raise none.
func TestScenariosDetected(t *testing.T) {
	rep := run(t, start(t), 9, allScenarios(), 16, 10)
	if len(rep.Scenarios) != len(sim.Scenarios) {
		t.Fatalf("%d scenarios reported, want %d", len(rep.Scenarios), len(sim.Scenarios))
	}
	for _, s := range rep.Scenarios {
		if s.Detected != s.Attacked {
			t.Errorf("%s: %d of %d attacked devices detected (%+v)", s.Scenario, s.Detected, s.Attacked, s.Devices)
			continue
		}
		if s.MaxWindowsToDetect > 2 {
			t.Errorf("%s: detected after %d windows, want within 2", s.Scenario, s.MaxWindowsToDetect)
		}
	}
	if rep.Benign.WithAlerts != 0 {
		t.Errorf("benign devices with alerts: %v", rep.Benign.Alerts)
	}
}

// TestBenignLongRun: a simulated hour of 18 benign devices (the baseline
// is learned and active for most of it) raises no alert.
func TestBenignLongRun(t *testing.T) {
	st := start(t)
	rep := run(t, st, 18, nil, 360, 1)
	if rep.Benign.WithAlerts != 0 {
		t.Errorf("%d benign devices alerted over %.0f device-hours: %v", rep.Benign.WithAlerts, rep.Benign.DeviceHours, rep.Benign.Alerts)
	}
	if rep.Benign.DeviceHours < 17.9 {
		t.Errorf("only %.1f device-hours simulated", rep.Benign.DeviceHours)
	}
	var b struct {
		Models []struct {
			Group string `json:"group"`
			Ready bool   `json:"ready"`
		} `json:"models"`
	}
	if err := st.API.Get(context.Background(), "/api/v1/baselines", &b); err != nil {
		t.Fatal(err)
	}
	ready := 0
	for _, m := range b.Models {
		if m.Ready {
			ready++
		}
	}
	if ready < 3 {
		t.Errorf("only %d of the 3 model baselines are ready after an hour: %+v", ready, b.Models)
	}
}

// TestBaselineAloneDetects: with the rules removed, the learned baseline
// (medium sensitivity) flags the flood, exfiltration and Mirai devices once
// it has learned, and no benign device.
func TestBaselineAloneDetects(t *testing.T) {
	st := start(t)
	err := st.API.DoRaw(context.Background(), "PUT", "/api/v1/profiles", "application/yaml",
		[]byte("name: baseline-only\nbaseline: {enabled: true, sensitivity: medium}\nrules: []\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	rep := run(t, st, 18, map[string]int{sim.Flood: 1, sim.Exfil: 1, sim.Mirai: 1}, 60, 50)
	for _, s := range rep.Scenarios {
		for _, d := range s.Devices {
			found := false
			for _, a := range d.Alerts {
				found = found || strings.HasPrefix(a, "baseline-anomaly@")
			}
			if !found {
				t.Errorf("%s: baseline did not flag %s (alerts %v)", s.Scenario, d.Device, d.Alerts)
			}
		}
	}
	if rep.Benign.WithAlerts != 0 {
		t.Errorf("benign devices flagged by the baseline: %v", rep.Benign.Alerts)
	}
}

// TestRolloutScenarios: on 60 simulated devices answering orders over
// MQTT, a good release reaches 100 %, a release on which 5 % fail halts
// at the first wave with a failure (any failure in a wave crosses 2 %),
// and a release whose updated devices turn Mirai-like halts on the alert
// gate.
func TestRolloutScenarios(t *testing.T) {
	st := start(t)
	ctx := context.Background()
	o, err := st.PrepareRollouts(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	o.Seed = 1
	rep, err := sim.RunRollout(ctx, o, sim.RolloutScenarios)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	rep.Print(&b)
	t.Log("\n" + b.String())
	got := map[string]sim.RolloutResult{}
	for _, r := range rep.Results {
		got[r.Scenario] = r
	}
	if g := got[sim.RolloutGood]; g.Status != "completed" || g.Devices["installed"] != 60 {
		t.Errorf("good release: %s, %v; want completed with 60 installed", g.Status, g.Devices)
	}
	f := got[sim.RolloutFailing]
	if f.Status != "halted" || !strings.Contains(f.Reason, "over the max-failure") || f.Devices["failed"] == 0 {
		t.Errorf("failing release: %s %q %v; want halted on failures", f.Status, f.Reason, f.Devices)
	}
	// It stops in the first wave that holds a failing device (any failure
	// in a wave of at most 30 devices is over 2 %), and no device of a
	// later wave gets an order. Which wave that is depends on the random
	// rollout ID (wave membership is a hash of it), so it is read back.
	var d rollout.Detail
	if err := o.API.Get(ctx, "/api/v1/rollouts/"+f.Rollout+"?limit=1000", &d); err != nil {
		t.Fatal(err)
	}
	firstFailed := 0
	for _, x := range d.DeviceList {
		if x.State == "failed" && (firstFailed == 0 || x.Wave < firstFailed) {
			firstFailed = x.Wave
		}
	}
	if firstFailed == 0 || f.Wave != firstFailed {
		t.Errorf("failing release halted in wave %d; the first failure is in wave %d", f.Wave, firstFailed)
	}
	for _, x := range d.DeviceList {
		if x.Wave > f.Wave && !x.OrderedAt.IsZero() {
			t.Errorf("device %s of wave %d got an order after the halt in wave %d", x.Device, x.Wave, f.Wave)
		}
	}
	if m := got[sim.RolloutMirai]; m.Status != "halted" || !strings.Contains(m.Reason, "alert") || m.Wave != 1 {
		t.Errorf("mirai release: %s in wave %d %q; want halted on the alert gate in wave 1", m.Status, m.Wave, m.Reason)
		// What the gate saw, so that a failure explains itself: the
		// updated devices with their waves and times, and the alerts.
		var md rollout.Detail
		if err := o.API.Get(ctx, "/api/v1/rollouts/"+m.Rollout+"?limit=1000", &md); err == nil {
			for _, x := range md.DeviceList {
				if !x.OrderedAt.IsZero() {
					t.Logf("mirai device %s wave %d state %s ordered %s installed %s", x.Device, x.Wave, x.State, x.OrderedAt.Format(time.RFC3339Nano), x.InstalledAt.Format(time.RFC3339Nano))
				}
			}
			for _, h := range md.History {
				t.Logf("mirai history %+v", h)
			}
		}
		var as []map[string]any
		if err := o.API.Get(ctx, "/api/v1/alerts?state=open,acknowledged,cleared", &as); err == nil {
			for _, a := range as {
				t.Logf("alert %v %v %v raised %v updated %v count %v", a["id"], a["device"], a["rule"], a["raised_at"], a["updated_at"], a["count"])
			}
		}
	}
}
