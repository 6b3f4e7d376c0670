package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/store/lifecycle"
)

// TestDeviceQueryPlans holds QueryDevices to its indexes: SQLite's
// EXPLAIN QUERY PLAN of each filter's query must name the index that
// serves it, so that a dropped or renamed index fails here, not only in
// the benchmark (bench/devicelist.sh).
func TestDeviceQueryPlans(t *testing.T) {
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "ward.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	tests := []struct {
		name string
		q    store.DeviceQuery
		want []string // each must appear in the plan
	}{
		{"first-page", store.DeviceQuery{Limit: 50}, []string{"sqlite_autoindex_devices_1"}},
		{"deep-page", store.DeviceQuery{Limit: 50, After: "d-050000"}, []string{"sqlite_autoindex_devices_1 (id>?)"}},
		{"status", store.DeviceQuery{Status: store.StatusActive, After: "d-1", Limit: 50}, []string{"devices_status (status=? AND id>?)"}},
		{"model", store.DeviceQuery{Model: "cam", After: "d-1", Limit: 50}, []string{"devices_model (model=? AND id>?)"}},
		{"tag", store.DeviceQuery{Tag: "lab", After: "d-1", Limit: 50}, []string{"SEARCH t USING PRIMARY KEY (tag=? AND device_id>?)"}},
		{"ids", store.DeviceQuery{IDs: []string{"a", "b"}, Limit: 50}, []string{"sqlite_autoindex_devices_1 (id=?)"}},
		{"text", store.DeviceQuery{Text: "cam", Limit: 50}, []string{"sqlite_autoindex_devices_1"}},
		{"text-beyond-json", store.DeviceQuery{Text: "a,b", Limit: 50}, []string{"sqlite_autoindex_devices_1", "device_tags_device (device_id=?)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, args := lifecycle.DevicesQuery(tt.q, "")
			plan := explain(t, db, q, args)
			for _, w := range tt.want {
				if !strings.Contains(plan, w) {
					t.Errorf("plan does not use %q:\n%s", w, plan)
				}
			}
			if strings.Contains(plan, "USE TEMP B-TREE FOR ORDER BY") {
				t.Errorf("plan sorts the rows instead of reading them in index order:\n%s", plan)
			}
		})
	}
}

func explain(t *testing.T, db *DB, q string, args []any) string {
	t.Helper()
	rows, err := db.r.QueryContext(context.Background(), `EXPLAIN QUERY PLAN `+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		b.WriteString(detail + "\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
