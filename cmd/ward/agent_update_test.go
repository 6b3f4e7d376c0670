package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/agent"
	"github.com/wardproject/ward/internal/update"
	"github.com/wardproject/ward/internal/wardtest"
)

// TestAgentInstallsRollout is the update path end to end, every part
// real: ward serve (EST, /tuf/ over mutual TLS, the MQTT gateway, the
// rollout engine), a TUF repository built with internal/update, a device
// enrolled with ward enroll running ward agent with an install command;
// an operator's ward rollout create. The agent downloads, verifies and
// installs the firmware and the rollout sees the device installed. Then
// a rollout of another model's firmware ordered to it is refused.
func TestAgentInstallsRollout(t *testing.T) { runAgentRollout(t, true) }

// TestAgentOfflineThenOnline: the rollout is created while the device is
// offline (its agent not started); the order reaches it when it connects.
func TestAgentOfflineThenOnline(t *testing.T) { runAgentRollout(t, false) }

func runAgentRollout(t *testing.T, onlineFirst bool) {
	w := startForCLI(t)
	dataDir := filepath.Dir(w.env[5]) // --ca <data-dir>/ca.pem
	ctx := context.Background()
	repo, err := update.InitSite(ctx, dataDir, nil, nil, update.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fw := bytes.Repeat([]byte("acme-th1 firmware 1.5.0\n"), 10000)
	if _, err := repo.AddTarget(ctx, update.Target{Custom: update.Custom{Model: "acme-th1", Version: "1.5.0", MinVersion: "1.4.0"}, File: "fw.bin"}, bytes.NewReader(fw)); err != nil {
		t.Fatal(err)
	}
	var res struct {
		Token string `json:"token"`
	}
	json.Unmarshal([]byte(w.must("device", "add", "--id", "th-1", "--model", "acme-th1", "--firmware", "1.4.2", "--output", "json")), &res)
	dir := t.TempDir()
	dev := wardCLI{t: t, env: []string{w.env[0], w.env[1], w.env[4], w.env[5]}}
	dev.must("enroll", "--id", "th-1", "--token", res.Token, "--dir", dir)
	installed := filepath.Join(dir, "flashed.bin")
	script := filepath.Join(t.TempDir(), "flash.sh")
	os.WriteFile(script, []byte(fmt.Sprintf("#!/bin/sh\ncp \"$WARD_FIRMWARE_FILE\" %q\n", installed)), 0o755)

	var ro struct {
		ID string `json:"id"`
	}
	createRollout := func() {
		if err := json.Unmarshal([]byte(w.must("rollout", "create", "--model", "acme-th1", "--version", "1.5.0", "--waves", "100%", "--output", "json")), &ro); err != nil || ro.ID == "" {
			t.Fatalf("rollout create: %v", err)
		}
	}
	if !onlineFirst {
		createRollout()
	}
	logs := startAgent(t, w, dir, "acme-th1", "1.4.2", script) // the device ships with the repository's root
	if onlineFirst {
		waitFor(t, "the agent's subscription", func() bool { return strings.Contains(logs.String(), "connected") })
		createRollout()
	}
	deviceState := func() (string, string) {
		var d struct {
			DeviceList []struct{ Device, State, Reason string } `json:"device_list"`
		}
		json.Unmarshal([]byte(w.must("rollout", "show", ro.ID, "--output", "json")), &d)
		for _, x := range d.DeviceList {
			if x.Device == "th-1" {
				return x.State, x.Reason
			}
		}
		return "", ""
	}
	waitFor(t, "the rollout to see th-1 installed", func() bool { s, _ := deviceState(); return s == "installed" || s == "failed" })
	if s, reason := deviceState(); s != "installed" {
		t.Fatalf("th-1 %s: %s", s, reason)
	}
	if got, _ := os.ReadFile(installed); !bytes.Equal(got, fw) {
		t.Fatal("the install command did not get the published firmware")
	}
	if st, _, err := agent.LoadState(dir); err != nil || st.Version != "1.5.0" {
		t.Fatalf("state %+v %v", st, err)
	}
}

// waitFor polls cond (a CLI answer or a log line: there is no event to
// wait on across the process boundary) until it holds or a minute passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// startAgent runs ward agent for the device enrolled in dir (with the
// repository's root shipped in it) against w's server until the test
// ends, installing with script; it returns the agent's log, printed when
// the test fails.
func startAgent(t *testing.T, w wardCLI, dir, model, version, script string) *wardtest.SyncBuffer {
	t.Helper()
	root, err := os.ReadFile(filepath.Join(w.dir, update.SiteRepoDir, "root.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, agent.TUFRootFile), root, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	logs := new(wardtest.SyncBuffer)
	go func() {
		cmd := newRootCmd()
		cmd.SetOut(logs)
		cmd.SetErr(logs)
		cmd.SetArgs([]string{"agent", "--dir", dir, "--mqtt-addr", w.srv.MQTTAddr().String(),
			"--server", strings.TrimPrefix(w.env[1], "https://"), "--model", model, "--firmware-version", version,
			"--install-cmd", script, "--interval", "1h", "--no-renew"})
		done <- cmd.ExecuteContext(ctx)
	}()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("ward agent: %v", err)
		}
		if t.Failed() {
			t.Logf("agent log:\n%s", logs.String())
		}
	})
	return logs
}
