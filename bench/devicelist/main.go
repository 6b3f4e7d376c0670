// Command devicelist measures the device list API (GET /api/v1/devices)
// at fleet scale: it generates -devices devices (default 100,000) with a
// certificate each in a fresh store (SQLite, PostgreSQL or both), serves
// the real API handler (token authentication, fleet.Registry, the store)
// over loopback HTTPS, and times each request inside the server, from the
// first byte of the handler to the last byte written, for the pages an
// operator asks for: the first page, a deep page, each filter, searches,
// connected and not connected.
//
// The gateway is a stand-in holding a fixed connected set (every third
// device): 33,000 live MQTT sessions cannot be opened on the benchmark
// machine. It answers ConnectedIDs with the real gateway's algorithm
// (collect the IDs after the cursor, sort, cut).
//
//	go run ./bench/devicelist [-devices 100000] [-backend sqlite|postgres|both] [-requests 50]
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wardproject/ward/bench/internal/latency"
	"github.com/wardproject/ward/internal/api"
	"github.com/wardproject/ward/internal/fleet"
	"github.com/wardproject/ward/internal/pki"
	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/store/postgres"
	"github.com/wardproject/ward/internal/store/sqlite"
)

var models = []string{"acme-th1", "acme-cam2", "acme-meter3", "globex-gw", "initech-lock"}

func main() {
	n := flag.Int("devices", 100_000, "devices in the generated fleet")
	backend := flag.String("backend", "both", "sqlite, postgres or both")
	dsn := flag.String("dsn", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL DSN (a fresh schema is created and dropped)")
	requests := flag.Int("requests", 50, "requests per case")
	flag.Parse()
	ctx := context.Background()
	for _, b := range []string{"sqlite", "postgres"} {
		if *backend != b && *backend != "both" {
			continue
		}
		if err := run(ctx, b, *dsn, *n, *requests); err != nil {
			fmt.Fprintf(os.Stderr, "devicelist bench (%s): %v\n", b, err)
			os.Exit(1)
		}
	}
}

func run(ctx context.Context, backend, dsn string, n, requests int) error {
	dir, err := os.MkdirTemp("", "ward-devicelist-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var db store.Store
	var load func(rows [][]any, certs [][]any, tags [][]any) error
	switch backend {
	case "sqlite":
		path := filepath.Join(dir, "ward.db")
		s, err := sqlite.Open(ctx, path)
		if err != nil {
			return err
		}
		defer s.Close()
		db = s
		load = func(devs, certs, tags [][]any) error { return sqliteLoad(ctx, path, devs, certs, tags) }
	case "postgres":
		b := make([]byte, 6)
		rand.Read(b)
		schema := "ward_bench_" + hex.EncodeToString(b)
		s, err := postgres.Open(ctx, dsn, postgres.Options{Schema: schema})
		if err != nil {
			return err
		}
		defer func() {
			s.Close()
			if c, err := pgx.Connect(ctx, dsn); err == nil {
				c.Exec(ctx, `DROP SCHEMA `+pgx.Identifier{schema}.Sanitize()+` CASCADE`)
				c.Close(ctx)
			}
		}()
		db = s
		load = func(devs, certs, tags [][]any) error { return postgresLoad(ctx, dsn, schema, devs, certs, tags) }
	}
	ca, err := pki.Open(ctx, pki.Options{Dir: filepath.Join(dir, "ca"), Store: db, Passphrase: []byte("bench")})
	if err != nil {
		return err
	}

	// The fleet: 5 models; status active except 1 % quarantined, 2 %
	// pending, 1 % revoked; tags "site-N" (20 sites) on every device,
	// "floor-K" (100 floors) on every second, "canary" on 0.5 %; one
	// device certificate each.
	began := time.Now()
	now := time.Now()
	var devs, certs, tags [][]any
	for i := range n {
		id := fmt.Sprintf("d-%06d", i)
		status := store.StatusActive
		switch {
		case i%100 == 7:
			status = store.StatusQuarantined
		case i%50 == 3:
			status = store.StatusPending
		case i%100 == 11:
			status = store.StatusRevoked
		}
		t := []string{fmt.Sprintf("site-%02d", i%20)}
		if i%2 == 0 {
			t = append(t, fmt.Sprintf("floor-%02d", i%100))
		}
		if i%200 == 0 {
			t = append(t, "canary")
		}
		tj, _ := json.Marshal(t)
		devs = append(devs, []any{id, models[i%len(models)], "2.9", string(tj), string(status), "", "{}", now.UnixNano(), now.UnixNano(), now.UnixNano(), int64(0), int64(0)})
		for _, tag := range t {
			tags = append(tags, []any{id, tag})
		}
		certs = append(certs, []any{fmt.Sprintf("%032x", i+1), id, "CN=" + id, "device", now.Add(-time.Hour).UnixNano(),
			now.Add(90*24*time.Hour + time.Duration(i)*time.Second).UnixNano(), fmt.Sprintf("%064x", i), []byte{0x30, byte(i)}, now.UnixNano()})
	}
	if err := load(devs, certs, tags); err != nil {
		return fmt.Errorf("load the fleet: %w", err)
	}
	fmt.Printf("%s: generated %d devices, %d tags, %d certificates in %s\n", backend, n, len(tags), len(certs), time.Since(began).Round(time.Millisecond))

	gw := newConnectedSet(n)
	reg, err := fleet.New(fleet.Options{Store: db, CA: ca, Gateway: gw})
	if err != nil {
		return err
	}
	srv, err := api.New(api.Options{Registry: reg, Store: db, CA: ca})
	if err != nil {
		return err
	}
	tok, _, err := api.CreateToken(ctx, db, "bench", store.RoleViewer, 0, now)
	if err != nil {
		return err
	}
	var mu sync.Mutex
	var last time.Duration
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		srv.ServeHTTP(w, r)
		mu.Lock()
		last = time.Since(start)
		mu.Unlock()
	}))
	defer ts.Close()
	client := ts.Client()
	get := func(path string) (time.Duration, int, string, error) {
		req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok.Reveal())
		resp, err := client.Do(req)
		if err != nil {
			return 0, 0, "", err
		}
		defer resp.Body.Close()
		var vs []json.RawMessage
		if err := json.NewDecoder(resp.Body).Decode(&vs); err != nil {
			return 0, 0, "", fmt.Errorf("GET %s: %d: %w", path, resp.StatusCode, err)
		}
		io.Copy(io.Discard, resp.Body)
		mu.Lock()
		d := last
		mu.Unlock()
		return d, len(vs), resp.Header.Get("Link"), nil
	}
	deep := "/api/v1/devices?limit=50&after=" + url.QueryEscape(cursor(fmt.Sprintf("d-%06d", n*9/10)))
	cases := []struct{ name, path string }{
		{"first page (limit 50)", "/api/v1/devices?limit=50"},
		{"first page (limit 1000)", "/api/v1/devices?limit=1000"},
		{"deep page (90 %, limit 50)", deep},
		{"status=quarantined (1 %)", "/api/v1/devices?limit=50&status=quarantined"},
		{"status=active", "/api/v1/devices?limit=50&status=active"},
		{"model=acme-cam2 (20 %)", "/api/v1/devices?limit=50&model=acme-cam2"},
		{"tag=canary (0.5 %)", "/api/v1/devices?limit=50&tag=canary"},
		{"tag=floor-42 (1 %) deep", "/api/v1/devices?limit=50&tag=floor-42&after=" + url.QueryEscape(cursor(fmt.Sprintf("d-%06d", n/2)))},
		{"q=cam2 (20 %, model)", "/api/v1/devices?limit=50&q=cam2"},
		{"q=canary (0.5 %, tag)", "/api/v1/devices?limit=50&q=canary"},
		{"q=d-09999 (last 10 IDs)", "/api/v1/devices?limit=50&q=d-09999"},
		{"q=no-such (no match: full scan)", "/api/v1/devices?limit=50&q=no-such"},
		{"connected=true (33 %)", "/api/v1/devices?limit=50&connected=true"},
		{"connected=true deep", "/api/v1/devices?limit=50&connected=true&after=" + url.QueryEscape(cursor(fmt.Sprintf("d-%06d", n*9/10)))},
		{"connected=true&tag=canary", "/api/v1/devices?limit=50&connected=true&tag=canary"},
		{"connected=false (67 %)", "/api/v1/devices?limit=50&connected=false"},
		{"connected=false&status=quarantined", "/api/v1/devices?limit=50&connected=false&status=quarantined"},
	}
	fmt.Printf("%s: %d requests per case, server time (handler start to last byte written)\n", backend, requests)
	fmt.Printf("%-38s %6s %9s %9s %9s  %s\n", "case", "rows", "p50", "p99", "max", "next page")
	for _, c := range cases {
		var h latency.Histogram
		var rows int
		var link string
		var worst time.Duration
		for i := 0; i < requests+3; i++ {
			d, nrows, l, err := get(c.path)
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			if i < 3 {
				continue // warm-up
			}
			h.Record(d)
			rows, link, worst = nrows, l, max(worst, d)
		}
		fmt.Printf("%-38s %6d %9s %9s %9s  %v\n", c.name, rows, ms(h.Quantile(0.5)), ms(h.Quantile(0.99)), ms(worst), link != "")
	}
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000) }

// cursor is the API's cursor of a device ID (base64url, no padding).
func cursor(id string) string { return base64.RawURLEncoding.EncodeToString([]byte(id)) }

var (
	deviceCols = []string{"id", "model", "firmware", "tags", "status", "quarantine", "policy", "created_at", "updated_at", "last_seen", "revoked_at", "reenrolled_at"}
	certCols   = []string{"serial", "device_id", "subject", "kind", "not_before", "not_after", "fingerprint", "der", "issued_at"}
	tagCols    = []string{"device_id", "tag"}
)

// sqliteLoad inserts the rows in one transaction on a second connection
// to the store's file.
func sqliteLoad(ctx context.Context, path string, devs, certs, tags [][]any) error {
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=synchronous(OFF)&_pragma=foreign_keys(1)")
	if err != nil {
		return err
	}
	defer raw.Close()
	tx, err := raw.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, t := range []struct {
		table string
		cols  []string
		rows  [][]any
	}{{"devices", deviceCols, devs}, {"certificates", certCols, certs}, {"device_tags", tagCols, tags}} {
		st, err := tx.PrepareContext(ctx, `INSERT INTO `+t.table+`(`+strings.Join(t.cols, ",")+`) VALUES(`+strings.TrimSuffix(strings.Repeat("?,", len(t.cols)), ",")+`)`)
		if err != nil {
			return err
		}
		for _, r := range t.rows {
			if _, err := st.ExecContext(ctx, r...); err != nil {
				return fmt.Errorf("%s: %w", t.table, err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	_, err = raw.ExecContext(ctx, `ANALYZE`)
	return err
}

// postgresLoad copies the rows into the schema with COPY.
func postgresLoad(ctx context.Context, dsn, schema string, devs, certs, tags [][]any) error {
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	for _, t := range []struct {
		table string
		cols  []string
		rows  [][]any
	}{{"devices", deviceCols, devs}, {"certificates", certCols, certs}, {"device_tags", tagCols, tags}} {
		if _, err := c.CopyFrom(ctx, pgx.Identifier{schema, t.table}, t.cols, pgx.CopyFromRows(t.rows)); err != nil {
			return fmt.Errorf("%s: %w", t.table, err)
		}
	}
	_, err = c.Exec(ctx, `ANALYZE `+pgx.Identifier{schema, "devices"}.Sanitize()+`, `+pgx.Identifier{schema, "certificates"}.Sanitize()+`, `+pgx.Identifier{schema, "device_tags"}.Sanitize())
	return err
}

// connectedSet stands in for the gateway: every third device is
// connected.
type connectedSet struct{ ids map[string]bool }

func newConnectedSet(n int) *connectedSet {
	s := &connectedSet{ids: map[string]bool{}}
	for i := 0; i < n; i += 3 {
		s.ids[fmt.Sprintf("d-%06d", i)] = true
	}
	return s
}

// SetDevice, SetModelPolicy and CertificateRevoked do nothing: the set is fixed.
func (s *connectedSet) SetDevice(store.Device)           {}
func (s *connectedSet) SetModelPolicy(store.ModelPolicy) {}
func (s *connectedSet) CertificateRevoked()              {}

// Connected reports 1 for a device of the set.
func (s *connectedSet) Connected(id string) int {
	if s.ids[id] {
		return 1
	}
	return 0
}

// ConnectedIDs is gateway.Gateway.ConnectedIDs' algorithm over the set.
func (s *connectedSet) ConnectedIDs(after string, limit int) []string {
	ids := make([]string, 0, min(len(s.ids), 4*limit))
	for id := range s.ids {
		if id > after {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids[:min(len(ids), limit)]
}
