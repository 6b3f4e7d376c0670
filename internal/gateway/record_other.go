//go:build !linux

package gateway

import "errors"

// errNoRawWait: the connection cannot be waited on without reading.
var errNoRawWait = errors.New("gateway: waiting on a socket is implemented on Linux only")

// waitReadable is Linux-only; elsewhere frameConn waits through a TLS read.
func (rc *recordConn) waitReadable() error { return errNoRawWait }
