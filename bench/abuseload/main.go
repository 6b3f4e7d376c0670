// Command abuseload runs one attack of issue 9 on a running `ward serve`
// beside a legitimate device, and prints that device's MQTT connect latency
// and publish round-trip latency (p50, p99) before and during the attack
// (bench/abuse.sh runs it once per attack).
//
// Attacks (-attack):
//
//   - idle: -n TCP sockets to the MQTT port that never send a byte; a
//     socket the gateway closes is opened again at once, so -n stay held.
//   - stalled: -n TLS connections with the -attacker device's certificate
//     that send a CONNECT fixed header declaring -declare bytes and a few
//     bytes of it, then stall; one the gateway closes is opened again after
//     -redial.
//   - est-wrong-token: simpleenroll requests for made-up device IDs with a
//     wrong token at -rate requests/s over keep-alive HTTPS connections.
//   - reenroll: the -attacker device calls simplereenroll with its own
//     certificate in a loop, -concurrency at a time.
//
// The socket attacks come from many loopback source addresses
// (127.<b>.<x>.<y>, 4 per address, 60 per /24): an attacker with many
// addresses, within the gateway's per-address and per-prefix caps, so that
// the flood reaches the global handshake cap; the legitimate device
// connects from 127.0.0.1.
//
// The legitimate measurement: -probes sequential connects (TCP, full TLS
// handshake, CONNECT, CONNACK, DISCONNECT), then -rt QoS 0 publishes 20 ms
// apart on one connection subscribed to its own topic, each timed from
// send to delivery. The last line is machine-readable: "RESULT ...".
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wardproject/ward/bench/internal/latency"
	"github.com/wardproject/ward/bench/internal/mqttwire"
	"github.com/wardproject/ward/bench/internal/procstat"
	"github.com/wardproject/ward/internal/est"
	"github.com/wardproject/ward/internal/pki"
)

type options struct {
	mqtt, https, caFile string
	device, attacker    string
	attack              string
	n                   int
	declare             int
	redial              time.Duration
	rate                float64
	concurrency         int
	duration            time.Duration
	probes, rt          int
	wardPID             int
	sourceNet           int
}

func main() {
	var o options
	flag.StringVar(&o.mqtt, "mqtt", "127.0.0.1:8883", "Ward's MQTT address")
	flag.StringVar(&o.https, "https", "https://127.0.0.1:8443", "Ward's HTTPS URL (EST)")
	flag.StringVar(&o.caFile, "ca", "ward-data/ca.pem", "Ward's ca.pem")
	flag.StringVar(&o.device, "device", "", "directory of the legitimate device (device.pem, device.key; its name is the device ID)")
	flag.StringVar(&o.attacker, "attacker", "", "directory of the attacking device (stalled, reenroll)")
	flag.StringVar(&o.attack, "attack", "idle", "idle, stalled, est-wrong-token or reenroll")
	flag.IntVar(&o.n, "n", 1500, "sockets held (idle, stalled)")
	flag.IntVar(&o.declare, "declare", 1<<20-16, "CONNECT remaining length declared (stalled; the default is just under the 1 MiB packet cap)")
	flag.DurationVar(&o.redial, "redial", time.Second, "pause before a closed stalled connection is opened again")
	flag.Float64Var(&o.rate, "rate", 2000, "requests per second (est-wrong-token)")
	flag.IntVar(&o.concurrency, "concurrency", 8, "concurrent requests (reenroll; est-wrong-token uses 64)")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "how long the attack lasts at least (the measurement runs inside it)")
	flag.IntVar(&o.probes, "probes", 10, "legitimate connects per phase (the default limit is 30 per minute per device)")
	flag.IntVar(&o.rt, "rt", 50, "legitimate publish round trips per phase")
	flag.IntVar(&o.wardPID, "ward-pid", 0, "Ward's PID: report its resident memory")
	flag.IntVar(&o.sourceNet, "source-net", 20, "second octet of the attack's loopback source addresses")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "abuseload:", err)
		os.Exit(1)
	}
}

// device is an enrolled device: its ID and mutual-TLS configuration.
type device struct {
	id   string
	cert tls.Certificate
	tls  *tls.Config
}

func load(o options, dir string) (device, error) {
	data, err := os.ReadFile(o.caFile)
	if err != nil {
		return device{}, fmt.Errorf("read CA file: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(data) {
		return device{}, fmt.Errorf("%s holds no PEM certificate", o.caFile)
	}
	crt, err := tls.LoadX509KeyPair(filepath.Join(dir, "device.pem"), filepath.Join(dir, "device.key"))
	if err != nil {
		return device{}, fmt.Errorf("device %s: %w", dir, err)
	}
	cfg := pki.ClientConfig(roots, &crt)
	cfg.ServerName = "127.0.0.1"
	return device{id: filepath.Base(dir), cert: crt, tls: cfg}, nil
}

// phase is one measurement of the legitimate device.
type phase struct {
	connect, publish      latency.Histogram
	connFailed, pubFailed int
	rssKiB                int64
}

func (p *phase) line(attack, name string) string {
	return fmt.Sprintf("%-16s %-7s connect p50 %8v p99 %8v (%d failed)   publish round trip p50 %8v p99 %8v (%d lost)   ward RSS %d MiB",
		attack, name, p.connect.Quantile(0.5).Round(10*time.Microsecond), p.connect.Quantile(0.99).Round(10*time.Microsecond), p.connFailed,
		p.publish.Quantile(0.5).Round(10*time.Microsecond), p.publish.Quantile(0.99).Round(10*time.Microsecond), p.pubFailed, p.rssKiB>>10)
}

// measure times the legitimate device's connects and publish round trips.
func measure(ctx context.Context, o options, d device) *phase {
	p := &phase{}
	for i := range o.probes {
		t := time.Now()
		c, _, err := mqttwire.Dial(ctx, o.mqtt, d.tls, fmt.Sprintf("%s:probe-%d", d.id, i))
		if err != nil {
			p.connFailed++
			continue
		}
		p.connect.Record(time.Since(t))
		_, _ = c.Write(mqttwire.DisconnectPacket)
		c.Close()
	}
	c, r, err := mqttwire.Dial(ctx, o.mqtt, d.tls, d.id+":rt")
	if err == nil {
		err = mqttwire.SubscribeOne(c, r, "devices/"+d.id+"/rt")
	}
	if err != nil {
		p.pubFailed = o.rt
		return p
	}
	defer c.Close()
	pkt, at := mqttwire.PublishPacket("devices/"+d.id+"/rt", 16)
	buf := make([]byte, 256)
	for range o.rt {
		sent := time.Now()
		binary.BigEndian.PutUint64(pkt[at:], uint64(sent.UnixNano()))
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(pkt); err != nil {
			p.pubFailed++
			break
		}
		for {
			typ, flags, body, err := mqttwire.ReadPacket(r, buf)
			if err != nil {
				p.pubFailed++
				return p
			}
			if typ == mqttwire.Publish {
				if pl, err := mqttwire.PublishPayload(flags, body); err == nil && len(pl) >= 8 && int64(binary.BigEndian.Uint64(pl)) == sent.UnixNano() {
					p.publish.Record(time.Since(sent))
					break
				}
			}
		}
		time.Sleep(20 * time.Millisecond) // under the default 100 msgs/s per device
	}
	if o.wardPID > 0 {
		if rss, err := procstat.RSS(o.wardPID); err == nil {
			p.rssKiB = rss >> 10
		}
	}
	return p
}

// stats counts what the attack did.
type stats struct {
	opened, closed, failed atomic.Int64
	status                 sync.Map // HTTP status or error class -> *atomic.Int64
}

func (s *stats) count(key string) {
	v, _ := s.status.LoadOrStore(key, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

func (s *stats) String() string {
	var parts []string
	if n := s.opened.Load(); n > 0 {
		parts = append(parts, fmt.Sprintf("opened %d, closed by ward %d, dial failures %d", n, s.closed.Load(), s.failed.Load()))
	}
	s.status.Range(func(k, v any) bool {
		parts = append(parts, fmt.Sprintf("%v: %d", k, v.(*atomic.Int64).Load()))
		return true
	})
	return strings.Join(parts, "; ")
}

// source returns the i-th attack source address.
func source(o options, i int) *net.TCPAddr {
	prefix, in := i/60, i%60
	return &net.TCPAddr{IP: net.IPv4(127, byte(o.sourceNet+prefix/256), byte(prefix%256), byte(1+in/4))}
}

// hold keeps n connections open from spread sources: open dials one, then
// blocks until the gateway closes it; it is opened again after pause.
func hold(ctx context.Context, o options, s *stats, ready chan<- struct{}, pause time.Duration, open func(d *net.Dialer) (net.Conn, error)) {
	var up atomic.Int64
	var once sync.Once
	for i := range o.n {
		go func() {
			d := &net.Dialer{LocalAddr: source(o, i), Timeout: 10 * time.Second}
			first := true
			for ctx.Err() == nil {
				c, err := open(d)
				if err != nil {
					s.failed.Add(1)
				} else {
					s.opened.Add(1)
					stop := context.AfterFunc(ctx, func() { c.Close() })
					_, _ = io.Copy(io.Discard, c) // until the gateway closes it
					if ctx.Err() == nil {
						s.closed.Add(1)
					}
					stop()
					c.Close()
				}
				if first {
					first = false
					if up.Add(1) == int64(o.n) {
						once.Do(func() { close(ready) })
					}
				}
				select {
				case <-ctx.Done():
				case <-time.After(pause):
				}
			}
		}()
	}
}

// attack starts the attack; ready is closed once it is in place.
func attack(ctx context.Context, o options, s *stats, ready chan struct{}) error {
	switch o.attack {
	case "idle":
		hold(ctx, o, s, ready, 0, func(d *net.Dialer) (net.Conn, error) { return d.DialContext(ctx, "tcp", o.mqtt) })
	case "stalled":
		a, err := load(o, o.attacker)
		if err != nil {
			return err
		}
		header := append([]byte{mqttwire.Connect << 4}, remaining(o.declare)...)
		header = append(header, 0, 4, 'M', 'Q', 'T', 'T')
		hold(ctx, o, s, ready, o.redial, func(d *net.Dialer) (net.Conn, error) {
			c, err := (&tls.Dialer{NetDialer: d, Config: a.tls}).DialContext(ctx, "tcp", o.mqtt)
			if err != nil {
				return nil, err
			}
			if _, err := c.Write(header); err != nil {
				c.Close()
				return nil, err
			}
			return c, nil
		})
	case "est-wrong-token", "reenroll":
		return estAttack(ctx, o, s, ready)
	default:
		return fmt.Errorf("unknown -attack %q", o.attack)
	}
	return nil
}

func remaining(n int) []byte {
	var b []byte
	for {
		d := byte(n % 128)
		if n /= 128; n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			return b
		}
	}
}

func estAttack(ctx context.Context, o options, s *stats, ready chan struct{}) error {
	data, err := os.ReadFile(o.caFile)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(data)
	workers := o.concurrency
	tr := &http.Transport{TLSClientConfig: pki.ClientConfig(roots, nil), MaxIdleConnsPerHost: 64}
	ec := &est.Client{Server: o.https, Roots: roots, HTTP: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
	key, err := est.NewDeviceKey()
	if err != nil {
		return err
	}
	var send func(i int) error
	var tick <-chan time.Time
	if o.attack == "est-wrong-token" {
		workers = 64
		csr, err := est.NewCSR("ghost", key)
		if err != nil {
			return err
		}
		t := time.NewTicker(time.Duration(float64(time.Second) / o.rate))
		tick = t.C
		go func() { <-ctx.Done(); t.Stop() }()
		send = func(i int) error {
			_, err := ec.Enroll(ctx, fmt.Sprintf("ghost-%07d", i), "wrong-token-0123456789abcdef", csr)
			return err
		}
	} else {
		a, err := load(o, o.attacker)
		if err != nil {
			return err
		}
		csr, err := est.NewCSR(a.id, key)
		if err != nil {
			return err
		}
		send = func(int) error { _, err := ec.Reenroll(ctx, a.cert, csr); return err }
	}
	jobs := make(chan int, workers)
	go func() {
		defer close(jobs)
		for i := 0; ctx.Err() == nil; i++ {
			if tick != nil {
				select {
				case <-tick:
				case <-ctx.Done():
					return
				}
			}
			select {
			case jobs <- i:
			case <-ctx.Done():
				return
			default:
				if tick != nil {
					s.count("not sent (client saturated)")
				} else {
					select {
					case jobs <- i:
					case <-ctx.Done():
						return
					}
				}
			}
		}
	}()
	for range workers {
		go func() {
			for i := range jobs {
				err := send(i)
				var se *est.ServerError
				switch {
				case err == nil:
					s.count("200")
				case errors.As(err, &se):
					s.count(fmt.Sprint(se.Status))
				case ctx.Err() != nil:
				default:
					s.count("error")
				}
			}
		}()
	}
	go func() { // in place after one second
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
		}
		close(ready)
	}()
	return nil
}

func run(o options) error {
	legit, err := load(o, o.device)
	if err != nil {
		return err
	}
	ctx := context.Background()
	before := measure(ctx, o, legit)
	fmt.Println(before.line(o.attack, "before"))

	actx, stop := context.WithCancel(ctx)
	defer stop()
	var s stats
	ready := make(chan struct{})
	start := time.Now()
	if err := attack(actx, o, &s, ready); err != nil {
		return err
	}
	select {
	case <-ready:
	case <-time.After(60 * time.Second):
		return fmt.Errorf("the attack was not in place after 60 s: %v", &s)
	}
	time.Sleep(time.Second) // let the gateway take it all in
	during := measure(ctx, o, legit)
	if rest := o.duration - time.Since(start); rest > 0 {
		time.Sleep(rest)
	}
	took := time.Since(start)
	stop()
	fmt.Println(during.line(o.attack, "during"))
	fmt.Printf("%-16s attack  %v over %v\n", o.attack, &s, took.Round(100*time.Millisecond))
	fmt.Printf("RESULT attack=%s before_connect_p50_us=%d before_connect_p99_us=%d before_rt_p50_us=%d before_rt_p99_us=%d during_connect_p50_us=%d during_connect_p99_us=%d during_rt_p50_us=%d during_rt_p99_us=%d during_connect_failed=%d during_rt_lost=%d\n",
		o.attack, before.connect.Quantile(0.5).Microseconds(), before.connect.Quantile(0.99).Microseconds(),
		before.publish.Quantile(0.5).Microseconds(), before.publish.Quantile(0.99).Microseconds(),
		during.connect.Quantile(0.5).Microseconds(), during.connect.Quantile(0.99).Microseconds(),
		during.publish.Quantile(0.5).Microseconds(), during.publish.Quantile(0.99).Microseconds(), during.connFailed, during.pubFailed)
	return nil
}
