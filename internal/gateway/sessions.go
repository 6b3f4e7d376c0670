package gateway

import (
	"cmp"
	"math/big"
	"slices"

	"github.com/wardproject/ward/internal/gwevent"
	mqtt "github.com/wardproject/ward/internal/mochi"
	"github.com/wardproject/ward/internal/mochi/packets"
)

// knownSession is what the gateway remembers of a client ID it admitted.
type knownSession struct {
	serial *big.Int // certificate of its last admission
	seq    uint64   // order of that admission (Gateway.admissions)
}

// makeRoom applies Limits.SessionsPerDevice before clientID is admitted
// for ds: it refuses (returns gwevent.ReasonSessionQuota) when the device already
// has that many other live sessions, and otherwise purges the device's
// oldest persisted offline sessions until the new one fits. The session
// with clientID itself, live or offline, is taken over by the new
// connection and not counted. ds.admitMu must be held.
func (g *Gateway) makeRoom(ds *deviceState, clientID string) string {
	g.mu.RLock()
	live := make(map[string]bool, len(ds.sessions))
	for s := range ds.sessions {
		if s.clientID != clientID {
			live[s.clientID] = true
		}
	}
	g.mu.RUnlock()
	limit := g.opts.Limits.SessionsPerDevice
	if len(live) >= limit {
		return gwevent.ReasonSessionQuota
	}
	offline := g.offlineLocked(ds, func(id string) bool { return id != clientID && !live[id] })
	if excess := len(live) + len(offline) + 1 - limit; excess > 0 {
		// Oldest first: by disconnect time (seconds), then admission order.
		slices.SortFunc(offline, func(a, b *mqtt.Client) int {
			if c := cmp.Compare(a.StopTime(), b.StopTime()); c != 0 {
				return c
			}
			return cmp.Compare(ds.known[a.ID].seq, ds.known[b.ID].seq)
		})
		for _, cl := range offline[:excess] {
			g.purgeClient(ds, cl)
		}
	}
	return ""
}

// offlineLocked returns the device's sessions that the broker keeps while
// they are disconnected (persistent sessions), among the client IDs keep
// accepts; it forgets client IDs the broker no longer holds. ds.admitMu
// must be held.
func (g *Gateway) offlineLocked(ds *deviceState, keep func(id string) bool) []*mqtt.Client {
	srv := g.srv.Load()
	if srv == nil {
		return nil
	}
	var out []*mqtt.Client
	for id := range ds.known {
		cl, ok := srv.Clients.Get(id)
		if !ok {
			delete(ds.known, id)
			continue
		}
		if keep(id) && cl.Closed() {
			out = append(out, cl)
		}
	}
	return out
}

// purgeClient deletes a closed client's session from the broker: its
// subscriptions, queued (inflight) messages and the client itself, so
// that its memory is released. ds.admitMu must be held when ds is not nil.
func (g *Gateway) purgeClient(ds *deviceState, cl *mqtt.Client) {
	srv := g.srv.Load()
	if srv == nil {
		return
	}
	cl.ClearInflights()
	srv.UnsubscribeClient(cl)
	if ds != nil {
		delete(ds.known, cl.ID)
	}
	if cur, ok := srv.Clients.Get(cl.ID); ok && cur == cl {
		srv.Clients.Delete(cl.ID)
		g.m.purged.Inc()
		g.log.Info("device session purged", "device_id", deviceIDOfClient(cl.ID), "client_id", cl.ID)
	}
}

// pruneSubscriptions removes from every broker session of ds, live or
// persisted, the subscriptions its current policy does not allow (a grant
// withdrawn, restricted quarantine), so that deliveries need no ACL check:
// the broker checks a subscription when it is made (OnACLCheck) and the
// gateway re-checks it here whenever the policy changes, and in
// OnSubscribed for a subscription made while the policy changed.
func (g *Gateway) pruneSubscriptions(ds *deviceState) {
	srv := g.srv.Load()
	if srv == nil {
		return
	}
	ds.admitMu.Lock()
	ids := make([]string, 0, len(ds.known))
	for id := range ds.known {
		ids = append(ids, id)
	}
	ds.admitMu.Unlock()
	for _, id := range ids {
		if cl, ok := srv.Clients.Get(id); ok {
			g.pruneClient(srv, ds, cl, nil)
		}
	}
}

// pruneClient removes the subscriptions of cl (only filters, when not nil)
// that ds's current policy does not allow.
func (g *Gateway) pruneClient(srv *mqtt.Server, ds *deviceState, cl *mqtt.Client, filters []string) {
	p := ds.policy.Load()
	if filters == nil {
		for f := range cl.State.Subscriptions.GetAll() {
			filters = append(filters, f)
		}
	}
	for _, f := range filters {
		if (!p.admits() || !p.acl.CanSubscribe(f)) && srv.RemoveSubscription(cl, f) {
			g.log.Info("subscription removed: the device's policy no longer allows it", "device_id", ds.id, "client_id", cl.ID, "filter", truncate(f, 256))
		}
	}
	// Messages already held for the session on topics it may no longer
	// read are not delivered either (counted as dropped, not-authorized).
	dropped := srv.DropInflight(cl, func(pk packets.Packet) bool {
		return pk.TopicName != "" && (!p.admits() || !p.acl.CanSubscribe(pk.TopicName))
	})
	for _, pk := range dropped {
		g.deliveryDropped(ds, cl, pk.FixedHeader.Qos, gwevent.DropReasonNotAuthorized)
	}
}

// purgeOffline purges the device's persisted offline sessions whose last
// certificate matches (all of them when match is nil). Live sessions are
// purged when they end (session.purge).
func (g *Gateway) purgeOffline(ds *deviceState, match func(serial *big.Int) bool) {
	ds.admitMu.Lock()
	defer ds.admitMu.Unlock()
	for _, cl := range g.offlineLocked(ds, func(id string) bool { return match == nil || match(ds.known[id].serial) }) {
		g.purgeClient(ds, cl)
	}
}

// markPurge marks live sessions to be purged from the broker when they end.
func markPurge(ss []*session) []*session {
	for _, s := range ss {
		s.purge.Store(true)
	}
	return ss
}
