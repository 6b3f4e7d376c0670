package gateway

import "time"

// ReadBufferHeld reports whether the live session clientID's broker-side
// reader holds a read buffer; ok is false when there is no such session.
func (g *Gateway) ReadBufferHeld(clientID string) (held, ok bool) {
	srv := g.srv.Load()
	if srv == nil {
		return false, false
	}
	cl, ok := srv.Clients.Get(clientID)
	if !ok || cl.Closed() {
		return false, false
	}
	return cl.ReadBufferHeld(), true
}

// HeldBytes returns what the broker session clientID holds in QoS 1/2
// messages (mqtt.Inflight.HeldBytes); ok is false when there is none.
func (g *Gateway) HeldBytes(clientID string) (n int, ok bool) {
	srv := g.srv.Load()
	if srv == nil {
		return 0, false
	}
	cl, ok := srv.Clients.Get(clientID)
	if !ok {
		return 0, false
	}
	return cl.State.Inflight.HeldBytes(), true
}

// PeerCertificates returns how many peer certificates the live session
// clientID's TLS connection still holds (tlsidle.Release drops them when
// the session parks); ok is false when there is no such session.
func (g *Gateway) PeerCertificates(clientID string) (n int, ok bool) {
	srv := g.srv.Load()
	if srv == nil {
		return 0, false
	}
	cl, ok := srv.Clients.Get(clientID)
	if !ok || cl.Closed() {
		return 0, false
	}
	fc, ok := cl.Net.Conn.(*frameConn)
	if !ok || fc.tls == nil {
		return 0, false
	}
	return len(fc.tls.ConnectionState().PeerCertificates), true
}

// SetParkLinger sets how long new sessions wait for a next packet before
// they park (parkLinger by default). Call it before devices connect.
func (g *Gateway) SetParkLinger(d time.Duration) { g.linger = d }
