// Command estload measures EST enrollments per second (RFC 7030
// simpleenroll) against a running `ward serve`, as bench/run.sh does.
//
// It registers -n devices through the operator API (POST /api/v1/devices
// with the admin token), generates each device's key and CSR, and only then
// starts the clock: -concurrency workers send one simpleenroll each per
// device, over keep-alive HTTPS connections or, with -new-conn, over a new
// TCP connection and full TLS handshake per enrollment. Registration and
// key generation are not measured. With -keep DIR it writes each enrolled
// device as DIR/<id>/device.key and device.pem (the `ward enroll --dir`
// layout), which is how run.sh provisions the MQTT load client's devices.
//
// The last line of output is machine-readable: "RESULT key=value ...".
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wardproject/ward/bench/internal/latency"
	"github.com/wardproject/ward/bench/internal/procstat"
	"github.com/wardproject/ward/internal/api"
	"github.com/wardproject/ward/internal/client"
	"github.com/wardproject/ward/internal/est"
	"github.com/wardproject/ward/internal/pki"
)

type options struct {
	server      string
	caFile      string
	tokenFile   string
	n           int
	concurrency int
	prefix      string
	newConn     bool
	keep        string
	serverPID   int
	label       string
}

func main() {
	var o options
	flag.StringVar(&o.server, "server", "https://127.0.0.1:8443", "Ward's HTTPS URL")
	flag.StringVar(&o.caFile, "ca", "ward-data/ca.pem", "Ward's ca.pem")
	flag.StringVar(&o.tokenFile, "token-file", "ward-data/admin.token", "file holding an operator or admin API token")
	flag.IntVar(&o.n, "n", 2000, "devices to register and enroll")
	flag.IntVar(&o.concurrency, "concurrency", 32, "concurrent enrollments")
	flag.StringVar(&o.prefix, "prefix", "bench", "device ID prefix (IDs are <prefix>-<n>)")
	flag.BoolVar(&o.newConn, "new-conn", false, "a new TCP connection and full TLS handshake per enrollment")
	flag.StringVar(&o.keep, "keep", "", "write each enrolled device's key and certificate under this directory")
	flag.IntVar(&o.serverPID, "server-pid", 0, "ward's process ID, to report its CPU time (0: not reported)")
	flag.StringVar(&o.label, "label", "", "name printed with the result (default: keepalive or new-conn)")
	flag.Parse()
	if o.label == "" {
		o.label = map[bool]string{false: "keepalive", true: "new-conn"}[o.newConn]
	}
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "estload:", err)
		os.Exit(1)
	}
}

type job struct {
	id    string
	token string
	key   *ecdsa.PrivateKey
	csr   []byte
	crt   *x509.Certificate
}

func run(ctx context.Context, o options) error {
	tok, err := os.ReadFile(o.tokenFile)
	if err != nil {
		return fmt.Errorf("read API token: %w", err)
	}
	data, err := os.ReadFile(o.caFile)
	if err != nil {
		return fmt.Errorf("read CA file: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(data) {
		return fmt.Errorf("%s holds no PEM certificate", o.caFile)
	}
	apic, err := client.New(client.Options{Server: o.server, Token: strings.TrimSpace(string(tok)), Roots: roots})
	if err != nil {
		return err
	}
	jobs := make([]*job, o.n)
	for i := range jobs {
		jobs[i] = &job{id: fmt.Sprintf("%s-%06d", o.prefix, i)}
	}

	t0 := time.Now()
	if err := parallel(8, jobs, func(j *job) error {
		var res api.EnrollmentResponse
		if err := apic.Post(ctx, "/api/v1/devices", api.AddDeviceRequest{ID: j.id, Model: "bench"}, &res); err != nil {
			return fmt.Errorf("register %s: %w", j.id, err)
		}
		j.token = res.Token
		return nil
	}); err != nil {
		return err
	}
	fmt.Printf("registered %d devices in %v\n", o.n, time.Since(t0).Round(time.Millisecond))
	t0 = time.Now()
	if err := parallel(4, jobs, func(j *job) error {
		var err error
		if j.key, err = est.NewDeviceKey(); err != nil {
			return err
		}
		j.csr, err = est.NewCSR(j.id, j.key)
		return err
	}); err != nil {
		return err
	}
	fmt.Printf("generated %d keys and CSRs in %v\n", o.n, time.Since(t0).Round(time.Millisecond))

	tr := &http.Transport{
		TLSClientConfig:     pki.ClientConfig(roots, nil),
		MaxIdleConnsPerHost: o.concurrency,
		DisableKeepAlives:   o.newConn,
	}
	defer tr.CloseIdleConnections()
	ec := &est.Client{Server: o.server, Roots: roots, HTTP: &http.Client{Transport: tr, Timeout: 60 * time.Second}}
	// Open the keep-alive connections before the clock starts.
	if !o.newConn {
		if err := parallel(o.concurrency, jobs[:min(o.concurrency, len(jobs))], func(*job) error {
			_, err := ec.CACerts(ctx)
			return err
		}); err != nil {
			return err
		}
	}

	hs := make([]latency.Histogram, o.concurrency)
	var next, failed atomic.Int64
	var firstErr error
	var mu sync.Mutex
	cpu0 := procstat.Take(o.serverPID)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range o.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(jobs) {
					return
				}
				j := jobs[i]
				t := time.Now()
				crt, err := ec.Enroll(ctx, j.id, j.token, j.csr)
				if err != nil {
					failed.Add(1)
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("enroll %s: %w", j.id, err)
					}
					mu.Unlock()
					continue
				}
				hs[w].Record(time.Since(t))
				j.crt = crt
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	serverCPU, ownCPU, otherCPU := cpu0.Shares(procstat.Take(o.serverPID))

	var h latency.Histogram
	for i := range hs {
		h.Merge(&hs[i])
	}
	ok := int(h.Count())
	rate := float64(ok) / elapsed.Seconds()
	fmt.Printf("%s: %d enrollments (%d failed) in %v with %d workers: %.0f enrollments/s; latency p50 %v p99 %v\n",
		o.label, ok, failed.Load(), elapsed.Round(time.Millisecond), o.concurrency, rate, h.Quantile(0.5), h.Quantile(0.99))
	fmt.Printf("%s: CPU in %% of one core: ward %.0f, load client %.0f, other processes %.0f\n", o.label, serverCPU, ownCPU, otherCPU)
	fmt.Printf("RESULT label=%s mode=enroll rate=%.0f p50_us=%d p99_us=%d broker_cpu=%.0f client_cpu=%.0f other_cpu=%.0f lost=%d\n",
		o.label, rate, h.Quantile(0.5).Microseconds(), h.Quantile(0.99).Microseconds(), serverCPU, ownCPU, otherCPU, failed.Load())
	if firstErr != nil {
		return firstErr
	}
	if o.keep != "" {
		return keep(o.keep, jobs)
	}
	return nil
}

// parallel runs fn on every job with n workers and returns the first error.
func parallel(n int, jobs []*job, fn func(*job) error) error {
	var next atomic.Int64
	errs := make([]error, n)
	var wg sync.WaitGroup
	for w := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(jobs) {
					return
				}
				if err := fn(jobs[i]); err != nil {
					errs[w] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// keep writes each enrolled device as dir/<id>/device.key and device.pem.
func keep(dir string, jobs []*job) error {
	for _, j := range jobs {
		if j.crt == nil {
			continue
		}
		d := filepath.Join(dir, j.id)
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
		kb, err := x509.MarshalPKCS8PrivateKey(j.key)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(d, "device.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(d, "device.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: j.crt.Raw}), 0o644); err != nil {
			return err
		}
		if _, err := tls.LoadX509KeyPair(filepath.Join(d, "device.pem"), filepath.Join(d, "device.key")); err != nil {
			return fmt.Errorf("check kept device %s: %w", j.id, err)
		}
	}
	return nil
}
