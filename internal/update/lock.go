package update

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockFile in the repository directory serialises writers across
// processes (ward serve publishing, ward update resign from cron, an
// operator's ward update keys rotate).
const lockFile = ".ward-update.lock"

// lockDir takes an exclusive flock(2) on dir's lock file, waiting for the
// holder (writes take milliseconds); the kernel drops it if the process dies.
func lockDir(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create TUF repository %s: %w", dir, err)
	}
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

// mutate runs fn holding r.mu and the directory lock, on the state
// reloaded from disk, so that another process's writes since Open are
// built on, never overwritten with the same version numbers.
func (r *Repository) mutate(fn func() error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	unlock, err := lockDir(r.opts.Dir)
	if err != nil {
		return err
	}
	defer unlock()
	if err := r.load(); err != nil {
		return err
	}
	return fn()
}
