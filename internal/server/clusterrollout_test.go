package server

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/wardproject/ward/internal/alert"
	"github.com/wardproject/ward/internal/client"
	"github.com/wardproject/ward/internal/fleet"
	"github.com/wardproject/ward/internal/pki"
	"github.com/wardproject/ward/internal/rollout"
	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/update"
	"github.com/wardproject/ward/internal/wardtest"
)

// TestClusterRollout runs staged rollouts on a cluster of two API nodes,
// two gateway nodes and a detector node sharing one PostgreSQL schema and
// a NATS server of the test's own (so it can be stopped), with real paho
// devices holding their own certificates. It asserts, in order:
//
//   - a rollout created through the API node that is not the "rollouts"
//     leader reaches devices on gateway A and gateway B (devices offline
//     at its creation get their order when they connect, on either
//     gateway), and their reports, handled by the leader's engine, advance
//     the waves;
//   - the leader node stops mid-rollout: reports made meanwhile wait in
//     JetStream and the other API node's engine takes over and handles
//     them;
//   - a device on gateway B cannot report for a device on gateway A:
//     neither on the victim's status topic (the gateway refuses) nor by
//     naming it in its own report (the identity is the gateway's);
//   - with NATS stopped, reports are acknowledged to the devices and held
//     by their gateways, and an operator's pause is acknowledged (the
//     store has it); once NATS is back the reports reach the leader and
//     the rollout completes after the resume, the last device connecting
//     late to a gateway;
//   - alerts on devices updated in wave 1 halt a rollout when another
//     node raises them: the detector node (an ACL-denial flood through a
//     gateway), then, after a resume, the API node that is not the
//     leader; abort through that node ends it;
//   - only the leader's engine handled reports, and no node dropped any
//     input.
func TestClusterRollout(t *testing.T) {
	if testing.Short() {
		t.Skip("the cluster rollout scenario starts five nodes and stops NATS")
	}
	nats := clusterBus(t, "rollcluster")
	t.Setenv("WARD_DETECT_WINDOW", "2s")
	ctx := context.Background()

	// One clock and one event channel for every node: the engine that
	// handles an input, whichever it is, wakes the test.
	clk := &rolloutClock{t: time.Now()}
	changed := make(chan struct{}, 1)
	opts := Options{rolloutNow: clk.now, ManualRollouts: true, rolloutProcessed: func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}}
	rigOf := func(w *ward) *rig { return &rig{ward: w, clock: clk, changed: changed, devs: map[string]*fwDevice{}} }

	dir1, dir2, dirA, dirB, dirDet := t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir()
	t.Setenv("WARD_ROLE", "api")
	api1 := rigOf(startWith(t, dir1, opts))
	for _, d := range []string{dir2, dirA, dirB, dirDet} {
		shareCA(t, dir1, d)
	}
	api2 := rigOf(startWith(t, dir2, opts))
	t.Setenv("WARD_ROLE", "gateway")
	gwA := rigOf(startWith(t, dirA, opts))
	gwB := rigOf(startWith(t, dirB, opts))
	t.Setenv("WARD_ROLE", "detector")
	det := rigOf(startWith(t, dirDet, opts))
	for _, r := range []*rig{api1, api2} {
		r.publishRelease(t, "1.5.0")
		r.publishRelease(t, "1.6.0")
	}
	leads := func(r *rig) bool {
		return wardtest.Gauge(t, r.srv.registry, "ward_leader", "job", "rollouts") == 1
	}
	// The leader is elected through PostgreSQL: poll the nodes' gauges.
	until(t, 30*time.Second, "an API node to lead rollouts", func() bool { return leads(api1) || leads(api2) })
	lead, other := api1, api2
	if leads(api2) {
		lead, other = api2, api1
	}

	ids := []string{"th-0", "th-1", "th-2", "th-3", "th-4", "th-5"}
	devs := map[string]*fwDevice{}
	for _, id := range ids {
		devs[id] = &fwDevice{id: id, cert: api1.enroll(t, id), behave: behaveSilent}
	}
	// online connects d to the gateway of r.
	online := func(d *fwDevice, r *rig) {
		t.Helper()
		d.r = r
		d.online(t)
	}
	ordered := func(ds ...*fwDevice) {
		t.Helper()
		gwA.until(t, "the orders to reach the devices", func() bool { // each order wakes it
			for _, d := range ds {
				if d.ordered() == 0 {
					return false
				}
			}
			return true
		})
	}
	// connected waits until the session directory shows the devices
	// connected: the bricked gate reads it, and the gateways write it
	// every 2 s.
	connected := func(r *rig, ds ...*fwDevice) {
		t.Helper()
		until(t, 30*time.Second, "the session directory to list the devices", func() bool {
			on := connectedIDs(t, r.ward)
			for _, d := range ds {
				if !slices.Contains(on, d.id) {
					return false
				}
			}
			return true
		})
	}
	report := func(d *fwDevice, id, version string) {
		d.status(id, version, update.StateDownloading, "")
		d.status(id, version, update.StateInstalling, "")
		d.status(id, version, update.StateInstalled, "")
	}

	// 1. Created through the node that does not lead, every device
	// offline; then connected, gateway by gateway as the test chooses.
	v := other.create(t, rollout.Spec{Model: "acme-th1", Version: "1.5.0", Waves: []float64{50, 100}, MaxFailure: 0, HaltOnAlerts: "high", Soak: "1m"})
	d := other.detail(t, v.ID)
	w1, w2 := waveDevices(d, 1), waveDevices(d, 2)
	if len(w1) != 3 || len(w2) != 3 {
		t.Fatalf("waves of %d and %d devices, want 3 and 3", len(w1), len(w2))
	}
	for i, id := range w1 {
		devs[id].setBehave(behaveGood)
		online(devs[id], []*rig{gwA, gwB, gwB}[i])
	}
	victim, attacker, late := devs[w2[0]], devs[w2[1]], devs[w2[2]]
	online(victim, gwA)
	online(attacker, gwB)
	other.waitStates(t, v.ID, w1, store.DeviceInstalled)
	connected(other, devs[w1[0]], devs[w1[1]], devs[w1[2]])
	lead.evaluate(t, time.Minute) // the soak has passed
	if got := other.get(t, v.ID); got.Wave != 2 || got.Status != "running" {
		t.Fatalf("after wave 1 and its soak: wave %d %s %q", got.Wave, got.Status, got.Reason)
	}
	ordered(victim, attacker)
	if late.ordered() != 0 {
		t.Fatal("an offline device got an order")
	}

	// 2. The leader stops mid-rollout; the other API node takes over.
	lead.stop()
	lead, other = other, nil

	// 3. A device on gateway B reports for the victim on gateway A: on
	// the victim's topic (refused by the gateway), then on its own topic
	// naming the victim. Its own report shows once the new leader has
	// handled both.
	failed, _ := json.Marshal(update.Status{Rollout: v.ID, Version: "1.5.0", State: update.StateFailed, Reason: "spoofed", At: time.Now()})
	attacker.c.Publish(update.StatusTopic(victim.id), 1, false, failed).WaitTimeout(wait)
	named, _ := json.Marshal(map[string]any{"device": victim.id, "device_id": victim.id, "rollout": v.ID, "version": "1.5.0",
		"state": update.StateDownloading, "reason": "", "at": time.Now()})
	attacker.c.Publish(update.StatusTopic(attacker.id), 1, false, named).WaitTimeout(wait)
	lead.waitStates(t, v.ID, []string{attacker.id}, store.DeviceDownloading)
	if st := lead.states(t, v.ID)[victim.id]; st != string(store.DevicePending) {
		t.Errorf("reports of a device on gateway B moved the victim on gateway A to %s", st)
	}
	if got := wardtest.Counter(t, gwB.srv.registry, "ward_gateway_acl_denied_total", "action", "publish"); got < 1 {
		t.Error("gateway B did not refuse the publish on the victim's status topic")
	}
	if !leads(lead) {
		t.Error("the API node left does not lead rollouts")
	}

	// 4. NATS down: reports are acknowledged to the devices and held by
	// the gateways; a pause is acknowledged.
	nats.Stop()
	report(victim, v.ID, "1.5.0")
	report(attacker, v.ID, "1.5.0")
	for _, g := range []*rig{gwA, gwB} {
		// Held, and refused by the bus at least once (each attempt
		// waits 5 s): the gateway has not simply buffered them in its
		// NATS connection.
		until(t, 30*time.Second, "the gateways to hold the reports the bus refuses", func() bool {
			return wardtest.Gauge(t, g.srv.registry, "ward_rollout_forward_queued", "", "") > 0 &&
				wardtest.Counter(t, g.srv.registry, "ward_rollout_forward_failures_total", "", "") > 0
		})
	}
	var pv rollout.View
	if err := lead.api.Post(ctx, "/api/v1/rollouts/"+v.ID+"/pause", nil, &pv); err != nil || pv.Status != "paused" {
		t.Fatalf("pause while NATS is down: %s %v", pv.Status, err)
	}
	nats.Start()
	until(t, 60*time.Second, "the reports held while NATS was down to be handled", func() bool {
		st := lead.states(t, v.ID)
		return st[victim.id] == string(store.DeviceInstalled) && st[attacker.id] == string(store.DeviceInstalled)
	})
	if got := lead.get(t, v.ID); got.Status != "paused" {
		t.Errorf("the pause made while NATS was down: %s", got.Status)
	}
	if err := lead.api.Post(ctx, "/api/v1/rollouts/"+v.ID+"/resume", nil, &pv); err != nil {
		t.Fatal(err)
	}
	late.setBehave(behaveGood)
	online(late, gwA) // gets its order on subscribing, through the new leader
	lead.waitStates(t, v.ID, w2, store.DeviceInstalled)
	connected(lead, victim, attacker, late)
	lead.evaluate(t, time.Minute)
	if got := lead.get(t, v.ID); got.Status != "completed" {
		t.Fatalf("after wave 2 and its soak: %s %q", got.Status, got.Reason)
	}
	for _, id := range ids {
		var fv fleet.View
		if err := lead.api.Get(ctx, "/api/v1/devices/"+id, &fv); err != nil || fv.Device.Firmware != "1.5.0" {
			t.Errorf("%s firmware %q after the rollout (%v), want 1.5.0", id, fv.Device.Firmware, err)
		}
	}
	if got := lead.auditActions(t, v.ID); !slices.Equal(got, []string{"create", "wave", "wave", "pause", "resume", "complete"}) {
		t.Errorf("audit trail %v", got)
	}

	// 5. The next rollout is halted by alerts on devices updated in wave
	// 1 raised on other nodes than the leader: by the detector node (an
	// ACL-denial flood through a gateway), then, after a resume, through
	// the stopped API node, back and not leading.
	t.Setenv("WARD_ROLE", "api")
	back := dir1
	if lead.dir == dir1 {
		back = dir2
	}
	other = rigOf(startWith(t, back, opts))
	for _, id := range ids {
		devs[id].setBehave(behaveGood)
	}
	v2 := other.create(t, rollout.Spec{Model: "acme-th1", Version: "1.6.0", Waves: []float64{50, 100}, MaxFailure: 0, HaltOnAlerts: "high", Soak: "10m"})
	first := waveDevices(other.detail(t, v2.ID), 1)
	other.waitStates(t, v2.ID, first, store.DeviceInstalled)
	flooder := devs[first[0]]
	for i := range 8 { // over the authz-failures threshold of 5 in a window
		flooder.c.Publish(fmt.Sprintf("devices/other-%d/cmd", i), 1, false, "x").WaitTimeout(wait)
	}
	// Detection closes 2 s windows across nodes: poll the store.
	until(t, 90*time.Second, "the detector's alert to halt the rollout", func() bool { return other.get(t, v2.ID).Status == "halted" })
	if got := other.get(t, v2.ID); !strings.Contains(got.Reason, "authz-failures") || !strings.Contains(got.Reason, flooder.id) || got.Wave != 1 {
		t.Errorf("halted in wave %d: %q, want the detector's alert on %s", got.Wave, got.Reason, flooder.id)
	}
	if err := other.api.Post(ctx, "/api/v1/rollouts/"+v2.ID+"/resume", nil, &pv); err != nil || pv.Status != "running" {
		t.Fatalf("resume through the node that does not lead: %s %q %v", pv.Status, pv.Reason, err)
	}
	var a alert.Alert
	if err := other.api.Post(ctx, "/api/v1/alerts", alert.Alert{Device: first[1], Rule: "mirai-scan", Severity: alert.High, Title: "telnet scanning"}, &a); err != nil {
		t.Fatal(err)
	}
	other.until(t, "the halt", func() bool { return other.get(t, v2.ID).Status == "halted" })
	if got := other.get(t, v2.ID); !strings.Contains(got.Reason, "mirai-scan") || got.Wave != 1 {
		t.Errorf("halted in wave %d: %q, want the alert's", got.Wave, got.Reason)
	}
	var ce *client.Error
	if err := other.api.Post(ctx, "/api/v1/rollouts/"+v2.ID+"/abort", nil, &pv); err != nil || pv.Status != "aborted" {
		t.Errorf("abort through the node that does not lead: %s %v", pv.Status, err)
	}
	if err := other.api.Post(ctx, "/api/v1/rollouts/"+v2.ID+"/resume", nil, nil); !asStatus(err, &ce, 409) {
		t.Errorf("resume of an aborted rollout: %v, want 409", err)
	}

	// 6. Only the leader handled reports; nothing was dropped anywhere.
	if got := wardtest.Counter(t, other.srv.registry, "ward_rollout_reports_total", "result", "applied"); got != 0 {
		t.Errorf("the node that does not lead applied %v reports", got)
	}
	if got := wardtest.Counter(t, lead.srv.registry, "ward_rollout_reports_total", "result", "applied"); got == 0 {
		t.Error("the leader applied no report")
	}
	for _, r := range []*rig{lead, other, gwA, gwB, det} {
		if got := wardtest.Counter(t, r.srv.registry, "ward_rollout_dropped_total", "", ""); got != 0 {
			t.Errorf("node %s dropped %v rollout inputs", r.dir, got)
		}
	}
}

// TestClusterOrderAfterGatewayCutOff: a gateway node cut off from NATS
// (its connection alone, through a proxy) while an API node creates a
// rollout misses the order's fan-out; once its connection is back it
// publishes the order again to the device connected to it, which gets it
// without reconnecting.
func TestClusterOrderAfterGatewayCutOff(t *testing.T) {
	nats := clusterBus(t, "ordercut")
	clk := &rolloutClock{t: time.Now()}
	changed := make(chan struct{}, 1)
	opts := Options{rolloutNow: clk.now, ManualRollouts: true}
	dirA, dirB := t.TempDir(), t.TempDir()
	t.Setenv("WARD_ROLE", "api")
	api := &rig{ward: startWith(t, dirA, opts), clock: clk, changed: changed, devs: map[string]*fwDevice{}}
	shareCA(t, dirA, dirB)
	proxy := wardtest.NewProxy(t, strings.TrimPrefix(nats.URL(), "nats://"))
	t.Setenv("WARD_BUS_NATS_URL", "nats://"+proxy.Addr())
	t.Setenv("WARD_ROLE", "gateway")
	gw := &rig{ward: startWith(t, dirB, opts), clock: clk, changed: changed, devs: map[string]*fwDevice{}}
	api.publishRelease(t, "1.5.0")
	dev := &fwDevice{id: "th-cut", cert: api.enroll(t, "th-cut"), r: gw, behave: behaveSilent}
	dev.online(t)

	proxy.Cut()
	v := api.create(t, rollout.Spec{Model: "acme-th1", Version: "1.5.0", Waves: []float64{100}, Soak: "1m"})
	if st := api.states(t, v.ID)[dev.id]; st != string(store.DevicePending) {
		t.Fatalf("device %s after the create, want pending", st)
	}
	if n := dev.ordered(); n != 0 {
		t.Fatal("the device got its order through a gateway cut off from the bus: the test does not test the redelivery")
	}
	proxy.Restore()
	gw.until(t, "the order the gateway missed while cut off", func() bool { return dev.ordered() > 0 }) // each order wakes it
	dev.mu.Lock()
	o := dev.orders[0]
	dev.mu.Unlock()
	if o.Rollout != v.ID || o.Version != "1.5.0" {
		t.Errorf("the device got order %+v, want rollout %s version 1.5.0", o, v.ID)
	}
	if got := wardtest.Counter(t, gw.srv.registry, "ward_gateway_connections_total", "result", "accepted"); got != 1 {
		t.Errorf("%v connections accepted from the device, want 1: it got the order without reconnecting", got)
	}
}

// TestClusterStatusReportRefusedNotDropped: with NATS down and the
// node's queue for the bus full (bounded at one input here), a device's
// status report is refused to the device (MQTT 3.1.1: its connection is
// closed without PUBACK), not acknowledged and dropped; the device sends
// it again from its session after reconnecting, and once NATS is back
// its reports reach the leader and the device is installed: the last
// report, past the bound, was not lost.
func TestClusterStatusReportRefusedNotDropped(t *testing.T) {
	nats := clusterBus(t, "reportrefused")
	clk := &rolloutClock{t: time.Now()}
	changed := make(chan struct{}, 1)
	poke := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	r := &rig{clock: clk, changed: changed, devs: map[string]*fwDevice{}}
	r.ward = startWith(t, t.TempDir(), Options{rolloutNow: clk.now, ManualRollouts: true, rolloutQueueSize: 1, rolloutProcessed: poke})
	until(t, 30*time.Second, "the node to lead rollouts", func() bool { // elected through PostgreSQL: poll its gauge
		return wardtest.Gauge(t, r.srv.registry, "ward_leader", "job", "rollouts") == 1
	})
	r.publishRelease(t, "1.5.0")
	const id = "th-q"
	cert := r.enroll(t, id)
	orders := make(chan update.Order, 4)
	lost := make(chan error, 1)
	opts := paho.NewClientOptions().AddBroker("tls://localhost:" + port(r.srv.MQTTAddr())).SetClientID(id + ":agent").
		SetTLSConfig(pki.ClientConfig(r.srv.CA().RootPool(), &cert)).SetCleanSession(false).SetAutoReconnect(true).
		SetConnectTimeout(wait).SetConnectionLostHandler(func(_ paho.Client, err error) {
		select {
		case lost <- err:
		default:
		}
	})
	dev := paho.NewClient(opts)
	if tok := dev.Connect(); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	t.Cleanup(func() { dev.Disconnect(0) })
	if tok := dev.Subscribe(update.OrderTopic(id), 1, func(_ paho.Client, m paho.Message) {
		if o, err := update.ParseOrder(m.Payload()); err == nil {
			orders <- o
		}
	}); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	v := r.create(t, rollout.Spec{Model: "acme-th1", Version: "1.5.0", Waves: []float64{100}, Soak: "1m"})
	select {
	case <-orders:
	case <-time.After(wait):
		t.Fatal("no order")
	}

	nats.Stop()
	for _, st := range []update.State{update.StateDownloading, update.StateInstalling, update.StateInstalled} {
		b, _ := json.Marshal(update.Status{Rollout: v.ID, Version: "1.5.0", State: st, At: time.Now().UTC()})
		dev.Publish(update.StatusTopic(id), 1, false, b) // held in paho's session until acknowledged
	}
	select {
	case <-lost:
	case <-time.After(wait):
		t.Fatal("the device's connection was not closed: no report was refused with the node's queue full")
	}
	if got := wardtest.Counter(t, r.srv.registry, "ward_rollout_reports_refused_total", "", ""); got < 1 {
		t.Errorf("ward_rollout_reports_refused_total = %v, want at least 1", got)
	}
	nats.Start()
	r.until(t, "the device's reports, resent after the refusals, to install it", func() bool {
		return r.states(t, v.ID)[id] == string(store.DeviceInstalled)
	})
	// ward_rollout_dropped_total may count the device's connections
	// while the queue was full: dropped, and recovered by the session
	// directory (docs/architecture.md).
}
