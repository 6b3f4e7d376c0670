package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wardproject/ward/internal/rollout"
	"github.com/wardproject/ward/internal/update"
)

// TestRolloutCLI drives ward rollout create|list|show|pause|resume|next|
// abort|watch against ward serve: table and JSON output, refusals with
// the server's reason, and watch's exit status (0 when the rollout
// completes, an error when it is aborted), with plain lines in a pipe.
func TestRolloutCLI(t *testing.T) {
	w := startForCLI(t)
	dataDir := filepath.Dir(w.env[5]) // --ca <data-dir>/ca.pem
	ctx := context.Background()
	repo, err := update.InitSite(ctx, dataDir, nil, nil, update.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"1.0.0", "1.5.0"} {
		if _, err := repo.AddTarget(ctx, update.Target{Custom: update.Custom{Model: "acme-th1", Version: v}, File: "fw.bin"},
			bytes.NewReader([]byte("firmware "+v))); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"th-1", "th-2"} {
		var res struct {
			Token string `json:"token"`
		}
		json.Unmarshal([]byte(w.must("device", "add", "--id", id, "--model", "acme-th1", "--firmware", "1.4.2", "--output", "json")), &res)
		dev := wardCLI{t: t, env: []string{w.env[0], w.env[1], w.env[4], w.env[5]}}
		dev.must("enroll", "--id", id, "--token", res.Token, "--dir", t.TempDir())
	}
	out := w.must("rollout", "create", "--model", "acme-th1", "--version", "1.5.0", "--waves", "50%,100%", "--max-failure", "0%",
		"--halt-on-alerts", "none", "--soak", "1h")
	if !strings.Contains(out, "created") || !strings.Contains(out, "ward rollout watch ro-") {
		t.Fatalf("create printed %q", out)
	}
	var vs []rollout.View
	if err := json.Unmarshal([]byte(w.must("rollout", "list", "-o", "json")), &vs); err != nil || len(vs) != 1 {
		t.Fatalf("list -o json: %v %v", vs, err)
	}
	id := vs[0].ID
	if out := w.must("rollout", "list"); !strings.Contains(out, id) || !strings.Contains(out, "running") || !strings.Contains(out, "1/2") {
		t.Errorf("list table:\n%s", out)
	}
	if out := w.must("rollout", "show", id); !strings.Contains(out, "WAVE") || !strings.Contains(out, "th-1") || !strings.Contains(out, "create") {
		t.Errorf("show table:\n%s", out)
	}
	var d rollout.Detail
	if err := json.Unmarshal([]byte(w.must("rollout", "show", id, "--limit", "1", "-o", "json")), &d); err != nil || len(d.DeviceList) != 1 || d.Next == "" {
		t.Fatalf("show page of 1: %+v %v", d.DeviceList, err)
	}
	if out := w.must("rollout", "pause", id); !strings.Contains(out, "paused") {
		t.Errorf("pause printed %q", out)
	}
	if out, err := w.run("rollout", "pause", id); err == nil || !strings.Contains(out+err.Error(), "paused") {
		t.Errorf("pause twice: %v %s", err, out)
	}
	w.must("rollout", "resume", id)
	if out := w.must("rollout", "next", id); !strings.Contains(out, "wave 2 of 2") {
		t.Errorf("next printed %q", out)
	}
	if _, err := w.run("rollout", "next", id); err == nil || !strings.Contains(err.Error(), "last wave") {
		t.Errorf("next in the last wave: %v", err)
	}
	if out := w.must("rollout", "abort", id); !strings.Contains(out, "aborted") {
		t.Errorf("abort printed %q", out)
	}
	out, err = w.run("rollout", "watch", id, "--interval", "100ms")
	if err == nil || !strings.Contains(err.Error(), "aborted") {
		t.Errorf("watch of an aborted rollout: %v (want an error, a non-zero exit)", err)
	}
	if !strings.Contains(out, id+" aborted wave 2/2") {
		t.Errorf("watch in a pipe printed %q, want a plain line", out)
	}
	// Every device already runs 1.4.2 >= 1.0.0: the rollout completes at
	// once and watch exits 0.
	var v rollout.View
	if err := json.Unmarshal([]byte(w.must("rollout", "create", "--model", "acme-th1", "--version", "1.0.0", "-o", "json")), &v); err != nil {
		t.Fatal(err)
	}
	if out := w.must("rollout", "watch", v.ID, "--interval", "100ms"); !strings.Contains(out, "completed") || !strings.Contains(out, "skipped 2") {
		t.Errorf("watch of a completed rollout printed %q", out)
	}
	// Refusals carry the reason.
	if _, err := w.run("rollout", "create", "--model", "acme-th1", "--version", "1.5.0", "--waves", "50%,10%"); err == nil || !strings.Contains(err.Error(), "above the previous") {
		t.Errorf("descending waves: %v", err)
	}
	if _, err := w.run("rollout", "create", "--model", "acme-th1", "--version", "1.5.0", "--max-failure", "two"); err == nil || !strings.Contains(err.Error(), "--max-failure") {
		t.Errorf("bad max-failure: %v", err)
	}
	if _, err := w.run("rollout", "create", "--model", "acme-th1", "--version", "3.0.0"); err == nil || !strings.Contains(err.Error(), "ward firmware publish") {
		t.Errorf("unpublished version: %v", err)
	}
}
