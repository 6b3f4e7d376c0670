package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/alert"
	"github.com/wardproject/ward/internal/api"
	"github.com/wardproject/ward/internal/client"
	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/wardtest"
)

// followCLI runs ward args in the background until the returned stop is
// called; stop returns the command's error.
func (c wardCLI) followCLI(args ...string) (out *wardtest.SyncBuffer, stop func() error) {
	cmd := newRootCmd()
	out = &wardtest.SyncBuffer{}
	errb := &wardtest.SyncBuffer{}
	cmd.SetOut(out)
	cmd.SetErr(errb)
	cmd.SetArgs(append(args, c.env...))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	stop = sync.OnceValue(func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(15 * time.Second):
			return errors.New("the command did not end when its context was cancelled")
		}
	})
	c.t.Cleanup(func() { stop() })
	return out, stop
}

// waitOutput waits until the command's output holds want.
func waitOutput(t *testing.T, out *wardtest.SyncBuffer, want string) {
	t.Helper()
	waitFor(t, "output "+want, func() bool { return strings.Contains(out.String(), want) })
}

// TestAlertListFollow: ward alert list --follow -o json prints the current
// list, then the alert raised afterwards and its acknowledgement, one JSON
// object per line; in table mode one line each; ward device events ID
// --follow prints that device's new events; cancelling ends both with no
// error (Ctrl-C exits 0).
func TestAlertListFollow(t *testing.T) {
	w := startForCLI(t)
	c, err := client.New(client.Options{Server: w.env[1], Token: w.env[3], CAFile: w.env[5]})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	old := w.srv.Alerts()
	if _, err := old.Raise(ctx, alert.Alert{Device: "sensor-old", Rule: "r0", Severity: alert.Low}); err != nil {
		t.Fatal(err)
	}
	jsonOut, stopJSON := w.followCLI("alert", "list", "--follow", "-o", "json")
	tableOut, stopTable := w.followCLI("alert", "list", "--follow", "--state", "open")
	// The list is printed once the stream is open: nothing raised from
	// here on can be missed.
	waitOutput(t, jsonOut, `"rule": "r0"`)
	waitOutput(t, tableOut, "sensor-old")

	var a alert.Alert
	if err := c.Post(ctx, "/api/v1/alerts", alert.Alert{Device: "sensor-f", Rule: "port-scan", Severity: alert.High, Title: "scan"}, &a); err != nil {
		t.Fatal(err)
	}
	waitOutput(t, jsonOut, `"id":"`+a.ID+`"`)
	waitOutput(t, tableOut, "raised  "+a.ID+"  sensor-f  port-scan  high  open")
	if err := c.Post(ctx, "/api/v1/alerts/"+a.ID+"/ack", nil, nil); err != nil {
		t.Fatal(err)
	}
	waitOutput(t, jsonOut, `"change":"acknowledged"`)
	if err := stopJSON(); err != nil {
		t.Errorf("alert list --follow -o json ended with %v", err)
	}
	if err := stopTable(); err != nil {
		t.Errorf("alert list --follow ended with %v", err)
	}
	// The JSON mode: the list, then one object per line.
	text := jsonOut.String()
	lines := strings.Split(strings.TrimSpace(text[strings.LastIndex(text, "]")+1:]), "\n")
	if len(lines) != 2 {
		t.Fatalf("after the list: %d lines, want 2:\n%s", len(lines), text)
	}
	for i, want := range []alert.Change{alert.Raised, alert.Acknowledge} {
		var n alert.Notification
		if err := json.Unmarshal([]byte(lines[i]), &n); err != nil || n.Change != want || n.Alert.ID != a.ID {
			t.Errorf("line %d %q: %v, want the %s change of %s", i, lines[i], err, want, a.ID)
		}
	}
	// --state open: the acknowledgement is not printed.
	if strings.Contains(tableOut.String(), "acknowledged") {
		t.Errorf("alert list --follow --state open printed the acknowledgement:\n%s", tableOut.String())
	}

	// ward device events ID --follow.
	var en api.EnrollmentResponse
	if err := c.Post(ctx, "/api/v1/devices", api.AddDeviceRequest{ID: "sensor-e", Model: "acme-th1"}, &en); err != nil {
		t.Fatal(err)
	}
	evOut, stopEv := w.followCLI("device", "events", "sensor-e", "--follow", "-o", "json")
	waitOutput(t, evOut, `"kind": "registered"`)
	if err := c.Post(ctx, "/api/v1/devices/sensor-e/quarantine", api.ReasonRequest{Reason: "follow-test"}, nil); err != nil {
		t.Fatal(err)
	}
	waitOutput(t, evOut, `"kind":"quarantined"`)
	if err := stopEv(); err != nil {
		t.Errorf("device events --follow ended with %v", err)
	}
	var ev store.Event
	last := strings.TrimSpace(evOut.String())
	if err := json.Unmarshal([]byte(last[strings.LastIndex(last, "\n")+1:]), &ev); err != nil || ev.DeviceID != "sensor-e" || ev.Detail["reason"] != "follow-test" {
		t.Errorf("last line of device events --follow: %v %+v", err, ev)
	}
}

// TestFollowRefused: a refused stream (a viewer token revoked) is an error
// the CLI reports, not a silent retry.
func TestFollowRefused(t *testing.T) {
	w := startForCLI(t)
	env := append([]string(nil), w.env...)
	env[3] = "ward_0123456789abcdef_wrong"
	cmd := newRootCmd()
	cmd.SetOut(&wardtest.SyncBuffer{})
	cmd.SetErr(&wardtest.SyncBuffer{})
	cmd.SetArgs(append([]string{"alert", "list", "--follow"}, env...))
	if err := cmd.ExecuteContext(context.Background()); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("alert list --follow with a wrong token: %v, want the 401", err)
	}
}
