package server

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// LockFile is the lock file in the data directory: the first `ward serve`
// holds an exclusive flock(2) on it, with its PID written inside.
const LockFile = "ward.lock"

// ErrDataDirLocked is returned when another ward serve holds the data
// directory.
var ErrDataDirLocked = errors.New("data directory in use by another ward serve")

// dirLock is a held lock on a data directory.
type dirLock struct{ f *os.File }

// lockDataDir takes the exclusive lock on dir/ward.lock without waiting,
// so that one data directory has one server: two servers on one SQLite
// file would each keep their own in-memory admission state (the second
// would admit a device the first revoked and serve a stale CRL). With
// PostgreSQL, nodes share the store but each has its own data directory
// (CA files, admin.token, audit anchors), so the lock is taken always.
// The kernel drops the lock when the process exits, however it exits.
func lockDataDir(dir string) (*dirLock, error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder := "unknown pid"
		if b, rerr := os.ReadFile(path); rerr == nil {
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil && pid > 0 {
				holder = "pid " + strconv.Itoa(pid)
			}
		}
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s holds %s; stop that server first, or give this one its own --data-dir",
				ErrDataDirLocked, holder, path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	err = f.Truncate(0)
	if err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("write pid to %s: %w", path, err)
	}
	return &dirLock{f: f}, nil
}

// release drops the lock. The file stays: removing it would let a third
// server lock a new file while a second still waits on the old one.
func (l *dirLock) release() {
	if l != nil && l.f != nil {
		l.f.Close()
		l.f = nil
	}
}
