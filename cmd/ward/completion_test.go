package main

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/wardproject/ward/internal/alert"
	"github.com/wardproject/ward/internal/pki"
)

// complete runs cobra's hidden __complete command in-process and returns
// the candidates (without descriptions) and the directive line.
func complete(t *testing.T, args ...string) ([]string, string) {
	t.Helper()
	out, err := runWard("", append([]string{"__complete"}, args...)...)
	if err != nil {
		t.Fatalf("__complete %v: %v\n%s", args, err, out)
	}
	var got []string
	directive := ""
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.HasPrefix(l, ":") {
			directive = l
			continue
		}
		if l != "" {
			got = append(got, strings.SplitN(l, "\t", 2)[0])
		}
	}
	return got, directive
}

// TestCompletion: device IDs and alert IDs complete from the server of
// the current context (ward login), filtered by the prefix typed; enum
// flags complete their values; with no server reachable a completion is
// empty and silent, never an error or a file name.
func TestCompletion(t *testing.T) {
	w := startForCLI(t)
	for _, id := range []string{"cam-1", "cam-2", "gw-1"} {
		w.must("device", "add", "--id", id, "--model", "acme-cam2")
	}
	a, err := w.srv.Alerts().Raise(context.Background(), alert.Alert{Device: "cam-1", Rule: "msg-rate", Severity: alert.High})
	if err != nil {
		t.Fatal(err)
	}
	freshCLIConfig(t)
	if out, err := runWard(w.env[3]+"\n", "login", "--server", w.env[1], "--ca", w.env[5], "--token-stdin"); err != nil {
		t.Fatalf("login: %v\n%s", err, out)
	}
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"device show", []string{"device", "show", ""}, []string{"cam-1", "cam-2", "gw-1"}},
		{"device show prefix", []string{"device", "show", "ca"}, []string{"cam-1", "cam-2"}},
		{"device quarantine", []string{"device", "quarantine", "g"}, []string{"gw-1"}},
		{"device metrics", []string{"device", "metrics", "gw"}, []string{"gw-1"}},
		{"second argument", []string{"device", "show", "cam-1", ""}, nil},
		{"alert show", []string{"alert", "show", ""}, []string{a.ID}},
		{"alert ack", []string{"alert", "ack", a.ID[:4]}, []string{a.ID}},
		{"alert clear", []string{"alert", "clear", ""}, []string{a.ID}},
		{"--state", []string{"alert", "list", "--state", ""}, []string{"open", "acknowledged", "cleared", "active"}},
		{"--role", []string{"token", "create", "--role", ""}, []string{"admin", "operator", "viewer", "provisioning"}},
		{"--mode", []string{"device", "quarantine", "cam-1", "--mode", ""}, []string{"refuse", "restrict"}},
		{"--reason", []string{"device", "revoke", "cam-1", "--reason", "k"}, pki.RevocationReasons},
		{"-o", []string{"device", "list", "-o", ""}, []string{"table", "json"}},
		{"rollout --state", []string{"rollout", "show", "r1", "--state", ""}, []string{"pending", "downloading", "installing", "installed", "failed", "skipped", "aborted"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, directive := complete(t, tt.args...)
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if directive != ":4" {
				t.Errorf("directive %s, want :4 (no file names)", directive)
			}
		})
	}

	// The server gone: nothing, silently, within the completion timeout.
	if got, directive := complete(t, "device", "show", "--server", "https://127.0.0.1:1", "--token", "x", ""); len(got) != 0 || directive != ":4" {
		t.Errorf("completion without a server: %q %s", got, directive)
	}
	for _, sh := range []string{"bash", "zsh", "fish"} {
		if out, err := runWard("", "completion", sh); err != nil || !strings.Contains(out, "ward") {
			t.Errorf("completion %s: %v", sh, err)
		}
	}
}
