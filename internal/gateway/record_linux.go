//go:build linux

package gateway

import (
	"errors"
	"syscall"
)

// errNoRawWait: the connection cannot be waited on without reading.
var errNoRawWait = errors.New("gateway: connection has no socket to wait on")

// waitReadable blocks until the socket has bytes to read, has reached end
// of file or has failed, or the connection's read deadline passes (then
// its error). It reads nothing: it peeks one byte.
func (rc *recordConn) waitReadable() error {
	if err := rc.rawConn(); err != nil {
		return err
	}
	return rc.raw.Read(peekReadable)
}

// peekReadable is a syscall.RawConn read function: false (wait) while the
// socket has nothing to read.
func peekReadable(fd uintptr) bool {
	var b [1]byte
	_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return err != syscall.EAGAIN && err != syscall.EINTR
}
