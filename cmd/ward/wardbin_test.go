package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// binDir holds the ward binary built once for the tests that run it as a
// separate process (scripts driving it with other tools).
var (
	binDir   string
	binOnce  sync.Once
	binPath  string
	binError error
)

func TestMain(m *testing.M) {
	// No test reads or writes the developer's own CLI contexts (ward
	// login): the user configuration directory is a fresh one.
	cfgDir, err := os.MkdirTemp("", "ward-config-")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_CONFIG_HOME", cfgDir)
	code := m.Run()
	os.RemoveAll(cfgDir)
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// wardBinary builds ./cmd/ward once per test binary and returns its path.
func wardBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binError = os.MkdirTemp("", "ward-bin-")
		if binError != nil {
			return
		}
		binPath = filepath.Join(binDir, "ward")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		build := exec.CommandContext(ctx, "go", "build", "-o", binPath, ".")
		build.Stderr = os.Stderr
		binError = build.Run()
	})
	if binError != nil {
		t.Fatalf("build ward: %v", binError)
	}
	return binPath
}

// runScript runs one of scripts/*.sh with args under ctx, logs its output
// and fails the test if it fails. prefix is a command to run it under
// (e.g. unshare), or nil.
func runScript(t *testing.T, prefix []string, script string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	argv := append(append(append([]string{}, prefix...), "bash", filepath.Join("..", "..", "scripts", script)), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "WARD_SERVER=", "WARD_TOKEN=", "WARD_CA=")
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("%s: %v", script, err)
	}
}
