package gateway

import (
	"math/big"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/wardproject/ward/internal/mochi"
	"github.com/wardproject/ward/internal/mochi/packets"

	"github.com/wardproject/ward/internal/store"
)

// deviceState is what the gateway knows about one device in the directory.
type deviceState struct {
	id string
	// dev and sessions are guarded by Gateway.mu.
	dev      store.Device
	sessions map[*session]struct{}
	// policy is the compiled policy, replaced under Gateway.mu and read
	// lock-free by the hooks.
	policy atomic.Pointer[policy]
	lim    limiter
	// admitMu serialises admissions of the device (session cap and purge)
	// and guards known. Lock order: admitMu before Gateway.mu.
	admitMu sync.Mutex
	// known maps the client IDs admitted for the device that the broker
	// may still hold (live or persisted) to their last admission.
	known map[string]knownSession
	// retained is the set of topics the device holds a retained message
	// on, capped at MaxRetainedPerDevice; guarded by retainedMu (a leaf lock).
	retainedMu sync.Mutex
	retained   map[string]struct{}
}

// session is one live, admitted MQTT connection.
type session struct {
	cl       *mqtt.Client
	conn     net.Conn
	dev      *deviceState
	clientID string
	serial   *big.Int
	notAfter time.Time
	remote   string
	v5       bool
	started  time.Time
	// purge: delete the broker's session when it ends (its device or
	// certificate is no longer admitted).
	purge atomic.Bool
}

// putDeviceLocked stores d and recompiles its policy. g.mu must be held.
func (g *Gateway) putDeviceLocked(d store.Device) *deviceState {
	ds := g.devices[d.ID]
	if ds == nil {
		ds = &deviceState{id: d.ID, sessions: map[*session]struct{}{}}
		g.devices[d.ID] = ds
	}
	ds.dev = d
	g.recompileLocked(ds)
	return ds
}

// recompileLocked rebuilds ds's effective policy. g.mu must be held.
func (g *Gateway) recompileLocked(ds *deviceState) {
	mp, ok := g.models[ds.dev.Model]
	ds.policy.Store(compilePolicy(ds.dev, mp, ok && ds.dev.Model != "", g.opts.Limits))
}

// sessionsLocked returns the device's live sessions. g.mu must be held.
func (ds *deviceState) sessionsLocked() []*session {
	out := make([]*session, 0, len(ds.sessions))
	for s := range ds.sessions {
		out = append(out, s)
	}
	return out
}

// device returns the directory entry for id, or nil.
func (g *Gateway) device(id string) *deviceState {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.devices[id]
}

// kick reasons, as MQTT 5 DISCONNECT codes.
var (
	kickAdmin   = packets.ErrAdministrativeAction // 0x98
	kickRevoked = packets.ErrNotAuthorized        // 0x87
)

func kickCode(s store.DeviceStatus) packets.Code {
	if s == store.StatusRevoked || s == store.StatusRetired {
		return kickRevoked
	}
	return kickAdmin
}

// kickAll disconnects sessions now: an MQTT 5 client gets a DISCONNECT with
// code first (bounded by disconnectWriteTimeout), an MQTT 3.1.1 client has
// no server DISCONNECT and is just closed. The sessions end (and are
// recorded) when mochi's client goroutine sees the closed connection.
func (g *Gateway) kickAll(ss []*session, code packets.Code, why string) {
	for _, s := range ss {
		g.kick(s, code, why)
	}
}

func (g *Gateway) kick(s *session, code packets.Code, why string) {
	g.log.Info("disconnecting device session", "device_id", s.dev.id, "client_id", s.clientID, "reason", why)
	srv := g.srv.Load()
	if s.v5 && srv != nil {
		_ = s.conn.SetWriteDeadline(time.Now().Add(disconnectWriteTimeout))
		_ = srv.DisconnectClient(s.cl, code)
		return
	}
	s.cl.Stop(code)
}

// deviceIDOfClient returns the device part of a client ID admitted by the
// gateway ("<id>" or "<id>:<suffix>").
func deviceIDOfClient(clientID string) string {
	id, _, _ := strings.Cut(clientID, ":")
	return id
}

// clientIDAllowed reports whether clientID is deviceID or
// "<deviceID>:<suffix>" with a non-empty suffix.
func clientIDAllowed(deviceID, clientID string) bool {
	if clientID == deviceID {
		return true
	}
	suffix, ok := strings.CutPrefix(clientID, deviceID+":")
	return ok && suffix != ""
}
