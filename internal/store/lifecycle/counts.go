package lifecycle

import (
	"fmt"

	"github.com/wardproject/ward/internal/store"
)

// Rows is what both backends' query results offer (*sql.Rows, pgx.Rows).
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// Grouped counts, the same SQL in both backends.
const (
	CountDevicesSQL = `SELECT status, COUNT(*) FROM devices GROUP BY status`
	CountAlertsSQL  = `SELECT state, severity, COUNT(*) FROM alerts GROUP BY state, severity`
)

// ScanDeviceCounts reads the rows of CountDevicesSQL (store.Devices
// CountDevices).
func ScanDeviceCounts(rows Rows) (map[store.DeviceStatus]int, error) {
	out := map[store.DeviceStatus]int{}
	for rows.Next() {
		var st string
		var n int64
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("count devices: %w", err)
		}
		out[store.DeviceStatus(st)] = int(n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count devices: %w", err)
	}
	return out, nil
}

// ScanAlertCounts reads the rows of CountAlertsSQL (store.Detection
// CountAlerts).
func ScanAlertCounts(rows Rows) (map[string]map[string]int, error) {
	out := map[string]map[string]int{}
	for rows.Next() {
		var st, sev string
		var n int64
		if err := rows.Scan(&st, &sev, &n); err != nil {
			return nil, fmt.Errorf("count alerts: %w", err)
		}
		if out[st] == nil {
			out[st] = map[string]int{}
		}
		out[st][sev] = int(n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count alerts: %w", err)
	}
	return out, nil
}
