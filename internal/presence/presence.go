// Package presence keeps the cluster's directory of live device sessions
// (store.Presence), so that any node of a Ward cluster can answer "is this
// device connected, and where": the API's device list and its connected
// filter, the device detail and the overview count.
//
// On each gateway node a Reporter writes the node's session counts, and
// the addresses those sessions come from (for the network sensor's map
// of hosts to devices), to the store: the gateway tells it which devices changed (Changed, on every
// connect and disconnect), and every Interval it reads those devices'
// counts from the gateway and writes the changed ones in one batch with
// the node's heartbeat; so a burst of connects costs a few transactions,
// not one per connect. Every Resync it compares the whole gateway with
// what it has written (repairing any signal it missed) and forgets nodes
// silent for ten Expiry periods. A failed write is retried at the next
// tick: nothing is dropped, the directory only lags. At shutdown it
// removes the node's rows.
//
// A Directory reads the store, counting only nodes heard from within
// Expiry, so the sessions of a node that died without a word stop
// counting after Expiry. The directory lags the gateways by up to
// Interval; Expiry compares heartbeats written with each node's clock
// with the reader's clock, so node clocks must agree to well within
// Expiry (NTP).
package presence

import (
	"time"
)

// Defaults of the Options fields.
const (
	DefaultInterval = 2 * time.Second
	DefaultResync   = time.Minute
	DefaultExpiry   = 15 * time.Second
)
