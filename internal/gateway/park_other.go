//go:build !linux

package gateway

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// parkState is empty where sessions cannot park.
type parkState struct{}

// park is Linux-only (epoll); elsewhere an idle session waits on its
// goroutine.
func (rc *recordConn) park(func()) bool { return false }

// linger is Linux-only, like park.
func (rc *recordConn) linger(time.Duration) bool { return true }

const parkLinger = 0

// poller is Linux-only.
type poller struct{}

func newPoller(*slog.Logger, prometheus.Gauge) *poller { return nil }

func (*poller) close() {}
