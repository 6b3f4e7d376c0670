package notify

// ParseRetryAfter exports parseRetryAfter to the tests.
var ParseRetryAfter = parseRetryAfter

// ConnClosed returns a channel closed once the Syslog sink has noticed that
// the collector closed its current connection (nil when not connected).
func (s *Syslog) ConnClosed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil
	}
	return s.conn.closed
}
