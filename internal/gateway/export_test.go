package gateway

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
