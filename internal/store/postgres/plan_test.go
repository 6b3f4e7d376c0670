package postgres

import (
	"context"
	"strings"
	"testing"

	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/store/lifecycle"
	"github.com/wardproject/ward/internal/wardtest"
)

// TestDeviceQueryPlans holds QueryDevices to its indexes: PostgreSQL's
// EXPLAIN of each filter's query, with sequential scans disabled (the
// test table is small, where a scan is cheapest), must name the index
// that serves it. A dropped index leaves the planner nothing but a
// sequential scan, which fails here, not only in the benchmark.
func TestDeviceQueryPlans(t *testing.T) {
	dsn := wardtest.Postgres(t)
	db := openTestDB(t, dsn)
	ctx := context.Background()
	conn, err := db.pool.routine.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(ctx, `RESET enable_seqscan`)
	tests := []struct {
		name string
		q    store.DeviceQuery
		want string
	}{
		{"first-page", store.DeviceQuery{Limit: 50}, "devices_pkey"},
		{"deep-page", store.DeviceQuery{Limit: 50, After: "d-050000"}, "devices_pkey"},
		{"status", store.DeviceQuery{Status: store.StatusActive, After: "d-1", Limit: 50}, "devices_status"},
		{"model", store.DeviceQuery{Model: "cam", After: "d-1", Limit: 50}, "devices_model"},
		{"tag", store.DeviceQuery{Tag: "lab", After: "d-1", Limit: 50}, "device_tags_pkey"},
		{"ids", store.DeviceQuery{IDs: []string{"a", "b"}, Limit: 50}, "devices_pkey"},
		{"text", store.DeviceQuery{Text: "cam", Limit: 50}, "devices_pkey"},
		{"text-beyond-json", store.DeviceQuery{Text: "a,b", Limit: 50}, "devices_pkey"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, args := lifecycle.DevicesQuery(tt.q, "")
			rows, err := conn.Query(ctx, `EXPLAIN `+numbered(q), args...)
			plan, err := collect(rows, err, func(s scanner) (string, error) {
				var line string
				return line, s.Scan(&line)
			})
			if err != nil {
				t.Fatal(err)
			}
			text := strings.Join(plan, "\n")
			if !strings.Contains(text, tt.want) {
				t.Errorf("plan does not use %s:\n%s", tt.want, text)
			}
			if strings.Contains(text, "Seq Scan") {
				t.Errorf("plan scans a table:\n%s", text)
			}
		})
	}
}
