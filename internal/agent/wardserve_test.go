package agent

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/api"
	"github.com/wardproject/ward/internal/client"
	"github.com/wardproject/ward/internal/config"
	"github.com/wardproject/ward/internal/est"
	"github.com/wardproject/ward/internal/server"
	"github.com/wardproject/ward/internal/update"
	"github.com/wardproject/ward/internal/wardtest"
)

// TestRenewReconnectsThroughWardServe: a device connected to ward serve's
// gateway renews its certificate at two thirds of its lifetime (the
// agent's clock injected) over ward serve's EST, then reconnects MQTT with
// the new certificate: its subscription is made again (the connect
// handler logs after it) and its messages are accepted.
func TestRenewReconnectsThroughWardServe(t *testing.T) {
	dir := t.TempDir()
	// The server's clock starts two hours back, so that at the renewal
	// (the server's clock moved to the present) the one-hour re-enrollment
	// interval has passed and the new certificate is valid in real time.
	var mu sync.Mutex
	serverNow := time.Now().Add(-2 * time.Hour)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return serverNow }
	t.Setenv("WARD_DATA_DIR", dir)
	t.Setenv("WARD_HTTPS_ADDR", "127.0.0.1:0")
	t.Setenv("WARD_MQTT_ADDR", "127.0.0.1:0")
	cfg, err := config.Load(nil, os.Environ())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, server.Options{Config: cfg, Now: clock, ManualWindows: true})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	<-srv.Ready()
	base := "https://" + srv.HTTPSAddr().String()
	tok, _ := os.ReadFile(filepath.Join(dir, server.AdminTokenFile))
	ac, err := client.New(client.Options{Server: base, Token: strings.TrimSpace(string(tok)), Roots: srv.CA().RootPool()})
	if err != nil {
		t.Fatal(err)
	}
	var res api.EnrollmentResponse
	if err := ac.Post(ctx, "/api/v1/devices", api.AddDeviceRequest{ID: "th-9", Model: "acme-th1", Firmware: "1.4.2"}, &res); err != nil {
		t.Fatal(err)
	}
	ec := &est.Client{Server: base, Roots: srv.CA().RootPool()}
	key, _ := est.NewDeviceKey()
	csr, _ := est.NewCSR("th-9", key)
	crt, err := ec.Enroll(ctx, "th-9", res.Token, csr)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, dir: t.TempDir()}
	e.cert.Certificate, e.cert.PrivateKey, e.cert.Leaf = [][]byte{crt.Raw}, key, crt
	id := e.writeIdentity()

	var logs wardtest.SyncBuffer
	log := slogTo(&logs)
	conn, err := Dial(ctx, ConnOptions{Addr: srv.MQTTAddr().String(), Identity: id, Roots: srv.CA().RootPool(), Logger: log,
		Subscriptions: map[string]func(context.Context, []byte){update.OrderTopic("th-9"): func(context.Context, []byte) {}}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	agentNow := time.Now()
	renewed := make(chan struct{}, 1)
	var waits []time.Duration
	rctx, stop := context.WithCancel(ctx)
	r, err := NewRenewer(RenewerOptions{Identity: id, EST: ec, Logger: log,
		Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return agentNow },
		Sleep: func(ctx context.Context, d time.Duration) error {
			waits = append(waits, d)
			if len(waits) > 1 {
				stop()
				return context.Canceled
			}
			mu.Lock()
			agentNow, serverNow = agentNow.Add(d), time.Now()
			mu.Unlock()
			return nil
		},
		OnRenewed: func() {
			if err := conn.Reconnect(ctx); err != nil {
				t.Errorf("reconnect: %v", err)
			}
			renewed <- struct{}{}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	r.Run(rctx)
	select {
	case <-renewed:
	default:
		t.Fatalf("not renewed: %v\n%s", r.LastError(), logs.String())
	}
	if id.Leaf().SerialNumber.Cmp(crt.SerialNumber) == 0 {
		t.Fatal("still the first certificate")
	}
	life := crt.NotAfter.Sub(crt.NotBefore)
	if want := crt.NotBefore.Add(life * 2 / 3).Sub(time.Now()); waits[0] < want-time.Minute || waits[0] > want+time.Minute {
		t.Fatalf("first wait %s, want about %s (two thirds of the lifetime)", waits[0], want)
	}
	if n := strings.Count(logs.String(), "msg=connected"); n != 2 {
		t.Fatalf("%d connections, want 2 (the first and after the renewal):\n%s", n, logs.String())
	}
	// The new connection is accepted: a message on the device's own topic
	// is acknowledged (QoS 1).
	if err := conn.Publish(ctx, "devices/th-9/metrics", []byte(`{}`)); err != nil {
		t.Fatalf("publish after the renewal: %v", err)
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Fatalf("errors logged:\n%s", logs.String())
	}
}

func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }
