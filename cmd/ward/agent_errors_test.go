package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/wardtest"
)

// agentRun is ward agent running in-process with its log captured.
type agentRun struct {
	log    *wardtest.SyncBuffer
	cancel context.CancelFunc
	done   chan error
}

// startAgentLog runs ward agent on dir against mqttAddr until the test
// ends (or stop is called).
func startAgentLog(t *testing.T, dir, mqttAddr string, extra ...string) *agentRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &agentRun{log: &wardtest.SyncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	cmd := newRootCmd()
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(r.log)
	cmd.SetArgs(append([]string{"agent", "--dir", dir, "--mqtt-addr", mqttAddr, "--interval", "1s",
		"--proc", filepath.Join("..", "..", "internal", "agent", "testdata", "proc")}, extra...))
	go func() { r.done <- cmd.ExecuteContext(ctx) }()
	t.Cleanup(r.stop)
	return r
}

func (r *agentRun) stop() {
	r.cancel()
	<-r.done
}

// waitLog waits until the agent's log holds want.
func (r *agentRun) waitLog(t *testing.T, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(r.log.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the agent's log within %v:\n%s", want, within, r.log.String())
		}
		time.Sleep(20 * time.Millisecond) // polling the log: no event to wait on
	}
}

// enrolledDevice registers and enrolls a device with ward enroll and
// returns its directory.
func enrolledDevice(t *testing.T, w wardCLI, id string) string {
	t.Helper()
	var res struct {
		Token string `json:"token"`
	}
	json.Unmarshal([]byte(w.must("device", "add", "--id", id, "--model", "acme-cam2", "--output", "json")), &res)
	dir := t.TempDir()
	dev := wardCLI{t: t, env: []string{w.env[0], w.env[1], w.env[4], w.env[5]}}
	dev.must("enroll", "--id", id, "--token", res.Token, "--dir", dir)
	return dir
}

// TestAgentRevokedSays: the agent of a revoked device logs, at Error,
// that its certificate is revoked, and waits at the backoff's cap (5 min,
// jittered down to half) before it tries again, instead of failing
// silently.
func TestAgentRevokedSays(t *testing.T) {
	w := startForCLI(t)
	dir := enrolledDevice(t, w, "cam-r")
	w.must("device", "revoke", "cam-r", "--reason", "keyCompromise")
	a := startAgentLog(t, dir, w.srv.MQTTAddr().String())
	a.waitLog(t, "retry_in=", 20*time.Second)
	log := a.log.String()
	for _, want := range []string{"level=ERROR", "it is revoked", "ward device show cam-r", "next_attempt="} {
		if !strings.Contains(log, want) {
			t.Errorf("the agent's log lacks %q:\n%s", want, log)
		}
	}
	m := regexp.MustCompile(`retry_in=(\S+)`).FindStringSubmatch(log)
	if d, err := time.ParseDuration(m[1]); err != nil || d < 150*time.Second || d > 5*time.Minute {
		t.Errorf("a revoked device retries in %s, want the cap (2m30s..5m)", m[1])
	}
}

// TestAgentWrongPortSays: --mqtt-addr naming Ward's HTTPS port, a port
// nothing listens on or a host name that does not resolve is logged as such with the next attempt's time,
// within seconds rather than after a silent timeout.
func TestAgentWrongPortSays(t *testing.T) {
	w := startForCLI(t)
	dir := enrolledDevice(t, w, "cam-p")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	for _, tc := range []struct{ name, addr, want string }{
		{"HTTPS port", w.srv.HTTPSAddr().String(), "this is an HTTPS port"},
		{"nothing listens", closed, "nothing listens at this address"},
		{"DNS failure", "no-such-host.invalid:8883", "host name does not resolve"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := startAgentLog(t, dir, tc.addr)
			a.waitLog(t, "next_attempt=", 30*time.Second)
			log := a.log.String()
			if !strings.Contains(log, tc.want) || !strings.Contains(log, "level=WARN") {
				t.Errorf("the agent's log lacks %q at WARN:\n%s", tc.want, log)
			}
			if strings.Contains(log, "<nil>") {
				t.Errorf("the agent logged <nil>:\n%s", log)
			}
		})
	}
}

// TestAgentReconnectsAfterRestart: ward serve stops under a connected
// agent and starts again on the same data directory and ports; the agent
// logs the loss and connects again by itself.
func TestAgentReconnectsAfterRestart(t *testing.T) {
	data := t.TempDir()
	srv, stop := startServeAt(t, data, "127.0.0.1:0", "127.0.0.1:0")
	w := cliFor(t, srv, data)
	dir := enrolledDevice(t, w, "cam-s")
	a := startAgentLog(t, dir, srv.MQTTAddr().String())
	a.waitLog(t, "msg=connected", 20*time.Second)
	httpsAddr, mqttAddr := srv.HTTPSAddr().String(), srv.MQTTAddr().String()
	stop()
	a.waitLog(t, "connection lost; reconnecting", 20*time.Second)
	startServeAt(t, data, httpsAddr, mqttAddr)
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(a.log.String(), "msg=connected") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the agent did not connect again after the restart:\n%s", a.log.String())
		}
		time.Sleep(20 * time.Millisecond) // polling the log: no event to wait on
	}
}
