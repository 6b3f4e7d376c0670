package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// pace spreads n actions over the round in live mode; stepped, it does not wait.
type pace struct {
	live  bool
	gap   time.Duration
	start time.Time
	i     int
}

func (s *simulation) pacer(n int) *pace {
	p := &pace{live: s.o.Stepper == nil, start: time.Now()}
	if n > 0 {
		p.gap = time.Duration(float64(s.o.Window) * 0.8 / float64(n))
	}
	return p
}

func (p *pace) next(ctx context.Context) {
	p.i++
	if !p.live {
		return
	}
	due := p.start.Add(time.Duration(p.i) * p.gap)
	if d := time.Until(due); d > 0 {
		select {
		case <-ctx.Done():
		case <-time.After(d): // live mode spreads traffic over the window
		}
	}
}

// count turns an expected count into an integer with a random remainder.
func (d *device) count(x float64) int {
	n := int(math.Floor(x))
	if d.rng.Float64() < x-float64(n) {
		n++
	}
	return n
}

func (s *simulation) modelOf(d *device) int {
	for i, m := range models {
		if m.name == d.model {
			return i
		}
	}
	return 0
}

// round runs one window of a device's behaviour.
func (s *simulation) round(ctx context.Context, d *device, r int, attacking bool) {
	m := models[s.modelOf(d)]
	perRound := float64(m.perMinute) * s.o.Window.Minutes()
	n := d.count(perRound)
	if d.scenario != "" && attacking && d.scenario == Flapping {
		s.flap(ctx, d)
	}
	p := s.pacer(n + 1)
	sent := 0
	for range n {
		d.seq++
		body := map[string]any{"seq": d.seq, "model": d.model, "temp": 20 + 3*d.rng.NormFloat64(), "ok": true}
		if pad := m.payload - 40; pad > 0 {
			body["status"] = fmt.Sprintf("%0*d", pad, d.rng.IntN(1000))
		}
		b, _ := json.Marshal(body)
		sent += len(b)
		publish(d, "devices/"+d.id+"/telemetry", b)
		p.next(ctx)
	}
	// Benign life: now and then a device reconnects (network blip, reboot)
	// or uploads a diagnostics bundle, so that detection is measured
	// against less regular traffic than clockwork telemetry.
	if d.rng.Float64() < 0.01 && d.scenario != Flapping {
		if d.cl != nil {
			d.cl.Disconnect(0)
		}
		if err := s.connect(d); err != nil {
			s.o.Logger.Debug("benign reconnect failed", "device_id", d.id, "err", err)
		}
	}
	if d.rng.Float64() < 0.02 {
		diag := make([]byte, 2048+d.rng.IntN(4096))
		for i := range diag {
			diag[i] = 'a' + byte(d.rng.IntN(26))
		}
		publish(d, "devices/"+d.id+"/diagnostics", diag)
		sent += len(diag)
	}
	s.sendReport(d, m.listenTCP, m.dstIPs, int64(sent), m.packetsOut, attacking && d.scenario == Mirai)
	if !attacking || d.scenario == "" {
		return
	}
	switch d.scenario {
	case ACLBruteforce:
		for i := range 20 {
			publish(d, fmt.Sprintf("devices/sim-benign-%d/cmd", (r+i)%max(1, s.o.Devices)), []byte(`{"cmd":"unlock"}`))
		}
	case TopicScan:
		for _, f := range []string{"devices/+/#", "#", "devices/sim-benign-0/#", "+/+/cmd", "$SYS/#", fmt.Sprintf("devices/sim-benign-%d/telemetry", r%max(1, s.o.Devices))} {
			if d.cl.IsConnectionOpen() {
				d.cl.Subscribe(f, 0, nil).WaitTimeout(10 * time.Second)
			}
		}
	case Flood:
		total := max(300, int(30*s.o.Window.Seconds()))
		fp := s.pacer(total / 50)
		for i := range total {
			if d.cl.IsConnectionOpen() {
				d.cl.Publish("devices/"+d.id+"/telemetry", 0, false, []byte(`{"flood":true}`))
			}
			if i%50 == 49 {
				fp.next(ctx)
			}
		}
		publish(d, "devices/"+d.id+"/telemetry", []byte(`{"flood":"end"}`)) // QoS 1: the QoS 0 burst before it is processed
	case Exfil:
		blob := make([]byte, 100<<10)
		for i := range blob {
			blob[i] = byte(d.rng.IntN(256))
		}
		for range 4 {
			publish(d, "devices/"+d.id+"/upload", blob)
		}
	}
}

// sendReport publishes the device-side metrics report (Mirai-like when infected).
func (s *simulation) sendReport(d *device, tcp []int, dst []string, bytesOut, packetsOut int64, infected bool) {
	rep := map[string]any{"version": 1, "interval_seconds": math.Max(1, s.o.Window.Seconds()),
		"bytes_out": bytesOut + int64(d.rng.IntN(200)), "bytes_in": int64(200 + d.rng.IntN(100)),
		"packets_out": packetsOut + int64(d.rng.IntN(10)), "packets_in": int64(10 + d.rng.IntN(5)),
		"destination_ips": dst, "established_connections": 1}
	if tcp != nil {
		rep["listening_tcp_ports"] = tcp
	}
	if infected {
		var ips []string
		for range 120 {
			ips = append(ips, fmt.Sprintf("10.%d.%d.%d", d.rng.IntN(256), d.rng.IntN(256), 1+d.rng.IntN(254)))
		}
		rep["destination_ips"] = ips
		rep["listening_tcp_ports"] = []int{23, 2323, 48101}
		rep["packets_out"] = int64(50000 + d.rng.IntN(5000))
		rep["established_connections"] = 40
	}
	b, _ := json.Marshal(rep)
	publish(d, "devices/"+d.id+"/metrics", b)
}

// flap disconnects and reconnects the device several times.
func (s *simulation) flap(ctx context.Context, d *device) {
	p := s.pacer(8)
	for range 8 {
		if d.cl != nil {
			d.cl.Disconnect(0)
		}
		began := time.Now()
		if err := s.connect(d); err != nil {
			s.o.Logger.Debug("reconnect refused", "device_id", d.id, "err", err, "took", time.Since(began))
		}
		p.next(ctx)
	}
}
