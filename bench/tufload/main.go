// Command tufload measures firmware download throughput: -clients devices
// download the same file at once, each over its own mutual-TLS connection
// with its own device certificate, as a fleet does when a rollout wave
// starts. bench/tufserve.sh runs it against `ward serve` (/tuf/targets/…)
// and against nginx serving the same file with the same TLS set-up.
//
// Each download is hashed while it streams and checked against -sha256 and
// the expected length, so a server that answers fast but wrong fails the
// run. The clock runs from the moment every client is ready to the last
// byte of the last download. The server's CPU (summed over -server-pid,
// which takes a comma-separated list: nginx's master and workers) and its
// peak RSS, sampled every 20 ms, are reported beside the rate.
//
// The last line of output is machine-readable: "RESULT key=value ...".
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wardproject/ward/bench/internal/devices"
	"github.com/wardproject/ward/bench/internal/latency"
	"github.com/wardproject/ward/bench/internal/procstat"
)

type options struct {
	url       string
	caFile    string
	certs     string
	clients   int
	sha       string
	length    int64
	pids      []int
	label     string
	timeout   time.Duration
	tokenFile string
}

func main() {
	var o options
	var pids string
	flag.StringVar(&o.url, "url", "", "URL of the file to download (required)")
	flag.StringVar(&o.caFile, "ca", "ward-data/ca.pem", "CA that signed the server's certificate (Ward's ca.pem)")
	flag.StringVar(&o.certs, "certs", "devices", "directory of device directories (<id>/device.pem, <id>/device.key)")
	flag.IntVar(&o.clients, "clients", 200, "devices downloading at once")
	flag.StringVar(&o.sha, "sha256", "", "expected SHA-256 of the file, hex (required)")
	flag.Int64Var(&o.length, "length", 0, "expected length in bytes (required)")
	flag.StringVar(&pids, "server-pid", "", "comma-separated PIDs of the server's processes, for CPU and RSS")
	flag.StringVar(&o.label, "label", "server", "label in the RESULT line")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Minute, "give up after this long")
	flag.StringVar(&o.tokenFile, "token-file", "", "also send this operator token as a bearer token")
	flag.Parse()
	for p := range strings.SplitSeq(pids, ",") {
		if p == "" {
			continue
		}
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "tufload: -server-pid %q: want PIDs\n", pids)
			os.Exit(2)
		}
		o.pids = append(o.pids, n)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "tufload:", err)
		os.Exit(1)
	}
}

// serverUsage is the servers' CPU time and RSS now.
func serverUsage(pids []int) (cpu time.Duration, rss int64) {
	for _, p := range pids {
		c, _ := procstat.CPUTime(p)
		r, _ := procstat.RSS(p)
		cpu += c
		rss += r
	}
	return cpu, rss
}

func run(o options) error {
	if o.url == "" || o.sha == "" || o.length <= 0 {
		return errors.New("-url, -sha256 and -length are required")
	}
	want, err := hex.DecodeString(o.sha)
	if err != nil || len(want) != sha256.Size {
		return fmt.Errorf("-sha256 %q: want 64 hex digits", o.sha)
	}
	u, err := url.Parse(o.url)
	if err != nil {
		return fmt.Errorf("-url: %w", err)
	}
	devs, err := devices.Load(o.caFile, o.certs, o.clients, u.Hostname())
	if err != nil {
		return err
	}
	var token string
	if o.tokenFile != "" {
		b, err := os.ReadFile(o.tokenFile)
		if err != nil {
			return err
		}
		token = strings.TrimSpace(string(b))
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()

	_, rssBefore := serverUsage(o.pids)
	var peak int64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			if _, r := serverUsage(o.pids); r > peak {
				peak = r
			}
			select {
			case <-stopSampling:
				return
			case <-t.C:
			}
		}
	}()

	start := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var hist latency.Histogram
	var failed []string
	var total int64
	for _, d := range devs {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.url, nil)
		if err != nil {
			return fmt.Errorf("-url: %w", err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		wg.Go(func() {
			tr := &http.Transport{TLSClientConfig: d.TLS, DisableCompression: true}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr}
			<-start
			t0 := time.Now()
			n, err := download(c, req, want, o.length)
			el := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			total += n
			if err != nil {
				failed = append(failed, d.ID+": "+err.Error())
				return
			}
			hist.Record(el)
		})
	}
	cpu0, _ := serverUsage(o.pids)
	u0 := procstat.Take(0)
	close(start)
	wg.Wait()
	u1 := procstat.Take(0)
	cpu1, _ := serverUsage(o.pids)
	close(stopSampling)
	<-sampled

	wall := u1.At.Sub(u0.At)
	_, self, _ := u0.Shares(u1)
	server := (cpu1 - cpu0).Seconds() / wall.Seconds() * 100
	machine := (u1.Machine - u0.Machine).Seconds() / wall.Seconds() * 100
	other := max(0, machine-server-self)
	rate := float64(total) / wall.Seconds() / 1e6
	for i, f := range failed {
		if i == 5 {
			fmt.Printf("... and %d more failures\n", len(failed)-5)
			break
		}
		fmt.Println("failed:", f)
	}
	fmt.Printf("%s: %d clients x %d bytes in %.2fs: %.1f MB/s aggregate; per download p50 %s p99 %s; CPU: server %.0f%%, load client %.0f%%, other %.0f%%; server RSS %.0f MiB before, %.0f MiB peak; %d failed\n",
		o.label, len(devs), o.length, wall.Seconds(), rate, hist.Quantile(0.5).Round(time.Millisecond), hist.Quantile(0.99).Round(time.Millisecond),
		server, self, other, float64(rssBefore)/(1<<20), float64(peak)/(1<<20), len(failed))
	fmt.Printf("RESULT label=%s mode=download rate=%.1f p50_us=%d p99_us=%d broker_cpu=%.0f client_cpu=%.0f other_cpu=%.0f rss_before_mib=%.0f rss_peak_mib=%.0f lost=%d\n",
		o.label, rate, hist.Quantile(0.5).Microseconds(), hist.Quantile(0.99).Microseconds(), server, self, other,
		float64(rssBefore)/(1<<20), float64(peak)/(1<<20), len(failed))
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d downloads failed", len(failed), len(devs))
	}
	return nil
}

// download fetches req's body, hashing it as it streams, and checks the
// status, the length and the hash. It returns the bytes read.
func download(c *http.Client, req *http.Request, want []byte, length int64) (int64, error) {
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("HTTP %s", resp.Status)
	}
	h := sha256.New()
	n, err := io.CopyBuffer(h, io.LimitReader(resp.Body, length+1), make([]byte, 256<<10))
	if err != nil {
		return n, err
	}
	if n != length {
		return n, fmt.Errorf("got %d bytes, want %d", n, length)
	}
	if got := h.Sum(nil); string(got) != string(want) {
		return n, fmt.Errorf("SHA-256 %x, want %x", got, want)
	}
	return n, nil
}
