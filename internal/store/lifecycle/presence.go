package lifecycle

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/wardproject/ward/internal/store"
)

// ReportPresence records node's heartbeat and its session-count changes
// (store.Presence ReportPresence) in the caller's transaction.
func ReportPresence(ctx context.Context, tx Tx, node string, at time.Time, changes []store.DevicePresence) error {
	if err := CheckPresence(node, changes); err != nil {
		return err
	}
	now := nanos(at)
	if _, err := tx.Exec(ctx, `INSERT INTO cluster_nodes(name, seen_at) VALUES(?, ?)
		ON CONFLICT(name) DO UPDATE SET seen_at = excluded.seen_at`, node, now); err != nil {
		return fmt.Errorf("heartbeat of node %s: %w", node, err)
	}
	for _, c := range changes {
		var err error
		if c.Sessions == 0 {
			_, err = tx.Exec(ctx, `DELETE FROM device_presence WHERE device_id = ? AND node = ?`, c.DeviceID, node)
		} else {
			_, err = tx.Exec(ctx, `INSERT INTO device_presence(device_id, node, sessions, since, addrs) VALUES(?, ?, ?, ?, ?)
				ON CONFLICT(device_id, node) DO UPDATE SET sessions = excluded.sessions, addrs = excluded.addrs`,
				c.DeviceID, node, c.Sessions, now, strings.Join(c.Addrs, " "))
		}
		if err != nil {
			return fmt.Errorf("record sessions of device %s on node %s: %w", c.DeviceID, node, err)
		}
	}
	return nil
}

// CheckPresence reports a ReportPresence call the store refuses.
func CheckPresence(node string, changes []store.DevicePresence) error {
	switch {
	case node == "":
		return fmt.Errorf("report presence: empty node name: %w", store.ErrInvalid)
	case len(changes) > store.MaxPresenceBatch:
		return fmt.Errorf("report presence of node %s: %d changes, more than %d: %w", node, len(changes), store.MaxPresenceBatch, store.ErrInvalid)
	}
	for _, c := range changes {
		if c.DeviceID == "" || c.Sessions < 0 {
			return fmt.Errorf("report presence of node %s: device %q with %d sessions: %w", node, c.DeviceID, c.Sessions, store.ErrInvalid)
		}
		if len(c.Addrs) > store.MaxPresenceAddrs {
			return fmt.Errorf("report presence of node %s: device %s with %d addresses, more than %d: %w", node, c.DeviceID, len(c.Addrs), store.MaxPresenceAddrs, store.ErrInvalid)
		}
		for _, a := range c.Addrs {
			if ip, err := netip.ParseAddr(a); err != nil || ip.String() != a {
				return fmt.Errorf("report presence of node %s: device %s: address %q is not an IP address as netip prints it: %w", node, c.DeviceID, a, store.ErrInvalid)
			}
		}
	}
	return nil
}

// The presence reads, the same SQL in both backends (? placeholders; the
// PostgreSQL backend numbers them). An IN list is appended by the backend
// where the SQL ends with "device_id IN ".
const (
	// presenceAlive joins the rows to the nodes heard from since ?.
	presenceAlive = ` FROM device_presence p JOIN cluster_nodes n ON n.name = p.node WHERE n.seen_at >= ?`
	// ConnectedDevicesSQL: alive, after, limit.
	ConnectedDevicesSQL = `SELECT DISTINCT p.device_id` + presenceAlive + ` AND p.device_id > ? ORDER BY p.device_id LIMIT ?`
	// CountConnectedSQL: alive.
	CountConnectedSQL = `SELECT COUNT(DISTINCT p.device_id)` + presenceAlive
	// ListPresenceSQL: alive, device.
	ListPresenceSQL = `SELECT p.device_id, p.node, p.sessions, p.since, p.addrs` + presenceAlive + ` AND p.device_id = ? ORDER BY p.node`
	// ConnectedAddressesSQL: alive.
	ConnectedAddressesSQL = `SELECT p.device_id, p.addrs` + presenceAlive + ` AND p.addrs <> ''`
	// ConnectedCountsSQL: alive, then the IDs of the list the backend appends.
	ConnectedCountsSQL = `SELECT p.device_id, SUM(p.sessions)` + presenceAlive + ` AND p.device_id IN `
	// ConnectedCountsGroup ends ConnectedCountsSQL after the IN list.
	ConnectedCountsGroup = ` GROUP BY p.device_id`
)

// ForgetNodes deletes the nodes last heard from before before, and their
// rows, in the caller's transaction (store.Presence ForgetNodes).
func ForgetNodes(ctx context.Context, tx Tx, before time.Time) (int, error) {
	b := nanos(before)
	if _, err := tx.Exec(ctx, `DELETE FROM device_presence WHERE node IN (SELECT name FROM cluster_nodes WHERE seen_at < ?)`, b); err != nil {
		return 0, fmt.Errorf("forget sessions of silent nodes: %w", err)
	}
	n, err := tx.Exec(ctx, `DELETE FROM cluster_nodes WHERE seen_at < ?`, b)
	if err != nil {
		return 0, fmt.Errorf("forget silent nodes: %w", err)
	}
	return int(n), nil
}

// RemoveNode deletes one node and its rows in the caller's transaction.
func RemoveNode(ctx context.Context, tx Tx, node string) error {
	if _, err := tx.Exec(ctx, `DELETE FROM device_presence WHERE node = ?`, node); err != nil {
		return fmt.Errorf("remove sessions of node %s: %w", node, err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM cluster_nodes WHERE name = ?`, node); err != nil {
		return fmt.Errorf("remove node %s: %w", node, err)
	}
	return nil
}

// CheckConnectedPage reports a ConnectedDevices or ConnectedCounts
// request the store refuses.
func CheckConnectedPage(n int) error {
	if n < 1 || n > store.MaxDeviceQueryIDs {
		return fmt.Errorf("connected devices: %d asked, want 1..%d: %w", n, store.MaxDeviceQueryIDs, store.ErrInvalid)
	}
	return nil
}

// ScanPresence reads the rows of ListPresenceSQL.
func ScanPresence(rows Rows) ([]store.DevicePresence, error) {
	var out []store.DevicePresence
	for rows.Next() {
		var p store.DevicePresence
		var since int64
		var addrs string
		if err := rows.Scan(&p.DeviceID, &p.Node, &p.Sessions, &since, &addrs); err != nil {
			return nil, err
		}
		if since != 0 {
			p.Since = time.Unix(0, since).UTC()
		}
		if addrs != "" {
			p.Addrs = strings.Fields(addrs)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// ScanConnectedCounts reads the rows of ConnectedCountsSQL.
func ScanConnectedCounts(rows Rows) (map[string]int, error) {
	out := map[string]int{}
	for rows.Next() {
		var id string
		var n int64
		if err := rows.Scan(&id, &n); err != nil {
			return nil, err
		}
		out[id] = int(n)
	}
	return out, rows.Err()
}

// ScanConnectedAddresses reads the rows of ConnectedAddressesSQL: each
// device's addresses over its nodes, sorted, without duplicates.
func ScanConnectedAddresses(rows Rows) (map[string][]string, error) {
	out := map[string][]string{}
	for rows.Next() {
		var id, addrs string
		if err := rows.Scan(&id, &addrs); err != nil {
			return nil, err
		}
		out[id] = append(out[id], strings.Fields(addrs)...)
	}
	for id, as := range out {
		slices.Sort(as)
		out[id] = slices.Compact(as)
	}
	return out, rows.Err()
}
