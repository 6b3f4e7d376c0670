package presence

import (
	"context"
	"time"
)

// Reader is the part of store.Presence a Directory reads.
type Reader interface {
	ConnectedCounts(ctx context.Context, ids []string, alive time.Time) (map[string]int, error)
	ConnectedDevices(ctx context.Context, after string, limit int, alive time.Time) ([]string, error)
	CountConnected(ctx context.Context, alive time.Time) (int, error)
	ConnectedAddresses(ctx context.Context, alive time.Time) (map[string][]string, error)
}

// Directory answers which devices are connected anywhere in the cluster,
// counting only nodes heard from within the expiry. It implements
// fleet.SessionDirectory.
type Directory struct {
	store  Reader
	expiry time.Duration
	now    func() time.Time
}

// NewDirectory returns a Directory over store; expiry 0 is DefaultExpiry,
// now nil is time.Now.
func NewDirectory(store Reader, expiry time.Duration, now func() time.Time) *Directory {
	if expiry <= 0 {
		expiry = DefaultExpiry
	}
	if now == nil {
		now = time.Now
	}
	return &Directory{store: store, expiry: expiry, now: now}
}

func (d *Directory) alive() time.Time { return d.now().Add(-d.expiry) }

// ConnectedCounts returns the sessions of each of ids that has any.
func (d *Directory) ConnectedCounts(ctx context.Context, ids []string) (map[string]int, error) {
	return d.store.ConnectedCounts(ctx, ids, d.alive())
}

// ConnectedIDs returns a page of connected devices' IDs after after.
func (d *Directory) ConnectedIDs(ctx context.Context, after string, max int) ([]string, error) {
	return d.store.ConnectedDevices(ctx, after, max, d.alive())
}

// Count returns how many devices are connected.
func (d *Directory) Count(ctx context.Context) (int, error) {
	return d.store.CountConnected(ctx, d.alive())
}

// Addresses returns the IP addresses of every connected device's sessions
// on any node (the network sensor's map of hosts to devices).
func (d *Directory) Addresses(ctx context.Context) (map[string][]string, error) {
	return d.store.ConnectedAddresses(ctx, d.alive())
}
