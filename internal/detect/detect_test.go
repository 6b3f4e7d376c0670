package detect

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/alert"
	"github.com/wardproject/ward/internal/gwevent"
	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/store/sqlite"
	"github.com/wardproject/ward/internal/wardtest"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want byte
	}{
		{"empty", nil, fmtNone},
		{"json-object", []byte(` {"t":1}`), fmtJSON},
		{"json-array", []byte("[1,2]"), fmtJSON},
		{"text", []byte("temp=21.5 ok"), fmtText},
		{"utf8-text", []byte("température 21°"), fmtText},
		{"binary", []byte{0x00, 0x01, 0xff, 0x10}, fmtBinary},
		{"control-bytes", []byte("ab\x01cd"), fmtBinary},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classify(tt.in); got != tt.want {
				t.Errorf("classify(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseDeviceReport(t *testing.T) {
	tests := []struct {
		name string
		in   string
		err  string
	}{
		{"minimal", `{"version":1}`, ""},
		{"full", `{"version":1,"timestamp":"2026-11-25T08:00:00Z","interval_seconds":60,"bytes_in":1,"bytes_out":2,"packets_in":3,"packets_out":4,
			"destination_ips":["192.0.2.1","2001:db8::1","::ffff:10.0.0.1"],"listening_tcp_ports":[443],"listening_udp_ports":[5353],"established_connections":2}`, ""},
		{"wrong-version", `{"version":2}`, "version must be 1"},
		{"no-version", `{}`, "version must be 1"},
		{"unknown-field", `{"version":1,"cpu":3}`, "unknown field"},
		{"negative", `{"version":1,"bytes_out":-1}`, "bytes_out must not be negative"},
		{"bad-ip", `{"version":1,"destination_ips":["300.1.1.1"]}`, "destination_ips[0]"},
		{"bad-port", `{"version":1,"listening_tcp_ports":[0]}`, "listening_tcp_ports[0]"},
		{"wrong-type", `{"version":1,"bytes_in":"many"}`, "cannot unmarshal"},
		{"trailing", `{"version":1} {"version":1}`, "trailing data"},
		{"not-json", `hello`, "invalid"},
		{"interval", `{"version":1,"interval_seconds":0}`, "interval_seconds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseDeviceReport([]byte(tt.in))
			if tt.err == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrBadReport) || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("got %v (report %+v), want an ErrBadReport mentioning %q", err, r, tt.err)
			}
		})
	}
	r, _ := ParseDeviceReport([]byte(`{"version":1,"destination_ips":["::ffff:10.0.0.1"]}`))
	if r.DestinationIPs[0] != "10.0.0.1" {
		t.Errorf("IPv4-mapped address not unmapped: %v", r.DestinationIPs)
	}
}

func FuzzParseDeviceReport(f *testing.F) {
	f.Add([]byte(`{"version":1,"bytes_out":5,"destination_ips":["192.0.2.1"],"listening_tcp_ports":[23]}`))
	f.Add([]byte(`{"version":1}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseDeviceReport(b)
		if err != nil {
			return
		}
		for _, p := range append(r.ListeningTCPPorts, r.ListeningUDPPorts...) {
			if p < 1 || p > 65535 {
				t.Fatalf("accepted port %d", p)
			}
		}
		if r.Version != 1 {
			t.Fatal("accepted version", r.Version)
		}
	})
}

func TestProfileValidation(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		err  string
	}{
		{"ok-yaml", "name: p\nrules:\n  - {name: r, metric: authz_failures, comparison: '>', value: 3, severity: high}\n", ""},
		{"ok-json-list", `[{"name":"a","rules":[]},{"name":"b","rules":[{"name":"r","metric":"listening_tcp_ports","comparison":"in-set","values":["23"],"severity":"critical"}]}]`, ""},
		{"unknown-metric", "name: p\nrules:\n  - {name: r, metric: cpu, comparison: '>', value: 3, severity: high}\n", "rules[0].metric"},
		{"set-with-gt", "name: p\nrules:\n  - {name: r, metric: destination_ips, comparison: '>', value: 3, severity: high}\n", "rules[0].comparison"},
		{"numeric-in-set", "name: p\nrules:\n  - {name: r, metric: bytes_sent, comparison: in-set, values: ['1'], severity: high}\n", "rules[0].comparison"},
		{"bad-stat", "name: p\nrules:\n  - {name: r, metric: bytes_sent, comparison: '>', statistic: p42, severity: high}\n", "rules[0].statistic"},
		{"bad-window", "name: p\nrules:\n  - {name: r, metric: bytes_sent, comparison: '>', value: 1, window: 2m, severity: high}\n", "rules[0].window"},
		{"bad-severity", "name: p\nrules:\n  - {name: r, metric: bytes_sent, comparison: '>', value: 1, severity: huge}\n", "rules[0].severity"},
		{"bad-mitre", "name: p\nrules:\n  - {name: r, metric: bytes_sent, comparison: '>', value: 1, severity: low, mitre: [X1]}\n", "rules[0].mitre"},
		{"bad-mitigation", "name: p\nrules:\n  - {name: r, metric: bytes_sent, comparison: '>', value: 1, severity: low, mitigation: nuke}\n", "rules[0].mitigation"},
		{"dup-rule", "name: p\nrules:\n  - {name: r, metric: bytes_sent, comparison: '>', value: 1, severity: low}\n  - {name: r, metric: bytes_sent, comparison: '>', value: 1, severity: low}\n", "duplicate rule"},
		{"unknown-key", "name: p\nrulez: []\n", "rulez"},
		{"bad-name", "name: 'Has Space'\n", "name"},
		{"bad-sensitivity", "name: p\nbaseline: {enabled: true, sensitivity: extreme}\n", "baseline.sensitivity"},
		{"empty", "  ", "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseProfiles([]byte(tt.doc))
			if tt.err == "" && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Errorf("got %v, want an error mentioning %q", err, tt.err)
			}
		})
	}
}

func FuzzParseProfiles(f *testing.F) {
	f.Add([]byte("name: p\nrules:\n  - {name: r, metric: authz_failures, comparison: '>', value: 3, severity: high}\n"))
	f.Add([]byte(`[{"name":"a"}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ps, err := ParseProfiles(b)
		if err != nil {
			return
		}
		for _, p := range ps {
			for _, r := range p.Rules {
				if r.RaiseAfter < 1 || !r.Severity.Valid() || windowTiers[r.Window] == 0 {
					t.Fatalf("accepted an invalid rule: %+v", r)
				}
			}
		}
	})
}

func TestRingQuantile(t *testing.T) {
	r := newRing(100)
	for i := 1; i <= 150; i++ { // keeps 51..150
		r.add(float64(i))
	}
	for _, tt := range []struct{ q, want float64 }{{0.5, 100}, {0.99, 149}, {1, 150}, {0, 51}} {
		if got := r.quantile(tt.q); got != tt.want {
			t.Errorf("quantile(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
}

func TestBaselineScores(t *testing.T) {
	g := newGroupModel()
	for i := range 400 {
		g.learn(map[string]float64{MessagesSent: float64(6 + i%3), BytesSent: float64(1200 + 50*(i%5))}, int64(i/20))
	}
	if !g.ready() {
		t.Fatal("model not ready after 400 datapoints in 20 windows")
	}
	normal := g.score(map[string]float64{MessagesSent: 7, BytesSent: 1300})
	if normal.anomalous("high") {
		t.Errorf("usual datapoint scored %+v at high sensitivity", normal)
	}
	burst := g.score(map[string]float64{MessagesSent: 7, BytesSent: 2_000_000})
	if !burst.anomalous("low") || burst.Metric != BytesSent {
		t.Errorf("exfiltration burst scored %+v", burst)
	}
	// Sensitivity orders the thresholds.
	mid := g.score(map[string]float64{MessagesSent: 60, BytesSent: 1300})
	if !(mid.anomalous("high") && !mid.anomalous("low")) {
		t.Errorf("a 9x message rate should be anomalous at high but not low sensitivity: %+v", mid)
	}
}

// fakeClock-driven engine test: the collector is fed observations
// directly, windows are closed by hand, alerts go to a real manager.
type harness struct {
	eng    *Engine
	col    *Collector
	alerts *alert.Manager
	db     *sqlite.DB
	now    time.Time
}

func newHarness(t *testing.T, devices ...string) *harness {
	t.Helper()
	ctx := context.Background()
	db := wardtest.SQLite(t)
	h := &harness{db: db, col: NewCollector(), now: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)}
	var err error
	clock := func() time.Time { return h.now }
	for _, id := range devices {
		db.CreateDevice(ctx, store.Device{ID: id, Model: "acme-th1", Status: store.StatusActive, CreatedAt: h.now, UpdatedAt: h.now})
	}
	if h.alerts, err = alert.NewManager(ctx, alert.Options{Store: db, Now: clock}); err != nil {
		t.Fatal(err)
	}
	if h.eng, err = New(ctx, Options{Collector: h.col, Store: db, Alerts: h.alerts, Window: 10 * time.Second, Now: clock}); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *harness) obs(o gwevent.Event) {
	o.Time = h.now
	h.col.Observe(o)
}

func (h *harness) tick(t *testing.T) {
	t.Helper()
	h.now = h.now.Add(10 * time.Second)
	if err := h.eng.CloseWindow(context.Background(), h.now); err != nil {
		t.Fatal(err)
	}
}

func (h *harness) active(t *testing.T, device string) map[string]alert.Alert {
	t.Helper()
	as, err := h.alerts.List(context.Background(), alert.Filter{Device: device, States: []alert.State{alert.Open, alert.Acknowledged}})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]alert.Alert{}
	for _, a := range as {
		out[a.Rule] = a
	}
	return out
}

func (h *harness) benign(ids ...string) {
	for _, id := range ids {
		h.obs(gwevent.Event{Kind: gwevent.Published, Device: id, Topic: "devices/" + id + "/telemetry", Bytes: 40, Payload: []byte(`{"t":21.5,"h":40}`)})
	}
}

func TestRulesRaiseUpdateAndClear(t *testing.T) {
	h := newHarness(t, "a", "b")
	for range 3 {
		h.obs(gwevent.Event{Kind: gwevent.Connected, Device: "a", RemoteAddr: "192.0.2.1:1883"})
		h.obs(gwevent.Event{Kind: gwevent.Connected, Device: "b", RemoteAddr: "192.0.2.2:1883"})
		h.benign("a", "b")
		h.tick(t)
	}
	if n := len(h.active(t, "")); n != 0 {
		t.Fatalf("%d alerts on benign traffic", n)
	}
	// Device a: an ACL denial storm in one window.
	for range 8 {
		h.obs(gwevent.Event{Kind: gwevent.ACLDenied, Device: "a", Action: "publish", Topic: "devices/b/cmd"})
	}
	h.benign("a", "b")
	h.tick(t)
	got := h.active(t, "a")["authz-failures"]
	if got.ID == "" {
		t.Fatalf("no authz-failures alert after the storm: %v", h.active(t, "a"))
	}
	if got.Evidence.Value != 8 || got.Evidence.Threshold != 5 || got.Evidence.Metric != AuthzFailures || got.Severity != alert.High || len(got.MITRE) == 0 {
		t.Errorf("evidence: %+v", got)
	}
	if len(h.active(t, "b")) != 0 {
		t.Errorf("benign device b alerted: %v", h.active(t, "b"))
	}
	// The storm goes on: the same alert is updated, not duplicated.
	for range 9 {
		h.obs(gwevent.Event{Kind: gwevent.ACLDenied, Device: "a", Action: "publish"})
	}
	h.tick(t)
	again := h.active(t, "a")["authz-failures"]
	if again.ID != got.ID || again.Count != 2 || again.Evidence.Value != 9 {
		t.Errorf("update: %+v", again)
	}
	// Three clean windows clear it.
	for range 3 {
		h.benign("a")
		h.tick(t)
	}
	if a, err := h.alerts.Get(context.Background(), got.ID); err != nil || a.State != alert.Cleared || a.ClearedBy != "auto" {
		t.Errorf("after 3 clean windows: %+v %v", a, err)
	}
}

func TestSetRulesAndDeviceReports(t *testing.T) {
	h := newHarness(t, "cam")
	rep := `{"version":1,"bytes_out":90000,"destination_ips":[%s],"listening_tcp_ports":[80,23]}`
	var ips []string
	for i := range 40 {
		ips = append(ips, fmt.Sprintf(`"198.51.100.%d"`, i))
	}
	h.obs(gwevent.Event{Kind: gwevent.Published, Device: "cam", Topic: "devices/cam/metrics", Payload: []byte(fmt.Sprintf(rep, strings.Join(ips, ",")))})
	h.tick(t)
	act := h.active(t, "cam")
	if a := act["insecure-service"]; a.ID == "" || strings.Join(a.Evidence.Values, ",") != "23" || a.Severity != alert.Critical {
		t.Errorf("insecure-service: %+v", a)
	}
	if a := act["network-scanning"]; a.ID == "" || a.Evidence.Value != 40 {
		t.Errorf("network-scanning: %+v", a)
	}
	// Malformed reports are counted, not merged.
	for range 4 {
		h.obs(gwevent.Event{Kind: gwevent.Published, Device: "cam", Topic: "devices/cam/metrics", Payload: []byte(`{"version":1,"listening_tcp_ports":[99999]}`)})
	}
	h.tick(t)
	if a := h.active(t, "cam")["invalid-metrics-report"]; a.ID == "" || a.Evidence.Value != 4 {
		t.Errorf("invalid-metrics-report: %+v", a)
	}
}

func TestStatisticalThreshold(t *testing.T) {
	ids := []string{"d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7", "d8", "d9"}
	h := newHarness(t, ids...)
	// 20 windows x 10 devices of 10..19 messages: p99 = 19, threshold
	// max(50, 10x19) = 190; one outlier datapoint does not move the p99.
	for w := range 20 {
		for i, id := range ids {
			for range 10 + (i+w)%10 {
				h.benign(id)
			}
		}
		h.tick(t)
	}
	for range 150 { // above the static 50, below 10 x p99
		h.benign("d3")
	}
	h.tick(t)
	if a := h.active(t, "d3")["message-flood"]; a.ID != "" {
		t.Fatalf("150 messages flagged although the statistical threshold is about 190: %+v", a.Evidence)
	}
	for range 500 {
		h.benign("d3")
	}
	h.tick(t)
	a := h.active(t, "d3")["message-flood"]
	if a.ID == "" || a.Evidence.Threshold < 150 || !strings.Contains(a.Evidence.Statistic, "p99") {
		t.Fatalf("flood not detected with a statistical threshold: %+v", a)
	}
}

func TestProfilesPersist(t *testing.T) {
	h := newHarness(t)
	ps, err := ParseProfiles([]byte("name: only\nauto_mitigate: true\nrules:\n  - {name: r, metric: authz_failures, comparison: '>', value: 1, severity: low, mitigation: quarantine}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.eng.SetProfiles(context.Background(), ps); err != nil {
		t.Fatal(err)
	}
	e2, err := New(context.Background(), Options{Collector: NewCollector(), Store: h.db, Alerts: h.alerts})
	if err != nil {
		t.Fatal(err)
	}
	if got := e2.Profiles(); len(got) != 1 || got[0].Name != "only" || !got[0].AutoMitigate {
		t.Errorf("profiles after reload: %+v", got)
	}
}

// TestBaselineBands: a ready group model publishes each metric's usual
// range (median inside p99 inside p99.9, around what it learned); a model
// still learning publishes none.
func TestBaselineBands(t *testing.T) {
	g := newGroupModel()
	for i := range 400 {
		g.learn(map[string]float64{MessagesSent: float64(6 + i%3)}, int64(i/20))
	}
	e := &Engine{models: map[string]*groupModel{"default|m": g, "default|young": newGroupModel()}}
	bs := e.Baselines()
	if len(bs) != 2 || bs[0].Group != "default|m" || bs[1].Bands != nil {
		t.Fatalf("Baselines() = %+v, want the ready model with bands, then the young one without", bs)
	}
	b := bs[0].Bands[MessagesSent]
	if !(b.P50 >= 5 && b.P50 <= 9 && b.P50 <= b.P99 && b.P99 <= b.P999 && b.P999 < 20) {
		t.Errorf("messages_sent band = %+v, want 5 <= p50 <= 9, p50 <= p99 <= p99.9 < 20 (learned 6..8)", b)
	}
}
