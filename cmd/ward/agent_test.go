package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/alert"
)

// TestAgentReport: a device enrolled with `ward enroll` runs `ward agent
// --once` on a /proc that shows telnet listening; after the window closes
// the server raises insecure-service for that device.
func TestAgentReport(t *testing.T) {
	w := startForCLI(t)
	var res struct {
		Token string `json:"token"`
	}
	json.Unmarshal([]byte(w.must("device", "add", "--id", "cam-7", "--model", "acme-cam2", "--output", "json")), &res)
	dir := t.TempDir()
	dev := wardCLI{t: t, env: []string{w.env[0], w.env[1], w.env[4], w.env[5]}}
	dev.must("enroll", "--id", "cam-7", "--token", res.Token, "--dir", dir)
	agent := wardCLI{t: t}
	agent.must("agent", "--once", "--dir", dir, "--mqtt-addr", w.srv.MQTTAddr().String(),
		"--proc", filepath.Join("..", "..", "internal", "agent", "testdata", "proc"))
	// The report was published with QoS 1 and acknowledged: the gateway
	// has observed it; close the window.
	end := time.Now().Truncate(time.Minute).Add(time.Minute)
	if err := w.srv.Detect().CloseWindow(context.Background(), end); err != nil {
		t.Fatal(err)
	}
	var as []alert.Alert
	if err := json.Unmarshal([]byte(w.must("alert", "list", "--device", "cam-7", "--output", "json")), &as); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range as {
		found = found || (a.Rule == "insecure-service" && len(a.Evidence.Values) == 1 && a.Evidence.Values[0] == "23")
	}
	if !found {
		t.Fatalf("no insecure-service alert for telnet on cam-7: %+v", as)
	}
}
