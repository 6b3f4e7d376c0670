package fleet

import (
	"context"
	"fmt"

	"github.com/wardproject/ward/internal/store"
)

// Query selects a page of the device list (Registry.Query): the store's
// filters and cursor, and the gateway's live connection state, which the
// store does not hold.
type Query struct {
	store.DeviceQuery
	// Connected, when set, keeps only the devices with (true) or without
	// (false) a live session on this node's gateway.
	Connected *bool
}

// Query returns one page of devices matching q, ordered by ID, with their
// connection state and certificates (those of the page's devices only),
// and the next page's cursor ("" on the last page).
//
// Connected=true pages through the gateway's connected IDs
// (Gateway.ConnectedIDs, store.MaxDeviceQueryIDs at a time) and asks the
// store for those that match the other filters; Connected=false pages
// through the store and drops the connected devices. Either way every
// read is bounded; a page is complete when it holds q.Limit devices or
// the candidates are exhausted.
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
	case *q.Connected:
		devs, next, err = r.queryConnected(ctx, q.DeviceQuery, limit)
	default:
		devs, next, err = r.queryDisconnected(ctx, q.DeviceQuery, limit)
	}
	if err != nil {
		return nil, "", err
	}
	vs, err := r.views(ctx, devs)
	return vs, next, err
}

// queryConnected pages through the gateway's connected IDs after q.After
// and keeps those the store matches, until the page holds more than
// limit devices or the IDs run out.
func (r *Registry) queryConnected(ctx context.Context, q store.DeviceQuery, limit int) ([]store.Device, string, error) {
	if r.opts.Gateway == nil {
		return nil, "", nil
	}
	var out []store.Device
	after := q.After
	for {
		ids := r.opts.Gateway.ConnectedIDs(after, store.MaxDeviceQueryIDs)
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
}

// queryDisconnected pages through the store from q.After and drops the
// devices with a live session, until the page holds more than limit
// devices or the store has no more.
func (r *Registry) queryDisconnected(ctx context.Context, q store.DeviceQuery, limit int) ([]store.Device, string, error) {
	var out []store.Device
	q.Limit = min(limit+1, store.MaxDeviceQueryLimit)
	for {
		page, next, err := r.opts.Store.QueryDevices(ctx, q)
		if err != nil {
			return nil, "", err
		}
		for _, d := range page {
			if r.opts.Gateway == nil || r.opts.Gateway.Connected(d.ID) == 0 {
				out = append(out, d)
			}
		}
		if len(out) > limit {
			return out[:limit], out[limit-1].ID, nil
		}
		if next == "" {
			return out, "", nil
		}
		if err := ctx.Err(); err != nil {
			return nil, "", err
		}
		q.After = next
	}
}

// views adds the connection state and the certificates of devs, read for
// these devices only.
func (r *Registry) views(ctx context.Context, devs []store.Device) ([]View, error) {
	out := make([]View, len(devs))
	if len(devs) == 0 {
		return out, nil
	}
	ids := make([]string, len(devs))
	for i, d := range devs {
		ids[i] = d.ID
	}
	certs, err := r.opts.Store.ListDeviceCertificates(ctx, ids)
	if err != nil {
		return nil, err
	}
	byDev := map[string][]store.Certificate{}
	for _, c := range certs {
		byDev[c.DeviceID] = append(byDev[c.DeviceID], c)
	}
	for i, d := range devs {
		out[i] = View{Device: d, Certificates: byDev[d.ID]}
		if r.opts.Gateway != nil {
			out[i].Connected = r.opts.Gateway.Connected(d.ID)
		}
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
