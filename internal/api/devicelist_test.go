package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/wardproject/ward/internal/fleet"
	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/store/sqlite"
)

// listFleet registers d-00..d-24: model cam (even) or th1 (odd), tag
// "lab" on every third, status active on every second (pending
// otherwise), and a certificate for d-03.
func listFleet(t *testing.T, db *sqlite.DB) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	for i := range 25 {
		d := store.Device{ID: fmt.Sprintf("d-%02d", i), Model: "th1", Firmware: "1", Status: store.StatusPending, CreatedAt: now, UpdatedAt: now}
		if i%2 == 0 {
			d.Model, d.Status = "cam", store.StatusActive
		}
		if i%3 == 0 {
			d.Tags = []string{"lab"}
		}
		if err := db.CreateDevice(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.PutCertificate(ctx, store.Certificate{Serial: "0a", DeviceID: "d-03", Subject: "CN=d-03", Kind: "device",
		NotBefore: now, NotAfter: now.Add(time.Hour), Fingerprint: "ff", DER: []byte{1}, IssuedAt: now}); err != nil {
		t.Fatal(err)
	}
}

// getDevices GETs a device list URL (path and query) as a viewer and
// returns the IDs, the views and the Link header.
func getDevices(t *testing.T, e *env, path string) ([]string, []fleet.View, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+e.tokens[store.RoleViewer])
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	var vs []fleet.View
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatalf("GET %s: not a JSON array: %v: %s", path, err, b)
	}
	var ids []string
	for _, v := range vs {
		ids = append(ids, v.ID)
	}
	return ids, vs, resp.Header.Get("Link")
}

var linkNext = regexp.MustCompile(`^<(/api/v1/devices\?[^>]+)>; rel="next"$`)

func TestDeviceListPaging(t *testing.T) {
	e, db := newEnvWith(t, nil)
	listFleet(t, db)
	ids := func(keep func(i int) bool) []string {
		var out []string
		for i := range 25 {
			if keep(i) {
				out = append(out, fmt.Sprintf("d-%02d", i))
			}
		}
		return out
	}
	tests := []struct {
		name, query string
		want        []string
	}{
		{"all", "limit=7", ids(func(int) bool { return true })},
		{"page-divides-total", "limit=5", ids(func(int) bool { return true })},
		{"status", "status=active&limit=4", ids(func(i int) bool { return i%2 == 0 })},
		{"model", "model=th1&limit=4", ids(func(i int) bool { return i%2 == 1 })},
		{"tag", "tag=lab&limit=2", ids(func(i int) bool { return i%3 == 0 })},
		{"search", "q=D-1&limit=3", ids(func(i int) bool { return i >= 10 && i < 20 })},
		{"search-model", "q=CAM&limit=6", ids(func(i int) bool { return i%2 == 0 })},
		{"filters-combined", "model=cam&tag=lab&q=d&limit=1", ids(func(i int) bool { return i%6 == 0 })},
		{"not-connected-without-gateway", "connected=false&limit=9", ids(func(int) bool { return true })},
		{"connected-without-gateway", "connected=true&limit=9", nil},
		{"no-match", "q=nothing&limit=3", nil},
		{"filter-without-paging", "model=cam", ids(func(i int) bool { return i%2 == 0 })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			path := "/api/v1/devices?" + tt.query
			limit := 0
			if l := url.Values(must(url.ParseQuery(tt.query))).Get("limit"); l != "" {
				fmt.Sscan(l, &limit)
			}
			for pages := 0; path != ""; pages++ {
				if pages > 30 {
					t.Fatal("more than 30 pages")
				}
				page, _, link := getDevices(t, e, path)
				if limit > 0 && len(page) > limit {
					t.Fatalf("page of %d devices for limit %d", len(page), limit)
				}
				got = append(got, page...)
				path = ""
				if link != "" {
					m := linkNext.FindStringSubmatch(link)
					if m == nil {
						t.Fatalf("Link %q is not one rel=next URL", link)
					}
					if len(page) != limit {
						t.Errorf("a page of %d (limit %d) announces a next one", len(page), limit)
					}
					next := must(url.Parse(m[1])).Query()
					for k, v := range must(url.ParseQuery(tt.query)) {
						if next.Get(k) != v[0] {
							t.Errorf("next URL %s dropped %s=%s", m[1], k, v[0])
						}
					}
					path = m[1]
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("devices across pages (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("page-carries-its-certificates", func(t *testing.T) {
		_, vs, _ := getDevices(t, e, "/api/v1/devices?tag=lab&limit=2")
		if len(vs) != 2 || vs[1].ID != "d-03" || len(vs[1].Certificates) != 1 || vs[1].Certificates[0].Serial != "0a" {
			t.Fatalf("page: %+v", vs)
		}
		if vs[0].Certificates == nil || len(vs[0].Certificates) != 0 {
			t.Errorf("a device without certificates: %v, want []", vs[0].Certificates)
		}
	})
}

// TestDeviceListUnpagedIsCompatible: without limit and after, the answer
// is the whole list as a JSON array with no Link header, as before paging.
func TestDeviceListUnpagedIsCompatible(t *testing.T) {
	e, db := newEnvWith(t, nil)
	listFleet(t, db)
	ids, vs, link := getDevices(t, e, "/api/v1/devices")
	if len(ids) != 25 || !slices.IsSorted(ids) || link != "" {
		t.Fatalf("unpaged: %d devices, sorted %v, Link %q", len(ids), slices.IsSorted(ids), link)
	}
	_, raw := e.do(t, "GET", "/api/v1/devices", e.tokens[store.RoleViewer], "")
	var objs []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &objs); err != nil || len(objs) != 25 {
		t.Fatalf("unpaged body is not an array of 25 objects: %v", err)
	}
	if c, ev := string(objs[0]["certificates"]), string(objs[0]["events"]); c != "[]" || ev != "[]" {
		t.Errorf("unpaged device: certificates %s, events %s (want [] and [])", c, ev)
	}
	if vs[3].ID != "d-03" || len(vs[3].Certificates) != 1 {
		t.Errorf("d-03's certificate missing: %+v", vs[3])
	}
}

func TestDeviceListBadParameters(t *testing.T) {
	e := newEnv(t)
	tests := []struct{ name, query, param string }{
		{"limit-zero", "limit=0", "limit"},
		{"limit-too-large", "limit=1001", "limit"},
		{"limit-not-number", "limit=ten", "limit"},
		{"limit-twice", "limit=1&limit=2", "limit"},
		{"status-unknown", "status=sleeping", "status"},
		{"connected-not-bool", "connected=maybe", "connected"},
		{"after-not-cursor", "after=d-01", "after"},
		{"after-empty", "after=", "after"},
		{"after-padded", "after=ZC0wMQ==", "after"},
		{"q-too-long", "q=" + strings.Repeat("x", 257), "q"},
		{"tag-too-long", "tag=" + strings.Repeat("x", 257), "tag"},
		{"model-too-long", "model=" + strings.Repeat("x", 257), "model"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := e.do(t, "GET", "/api/v1/devices?"+tt.query, e.tokens[store.RoleViewer], "")
			if code != http.StatusBadRequest {
				t.Fatalf("got %d %s, want 400", code, body)
			}
			var er ErrorResponse
			if err := json.Unmarshal(body, &er); err != nil || !strings.Contains(er.Message, tt.param) {
				t.Errorf("message %q does not name %s (%v)", er.Message, tt.param, err)
			}
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestRequestDurationByRoute: ward_api_request_duration_seconds labels a
// request with its route pattern, never the raw path: requests for many
// device IDs make one series.
func TestRequestDurationByRoute(t *testing.T) {
	e := newEnv(t)
	for _, id := range []string{"a", "b", "c", "d"} {
		e.do(t, "GET", "/api/v1/devices/"+id, e.tokens[store.RoleViewer], "")
	}
	e.do(t, "GET", "/api/v1/devices?limit=1", e.tokens[store.RoleViewer], "")
	if n := testutil.CollectAndCount(e.api.duration); n != 2 {
		t.Errorf("%d series, want 2 (one per route and status class)", n)
	}
	var h dto.Metric
	if err := e.api.duration.WithLabelValues("GET /api/v1/devices/{id}", "4xx").(prometheus.Histogram).Write(&h); err != nil {
		t.Fatal(err)
	}
	if got := h.GetHistogram().GetSampleCount(); got != 4 {
		t.Errorf("GET /api/v1/devices/{id} 4xx: %d observations, want 4", got)
	}
}
