package server

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	wardMetric = regexp.MustCompile(`\bward_[a-z0-9_]+\b`)
	descName   = regexp.MustCompile(`fqName: "([^"]+)"`)
)

// TestGrafanaDashboardMetricsExist parses deploy/grafana/ward.json, takes
// every metric name its PromQL expressions query, and checks that a real
// running server has it: in its /metrics scrape, or registered (a metric
// with labels has no series until its first event, a sink failure for
// example, but its collector is registered from the start). Histogram
// series (_bucket, _sum, _count) count for their histogram.
func TestGrafanaDashboardMetricsExist(t *testing.T) {
	raw, err := os.ReadFile("../../deploy/grafana/ward.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Query any `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("deploy/grafana/ward.json: %v", err)
	}
	queried := map[string][]string{} // metric -> panels
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			for _, m := range wardMetric.FindAllString(tg.Expr, -1) {
				queried[m] = append(queried[m], p.Title)
			}
		}
	}
	for _, v := range dash.Templating.List {
		if s, ok := v.Query.(string); ok {
			for _, m := range wardMetric.FindAllString(s, -1) {
				queried[m] = append(queried[m], "variable")
			}
		}
	}
	if len(queried) < 10 {
		t.Fatalf("the dashboard queries %d Ward metrics; the parse missed them", len(queried))
	}

	// A notification sink (on Ward's own broker), so that the sinks'
	// metrics exist as they do on a server that has one.
	dir := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "ward.yaml")
	if err := os.WriteFile(cfg, []byte("notify:\n  dead_letter_dir: "+filepath.Join(dir, "dead-letters")+"\n  mqtt:\n    - {name: automation, topic_prefix: ward/alerts}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("WARD_CONFIG", cfg)
	w := start(t, dir)
	c := w.enroll(t, "dash-1") // a device certificate: the expiry gauge has a series
	mc, err := w.connect(&c, "dash-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Disconnect(0)
	body, err := w.api.Raw(context.Background(), "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]string{}
	for line := range strings.Lines(string(body)) {
		if name, _, ok := strings.Cut(line, " "); ok && !strings.HasPrefix(line, "#") {
			name, _, _ = strings.Cut(name, "{")
			have[name] = "scraped"
		}
	}
	ch := make(chan *prometheus.Desc, 64)
	go func() { w.srv.registry.Describe(ch); close(ch) }()
	for d := range ch {
		if m := descName.FindStringSubmatch(d.String()); m != nil && have[m[1]] == "" {
			have[m[1]] = "registered"
		}
	}
	names := make([]string, 0, len(queried))
	for m := range queried {
		names = append(names, m)
	}
	slices.Sort(names)
	for _, m := range names {
		base := m
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(m, suf); ok && have[b] != "" {
				base = b
			}
		}
		if have[m] == "" && have[base] == "" {
			t.Errorf("%s (panels %q) is neither in /metrics nor registered", m, queried[m])
		}
	}
	for _, m := range []string{"ward_fleet_devices", "ward_certificate_expiry_soonest_seconds", "ward_gateway_sessions", "ward_detect_lag_seconds",
		"ward_api_request_duration_seconds_bucket", "ward_store_operation_duration_seconds_bucket"} {
		if have[m] != "scraped" {
			t.Errorf("%s has no series in /metrics after a device enrolled and connected", m)
		}
	}
}
