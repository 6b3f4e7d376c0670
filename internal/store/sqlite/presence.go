package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/store/lifecycle"
)

// ReportPresence records node's heartbeat and session-count changes.
func (db *DB) ReportPresence(ctx context.Context, node string, at time.Time, changes []store.DevicePresence) error {
	if err := lifecycle.CheckPresence(node, changes); err != nil {
		return err
	}
	return db.inTx(ctx, func(tx *liteTx) error { return lifecycle.ReportPresence(ctx, tx, node, at, changes) })
}

// ConnectedCounts sums each device's sessions over the live nodes.
func (db *DB) ConnectedCounts(ctx context.Context, ids []string, alive time.Time) (map[string]int, error) {
	if len(ids) == 0 {
		return map[string]int{}, nil
	}
	if err := lifecycle.CheckConnectedPage(len(ids)); err != nil {
		return nil, err
	}
	ph, args := lifecycle.Placeholders(ids)
	rows, err := db.r.QueryContext(ctx, lifecycle.ConnectedCountsSQL+"("+ph+")"+lifecycle.ConnectedCountsGroup, append([]any{ts(alive)}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("count sessions of %d devices: %w", len(ids), err)
	}
	defer rows.Close()
	out, err := lifecycle.ScanConnectedCounts(rows)
	if err != nil {
		return nil, fmt.Errorf("count sessions of %d devices: %w", len(ids), err)
	}
	return out, nil
}

// ConnectedDevices pages through the connected devices' IDs.
func (db *DB) ConnectedDevices(ctx context.Context, after string, limit int, alive time.Time) ([]string, error) {
	if err := lifecycle.CheckConnectedPage(limit); err != nil {
		return nil, err
	}
	rows, err := db.r.QueryContext(ctx, lifecycle.ConnectedDevicesSQL, ts(alive), after, limit)
	if err != nil {
		return nil, fmt.Errorf("list connected devices: %w", err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("list connected devices: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// CountConnected counts the devices with a session on a live node.
func (db *DB) CountConnected(ctx context.Context, alive time.Time) (int, error) {
	var n int
	if err := db.r.QueryRowContext(ctx, lifecycle.CountConnectedSQL, ts(alive)).Scan(&n); err != nil {
		return 0, fmt.Errorf("count connected devices: %w", err)
	}
	return n, nil
}

// ConnectedAddresses returns the addresses of each device's sessions on
// the live nodes.
func (db *DB) ConnectedAddresses(ctx context.Context, alive time.Time) (map[string][]string, error) {
	rows, err := db.r.QueryContext(ctx, lifecycle.ConnectedAddressesSQL, ts(alive))
	if err != nil {
		return nil, fmt.Errorf("list connected devices' addresses: %w", err)
	}
	defer rows.Close()
	out, err := lifecycle.ScanConnectedAddresses(rows)
	if err != nil {
		return nil, fmt.Errorf("list connected devices' addresses: %w", err)
	}
	return out, nil
}

// ListPresence returns where a device's sessions are.
func (db *DB) ListPresence(ctx context.Context, deviceID string, alive time.Time) ([]store.DevicePresence, error) {
	rows, err := db.r.QueryContext(ctx, lifecycle.ListPresenceSQL, ts(alive), deviceID)
	if err != nil {
		return nil, fmt.Errorf("sessions of device %s: %w", deviceID, err)
	}
	defer rows.Close()
	out, err := lifecycle.ScanPresence(rows)
	if err != nil {
		return nil, fmt.Errorf("sessions of device %s: %w", deviceID, err)
	}
	return out, nil
}

// ForgetNodes deletes the nodes silent since before and their rows.
func (db *DB) ForgetNodes(ctx context.Context, before time.Time) (int, error) {
	return inTxValue(ctx, db, func(tx *liteTx) (int, error) { return lifecycle.ForgetNodes(ctx, tx, before) })
}

// RemoveNode deletes a node and its rows.
func (db *DB) RemoveNode(ctx context.Context, node string) error {
	return db.inTx(ctx, func(tx *liteTx) error { return lifecycle.RemoveNode(ctx, tx, node) })
}
