package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/wardproject/ward/internal/alert"
	"github.com/wardproject/ward/internal/client"
	"github.com/wardproject/ward/internal/fleet"
	"github.com/wardproject/ward/internal/rollout"
	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/update"
	"github.com/wardproject/ward/internal/wardtest"
)

// rolloutClock is the rollout engine's clock in these tests.
type rolloutClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *rolloutClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *rolloutClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// rig is a server whose rollout engine runs on a test clock, with
// firmware devices (paho clients that answer update orders).
type rig struct {
	*ward
	clock   *rolloutClock
	changed chan struct{} // a token after each event the engine handled and each order a device received
	handled atomic.Int64  // events the engine handled
	mu      sync.Mutex
	devs    map[string]*fwDevice
}

func startRig(t *testing.T, dir string) *rig {
	t.Helper()
	r := &rig{clock: &rolloutClock{t: time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)}, changed: make(chan struct{}, 1), devs: map[string]*fwDevice{}}
	r.ward = startWith(t, dir, Options{ManualRollouts: true, rolloutNow: r.clock.now, rolloutProcessed: func() {
		r.handled.Add(1)
		r.poke()
	}})
	return r
}

// poke wakes until: something it may be waiting for happened.
func (r *rig) poke() {
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

// publishRelease publishes firmware of acme-th1 at version in the data
// directory's TUF repository (created on first use).
func (r *rig) publishRelease(t *testing.T, version string) {
	t.Helper()
	ctx := context.Background()
	repo, err := update.InitSite(ctx, r.dir, nil, nil, update.Options{})
	if errors.Is(err, update.ErrExists) {
		kr, kerr := update.LoadKeyring(filepath.Join(r.dir, update.SiteKeysDir), nil)
		if kerr != nil {
			t.Fatal(kerr)
		}
		repo, err = update.Open(update.Options{Dir: filepath.Join(r.dir, update.SiteRepoDir), Keys: kr})
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.AddTarget(ctx, update.Target{Custom: update.Custom{Model: "acme-th1", Version: version}, File: "fw.bin"},
		bytes.NewReader([]byte("firmware "+version))); err != nil {
		t.Fatal(err)
	}
}

// until waits, event by event, for cond to hold.
func (r *rig) until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(wait)
	for !cond() {
		select {
		case <-r.changed:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// Device behaviours.
const (
	behaveGood   = "good"   // downloading, installing, installed
	behaveFail   = "fail"   // downloading, failed
	behaveBrick  = "brick"  // installed, then gone for good
	behaveReboot = "reboot" // installed, then disconnects and connects again
	behaveSilent = "silent" // never answers
)

// fwDevice is an enrolled device with a paho client that answers orders.
type fwDevice struct {
	id   string
	cert tls.Certificate
	r    *rig

	mu      sync.Mutex
	behave  string
	c       *mqttClient
	orders  []update.Order
	orderAt []time.Time // the rollout clock when each order arrived
}

// addDevices enrolls n devices named prefix-00... running 1.4.2.
func (r *rig) addDevices(t *testing.T, prefix string, n int, behave string) []*fwDevice {
	t.Helper()
	var out []*fwDevice
	for i := range n {
		id := fmt.Sprintf("%s-%02d", prefix, i)
		d := &fwDevice{id: id, cert: r.enroll(t, id), r: r, behave: behave}
		r.mu.Lock()
		r.devs[id] = d
		r.mu.Unlock()
		out = append(out, d)
	}
	return out
}

func (r *rig) dev(id string) *fwDevice {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.devs[id]
}

// online connects the device and subscribes to its order topic.
func (d *fwDevice) online(t *testing.T) {
	t.Helper()
	c, err := d.r.connect(&d.cert, d.id, nil)
	if err != nil {
		t.Fatalf("connect %s: %v", d.id, err)
	}
	d.mu.Lock()
	d.c = c
	d.mu.Unlock()
	tok := c.Subscribe(update.OrderTopic(d.id), 1, func(_ paho.Client, m paho.Message) { d.onOrder(m.Payload()) })
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", d.id, tok.Error())
	}
}

func (d *fwDevice) offline() {
	d.mu.Lock()
	c := d.c
	d.c = nil
	d.mu.Unlock()
	if c != nil {
		c.Disconnect(100)
	}
}

func (d *fwDevice) setBehave(b string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.behave = b
}

func (d *fwDevice) ordered() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.orders)
}

// status publishes a status report as the device.
func (d *fwDevice) status(rollout, version string, state update.State, reason string) {
	b, _ := json.Marshal(update.Status{Rollout: rollout, Version: version, State: state, Reason: reason, At: time.Now().UTC()})
	d.mu.Lock()
	c := d.c
	d.mu.Unlock()
	if c != nil {
		c.Publish(update.StatusTopic(d.id), 1, false, b).WaitTimeout(wait)
	}
}

// onOrder runs on paho's goroutine: it records the order and answers it
// from another goroutine (a handler must not block on a publish).
func (d *fwDevice) onOrder(payload []byte) {
	o, err := update.ParseOrder(payload)
	if err != nil {
		return
	}
	d.mu.Lock()
	d.orders = append(d.orders, o)
	d.orderAt = append(d.orderAt, d.r.clock.now())
	behave := d.behave
	d.mu.Unlock()
	// Orders are sent by the API call or the engine's Evaluate, not
	// from its event queue: their arrival must wake until itself (under
	// load an order arrived after until had checked, and nothing else
	// woke it: TestRolloutReportSpoofing timed out waiting for it).
	d.r.poke()
	go func() {
		switch behave {
		case behaveGood, behaveBrick, behaveReboot:
			d.status(o.Rollout, o.Version, update.StateDownloading, "")
			d.status(o.Rollout, o.Version, update.StateInstalling, "")
			d.status(o.Rollout, o.Version, update.StateInstalled, "")
			if behave == behaveBrick {
				d.offline()
			}
		case behaveFail:
			d.status(o.Rollout, o.Version, update.StateDownloading, "")
			d.status(o.Rollout, o.Version, update.StateFailed, "install command exited with status 1")
		}
	}()
}

func (r *rig) create(t *testing.T, spec rollout.Spec) rollout.View {
	t.Helper()
	var v rollout.View
	if err := r.api.Post(context.Background(), "/api/v1/rollouts", spec, &v); err != nil {
		t.Fatalf("create rollout: %v", err)
	}
	return v
}

func (r *rig) detail(t *testing.T, id string) rollout.Detail {
	t.Helper()
	var d rollout.Detail
	if err := r.api.Get(context.Background(), "/api/v1/rollouts/"+id+"?limit=1000", &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// waveDevices returns the rollout's device IDs in wave (from 1).
func waveDevices(d rollout.Detail, wave int) []string {
	var out []string
	for _, x := range d.DeviceList {
		if x.Wave == wave && x.State != string(store.DeviceSkipped) {
			out = append(out, x.Device)
		}
	}
	return out
}

// states returns the rollout's devices' states by ID.
func (r *rig) states(t *testing.T, id string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, x := range r.detail(t, id).DeviceList {
		out[x.Device] = x.State
	}
	return out
}

// waitStates waits until every device in ids is in state.
func (r *rig) waitStates(t *testing.T, id string, ids []string, state store.RolloutDeviceState) {
	t.Helper()
	r.until(t, fmt.Sprintf("%d devices %s", len(ids), state), func() bool {
		st := r.states(t, id)
		for _, d := range ids {
			if st[d] != string(state) {
				return false
			}
		}
		return true
	})
}

// evaluate moves the rollout clock by d and checks the gates.
func (r *rig) evaluate(t *testing.T, d time.Duration) rollout.View {
	t.Helper()
	r.clock.add(d)
	if err := r.srv.Rollouts().Evaluate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return rollout.View{}
}

func (r *rig) get(t *testing.T, id string) rollout.View {
	t.Helper()
	var v rollout.View
	if err := r.api.Get(context.Background(), "/api/v1/rollouts/"+id, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// auditActions returns the rollout's audit trail actions, oldest first.
func (r *rig) auditActions(t *testing.T, id string) []string {
	t.Helper()
	var es []store.AuditEntry
	if err := r.api.Get(context.Background(), "/api/v1/audit-log?limit=1000", &es); err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(es) - 1; i >= 0; i-- {
		if es[i].Target == id {
			out = append(out, strings.TrimPrefix(es[i].Action, "rollout."))
		}
	}
	return out
}

var spec = rollout.Spec{Model: "acme-th1", Version: "1.5.0", Waves: []float64{10, 50, 100}, MaxFailure: 2, HaltOnAlerts: "high", Soak: "10m"}

// TestRolloutGoodRelease: a good release reaches 100 % wave by wave over
// real MQTT devices; no device hears of the release before its wave; a
// device that reboots after installing counts as back; an offline
// device gets its order when it connects; the registry records the new
// firmware; every transition is in the audit trail.
func TestRolloutGoodRelease(t *testing.T) {
	r := startRig(t, t.TempDir())
	r.publishRelease(t, "1.5.0")
	devs := r.addDevices(t, "th", 10, behaveGood)
	devs[0].setBehave(behaveReboot)
	devs[1].setBehave(behaveReboot)
	current := r.addDevices(t, "new", 1, behaveGood)[0]
	if _, err := r.srv.db.UpdateDevice(context.Background(), current.id, func(d *store.Device) error { d.Firmware = "1.5.0"; return nil }); err != nil {
		t.Fatal(err)
	}
	var late *fwDevice // one device stays offline until its wave has started
	v := r.create(t, spec)
	d := r.detail(t, v.ID)
	if got := len(waveDevices(d, 1)); got != 1 {
		t.Fatalf("wave 1 holds %d devices, want 1 (10%% of 10)", got)
	}
	if st := r.states(t, v.ID)[current.id]; st != string(store.DeviceSkipped) {
		t.Errorf("a device already at 1.5.0 is %s, want skipped", st)
	}
	late = r.dev(waveDevices(d, 3)[0])
	for _, x := range devs {
		if x != late {
			x.online(t)
		}
	}
	for wave := 1; wave <= 3; wave++ {
		ids := waveDevices(d, wave)
		if wave == 3 {
			late.online(t) // gets its order on subscribing
		}
		r.waitStates(t, v.ID, ids, store.DeviceInstalled)
		for _, id := range ids {
			if x := r.dev(id); x.behave == behaveReboot {
				x.offline()
				x.online(t)
			}
		}
		for w := wave + 1; w <= 3; w++ {
			for _, id := range waveDevices(d, w) {
				if n := r.dev(id).ordered(); n > 0 {
					t.Fatalf("device %s of wave %d got an order during wave %d", id, w, wave)
				}
			}
		}
		r.evaluate(t, 5*time.Minute) // within the soak: no advance
		if got := r.get(t, v.ID); got.Wave != wave || got.Status != "running" {
			t.Fatalf("within the soak of wave %d: wave %d %s", wave, got.Wave, got.Status)
		}
		r.evaluate(t, 5*time.Minute)
	}
	got := r.get(t, v.ID)
	if got.Status != "completed" || got.Devices["installed"] != 10 || got.Devices["skipped"] != 1 {
		t.Fatalf("rollout = %s %v, want completed with 10 installed and 1 skipped", got.Status, got.Devices)
	}
	for _, x := range devs {
		var fv fleet.View
		if err := r.api.Get(context.Background(), "/api/v1/devices/"+x.id, &fv); err != nil {
			t.Fatal(err)
		}
		if fv.Device.Firmware != "1.5.0" {
			t.Errorf("%s firmware %s after the rollout, want 1.5.0", x.id, fv.Device.Firmware)
		}
		found := false
		for _, ev := range fv.Events {
			found = found || (ev.Kind == rollout.EventFirmwareUpdated && ev.Detail["from"] == "1.4.2" && ev.Detail["to"] == "1.5.0" && ev.Detail["rollout"] == v.ID)
		}
		if !found {
			t.Errorf("%s has no firmware-updated event: %+v", x.id, fv.Events)
		}
	}
	want := []string{"create", "wave", "wave", "wave", "complete"}
	if diff := slices.Compare(want, r.auditActions(t, v.ID)); diff != 0 {
		t.Errorf("audit trail %v, want %v", r.auditActions(t, v.ID), want)
	}
	// The audit chain still verifies.
	var rep struct {
		OK bool `json:"ok"`
	}
	if err := r.api.Get(context.Background(), "/api/v1/audit-log/verify", &rep); err != nil || !rep.OK {
		t.Errorf("audit-log verify: %+v %v", rep, err)
	}
}

// TestRolloutHaltsOnFailures: failures above max-failure in wave 2 halt
// the rollout in wave 2; no device of wave 3 gets an order, even after
// the soak time; the halt and its reason are audited.
func TestRolloutHaltsOnFailures(t *testing.T) {
	r := startRig(t, t.TempDir())
	r.publishRelease(t, "1.5.0")
	devs := r.addDevices(t, "th", 20, behaveGood)
	for _, x := range devs {
		x.online(t)
	}
	v := r.create(t, spec)
	d := r.detail(t, v.ID)
	r.waitStates(t, v.ID, waveDevices(d, 1), store.DeviceInstalled)
	w2 := waveDevices(d, 2)
	for _, id := range w2[:2] { // 2 of 8: 25 %, over 2 %
		r.dev(id).setBehave(behaveFail)
	}
	r.evaluate(t, 10*time.Minute)
	r.until(t, "the halt", func() bool { return r.get(t, v.ID).Status == "halted" })
	got := r.get(t, v.ID)
	if got.Wave != 2 || !strings.Contains(got.Reason, "failed, over the max-failure of 2%") {
		t.Errorf("halted in wave %d: %q", got.Wave, got.Reason)
	}
	r.evaluate(t, time.Hour)
	for _, id := range waveDevices(d, 3) {
		if n := r.dev(id).ordered(); n > 0 {
			t.Errorf("device %s of wave 3 got an order after the halt in wave 2", id)
		}
	}
	if st := r.states(t, v.ID)[w2[0]]; st != string(store.DeviceFailed) {
		t.Errorf("failing device is %s", st)
	}
	if a := r.auditActions(t, v.ID); !slices.Contains(a, "halt") {
		t.Errorf("audit trail %v has no halt", a)
	}
	var ds rollout.Detail
	if err := r.api.Get(context.Background(), "/api/v1/rollouts/"+v.ID+"?state=failed", &ds); err != nil {
		t.Fatal(err)
	}
	if len(ds.DeviceList) == 0 || ds.DeviceList[0].Reason != "install command exited with status 1" {
		t.Errorf("failed devices %+v, want the agent's reason", ds.DeviceList)
	}
}

// TestRolloutHaltsOnAlert: an alert below the gate on an updated device
// does nothing; one at the gate halts the rollout.
func TestRolloutHaltsOnAlert(t *testing.T) {
	r := startRig(t, t.TempDir())
	r.publishRelease(t, "1.5.0")
	devs := r.addDevices(t, "th", 10, behaveGood)
	for _, x := range devs {
		x.online(t)
	}
	v := r.create(t, spec)
	updated := waveDevices(r.detail(t, v.ID), 1)[0]
	r.waitStates(t, v.ID, []string{updated}, store.DeviceInstalled)
	raise := func(sev alert.Severity) {
		var a alert.Alert
		if err := r.api.Post(context.Background(), "/api/v1/alerts", alert.Alert{Device: updated, Rule: "mirai-scan-" + string(sev),
			Severity: sev, Title: "telnet scanning"}, &a); err != nil {
			t.Fatal(err)
		}
	}
	raise(alert.Medium)
	raise(alert.High)
	r.until(t, "the halt", func() bool { return r.get(t, v.ID).Status == "halted" })
	got := r.get(t, v.ID)
	if !strings.Contains(got.Reason, "mirai-scan-high") || strings.Contains(got.Reason, "medium") {
		t.Errorf("halt reason %q, want the high alert's", got.Reason)
	}
}

// TestRolloutHaltsOnBrickedDevice: a device that reports installed and
// never comes back halts the rollout once the soak time has passed.
func TestRolloutHaltsOnBrickedDevice(t *testing.T) {
	r := startRig(t, t.TempDir())
	r.publishRelease(t, "1.5.0")
	devs := r.addDevices(t, "th", 10, behaveBrick)
	for _, x := range devs {
		x.online(t)
	}
	v := r.create(t, spec)
	bricked := waveDevices(r.detail(t, v.ID), 1)[0]
	r.waitStates(t, v.ID, []string{bricked}, store.DeviceInstalled)
	r.until(t, "the device gone", func() bool { return r.srv.gw.Connected(bricked) == 0 })
	r.evaluate(t, 9*time.Minute)
	if got := r.get(t, v.ID); got.Status != "running" {
		t.Fatalf("within the soak: %s %q", got.Status, got.Reason)
	}
	r.evaluate(t, time.Minute)
	got := r.get(t, v.ID)
	if got.Status != "halted" || !strings.Contains(got.Reason, bricked) || !strings.Contains(got.Reason, "did not come back online") {
		t.Errorf("after the soak: %s %q, want halted naming %s", got.Status, got.Reason, bricked)
	}
}

// TestRolloutOperatorActions: pause stops advances and orders, resume
// continues, next starts a wave at once, abort aborts pending devices and
// a later report from an aborted device changes nothing; each is audited.
func TestRolloutOperatorActions(t *testing.T) {
	r := startRig(t, t.TempDir())
	r.publishRelease(t, "1.5.0")
	devs := r.addDevices(t, "th", 10, behaveGood)
	for _, x := range devs {
		x.online(t)
	}
	ctx := context.Background()
	v := r.create(t, spec)
	d := r.detail(t, v.ID)
	r.waitStates(t, v.ID, waveDevices(d, 1), store.DeviceInstalled)
	act := func(verb string, want int) rollout.View {
		t.Helper()
		var got rollout.View
		err := r.api.Post(ctx, "/api/v1/rollouts/"+v.ID+"/"+verb, nil, &got)
		var ce *client.Error
		switch {
		case want == 200 && err != nil:
			t.Fatalf("%s: %v", verb, err)
		case want != 200 && !asStatus(err, &ce, want):
			t.Fatalf("%s: got %v, want %d", verb, err, want)
		}
		return got
	}
	act("pause", 200)
	act("pause", 409)
	r.evaluate(t, time.Hour)
	if got := r.get(t, v.ID); got.Wave != 1 || got.Status != "paused" {
		t.Fatalf("paused rollout moved: wave %d %s", got.Wave, got.Status)
	}
	if got := act("resume", 200); got.Wave != 2 || got.Status != "running" {
		t.Fatalf("resume after the soak: wave %d %s, want wave 2 running", got.Wave, got.Status)
	}
	w2 := waveDevices(d, 2)
	r.waitStates(t, v.ID, w2, store.DeviceInstalled)
	// next: wave 3 at once, within the soak of wave 2. Hold its devices
	// silent so they stay pending, then abort.
	for _, id := range waveDevices(d, 3) {
		r.dev(id).setBehave(behaveSilent)
	}
	if got := act("next", 200); got.Wave != 3 {
		t.Fatalf("next: wave %d", got.Wave)
	}
	act("next", 409) // the last wave
	w3 := waveDevices(d, 3)
	r.until(t, "wave 3 ordered", func() bool {
		for _, id := range w3 {
			if r.dev(id).ordered() == 0 {
				return false
			}
		}
		return true
	})
	got := act("abort", 200)
	if got.Status != "aborted" || got.Devices["aborted"] != len(w3) {
		t.Fatalf("abort: %s %v, want %d aborted", got.Status, got.Devices, len(w3))
	}
	act("resume", 409)
	x := r.dev(w3[0])
	before := r.handled.Load()
	x.status(v.ID, "1.5.0", update.StateInstalled, "")
	r.until(t, "the report handled", func() bool { return r.handled.Load() > before })
	if st := r.states(t, v.ID)[x.id]; st != string(store.DeviceAborted) {
		t.Errorf("an aborted device's late report moved it to %s", st)
	}
	want := []string{"create", "wave", "pause", "resume", "wave", "next", "abort"}
	if got := r.auditActions(t, v.ID); !slices.Equal(want, got) {
		t.Errorf("audit trail %v, want %v", got, want)
	}
}

// TestRolloutReportSpoofing: a device cannot change the state of a
// rollout it is not in, nor report for another device, nor give orders:
// publishing on its own or another device's update/cmd topic is refused
// by the gateway.
func TestRolloutReportSpoofing(t *testing.T) {
	r := startRig(t, t.TempDir())
	r.publishRelease(t, "1.5.0")
	devs := r.addDevices(t, "th", 10, behaveSilent)
	for _, x := range devs {
		x.online(t)
	}
	v := r.create(t, spec)
	d := r.detail(t, v.ID)
	victim := waveDevices(d, 1)[0]
	attacker := r.dev(waveDevices(d, 3)[0]) // in the rollout, not ordered yet
	r.until(t, "the victim's order", func() bool { return r.dev(victim).ordered() == 1 })
	// 1. The attacker reports before its wave (no order was sent to it),
	// for a rollout that does not exist, and on the victim's status topic.
	attacker.status(v.ID, "1.5.0", update.StateFailed, "spoofed")
	attacker.status("ro-nope", "1.5.0", update.StateInstalled, "")
	b, _ := json.Marshal(update.Status{Rollout: v.ID, Version: "1.5.0", State: update.StateFailed, Reason: "spoofed", At: time.Now()})
	attacker.c.Publish(update.StatusTopic(victim), 1, false, b).WaitTimeout(wait)
	// 2. Orders: on the victim's order topic and on its own.
	o, _ := json.Marshal(update.Order{Rollout: v.ID, Model: "acme-th1", Version: "0.1.0"})
	attacker.c.Publish(update.OrderTopic(victim), 1, false, o).WaitTimeout(wait)
	attacker.c.Publish(update.OrderTopic(attacker.id), 1, false, o).WaitTimeout(wait)
	// A status of the victim's own, published after the attacks, is
	// handled after them: once it shows, every attack has been handled.
	r.dev(victim).status(v.ID, "1.5.0", update.StateDownloading, "")
	r.waitStates(t, v.ID, []string{victim}, store.DeviceDownloading)
	st := r.states(t, v.ID)
	if st[attacker.id] != string(store.DevicePending) {
		t.Errorf("a report from a device that was sent no order moved it to %s", st[attacker.id])
	}
	for _, x := range devs {
		x.mu.Lock()
		for _, o := range x.orders {
			if o.Version != "1.5.0" {
				t.Errorf("%s received an order for %s published by a device", x.id, o.Version)
			}
		}
		x.mu.Unlock()
	}
	if got := wardtest.Counter(t, r.srv.registry, "ward_gateway_acl_denied_total", "action", "publish"); got < 3 {
		t.Errorf("%v publish denials, want the 3 forged publishes (victim's status, victim's orders, own orders)", got)
	}
	if got := r.get(t, v.ID); got.Status != "running" {
		t.Errorf("rollout %s (%s) after the spoofed reports", got.Status, got.Reason)
	}
}

// TestRolloutResumesAfterRestart: a server stopped mid-rollout resumes it
// from the store: the devices of the current wave that had not answered
// get their order when they connect to the new server, and the rollout
// completes.
func TestRolloutResumesAfterRestart(t *testing.T) {
	dir := t.TempDir()
	r := startRig(t, dir)
	r.publishRelease(t, "1.5.0")
	devs := r.addDevices(t, "th", 4, behaveGood)
	v := r.create(t, rollout.Spec{Model: "acme-th1", Version: "1.5.0", Waves: []float64{100}, MaxFailure: 0, HaltOnAlerts: "none", Soak: "1m"})
	if got := r.get(t, v.ID); got.Devices["pending"] != 4 {
		t.Fatalf("before restart: %v", got.Devices)
	}
	r.stop()
	r2 := startRig(t, dir)
	r2.clock.add(time.Hour)
	for _, x := range devs {
		x.r = r2
		r2.devs[x.id] = x
		x.online(t)
	}
	r2.waitStates(t, v.ID, []string{devs[0].id, devs[1].id, devs[2].id, devs[3].id}, store.DeviceInstalled)
	r2.evaluate(t, time.Minute)
	if got := r2.get(t, v.ID); got.Status != "completed" {
		t.Errorf("after restart: %s %v", got.Status, got.Devices)
	}
}

// TestRolloutCreateRefusals: a release missing from the repository, a
// model without devices and a bad spec are refused with the reason.
func TestRolloutCreateRefusals(t *testing.T) {
	r := startRig(t, t.TempDir())
	ctx := context.Background()
	var ce *client.Error
	err := r.api.Post(ctx, "/api/v1/rollouts", spec, nil)
	if !asStatus(err, &ce, 422) || !strings.Contains(err.Error(), "ward firmware publish") {
		t.Errorf("no repository: %v", err)
	}
	r.publishRelease(t, "1.5.0")
	err = r.api.Post(ctx, "/api/v1/rollouts", spec, nil)
	if !asStatus(err, &ce, 422) || !strings.Contains(err.Error(), "no active device") {
		t.Errorf("no devices: %v", err)
	}
	r.addDevices(t, "th", 1, behaveGood)
	other := spec
	other.Version = "9.9.9"
	if err := r.api.Post(ctx, "/api/v1/rollouts", other, nil); !asStatus(err, &ce, 422) {
		t.Errorf("unpublished version: %v", err)
	}
	bad := spec
	bad.Waves = []float64{50, 10}
	if err := r.api.Post(ctx, "/api/v1/rollouts", bad, nil); !asStatus(err, &ce, 400) {
		t.Errorf("descending waves: %v", err)
	}
	var l []rollout.View
	if err := r.api.Get(ctx, "/api/v1/rollouts", &l); err != nil || len(l) != 0 {
		t.Errorf("refused rollouts were stored: %v %v", l, err)
	}
}
