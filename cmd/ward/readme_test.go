package main

import (
	"bufio"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// readmeBlocks returns the README's ```sh blocks; quick is the one after
// the quickstart marker.
func readmeBlocks(t *testing.T) (all []string, quick string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var cur []string
	in, marked := false, false
	for _, l := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(l, "<!-- quickstart"):
			marked = true
		case !in && strings.HasPrefix(l, "```sh"):
			in, cur = true, nil
		case in && strings.HasPrefix(l, "```"):
			in = false
			blk := strings.Join(cur, "\n") + "\n"
			all = append(all, blk)
			if marked && quick == "" {
				quick = blk
			}
			marked = false
		case in:
			cur = append(cur, l)
		}
	}
	if quick == "" {
		t.Fatal("README.md has no ```sh block after <!-- quickstart -->")
	}
	return all, quick
}

// freePort returns a TCP port nothing listens on at the moment.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// TestReadmeQuickStart runs the README's quick-start block, as written,
// with bash in a fresh directory where `ward serve` runs (the built
// binary on PATH, nothing else configured): login, status, a device added,
// enrolled with its printed token and connected by the agent. Only the
// ports 8443 and 8883 are replaced by free ones.
func TestReadmeQuickStart(t *testing.T) {
	_, quick := readmeBlocks(t)
	bin := wardBinary(t)
	work := t.TempDir()
	https, mqtt := freePort(t), freePort(t)
	env := append(os.Environ(), "WARD_SERVER=", "WARD_TOKEN=", "WARD_CA=", "XDG_CONFIG_HOME="+t.TempDir(),
		"PATH="+filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	serve := exec.CommandContext(ctx, bin, "serve")
	serve.Dir = work
	serve.Env = append(env, "WARD_HTTPS_ADDR=127.0.0.1:"+https, "WARD_MQTT_ADDR=127.0.0.1:"+mqtt)
	stderr, err := serve.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		serve.Process.Signal(os.Interrupt)
		serve.Wait()
	})
	sc := bufio.NewScanner(stderr)
	var log []string
	for !strings.Contains(strings.Join(log, "\n"), `msg="ward ready"`) {
		if !sc.Scan() {
			t.Fatalf("ward serve ended before it was ready:\n%s", strings.Join(log, "\n"))
		}
		log = append(log, sc.Text())
	}
	go func() { // keep draining the server's log
		for sc.Scan() {
		}
	}()

	script := strings.NewReplacer("localhost:8443", "localhost:"+https, "localhost:8883", "localhost:"+mqtt).Replace(quick)
	run := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	run.Dir = work
	run.Env = env
	out, err := run.CombinedOutput()
	if err != nil {
		t.Fatalf("the README's quick start failed: %v\nscript:\n%s\noutput:\n%s", err, script, out)
	}
	for _, want := range []string{"logged in to https://localhost:" + https, "Health:       ok", "admin", "demo-1", "active"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the quick start's output lacks %q:\n%s", want, out)
		}
	}
}

// TestReadmeCommandsExist: every `ward ...` line of the README's shell
// blocks names a command that exists (a renamed or removed command must
// take its README line with it).
func TestReadmeCommandsExist(t *testing.T) {
	all, _ := readmeBlocks(t)
	root := newRootCmd()
	for _, blk := range all {
		for _, l := range strings.Split(blk, "\n") {
			l = strings.TrimSpace(l)
			l = strings.TrimPrefix(l, "sudo ")
			rest, ok := strings.CutPrefix(l, "ward ")
			if !ok {
				if rest, ok = strings.CutPrefix(l, "go run ./cmd/ward "); !ok {
					continue
				}
			}
			var words []string
			for _, f := range strings.Fields(rest) {
				if f == "" || f[0] == '-' || f == "#" || strings.ToLower(f) != f || strings.ContainsAny(f, "|./:[<>'\"$;&") {
					break
				}
				words = append(words, f)
			}
			cmd, left, err := root.Find(words)
			if err != nil {
				t.Errorf("README: %q: %v", l, err)
				continue
			}
			// A group's leftover word is a mistyped subcommand; a command
			// that takes arguments itself (device policy ID) has them.
			if cmd.HasSubCommands() && len(left) > 0 && len(strings.Fields(cmd.Use)) == 1 {
				t.Errorf("README: %q: %q has no subcommand %q", l, cmd.CommandPath(), left[0])
			}
		}
	}
}
