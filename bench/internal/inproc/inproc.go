// Package inproc starts the real `ward serve` (internal/server) inside a Go
// benchmark, on random loopback ports in a temporary directory, so that
// `go test -bench -cpuprofile` profiles Ward's own code paths (EST
// enrollment, the MQTT gateway) end to end. It also registers and enrolls
// devices the way an operator and a device would: through the API and EST.
package inproc

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/api"
	"github.com/wardproject/ward/internal/client"
	"github.com/wardproject/ward/internal/config"
	"github.com/wardproject/ward/internal/est"
	"github.com/wardproject/ward/internal/pki"
	"github.com/wardproject/ward/internal/server"
)

// Ward is a running in-process server.
type Ward struct {
	Srv   *server.Server
	URL   string // https://127.0.0.1:port
	MQTT  string // 127.0.0.1:port
	Roots *x509.CertPool
	API   *client.Client
}

// Start runs Ward with the given extra WARD_* settings (for example
// WARD_GATEWAY_MESSAGES_PER_SECOND) and stops it in tb's cleanup.
func Start(tb testing.TB, env ...string) *Ward {
	tb.Helper()
	environ := append([]string{
		"WARD_DATA_DIR=" + tb.TempDir(),
		"WARD_HTTPS_ADDR=127.0.0.1:0",
		"WARD_MQTT_ADDR=127.0.0.1:0",
		"WARD_LOG_LEVEL=error",
		// The load clients enroll every device from one address: lift
		// EST's per-source limit, as bench/lib.sh does (RAISED_EST).
		"WARD_EST_SOURCE_RATE=1000000000",
		"WARD_EST_SOURCE_BURST=1000000000",
	}, env...)
	cfg, err := config.Load(nil, environ)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, server.Options{Config: cfg})
	if err != nil {
		cancel()
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("ward stopped: %v", err)
		}
	})
	select {
	case <-srv.Ready():
	case err := <-done:
		tb.Fatalf("ward exited: %v", err)
	case <-time.After(10 * time.Second):
		tb.Fatal("ward not ready after 10s")
	}
	tok, err := os.ReadFile(filepath.Join(cfg.DataDir, server.AdminTokenFile))
	if err != nil {
		tb.Fatal(err)
	}
	w := &Ward{Srv: srv, URL: "https://" + srv.HTTPSAddr().String(), MQTT: srv.MQTTAddr().String(), Roots: srv.CA().RootPool()}
	w.API, err = client.New(client.Options{Server: w.URL, Token: strings.TrimSpace(string(tok)), Roots: w.Roots})
	if err != nil {
		tb.Fatal(err)
	}
	return w
}

// Register registers a device of model "bench" and returns its one-time
// enrollment token.
func (w *Ward) Register(ctx context.Context, id string) (string, error) {
	var res api.EnrollmentResponse
	if err := w.API.Post(ctx, "/api/v1/devices", api.AddDeviceRequest{ID: id, Model: "bench"}, &res); err != nil {
		return "", fmt.Errorf("register %s: %w", id, err)
	}
	return res.Token, nil
}

// Device is an enrollment prepared ahead of a measurement: a registered
// device with its token, key and CSR.
type Device struct {
	ID    string
	Token string
	Key   *ecdsa.PrivateKey
	CSR   []byte
}

// Prepare registers a device and makes its key and CSR.
func (w *Ward) Prepare(ctx context.Context, id string) (Device, error) {
	d := Device{ID: id}
	var err error
	if d.Token, err = w.Register(ctx, id); err != nil {
		return d, err
	}
	if d.Key, err = est.NewDeviceKey(); err != nil {
		return d, err
	}
	d.CSR, err = est.NewCSR(id, d.Key)
	return d, err
}

// ESTClient returns an EST client over tr (keep-alive or not, as tr says).
func (w *Ward) ESTClient(tr *http.Transport) *est.Client {
	return &est.Client{Server: w.URL, Roots: w.Roots, HTTP: &http.Client{Transport: tr, Timeout: time.Minute}}
}

// Transport is an HTTPS transport that trusts Ward.
func (w *Ward) Transport(keepAlive bool, conns int) *http.Transport {
	return &http.Transport{TLSClientConfig: pki.ClientConfig(w.Roots, nil), MaxIdleConnsPerHost: conns, DisableKeepAlives: !keepAlive}
}

// Enroll registers and enrolls a device and returns its TLS client
// configuration for the MQTT listener.
func (w *Ward) Enroll(ctx context.Context, id string) (*tls.Config, error) {
	d, err := w.Prepare(ctx, id)
	if err != nil {
		return nil, err
	}
	tr := w.Transport(false, 1)
	defer tr.CloseIdleConnections()
	crt, err := w.ESTClient(tr).Enroll(ctx, d.ID, d.Token, d.CSR)
	if err != nil {
		return nil, err
	}
	cfg := pki.ClientConfig(w.Roots, &tls.Certificate{Certificate: [][]byte{crt.Raw}, PrivateKey: d.Key, Leaf: crt})
	cfg.ServerName = "127.0.0.1"
	return cfg, nil
}
