package store

import (
	"context"
	"time"
)

// DevicePresence is one gateway node's live MQTT sessions of one device.
type DevicePresence struct {
	DeviceID string
	Node     string
	// Sessions is how many sessions of the device the node holds; a
	// report of 0 removes the row.
	Sessions int
	// Since is when the node first reported a session of the device
	// (kept while the count changes, reset once it has fallen to 0).
	Since time.Time
	// Addrs are the IP addresses the node's sessions of the device come
	// from (at most MaxPresenceAddrs, each as netip.Addr prints it), for
	// the network sensor's map of hosts to devices. A report replaces
	// them with the count.
	Addrs []string
}

// MaxPresenceAddrs bounds the addresses of one DevicePresence.
const MaxPresenceAddrs = 16

// MaxPresenceBatch bounds the changes of one ReportPresence call.
const MaxPresenceBatch = 1000

// Presence is the cluster's directory of live device sessions. Each
// gateway node reports, in batches, how many sessions of each device it
// holds, with a heartbeat; readers count only the nodes heard from since
// a time they choose (now minus the expiry), so the sessions of a node
// that died without saying so stop counting once it misses its
// heartbeats, and ForgetNodes later deletes them.
//
// Node names are chosen by the nodes (a fresh random name at each start),
// so a restarted node never inherits the rows of its previous life.
type Presence interface {
	// ReportPresence records, in one transaction, node's heartbeat at at
	// and changes (at most MaxPresenceBatch): each sets the node's session
	// count of a device (Node and Since of the change are ignored; 0
	// deletes the row) and its addresses. A nil changes is a heartbeat
	// alone. ErrInvalid for an empty node, an empty device ID, a negative
	// count, too many changes, or more than MaxPresenceAddrs addresses or
	// one that is not an IP address.
	ReportPresence(ctx context.Context, node string, at time.Time, changes []DevicePresence) error
	// ConnectedCounts returns, for each of ids (at most
	// MaxDeviceQueryIDs) with a session on a node heard from at or after
	// alive, its sessions summed over those nodes. Devices without any are
	// absent from the map.
	ConnectedCounts(ctx context.Context, ids []string, alive time.Time) (map[string]int, error)
	// ConnectedDevices returns, in ID order, the IDs after after of the
	// devices with a session on a node heard from at or after alive, at
	// most limit (1..MaxDeviceQueryIDs) of them: the keyset page of the
	// device list's connected filter.
	ConnectedDevices(ctx context.Context, after string, limit int, alive time.Time) ([]string, error)
	// CountConnected returns how many distinct devices have a session on a
	// node heard from at or after alive.
	CountConnected(ctx context.Context, alive time.Time) (int, error)
	// ConnectedAddresses returns, for every device with a session on a
	// node heard from at or after alive, the addresses of those sessions
	// over all such nodes, sorted and without duplicates. Devices whose
	// nodes reported no address are absent. It reads the whole directory
	// (one row per device and node).
	ConnectedAddresses(ctx context.Context, alive time.Time) (map[string][]string, error)
	// ListPresence returns the rows of one device on the nodes heard from
	// at or after alive, ordered by node: which node holds its sessions.
	ListPresence(ctx context.Context, deviceID string, alive time.Time) ([]DevicePresence, error)
	// ForgetNodes deletes the nodes last heard from before before, and
	// their rows, and returns how many nodes it deleted.
	ForgetNodes(ctx context.Context, before time.Time) (int, error)
	// RemoveNode deletes one node and its rows (a clean shutdown); an
	// unknown node is not an error.
	RemoveNode(ctx context.Context, node string) error
}
