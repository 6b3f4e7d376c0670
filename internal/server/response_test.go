package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/alert"
	"github.com/wardproject/ward/internal/api"
	"github.com/wardproject/ward/internal/client"
	"github.com/wardproject/ward/internal/config"
	"github.com/wardproject/ward/internal/est"
	"github.com/wardproject/ward/internal/fleet"
	"github.com/wardproject/ward/internal/store"
)

// startManual runs a server with a config file and windows closed by hand.
func startManual(t *testing.T, configYAML string) *ward {
	t.Helper()
	dir := t.TempDir()
	cf := filepath.Join(dir, "ward.yaml")
	if err := os.WriteFile(cf, []byte(configYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "WARD_CONFIG="+cf, "WARD_DATA_DIR="+filepath.Join(dir, "data"),
		"WARD_HTTPS_ADDR=127.0.0.1:0", "WARD_MQTT_ADDR=127.0.0.1:0", "WARD_DETECT_WINDOW=10s")
	cfg, err := config.Load(nil, env)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := New(ctx, Options{Config: cfg, ManualWindows: true})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	w := &ward{srv: srv, dir: filepath.Join(dir, "data"), cancel: cancel, done: make(chan error, 1)}
	go func() { w.done <- srv.Run(ctx) }()
	t.Cleanup(w.stop)
	select {
	case <-srv.Ready():
	case err := <-w.done:
		t.Fatalf("server exited: %v", err)
	}
	tok, _ := os.ReadFile(filepath.Join(w.dir, AdminTokenFile))
	url := "https://localhost:" + port(srv.HTTPSAddr())
	w.api, _ = client.New(client.Options{Server: url, Token: strings.TrimSpace(string(tok)), Roots: srv.CA().RootPool()})
	w.est = &est.Client{Server: url, Roots: srv.CA().RootPool()}
	return w
}

// TestAlertSinksAndAutoResponse: an ACL-denial storm raises an alert that
// reaches a signed webhook, a syslog collector (CEF) and an MQTT
// subscriber; the profile's automatic quarantine disconnects the device
// and is recorded in the alert and the hash-chained audit trail.
func TestAlertSinksAndAutoResponse(t *testing.T) {
	hooks := make(chan *http.Request, 16)
	bodies := make(chan []byte, 16)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		hooks <- r
		bodies <- b
	}))
	defer hs.Close()
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	secretFile := filepath.Join(t.TempDir(), "hook.secret")
	os.WriteFile(secretFile, []byte("0123456789abcdef0123456789abcdef"), 0o600)
	w := startManual(t, fmt.Sprintf(`notify:
  dead_letter_dir: %s
  webhooks:
    - {name: soc-hook, url: %q, secret_file: %s, changes: [raised, mitigated]}
  syslog:
    - {name: siem, network: udp, address: %q, format: cef, changes: [raised]}
  mqtt:
    - {name: automation, changes: [raised]}
`, t.TempDir(), hs.URL+"/hook", secretFile, udp.LocalAddr().String()))
	ctx := context.Background()
	err = w.api.DoRaw(ctx, "PUT", "/api/v1/profiles", "application/yaml", []byte(`name: strict
auto_mitigate: true
rules:
  - {name: authz-failures, metric: authz_failures, comparison: ">", value: 5, severity: high, mitigation: quarantine, mitre: [T1110]}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	bad := w.enroll(t, "sensor-x")
	ops := w.enroll(t, "ops-bot")
	if err := w.api.Do(ctx, "PUT", "/api/v1/devices/ops-bot/policy", map[string]any{"subscribe": []string{"ward/alerts/#"}}, nil); err != nil {
		t.Fatal(err)
	}
	bot, err := w.connect(&ops, "ops-bot", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bot.Disconnect(0)
	if code := bot.subscribe(t, "ward/alerts/#"); code != 1 {
		t.Fatalf("operator automation subscription: SUBACK %#x", code)
	}
	dev, err := w.connect(&bad, "sensor-x", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		dev.publish(t, fmt.Sprintf("devices/other-%d/cmd", i), "x")
	}
	end := time.Now().Truncate(10 * time.Second).Add(10 * time.Second)
	if err := w.srv.Detect().CloseWindow(ctx, end); err != nil {
		t.Fatal(err)
	}

	// The device is quarantined automatically and disconnected.
	select {
	case <-dev.lost:
	case <-time.After(wait):
		t.Fatal("automatically quarantined device still connected")
	}
	// Webhook: the raised alert, signed.
	r, body := <-hooks, <-bodies
	mac := hmac.New(sha256.New, []byte("0123456789abcdef0123456789abcdef"))
	mac.Write([]byte(r.Header.Get("X-Ward-Timestamp") + "." + string(body)))
	if got := r.Header.Get("X-Ward-Signature"); got != "sha256="+hex.EncodeToString(mac.Sum(nil)) {
		t.Errorf("webhook signature %q does not verify", got)
	}
	var n alert.Notification
	if err := json.Unmarshal(body, &n); err != nil || n.Change != alert.Raised || n.Alert.Device != "sensor-x" || n.Alert.Rule != "authz-failures" {
		t.Errorf("webhook body: %s (%v)", body, err)
	}
	// Syslog: a CEF line.
	udp.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 8192)
	k, _, err := udp.ReadFrom(buf)
	if err != nil || !strings.Contains(string(buf[:k]), "CEF:0|Ward|Ward|") || !strings.Contains(string(buf[:k]), "authz-failures") {
		t.Errorf("syslog: %q %v", buf[:k], err)
	}
	// MQTT: the operator's automation got it on ward/alerts/high/sensor-x.
	m := bot.next(t)
	if m.Topic() != "ward/alerts/high/sensor-x" || !strings.Contains(string(m.Payload()), `"authz-failures"`) {
		t.Errorf("mqtt: %s %s", m.Topic(), m.Payload())
	}
	// The mitigation is on the alert, the device and the audit trail.
	deadline := time.Now().Add(wait)
	var as []alert.Alert
	for {
		if err := w.api.Get(ctx, "/api/v1/alerts?device=sensor-x", &as); err != nil {
			t.Fatal(err)
		}
		if len(as) == 1 && len(as[0].Mitigations) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alerts: %+v", as)
		}
		time.Sleep(20 * time.Millisecond) // polling the API from outside: no event to wait on
	}
	if as[0].Mitigations[0] != "quarantine (automatic)" {
		t.Errorf("mitigations %v", as[0].Mitigations)
	}
	var v fleet.View
	w.api.Get(ctx, "/api/v1/devices/sensor-x", &v)
	if v.Status != store.StatusQuarantined {
		t.Errorf("device status %s", v.Status)
	}
	var audit []store.AuditEntry
	if err := w.api.Get(ctx, "/api/v1/audit-log", &audit); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range audit {
		found = found || (e.Action == "mitigate.quarantine" && e.Actor == "auto:authz-failures" && e.Target == "sensor-x")
	}
	if !found {
		t.Errorf("no automatic quarantine in the audit trail: %+v", audit)
	}
	oldest := make([]store.AuditEntry, len(audit))
	for i, e := range audit {
		oldest[len(audit)-1-i] = e
	}
	if err := store.VerifyAudit(oldest); err != nil {
		t.Error(err)
	}
	// Operators acknowledge and clear.
	var a alert.Alert
	if err := w.api.Post(ctx, "/api/v1/alerts/"+as[0].ID+"/ack", nil, &a); err != nil || a.State != alert.Acknowledged {
		t.Errorf("ack: %v %v", a.State, err)
	}
	if err := w.api.Post(ctx, "/api/v1/alerts/"+as[0].ID+"/clear", nil, &a); err != nil || a.State != alert.Cleared {
		t.Errorf("clear: %v %v", a.State, err)
	}
	var ce *client.Error
	if err := w.api.Post(ctx, "/api/v1/alerts/"+as[0].ID+"/ack", nil, &a); !asStatus(err, &ce, http.StatusConflict) {
		t.Errorf("ack after clear: %v", err)
	}
	_ = api.Version
}

func asStatus(err error, ce **client.Error, status int) bool {
	e, ok := err.(*client.Error)
	if ok {
		*ce = e
	}
	return ok && e.Status == status
}
