package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/wardproject/ward/internal/rollout"
	"github.com/wardproject/ward/internal/update"
)

// Rollout scenarios, as `ward simulate --rollout` takes them.
const (
	RolloutGood    = "good"    // every device installs the release
	RolloutFailing = "failing" // FailShare % of the devices fail to install it
	RolloutMirai   = "mirai"   // updated devices start a Mirai-like behaviour
)

// RolloutScenarios lists the rollout scenarios in the order they run.
var RolloutScenarios = []string{RolloutGood, RolloutFailing, RolloutMirai}

// RolloutOptions configure a rollout simulation: a fleet of one model that
// answers update orders over MQTT as the scenario says, while the
// simulation moves the server's clock a detection window at a time.
type RolloutOptions struct {
	// Options: API, Server, MQTTAddr, Roots, Devices, Window, Seed and
	// Stepper are used; Model is the rollout's model.
	Options
	// Spec is the rollout to create for each scenario; its Version is
	// replaced by Versions[scenario].
	Spec     rollout.Spec
	Versions map[string]string
	// FailShare is the share of devices, in percent, that fail in the
	// failing scenario (0: 5).
	FailShare float64
	// Evaluate checks the server's rollout gates once the window's
	// reports and alerts are in (a stepped server:
	// Rollouts().Sync then Evaluate).
	Evaluate func(ctx context.Context) error
	// MaxRounds bounds each scenario (0: 100 windows).
	MaxRounds int
}

// RolloutResult is how one scenario's rollout ended.
type RolloutResult struct {
	Scenario string         `json:"scenario"`
	Rollout  string         `json:"rollout"`
	Version  string         `json:"version"`
	Status   string         `json:"status"`
	Wave     int            `json:"wave"`
	Waves    int            `json:"waves"`
	Reason   string         `json:"reason,omitempty"`
	Devices  map[string]int `json:"devices"`
	// Windows is how many detection windows (simulated time) it took;
	// Took the wall-clock time from creation to the end.
	Windows int           `json:"windows"`
	Took    time.Duration `json:"took_ns"`
}

// RolloutReport is the outcome of RunRollout.
type RolloutReport struct {
	Devices int             `json:"devices"`
	Enroll  time.Duration   `json:"enroll_ns"`
	Results []RolloutResult `json:"results"`
}

// Print writes the report as a table.
func (r *RolloutReport) Print(w io.Writer) {
	fmt.Fprintf(w, "%d devices enrolled over EST and connected over MQTT in %s\n\n", r.Devices, r.Enroll.Round(time.Millisecond))
	fmt.Fprintf(w, "%-8s %-8s %-10s %-6s %-9s %-30s %s\n", "SCENARIO", "VERSION", "RESULT", "WAVE", "WINDOWS", "DEVICES", "TOOK")
	for _, x := range r.Results {
		fmt.Fprintf(w, "%-8s %-8s %-10s %-6s %-9d %-30s %s\n", x.Scenario, x.Version, x.Status, fmt.Sprintf("%d/%d", x.Wave, x.Waves), x.Windows,
			fmt.Sprintf("installed %d, failed %d", x.Devices["installed"], x.Devices["failed"]), x.Took.Round(time.Millisecond))
	}
	for _, x := range r.Results {
		if x.Reason != "" {
			fmt.Fprintf(w, "%s: %s\n", x.Scenario, x.Reason)
		}
	}
}

// rolloutSim is the fleet's state shared by the order handlers.
type rolloutSim struct {
	*simulation
	scenario atomic.Value // string: the running scenario
	failing  map[string]bool
	infected sync.Map // device id -> struct{}
}

// RunRollout enrolls and connects the fleet once, then runs each scenario
// in turn (RolloutScenarios, or those named) on the same devices, each
// with its own version.
func RunRollout(ctx context.Context, o RolloutOptions, scenarios []string) (*RolloutReport, error) {
	if o.API == nil || o.Server == "" || o.MQTTAddr == "" || o.Roots == nil || o.Stepper == nil || o.Evaluate == nil {
		return nil, errors.New("sim: RolloutOptions.API, Server, MQTTAddr, Roots, Stepper and Evaluate are required")
	}
	if o.Window <= 0 {
		o.Window = time.Minute
	}
	if o.FailShare <= 0 {
		o.FailShare = 5
	}
	if o.MaxRounds <= 0 {
		o.MaxRounds = 100
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	o.Model = o.Spec.Model
	s := &rolloutSim{simulation: &simulation{o: o.Options, first: map[string]firstAlert{}}, failing: map[string]bool{}}
	began := time.Now()
	if err := s.setup(ctx); err != nil {
		s.close()
		return nil, err
	}
	defer s.close()
	rep := &RolloutReport{Devices: len(s.devices), Enroll: time.Since(began)}
	// The failing devices: FailShare % of the fleet, drawn with the seed
	// (math/rand: simulated behaviour only).
	rng := rand.New(rand.NewPCG(o.Seed, 0xfa11))
	for _, i := range rng.Perm(len(s.devices))[:int(float64(len(s.devices))*o.FailShare/100)] {
		s.failing[s.devices[i].id] = true
	}
	s.scenario.Store("")
	for _, d := range s.devices {
		tok := d.cl.Subscribe(update.OrderTopic(d.id), 1, func(_ paho.Client, m paho.Message) { s.onOrder(d, m.Payload()) })
		if !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
			return nil, fmt.Errorf("subscribe %s to its orders: %v", d.id, tok.Error())
		}
	}
	for _, sc := range scenarios {
		res, err := s.runScenario(ctx, o, sc)
		if err != nil {
			return rep, fmt.Errorf("rollout scenario %s: %w", sc, err)
		}
		rep.Results = append(rep.Results, res)
	}
	return rep, nil
}

// onOrder answers an order as the running scenario says, from its own
// goroutine (a paho handler must not wait for its publishes).
func (s *rolloutSim) onOrder(d *device, payload []byte) {
	o, err := update.ParseOrder(payload)
	if err != nil {
		return
	}
	sc, _ := s.scenario.Load().(string)
	go func() {
		report := func(state update.State, reason string) {
			b, _ := json.Marshal(update.Status{Rollout: o.Rollout, Version: o.Version, State: state, Reason: reason, At: time.Now().UTC()})
			publish(d, update.StatusTopic(d.id), b)
		}
		report(update.StateDownloading, "")
		if sc == RolloutFailing && s.failing[d.id] {
			report(update.StateFailed, "install command exited with status 1 (simulated)")
			return
		}
		report(update.StateInstalling, "")
		if sc == RolloutMirai {
			// Infected before it reports installed: once the server
			// sees the wave installed, the next window's reports carry
			// the behaviour (marking it after the report raced the
			// window under load, and the gate fired a wave late).
			s.infected.Store(d.id, struct{}{})
		}
		report(update.StateInstalled, "")
	}()
}

func (s *rolloutSim) runScenario(ctx context.Context, o RolloutOptions, sc string) (RolloutResult, error) {
	spec := o.Spec
	spec.Version = o.Versions[sc]
	if spec.Version == "" {
		return RolloutResult{}, fmt.Errorf("no version for scenario %q (known: %s)", sc, strings.Join(RolloutScenarios, ", "))
	}
	s.scenario.Store(sc)
	began := time.Now()
	var v rollout.View
	if err := s.o.API.Post(ctx, "/api/v1/rollouts", spec, &v); err != nil {
		return RolloutResult{}, err
	}
	res := RolloutResult{Scenario: sc, Rollout: v.ID, Version: spec.Version, Waves: len(v.Waves)}
	for res.Windows < o.MaxRounds {
		d, err := s.settle(ctx, v.ID)
		if err != nil {
			return res, err
		}
		if d.Status != "running" {
			break
		}
		s.infected.Range(func(k, _ any) bool {
			if dev := s.byID(k.(string)); dev != nil {
				m := models[s.modelOf(dev)]
				s.sendReport(dev, m.listenTCP, m.dstIPs, 0, m.packetsOut, true)
			}
			return true
		})
		if _, err := s.o.Stepper.Step(ctx); err != nil {
			return res, err
		}
		res.Windows++
		if err := o.Evaluate(ctx); err != nil {
			return res, err
		}
	}
	var end rollout.View
	if err := s.o.API.Get(ctx, "/api/v1/rollouts/"+v.ID, &end); err != nil {
		return res, err
	}
	res.Took = time.Since(began)
	res.Status, res.Wave, res.Reason, res.Devices = end.Status, end.Wave, end.Reason, end.Devices
	if end.Status == "running" || end.Status == "paused" || end.Status == "halted" {
		// Leave no live rollout behind for the next scenario.
		if err := s.o.API.Post(ctx, "/api/v1/rollouts/"+v.ID+"/abort", nil, nil); err != nil {
			return res, err
		}
	}
	return res, nil
}

func (s *rolloutSim) byID(id string) *device {
	for _, d := range s.devices {
		if d.id == id {
			return d
		}
	}
	return nil
}

// settle waits until no device of the current wave is still on its way
// (pending with its order out, downloading, installing), or the rollout
// stopped. The simulated devices answer at once, so this is short; it
// asks the API every 20 ms, as an operator's client would.
func (s *rolloutSim) settle(ctx context.Context, id string) (rollout.Detail, error) {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var d rollout.Detail
		if err := s.o.API.Get(ctx, "/api/v1/rollouts/"+id+"?state=pending,downloading,installing&limit=1000", &d); err != nil {
			return d, err
		}
		busy := 0
		for _, x := range d.DeviceList {
			if x.Wave <= d.Wave && (x.State != "pending" || !x.OrderedAt.IsZero()) {
				busy++
			}
		}
		if d.Status != "running" || busy == 0 {
			return d, nil
		}
		if time.Now().After(deadline) {
			return d, fmt.Errorf("rollout %s: %d devices of wave %d still on their way after 2 minutes", id, busy, d.Wave)
		}
		select {
		case <-ctx.Done():
			return d, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
