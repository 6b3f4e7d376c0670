package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wardproject/ward/internal/alert"
	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/store/sqlite"
)

// TestListAlertsServerFilters: severity (that or worse) and since are
// applied by the store before the limit, so a critical alert buried under
// a thousand newer low ones is still found; bad values are 400.
func TestListAlertsServerFilters(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	var alerts *alert.Manager
	e := newFullEnv(t, func(o *Options) {
		var err error
		alerts, err = alert.NewManager(ctx, alert.Options{Store: o.DetectStore.(*sqlite.DB), Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		o.Alerts, o.Mitigator = alerts, fakeMitigator{alerts}
	})
	raise := func(device, rule string, sev alert.Severity) {
		t.Helper()
		if _, err := alerts.Raise(ctx, alert.Alert{Device: device, Rule: rule, Severity: sev}); err != nil {
			t.Fatal(err)
		}
	}
	raise("cam-1", "mirai-scan", alert.Critical)
	now = now.Add(time.Minute)
	raise("cam-3", "msg-rate", alert.Medium)
	now = now.Add(30 * time.Second)
	raise("cam-2", "msg-rate", alert.High)
	now = now.Add(time.Minute)
	var flood []alert.Alert
	for i := range 1000 {
		flood = append(flood, alert.Alert{Device: fmt.Sprintf("noise-%04d", i), Rule: "msg-rate", Severity: alert.Low})
	}
	if err := alerts.RaiseAll(ctx, flood); err != nil {
		t.Fatal(err)
	}
	since := func(d time.Duration) string {
		return url.QueryEscape(time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC).Add(d).Format(time.RFC3339))
	}
	viewer := e.tokens[store.RoleViewer]
	for _, tt := range []struct {
		name, query string
		want        []string // devices, newest first
	}{
		{"critical-under-a-flood", "severity=critical", []string{"cam-1"}},
		{"high-or-worse", "severity=high", []string{"cam-2", "cam-1"}},
		{"medium-or-worse-since", "severity=medium&since=" + since(time.Minute), []string{"cam-2", "cam-3"}},
		{"since-excludes-earlier", "severity=high&since=" + since(30*time.Second), []string{"cam-2"}},
		{"with-state-and-rule", "severity=medium&state=active&rule=msg-rate", []string{"cam-2", "cam-3"}},
		{"nothing-after", "since=" + since(time.Hour), nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, body := e.do(t, "GET", "/api/v1/alerts?"+tt.query, viewer, "")
			if code != http.StatusOK {
				t.Fatalf("%d %s", code, body)
			}
			var as []alert.Alert
			if err := json.Unmarshal(body, &as); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, a := range as {
				got = append(got, a.Device)
			}
			if len(got) > 5 {
				got = got[:5]
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("devices (-want +got):\n%s", diff)
			}
		})
	}
	for _, q := range []string{"severity=urgent", "severity=HIGH", "since=yesterday", "since=2026-12-06"} {
		if code, body := e.do(t, "GET", "/api/v1/alerts?"+q, viewer, ""); code != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", q, code, body)
		}
	}
}
