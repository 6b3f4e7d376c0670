package fleet

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/wardproject/ward/internal/store"
)

// SessionDirectory is the cluster-wide answer to "which devices are
// connected", read from the store (package presence implements it).
type SessionDirectory interface {
	// ConnectedCounts returns the live sessions of each of ids that has
	// any (at most store.MaxDeviceQueryIDs ids).
	ConnectedCounts(ctx context.Context, ids []string) (map[string]int, error)
	// ConnectedIDs returns, in order, the IDs after after of connected
	// devices, at most max (1..store.MaxDeviceQueryIDs).
	ConnectedIDs(ctx context.Context, after string, max int) ([]string, error)
}

// Query selects a page of the device list (Registry.Query): the store's
// filters and cursor, and the gateway's live connection state, which the
// store does not hold.
type Query struct {
	store.DeviceQuery
	// Connected, when set, keeps only the devices with (true) or without
	// (false) a live session (on any node of a cluster when the registry
	// has a SessionDirectory, else on this node's gateway).
	Connected *bool
}

// maxRounds bounds the store reads of one connected-filtered page: past
// it the page is answered as it is, possibly short, with the cursor of
// the last device examined, so that one request costs the same at any
// fleet size.
const maxRounds = 8

// Query returns one page of devices matching q, ordered by ID, with their
// connection state and certificates (those of the page's devices only),
// and the next page's cursor ("" on the last page).
//
// Connected is served from whichever side is narrower. Connected=true
// with no other filter pages through the connected IDs (the session
// directory's keyset query, or Gateway.ConnectedIDs on a single node;
// store.MaxDeviceQueryIDs at a time) and reads
// those devices from the store; otherwise (Connected=false, or another
// filter given) it pages through the store's index-served filters and
// keeps the devices whose connection state matches. Either way one call
// makes at most maxRounds store reads: a page may then hold fewer than
// q.Limit devices, with a cursor to continue from.
func (r *Registry) Query(ctx context.Context, q Query) ([]View, string, error) {
	if err := q.Check(); err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	limit := q.Limit
	if limit == 0 {
		limit = store.MaxDeviceQueryLimit
	}
	var (
		devs []store.Device
		next string
		err  error
	)
	switch {
	case q.Connected == nil:
		devs, next, err = r.opts.Store.QueryDevices(ctx, q.DeviceQuery)
	case *q.Connected && q.Text == "" && q.Status == "" && q.Model == "" && q.Tag == "":
		devs, next, err = r.queryConnected(ctx, q.DeviceQuery, limit)
	default:
		want := *q.Connected
		devs, next, err = r.queryKeeping(ctx, q.DeviceQuery, limit, func(ctx context.Context, page []store.Device) ([]store.Device, error) {
			counts, err := r.connectedCounts(ctx, deviceIDs(page))
			if err != nil {
				return nil, err
			}
			kept := page[:0:0]
			for _, d := range page {
				if (counts[d.ID] > 0) == want {
					kept = append(kept, d)
				}
			}
			return kept, nil
		})
	}
	if err != nil {
		return nil, "", err
	}
	vs, err := r.views(ctx, devs)
	return vs, next, err
}

// connectedCounts returns the live sessions of each of ids that has
// any: from the session directory when there is one, else from this
// node's gateway.
func (r *Registry) connectedCounts(ctx context.Context, ids []string) (map[string]int, error) {
	out := make(map[string]int)
	if r.opts.Sessions != nil {
		for chunk := range slices.Chunk(ids, store.MaxDeviceQueryIDs) {
			counts, err := r.opts.Sessions.ConnectedCounts(ctx, chunk)
			if err != nil {
				return nil, fmt.Errorf("read connected sessions: %w", err)
			}
			maps.Copy(out, counts)
		}
		return out, nil
	}
	if r.opts.Gateway == nil {
		return out, nil
	}
	for _, id := range ids {
		if n := r.opts.Gateway.Connected(id); n > 0 {
			out[id] = n
		}
	}
	return out, nil
}

// connectedIDs returns a page of connected devices' IDs after after.
func (r *Registry) connectedIDs(ctx context.Context, after string, max int) ([]string, error) {
	if r.opts.Sessions != nil {
		ids, err := r.opts.Sessions.ConnectedIDs(ctx, after, max)
		if err != nil {
			return nil, fmt.Errorf("read connected devices: %w", err)
		}
		return ids, nil
	}
	if r.opts.Gateway == nil {
		return nil, nil
	}
	return r.opts.Gateway.ConnectedIDs(after, max), nil
}

func deviceIDs(devs []store.Device) []string {
	ids := make([]string, len(devs))
	for i, d := range devs {
		ids[i] = d.ID
	}
	return ids
}

// queryConnected pages through the gateway's connected IDs after q.After
// and keeps those the store has (and q.IDs allows), until the page holds
// more than limit devices, the IDs run out or maxRounds reads were made.
func (r *Registry) queryConnected(ctx context.Context, q store.DeviceQuery, limit int) ([]store.Device, string, error) {
	var out []store.Device
	after := q.After
	for range maxRounds {
		ids, err := r.connectedIDs(ctx, after, store.MaxDeviceQueryIDs)
		if err != nil {
			return nil, "", err
		}
		if len(ids) == 0 {
			return out, "", nil
		}
		after = ids[len(ids)-1]
		if q.IDs != nil {
			ids = intersect(ids, q.IDs)
		}
		sq := q
		sq.IDs, sq.After, sq.Limit = ids, "", store.MaxDeviceQueryLimit
		page, _, err := r.opts.Store.QueryDevices(ctx, sq)
		if err != nil {
			return nil, "", err
		}
		out = append(out, page...)
		if len(out) > limit {
			return out[:limit], out[limit-1].ID, nil
		}
	}
	return out, after, nil
}

// queryKeeping pages through the store from q.After and keeps the
// devices keep accepts, until the page holds more than limit devices, the
// store has no more or maxRounds reads were made.
func (r *Registry) queryKeeping(ctx context.Context, q store.DeviceQuery, limit int, keep func(context.Context, []store.Device) ([]store.Device, error)) ([]store.Device, string, error) {
	var out []store.Device
	q.Limit = min(limit+1, store.MaxDeviceQueryLimit)
	if q.Scan > 0 {
		q.Scan = max(q.Scan, q.Limit)
	}
	for range maxRounds {
		page, next, err := r.opts.Store.QueryDevices(ctx, q)
		if err != nil {
			return nil, "", err
		}
		kept, err := keep(ctx, page)
		if err != nil {
			return nil, "", err
		}
		out = append(out, kept...)
		if len(out) > limit {
			return out[:limit], out[limit-1].ID, nil
		}
		if next == "" {
			return out, "", nil
		}
		q.After = next
	}
	return out, q.After, nil
}

// views adds the connection state and the certificates of devs, read for
// these devices only.
func (r *Registry) views(ctx context.Context, devs []store.Device) ([]View, error) {
	out := make([]View, len(devs))
	if len(devs) == 0 {
		return out, nil
	}
	ids := deviceIDs(devs)
	certs, err := r.opts.Store.ListDeviceCertificates(ctx, ids)
	if err != nil {
		return nil, err
	}
	byDev := map[string][]store.Certificate{}
	for _, c := range certs {
		byDev[c.DeviceID] = append(byDev[c.DeviceID], c)
	}
	counts, err := r.connectedCounts(ctx, ids)
	if err != nil {
		return nil, err
	}
	for i, d := range devs {
		out[i] = View{Device: d, Certificates: byDev[d.ID], Connected: counts[d.ID]}
	}
	return out, nil
}

// intersect returns the elements of ids that are in keep, in ids' order.
func intersect(ids, keep []string) []string {
	set := make(map[string]bool, len(keep))
	for _, k := range keep {
		set[k] = true
	}
	out := []string{}
	for _, id := range ids {
		if set[id] {
			out = append(out, id)
		}
	}
	return out
}
