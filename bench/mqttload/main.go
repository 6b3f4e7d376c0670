// Command mqttload is the MQTT load client of Ward's benchmarks
// (bench/run.sh): it measures a broker with mutual TLS the same way whether
// the broker is Ward's gateway or Mosquitto, so the two figures can be
// divided.
//
// Each device is a directory DIR/<id>/ holding device.pem and device.key,
// the layout `ward enroll --dir` writes. Three modes:
//
//   - pubsub: for each of -devices devices, one subscriber connection
//     (client ID <id>:sub, filter devices/<id>/#) and one publisher
//     connection (<id>:pub) sending QoS 0 PUBLISHes of -payload bytes to
//     devices/<id>/telemetry as fast as a window of -window messages in
//     flight per device allows. The payload starts with the send time, so
//     the subscriber measures latency. The figure is messages received per
//     second over -duration after -warmup.
//   - connect: -concurrency workers open a new TCP connection, run a full
//     TLS handshake (no session resumption) with a device certificate, send
//     CONNECT, wait for CONNACK, send DISCONNECT and close, in a loop. The
//     figure is completed handshakes (CONNACKs) per second.
//   - idle: -connections connections opened by -concurrency workers, each
//     a full TLS handshake, CONNECT (keep-alive 300 s, clean session, client
//     ID <id>:idle-<k>, cycling over -devices certificates) and SUBSCRIBE to
//     devices/<id>/cmd (-subscribe), then held idle. With -broker-pid the
//     figure is the broker's resident memory (VmRSS) once all are up, the
//     last of -settle samples one second apart; then mqttload prints READY
//     and holds the connections for -duration (0: until SIGINT/SIGTERM).
//     Its RESULT line also carries its own resident memory (client_rss_kb),
//     so that a run of many connections can be planned. -sources and
//     -source-first choose the source addresses; a failed connection is
//     retried -dial-tries times.
//
// In pubsub mode, -qos 1 publishes and subscribes at QoS 1 (subscribers
// acknowledge, publishers keep at most -inflight unacknowledged) and
// -fanout makes the first device the only publisher, to -fanout-topic, with
// every device subscribed to it. After the measured interval the
// publishers stop and the subscribers drain; the loss is counted over the
// whole run: QoS 0 messages written and QoS 1 messages acknowledged to the
// publisher (times the subscribers) that no subscriber received.
//
// With -broker-pid, the broker's CPU time over the measured interval is
// reported too, as is the load client's own: both share the machine.
// The last line of output is machine-readable: "RESULT key=value ...".
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wardproject/ward/bench/internal/devices"
	"github.com/wardproject/ward/bench/internal/latency"
	"github.com/wardproject/ward/bench/internal/mqttwire"
	"github.com/wardproject/ward/bench/internal/procstat"
)

type options struct {
	addr        string
	caFile      string
	certs       string
	label       string
	mode        string
	qos         int
	inflight    int
	fanout      bool
	fanoutTopic string
	devices     int
	payload     int
	window      int
	concurrency int
	duration    time.Duration
	warmup      time.Duration
	curve       string
	brokerPID   int
	rate        float64
	connections int
	subscribe   bool
	settle      int
	sources     int
	sourceFirst int
	dialTries   int
	cpuWindow   time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.addr, "addr", "127.0.0.1:8883", "broker address (host:port)")
	flag.StringVar(&o.caFile, "ca", "ca.pem", "PEM file of roots that verify the broker's certificate")
	flag.StringVar(&o.certs, "certs", "devices", "directory of device directories (<id>/device.pem, <id>/device.key)")
	flag.StringVar(&o.label, "label", "broker", "name printed with the result")
	flag.StringVar(&o.mode, "mode", "pubsub", "pubsub, connect or idle")
	flag.IntVar(&o.qos, "qos", 0, "pubsub: QoS of the publishes and subscriptions (0 or 1; subscribers acknowledge QoS 1)")
	flag.IntVar(&o.inflight, "inflight", 100, "pubsub at QoS 1: unacknowledged PUBLISHes per publisher (Ward's receive maximum is 128)")
	flag.BoolVar(&o.fanout, "fanout", false, "pubsub: one publisher (the first device) to -fanout-topic, every device subscribed to it (a model-wide grant)")
	flag.StringVar(&o.fanoutTopic, "fanout-topic", "fleet/all", "pubsub -fanout: the topic")
	flag.IntVar(&o.devices, "devices", 8, "devices to use (pubsub: one publisher and one subscriber connection each)")
	flag.IntVar(&o.payload, "payload", 64, "payload bytes per message (at least 8: the send time)")
	flag.IntVar(&o.window, "window", 256, "pubsub: messages in flight per subscriber before the publisher waits")
	flag.IntVar(&o.concurrency, "concurrency", 16, "connect, idle: concurrent connecting workers")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "measured interval (idle: how long to hold the connections after READY, 0: until a signal)")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "load before the measured interval")
	flag.StringVar(&o.curve, "curve", "ward", "TLS key exchange the client offers: ward (Ward's client default: X25519MLKEM768, X25519, P-256), x25519 or p256")
	flag.Float64Var(&o.rate, "rate", 0, "pubsub: messages per second per publisher (0: as fast as the window allows)")
	flag.IntVar(&o.brokerPID, "broker-pid", 0, "broker process ID, to report its CPU time, or in idle mode its RSS (0: not reported)")
	flag.IntVar(&o.connections, "connections", 1000, "idle: connections to open and hold (0: only sample the broker's RSS)")
	flag.BoolVar(&o.subscribe, "subscribe", true, "idle: each connection subscribes to devices/<id>/cmd")
	flag.IntVar(&o.settle, "settle", 5, "idle: broker RSS samples one second apart once all connections are up; the last is reported")
	flag.IntVar(&o.sources, "sources", 1, "idle: spread connections over this many source addresses 127.0.0.1, 127.0.0.2, ... (each has only the ephemeral port range's ports to one broker port)")
	flag.IntVar(&o.sourceFirst, "source-first", 1, "idle: the first source address is 127.0.0.<source-first> (beyond 255 it carries into the third octet), so that several load clients use disjoint source addresses")
	flag.IntVar(&o.dialTries, "dial-tries", 8, "idle: attempts per connection before the run gives up (a refused, reset or timed-out dial is retried after a growing pause, at most 2 s)")
	flag.DurationVar(&o.cpuWindow, "cpu-window", 0, "idle: after the RSS samples, measure the broker's CPU use over this window (needs -broker-pid; 0: not measured)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "mqttload:", err)
		os.Exit(1)
	}
}

type device = devices.Device

// loadDevices loads -devices enrolled devices and applies -curve.
func loadDevices(o options) ([]device, error) {
	host, _, err := net.SplitHostPort(o.addr)
	if err != nil {
		return nil, fmt.Errorf("-addr: %w", err)
	}
	devs, err := devices.Load(o.caFile, o.certs, o.devices, host)
	if err != nil {
		return nil, err
	}
	for _, d := range devs {
		switch o.curve {
		case "ward":
		case "x25519":
			d.TLS.CurvePreferences = []tls.CurveID{tls.X25519}
		case "p256":
			d.TLS.CurvePreferences = []tls.CurveID{tls.CurveP256}
		default:
			return nil, fmt.Errorf("-curve %q: want ward, x25519 or p256", o.curve)
		}
	}
	return devs, nil
}

func run(o options) error {
	if o.payload < 8 {
		return errors.New("-payload must be at least 8 bytes")
	}
	devs, err := loadDevices(o)
	if err != nil {
		return err
	}
	if o.mode == "idle" {
		return runIdle(o, devs)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var r runner
	switch o.mode {
	case "pubsub":
		r, err = startPubSub(ctx, o, devs)
	case "connect":
		r, err = startConnect(ctx, o, devs)
	default:
		return fmt.Errorf("-mode %q: want pubsub, connect or idle", o.mode)
	}
	if err != nil {
		return err
	}
	time.Sleep(o.warmup)
	before := sample(o, r)
	r.measure(true)
	time.Sleep(o.duration)
	r.measure(false)
	after := sample(o, r)
	var expected, received int64 = -1, -1
	if ps, ok := r.(*pubsub); ok {
		expected, received = ps.drain()
	}
	cancel()
	r.wait()
	return report(o, r, before, after, expected, received)
}

// runner is a running load.
type runner interface {
	counts() (sent, done, lost int64) // monotonic counters
	measure(on bool)                  // latency samples are taken only while on
	wait()                            // after ctx is cancelled
	hist() *latency.Histogram         // valid after wait
	tlsInfo() string
}

type snapshot struct {
	sent, done, lost int64
	cpu              procstat.Usage
}

func sample(o options, r runner) snapshot {
	var s snapshot
	s.sent, s.done, s.lost = r.counts()
	s.cpu = procstat.Take(o.brokerPID)
	return s
}

func report(o options, r runner, a, b snapshot, expected, received int64) error {
	secs := b.cpu.At.Sub(a.cpu.At).Seconds()
	rate := float64(b.done-a.done) / secs
	h := r.hist()
	brokerCPU, ownCPU, otherCPU := a.cpu.Shares(b.cpu)
	fmt.Printf("%s %s: %s\n", o.label, o.mode, r.tlsInfo())
	switch o.mode {
	case "pubsub":
		fmt.Printf("%s pubsub: %d devices, %d-byte payload: published %.0f msgs/s, received %.0f msgs/s, lost %d; latency p50 %v p99 %v\n",
			o.label, o.devices, o.payload, float64(b.sent-a.sent)/secs, rate, b.lost-a.lost, h.Quantile(0.5), h.Quantile(0.99))
		fmt.Printf("%s pubsub: QoS %d, whole run: %d messages expected (QoS 0: written; QoS 1: acknowledged to the publisher; times subscribers), %d received, %d lost (%.2f%%)\n",
			o.label, o.qos, expected, received, max(0, expected-received), 100*float64(max(0, expected-received))/float64(max(1, expected)))
		if n := r.(*pubsub).dropped.Load(); n > 0 {
			fmt.Printf("%s pubsub: %d of %d publisher connections were closed by the broker\n", o.label, n, o.devices)
		}
	case "connect":
		fmt.Printf("%s connect: %d devices, %d workers: %.0f handshakes+CONNACK/s, failed %d; latency p50 %v p99 %v\n",
			o.label, o.devices, o.concurrency, rate, b.lost-a.lost, h.Quantile(0.5), h.Quantile(0.99))
	}
	fmt.Printf("%s %s: CPU in %% of one core: broker %.0f, load client %.0f, other processes %.0f\n", o.label, o.mode, brokerCPU, ownCPU, otherCPU)
	lost := b.lost - a.lost
	if expected >= 0 {
		lost = max(0, expected-received)
	}
	fmt.Printf("RESULT label=%s mode=%s rate=%.0f p50_us=%d p99_us=%d broker_cpu=%.0f client_cpu=%.0f other_cpu=%.0f lost=%d expected=%d broker_cpu_s=%.2f\n",
		o.label, o.mode, rate, h.Quantile(0.5).Microseconds(), h.Quantile(0.99).Microseconds(), brokerCPU, ownCPU, otherCPU, lost, expected, (b.cpu.Server - a.cpu.Server).Seconds())
	if b.done == a.done {
		return errors.New("nothing completed in the measured interval")
	}
	return nil
}

func describe(cs tls.ConnectionState) string {
	return fmt.Sprintf("%s %s %s", tls.VersionName(cs.Version), tls.CipherSuiteName(cs.CipherSuite), cs.CurveID)
}

// pubsub

type pair struct {
	recv   atomic.Int64 // messages this subscriber received
	sent   atomic.Int64 // messages the publisher wrote (publisher pairs)
	acked  atomic.Int64 // PUBACKs the publisher received (QoS 1)
	got    atomic.Int64 // messages the publisher's subscribers received (fan-out: all of them)
	lost   atomic.Int64 // messages given up on (window timed out)
	wake   chan struct{}
	pub    *pair             // the pair whose publisher this subscriber's messages come from
	h      latency.Histogram // owned by the subscriber goroutine
	pubC   *tls.Conn         // nil: subscriber only (fan-out)
	pubR   *bufio.Reader
	subC   *tls.Conn
	subR   *bufio.Reader
	topic  string
	window int64
}

type pubsub struct {
	pairs     []*pair
	epoch     time.Time
	measuring atomic.Bool
	stopping  atomic.Bool // publishers stop; subscribers drain
	wg        sync.WaitGroup
	info      string
	merged    latency.Histogram
	rate      float64
	qos       byte
	fan       int64        // subscribers per publisher
	inflight  int64        // QoS 1: unacknowledged PUBLISHes per publisher
	dropped   atomic.Int64 // publisher connections the broker closed
}

func startPubSub(ctx context.Context, o options, devs []device) (*pubsub, error) {
	ps := &pubsub{epoch: time.Now(), rate: o.rate, qos: byte(o.qos), fan: 1, inflight: int64(o.inflight)}
	if o.fanout {
		ps.fan = int64(len(devs))
	}
	for i, d := range devs {
		p := &pair{wake: make(chan struct{}, 1), topic: "devices/" + d.ID + "/telemetry", window: int64(o.window)}
		filter := "devices/" + d.ID + "/#"
		if o.fanout {
			p.topic, filter = o.fanoutTopic, o.fanoutTopic
		}
		var err error
		if p.subC, p.subR, err = mqttwire.Dial(ctx, o.addr, d.TLS, d.ID+":sub"); err != nil {
			return nil, err
		}
		if err := mqttwire.SubscribeOneQoS(p.subC, p.subR, filter, ps.qos); err != nil {
			return nil, err
		}
		if !o.fanout || i == 0 {
			if p.pubC, p.pubR, err = mqttwire.Dial(ctx, o.addr, d.TLS, d.ID+":pub"); err != nil {
				return nil, err
			}
			ps.info = describe(p.pubC.ConnectionState())
		}
		p.pub = p
		if o.fanout {
			p.pub = ps.pairs0(p)
		}
		ps.pairs = append(ps.pairs, p)
	}
	for _, p := range ps.pairs {
		ps.wg.Add(1)
		go ps.subscriber(p)
		if p.pubC != nil {
			ps.wg.Add(1)
			go ps.publisher(ctx, p, o.payload)
			if ps.qos > 0 {
				go ps.acks(p)
			}
		}
	}
	go func() { // unblock readers and writers at the end
		<-ctx.Done()
		for _, p := range ps.pairs {
			if p.pubC != nil {
				_ = p.pubC.SetDeadline(time.Now())
			}
			_ = p.subC.SetDeadline(time.Now())
		}
	}()
	return ps, nil
}

// pairs0 returns the first pair (the fan-out publisher), or p itself.
func (ps *pubsub) pairs0(p *pair) *pair {
	if len(ps.pairs) > 0 {
		return ps.pairs[0]
	}
	return p
}

func (ps *pubsub) publisher(ctx context.Context, p *pair, size int) {
	defer ps.wg.Done()
	w := bufio.NewWriterSize(p.pubC, 32<<10)
	pkt, at := mqttwire.PublishPacket(p.topic, size)
	idAt := -1
	if ps.qos > 0 {
		pkt, idAt, at = mqttwire.PublishPacketQoS1(p.topic, size)
	}
	timer := time.NewTimer(time.Hour)
	var sent, forgiven int64
	start := time.Now()
	fail := func() {
		if ctx.Err() == nil && !ps.stopping.Load() {
			ps.dropped.Add(1)
		}
	}
	for ctx.Err() == nil && !ps.stopping.Load() {
		if ps.rate > 0 {
			if d := time.Until(start.Add(time.Duration(float64(sent) / ps.rate * float64(time.Second)))); d > 0 {
				if w.Flush() != nil {
					fail()
					return
				}
				time.Sleep(d)
			}
		}
		// Wait while the window (messages in flight per subscriber) or,
		// at QoS 1, the broker's receive maximum is full.
		for sent*ps.fan-p.got.Load()-forgiven >= p.window*ps.fan || (ps.qos > 0 && sent-p.acked.Load() >= ps.inflight) {
			if w.Flush() != nil {
				fail()
				return
			}
			timer.Reset(2 * time.Second)
			select {
			case <-p.wake:
			case <-timer.C:
				// The broker dropped what is still in flight (QoS 0 may be
				// dropped under load): count it and carry on.
				n := sent*ps.fan - p.got.Load() - forgiven
				forgiven += n
				p.lost.Add(n)
			case <-ctx.Done():
				return
			}
			timer.Stop()
			if ps.stopping.Load() {
				break
			}
		}
		if ps.stopping.Load() {
			break
		}
		binary.BigEndian.PutUint64(pkt[at:], uint64(time.Since(ps.epoch)))
		if idAt >= 0 {
			binary.BigEndian.PutUint16(pkt[idAt:], uint16(sent%65535)+1)
		}
		if _, err := w.Write(pkt); err != nil {
			fail()
			return
		}
		sent++
		p.sent.Store(sent)
	}
	_ = w.Flush()
}

// acks counts the PUBACKs a QoS 1 publisher receives.
func (ps *pubsub) acks(p *pair) {
	var buf []byte
	for {
		typ, _, body, err := mqttwire.ReadPacket(p.pubR, buf)
		buf = body
		if err != nil {
			return
		}
		if typ == mqttwire.Puback {
			p.acked.Add(1)
			select {
			case p.wake <- struct{}{}:
			default:
			}
		}
	}
}

func (ps *pubsub) subscriber(p *pair) {
	defer ps.wg.Done()
	defer p.subC.Close()
	var buf, acks []byte
	for {
		typ, flags, body, err := mqttwire.ReadPacket(p.subR, buf)
		buf = body
		if err != nil {
			return
		}
		if typ != mqttwire.Publish {
			continue
		}
		payload, err := mqttwire.PublishPayload(flags, body)
		if err != nil || len(payload) < 8 {
			return
		}
		if flags&0x06 != 0 {
			id, err := mqttwire.PublishID(body)
			if err != nil {
				return
			}
			acks = mqttwire.AppendPuback(acks, id)
			if p.subR.Buffered() == 0 || len(acks) >= 4<<10 {
				if _, err := p.subC.Write(acks); err != nil {
					return
				}
				acks = acks[:0]
			}
		}
		if ps.measuring.Load() {
			p.h.Record(time.Since(ps.epoch) - time.Duration(binary.BigEndian.Uint64(payload)))
		}
		p.recv.Add(1)
		p.pub.got.Add(1)
		select {
		case p.pub.wake <- struct{}{}:
		default:
		}
	}
}

func (ps *pubsub) counts() (sent, done, lost int64) {
	for _, p := range ps.pairs {
		sent += p.sent.Load()
		done += p.recv.Load()
		lost += p.lost.Load()
	}
	return
}

// drain stops the publishers and waits until the subscribers have received
// everything in flight (nothing new for a second, at most 15 s). It returns
// the messages expected (every QoS 0 message written, every QoS 1 message
// acknowledged to its publisher, times its subscribers) and received.
func (ps *pubsub) drain() (expected, received int64) {
	ps.stopping.Store(true)
	for _, p := range ps.pairs {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
	last, quiet := int64(-1), 0
	for i := 0; i < 150 && quiet < 10; i++ {
		time.Sleep(100 * time.Millisecond)
		_, done, _ := ps.counts()
		if done == last {
			quiet++
		} else {
			quiet, last = 0, done
		}
	}
	for _, p := range ps.pairs {
		if p.pubC == nil {
			continue
		}
		n := p.sent.Load()
		if ps.qos > 0 {
			n = p.acked.Load()
		}
		expected += n * ps.fan
	}
	_, received, _ = ps.counts()
	return expected, received
}

func (ps *pubsub) measure(on bool) { ps.measuring.Store(on) }

func (ps *pubsub) wait() {
	ps.wg.Wait()
	for _, p := range ps.pairs {
		if p.pubC != nil {
			_ = p.pubC.SetDeadline(time.Now().Add(time.Second))
			_, _ = p.pubC.Write(mqttwire.DisconnectPacket)
			p.pubC.Close()
		}
		ps.merged.Merge(&p.h)
	}
}

func (ps *pubsub) hist() *latency.Histogram { return &ps.merged }
func (ps *pubsub) tlsInfo() string          { return ps.info }

// connect

type connector struct {
	done, failed atomic.Int64
	measuring    atomic.Bool
	wg           sync.WaitGroup
	hs           []*latency.Histogram
	merged       latency.Histogram
	mu           sync.Mutex // guards info, firstErr
	info         string
	firstErr     error
}

func startConnect(ctx context.Context, o options, devs []device) (*connector, error) {
	c := &connector{}
	// One connection first, so that a configuration error fails fast.
	conn, _, err := mqttwire.Dial(ctx, o.addr, devs[0].TLS, devs[0].ID+":probe")
	if err != nil {
		return nil, err
	}
	c.info = describe(conn.ConnectionState())
	_, _ = conn.Write(mqttwire.DisconnectPacket)
	conn.Close()
	var next atomic.Int64
	for w := range o.concurrency {
		h := &latency.Histogram{}
		c.hs = append(c.hs, h)
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			for ctx.Err() == nil {
				n := next.Add(1)
				d := devs[int(n)%len(devs)]
				start := time.Now()
				conn, _, err := mqttwire.Dial(ctx, o.addr, d.TLS, fmt.Sprintf("%s:c%d", d.ID, w))
				if err != nil {
					if ctx.Err() == nil {
						c.failed.Add(1)
						c.mu.Lock()
						if c.firstErr == nil {
							c.firstErr = err
						}
						c.mu.Unlock()
					}
					continue
				}
				if c.measuring.Load() {
					h.Record(time.Since(start))
				}
				c.done.Add(1)
				_, _ = conn.Write(mqttwire.DisconnectPacket)
				conn.Close()
			}
		}()
	}
	return c, nil
}

func (c *connector) counts() (sent, done, lost int64) {
	d := c.done.Load()
	return d, d, c.failed.Load()
}

func (c *connector) measure(on bool) { c.measuring.Store(on) }

func (c *connector) wait() {
	c.wg.Wait()
	for _, h := range c.hs {
		c.merged.Merge(h)
	}
	if c.firstErr != nil {
		fmt.Fprintln(os.Stderr, "mqttload: first failed connection:", strings.TrimSpace(c.firstErr.Error()))
	}
}

func (c *connector) hist() *latency.Histogram { return &c.merged }
func (c *connector) tlsInfo() string          { return c.info }
