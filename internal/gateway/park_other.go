//go:build !linux

package gateway

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// parkState is empty where sessions cannot park.
type parkState struct{}

// park is Linux-only (epoll); elsewhere an idle session waits on its
// goroutine.
func (rc *recordConn) park(func()) bool { return false }

// poller is Linux-only.
type poller struct{}

func newPoller(*slog.Logger, prometheus.Gauge) *poller { return nil }

func (*poller) close() {}
