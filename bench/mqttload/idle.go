package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/wardproject/ward/bench/internal/mqttwire"
	"github.com/wardproject/ward/bench/internal/procstat"
)

// pingreq is an MQTT PINGREQ. The idle connections send one every
// idlePing, well inside the 300 s keep-alive of mqttwire.Dial.
var pingreq = []byte{12 << 4, 0}

const idlePing = 2 * time.Minute

// runIdle is -mode idle: open -connections connections with bounded
// concurrency (TLS handshake, CONNECT, SUBSCRIBE devices/<id>/cmd unless
// -subscribe=false), hold them, and with -broker-pid report the broker's
// resident memory once they are all up (-settle samples, the last kept;
// with -cpu-window its CPU use over that window after them). It then holds them for -duration
// (0: until SIGINT or SIGTERM) and closes them.
func runIdle(o options, devs []device) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var (
		mu      sync.Mutex
		conns   = make([]atomic.Pointer[tls.Conn], o.connections)
		info    string
		first   error
		dropped atomic.Int64 // connections the broker closed while held
		closing atomic.Bool
		readers sync.WaitGroup
		next    atomic.Int64
		up      atomic.Int64 // connections established
		workers sync.WaitGroup
	)
	// Every connection pings from the start, also while the broker's
	// memory is sampled: a broker closes a session that is silent for
	// 1.5 keep-alives (450 s).
	pinging := make(chan struct{})
	defer close(pinging)
	go func() {
		ping := time.NewTicker(idlePing)
		defer ping.Stop()
		for {
			select {
			case <-pinging:
				return
			case <-ping.C:
				for i := range conns {
					if c := conns[i].Load(); c != nil {
						_ = c.SetWriteDeadline(time.Now().Add(time.Second))
						_, _ = c.Write(pingreq)
					}
				}
			}
		}
	}()
	start := time.Now()
	for range min(o.concurrency, max(o.connections, 1)) {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for ctx.Err() == nil {
				k := int(next.Add(1)) - 1
				if k >= o.connections {
					return
				}
				d := devs[k%len(devs)]
				var local net.Addr
				if o.sources > 1 || o.sourceFirst != 1 {
					s := o.sourceFirst + k%max(o.sources, 1)
					local = &net.TCPAddr{IP: net.IPv4(127, 0, byte(s>>8), byte(s))}
				}
				c, err := idleDial(ctx, o, d, local, fmt.Sprintf("%s:idle-%d", d.ID, k))
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					stop() // give up: the figure needs every connection
					return
				}
				conns[k].Store(c)
				up.Add(1)
				if k == 0 {
					mu.Lock()
					info = describe(c.ConnectionState())
					mu.Unlock()
				}
				readers.Add(1)
				go func() { // discard what arrives (PINGRESP); notice a close
					defer readers.Done()
					// A small buffer: at 100,000 connections io.Copy's
					// 8 KiB each would be most of the client's memory.
					var b [64]byte
					var err error
					for err == nil {
						_, err = c.Read(b[:])
					}
					if !closing.Load() && !errors.Is(err, net.ErrClosed) {
						dropped.Add(1)
					}
				}()
			}
		}()
	}
	workers.Wait()
	closeAll := func() {
		closing.Store(true)
		for i := range conns {
			if c := conns[i].Load(); c != nil {
				_ = c.SetWriteDeadline(time.Now().Add(time.Second))
				_, _ = c.Write(mqttwire.DisconnectPacket)
				c.Close()
			}
		}
		readers.Wait()
	}
	if first != nil {
		closeAll()
		return fmt.Errorf("after %d of %d connections: %w", up.Load(), o.connections, first)
	}
	if ctx.Err() != nil {
		closeAll()
		return errors.New("interrupted while connecting")
	}
	setup := time.Since(start)
	fmt.Printf("%s idle: %d connections (%d device certificates, subscribe %v) established in %.1fs; %s\n",
		o.label, o.connections, len(devs), o.subscribe, setup.Seconds(), info)

	var rss int64
	if o.brokerPID > 0 {
		// Let the broker settle (GC, scavenger, lazily allocated buffers):
		// sample once a second and keep the last sample.
		var samples []string
		for i := range o.settle {
			if i > 0 || o.connections > 0 {
				select {
				case <-time.After(time.Second):
				case <-ctx.Done():
				}
			}
			if ctx.Err() != nil {
				closeAll()
				return errors.New("interrupted while sampling the broker's memory")
			}
			var err error
			if rss, err = procstat.RSS(o.brokerPID); err != nil {
				closeAll()
				return err
			}
			samples = append(samples, fmt.Sprintf("%.1f", float64(rss)/(1<<20)))
		}
		fmt.Printf("%s idle: broker RSS samples 1 s apart (MiB): %s\n", o.label, strings.Join(samples, " "))
	}
	cpuPct := "-"
	if o.brokerPID > 0 && o.cpuWindow > 0 {
		// Idle CPU: the broker's user+system time over the window, as a
		// percentage of one core.
		c0, err := procstat.CPUTime(o.brokerPID)
		t0 := time.Now()
		if err == nil {
			select {
			case <-time.After(o.cpuWindow):
			case <-ctx.Done():
			}
			var c1 time.Duration
			if c1, err = procstat.CPUTime(o.brokerPID); err == nil {
				cpuPct = fmt.Sprintf("%.2f", 100*float64(c1-c0)/float64(time.Since(t0)))
			}
		}
		if err != nil {
			closeAll()
			return err
		}
		fmt.Printf("%s idle: broker CPU over %s: %s%% of a core\n", o.label, o.cpuWindow, cpuPct)
	}
	rate := 0.0
	if setup > 0 {
		rate = float64(o.connections) / setup.Seconds()
	}
	// The client's own memory, to plan runs of many connections (each
	// held connection costs the load client memory too).
	self, err := procstat.RSS(os.Getpid())
	if err != nil {
		closeAll()
		return err
	}
	fmt.Printf("RESULT label=%s mode=idle conns=%d devices=%d rss_kb=%d dropped=%d setup_s=%.1f conn_rate=%.0f cpu_pct=%s client_rss_kb=%d\n",
		o.label, o.connections, len(devs), rss>>10, dropped.Load(), setup.Seconds(), rate, cpuPct, self>>10)
	fmt.Println("READY") // the script waits for this line before reading other figures
	hold := ctx.Done()
	if o.duration > 0 {
		t := time.NewTimer(o.duration)
		defer t.Stop()
		ch := make(chan struct{})
		go func() {
			select {
			case <-t.C:
			case <-ctx.Done():
			}
			close(ch)
		}()
		hold = ch
	}
	<-hold
	n := dropped.Load()
	closeAll()
	fmt.Printf("%s idle: closed %d connections; %d had been closed by the broker while held\n", o.label, o.connections, n)
	if n > 0 {
		return fmt.Errorf("%d connections were closed by the broker", n)
	}
	return nil
}

// idleDial opens one idle connection, retrying a failed dial up to
// -dial-tries times after a growing pause (250 ms more each time, at most
// 2 s): a listener's backlog may overflow, and a handshake time out, while
// tens of thousands connect to brokers that share the machine's cores.
func idleDial(ctx context.Context, o options, d device, local net.Addr, clientID string) (*tls.Conn, error) {
	var err error
	for try := range max(o.dialTries, 1) {
		if try > 0 {
			select {
			case <-time.After(min(time.Duration(try)*250*time.Millisecond, 2*time.Second)):
			case <-ctx.Done():
				return nil, err
			}
		}
		c, r, derr := mqttwire.DialFrom(ctx, local, o.addr, d.TLS, clientID)
		if derr == nil && o.subscribe {
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			derr = mqttwire.SubscribeOne(c, r, "devices/"+d.ID+"/cmd")
			_ = c.SetDeadline(time.Time{})
			if derr != nil {
				c.Close()
			}
		}
		if derr == nil {
			return c, nil
		}
		if err = derr; ctx.Err() != nil {
			break
		}
	}
	return nil, err
}
