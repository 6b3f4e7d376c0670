package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"

	"github.com/wardproject/ward/internal/update"
)

// The environment an install command receives, besides the agent's own
// (minus WARD_* variables, which may hold secrets).
const (
	EnvFirmwareFile    = "WARD_FIRMWARE_FILE"    // path of the verified file (also the last argument)
	EnvFirmwareVersion = "WARD_FIRMWARE_VERSION" // the version being installed
	EnvFirmwareModel   = "WARD_FIRMWARE_MODEL"   // the device's model
	EnvRollout         = "WARD_ROLLOUT"          // the rollout that ordered it
)

// outputTail is how much of the command's output goes into a failure reason.
const outputTail = 512

// runInstallCmd runs argv with the verified file's path appended, within
// timeout (the whole process group is killed at the deadline). Exit 0 is
// success; anything else is an error holding the exit status and the last
// bytes of stdout and stderr.
func runInstallCmd(ctx context.Context, argv []string, file string, o update.Order, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], append(argv[1:len(argv):len(argv)], file)...)
	cmd.Env = installEnv(os.Environ(), file, o)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var tail tailBuffer
	cmd.Stdout, cmd.Stderr = &tail, &tail
	err := cmd.Run()
	if err == nil {
		return nil
	}
	out := tail.String()
	if out != "" {
		out = "; output: " + out
	}
	var ee *exec.ExitError
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("install command killed after %s (--install-timeout)%s", timeout, out)
	case errors.As(err, &ee):
		return fmt.Errorf("install command failed: %s%s", ee.ProcessState, out)
	}
	return fmt.Errorf("install command %s could not run: %w", argv[0], err)
}

func installEnv(env []string, file string, o update.Order) []string {
	out := make([]string, 0, len(env)+4)
	for _, kv := range env {
		if !strings.HasPrefix(kv, "WARD_") {
			out = append(out, kv)
		}
	}
	return append(out, EnvFirmwareFile+"="+file, EnvFirmwareVersion+"="+o.Version,
		EnvFirmwareModel+"="+o.Model, EnvRollout+"="+o.Rollout)
}

// tailBuffer keeps the last outputTail bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > outputTail {
		t.buf = append(t.buf[:0:0], t.buf[len(t.buf)-outputTail:]...)
	}
	return len(p), nil
}

// String returns the tail as one printable line.
func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.ToValidUTF8(string(t.buf), "")
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' {
			return ' '
		}
		if !unicode.IsPrint(r) {
			return -1
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}
