// Package sim is Ward's fleet simulator: real devices that register through
// the API, enroll over EST, connect over MQTT with mutual TLS and send
// realistic periodic telemetry per model, with attack scenarios switched on
// for chosen devices. At the end it reports, per scenario, what was
// detected and how fast, and the false alarms on the benign devices. It is
// the README's demo, the load generator of the detection benchmarks and the
// driver of the end-to-end detection tests.
//
// The simulation runs in rounds of one detection window. Live (the CLI),
// each round lasts one window of wall-clock time and traffic is spread over
// it. Stepped (tests), a Stepper closes the server's window after every
// round, so a long simulated period runs in seconds without sleeping, and
// every observation has reached the server before its window closes
// (publishes use QoS 1, so the gateway has processed them when they are
// acknowledged).
//
// Randomness is math/rand/v2 seeded by Options.Seed: it shapes simulated
// traffic only, never anything security-relevant.
package sim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/wardproject/ward/internal/alert"
	"github.com/wardproject/ward/internal/api"
	"github.com/wardproject/ward/internal/client"
	"github.com/wardproject/ward/internal/est"
	"github.com/wardproject/ward/internal/pki"
)

// Scenario names, as `ward simulate --attack NAME=COUNT` takes them.
const (
	ACLBruteforce = "acl-bruteforce"
	TopicScan     = "topic-scan"
	Flood         = "flood"
	Exfil         = "exfil"
	Flapping      = "flapping"
	Mirai         = "mirai"
)

// Scenarios lists every scenario with the rules that count as detecting it.
var Scenarios = map[string][]string{
	ACLBruteforce: {"authz-failures"},
	TopicScan:     {"subscription-scan", "authz-failures"},
	Flood:         {"message-flood", "rate-limit-hits"},
	Exfil:         {"exfiltration"},
	Flapping:      {"connection-flapping"},
	Mirai:         {"insecure-service", "network-scanning"},
}

// ParseAttacks parses "flood=2,mirai=1".
func ParseAttacks(s string) (map[string]int, error) {
	out := map[string]int{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, part := range strings.Split(s, ",") {
		name, n, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			n = "1"
		}
		if _, known := Scenarios[name]; !known {
			names := make([]string, 0, len(Scenarios))
			for k := range Scenarios {
				names = append(names, k)
			}
			sort.Strings(names)
			return nil, fmt.Errorf("unknown attack %q: use %s", name, strings.Join(names, ", "))
		}
		c, err := strconv.Atoi(n)
		if err != nil || c < 1 || c > 1000 {
			return nil, fmt.Errorf("attack %s: count must be 1..1000, got %q", name, n)
		}
		out[name] += c
	}
	return out, nil
}

// Stepper closes the server's current detection window and returns the
// simulated time at its end (tests). Nil: live mode on the wall clock.
type Stepper interface {
	Step(ctx context.Context) (time.Time, error)
}

// Options configure a simulation. API, Server, MQTTAddr and Roots are required.
type Options struct {
	API      *client.Client
	Server   string // https base URL, for EST
	MQTTAddr string // host:port of the gateway
	Roots    *x509.CertPool
	Devices  int // benign devices
	// Model, when set, is every device's model (empty: acme-th1,
	// acme-cam2 and acme-meter3 in turn).
	Model    string
	Attacks  map[string]int // scenario -> attacked devices
	Duration time.Duration
	Window   time.Duration // the server's detection window
	// AttackAfter is when attacks start (default: a third of Duration, at
	// least two windows).
	AttackAfter time.Duration
	Stepper     Stepper
	// Rules overrides, per scenario, the alert rules that count as
	// detecting it (nil: Scenarios).
	Rules map[string][]string
	Seed  uint64
	// Progress receives a progress bar (nil: none).
	Progress func(done, total int)
	Logger   *slog.Logger
	Now      func() time.Time
}

// device is one simulated device.
type device struct {
	id       string
	model    string
	scenario string // "" for benign
	key      any
	cert     tls.Certificate
	cl       paho.Client
	rng      *rand.Rand
	seq      int
}

// models are the benign behaviours: telemetry messages per window at a
// one-minute window, payload size and the device-side report.
var models = []struct {
	name       string
	perMinute  int
	payload    int
	listenTCP  []int
	dstIPs     []string
	packetsOut int64
}{
	{"acme-th1", 6, 48, nil, []string{"192.0.2.1"}, 30},
	{"acme-cam2", 12, 400, []int{443}, []string{"192.0.2.1", "192.0.2.20"}, 900},
	{"acme-meter3", 2, 120, nil, []string{"192.0.2.1"}, 10},
}

// Run executes the simulation and returns its report.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.API == nil || o.Server == "" || o.MQTTAddr == "" || o.Roots == nil {
		return nil, errors.New("sim: Options.API, Server, MQTTAddr and Roots are required")
	}
	if o.Window <= 0 {
		o.Window = time.Minute
	}
	if o.Duration < o.Window {
		o.Duration = o.Window
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	rounds := int(o.Duration / o.Window)
	if o.AttackAfter <= 0 {
		o.AttackAfter = max(o.Duration/3, 2*o.Window)
	}
	attackRound := int(o.AttackAfter / o.Window)
	if attackRound >= rounds {
		attackRound = max(0, rounds-1)
	}
	s := &simulation{o: o, rounds: rounds, attackRound: attackRound, first: map[string]firstAlert{}}
	if err := s.setup(ctx); err != nil {
		s.close()
		return nil, err
	}
	defer s.close()
	return s.run(ctx)
}

type firstAlert struct {
	round int
	rule  string
	at    time.Time // when the server raised it
}

type simulation struct {
	o           Options
	devices     []*device
	rounds      int
	attackRound int
	first       map[string]firstAlert // device -> first alert
	otherRules  map[string][]string
	attackStart time.Time
	start       time.Time
}

func (s *simulation) close() {
	for _, d := range s.devices {
		if d.cl != nil && d.cl.IsConnected() {
			d.cl.Disconnect(0)
		}
	}
}

func (s *simulation) setup(ctx context.Context) error {
	var specs []*device
	seed := s.o.Seed
	mk := func(id, scenario string, i int) *device {
		seed++
		model := models[i%len(models)].name
		if s.o.Model != "" {
			model = s.o.Model
		}
		return &device{id: id, scenario: scenario, model: model, rng: rand.New(rand.NewPCG(seed, 0x5eed))}
	}
	for i := range s.o.Devices {
		specs = append(specs, mk(fmt.Sprintf("sim-benign-%d", i), "", i))
	}
	names := make([]string, 0, len(s.o.Attacks))
	for k := range s.o.Attacks {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, sc := range names {
		for i := range s.o.Attacks[sc] {
			specs = append(specs, mk(fmt.Sprintf("sim-%s-%d", sc, i), sc, i))
		}
	}
	ec := &est.Client{Server: s.o.Server, Roots: s.o.Roots}
	errs := make(chan error, len(specs))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for _, d := range specs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := s.enroll(ctx, ec, d); err != nil {
				errs <- fmt.Errorf("enroll %s: %w", d.id, err)
				return
			}
			if err := s.connect(d); err != nil {
				errs <- fmt.Errorf("connect %s: %w", d.id, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	s.devices = specs
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

// enroll registers the device (or issues a new token if it exists from an
// earlier run, releasing it if an earlier run got it quarantined) and
// enrolls it over EST with a fresh key.
func (s *simulation) enroll(ctx context.Context, ec *est.Client, d *device) error {
	var res api.EnrollmentResponse
	err := s.o.API.Post(ctx, "/api/v1/devices", api.AddDeviceRequest{ID: d.id, Model: d.model, Firmware: "1.0.0", Tags: []string{"simulated"}}, &res)
	var ce *client.Error
	if errors.As(err, &ce) && ce.Status == 409 {
		_ = s.o.API.Post(ctx, "/api/v1/devices/"+url.PathEscape(d.id)+"/release", nil, nil)
		err = s.o.API.Post(ctx, "/api/v1/devices/"+url.PathEscape(d.id)+"/token", api.TokenTTLRequest{}, &res)
	}
	if err != nil {
		return err
	}
	key, err := est.NewDeviceKey()
	if err != nil {
		return err
	}
	csr, err := est.NewCSR(d.id, key)
	if err != nil {
		return err
	}
	crt, err := ec.Enroll(ctx, d.id, res.Token, csr)
	if err != nil {
		return err
	}
	d.key = key
	d.cert = tls.Certificate{Certificate: [][]byte{crt.Raw}, PrivateKey: key, Leaf: crt}
	return nil
}

func (s *simulation) connect(d *device) error {
	opts := paho.NewClientOptions().AddBroker("tls://" + s.o.MQTTAddr).SetClientID(d.id).
		SetTLSConfig(pki.ClientConfig(s.o.Roots, &d.cert)).SetAutoReconnect(false).SetConnectRetry(false).
		SetConnectTimeout(10 * time.Second).SetKeepAlive(60 * time.Second).SetOrderMatters(false).SetCleanSession(true)
	d.cl = paho.NewClient(opts)
	tok := d.cl.Connect()
	if !tok.WaitTimeout(15 * time.Second) {
		return errors.New("connect timed out")
	}
	return tok.Error()
}

// publish sends one QoS 1 message and waits for its acknowledgement (so
// the gateway has processed it), ignoring refusals.
func publish(d *device, topic string, payload []byte) {
	if d.cl == nil || !d.cl.IsConnectionOpen() {
		return
	}
	d.cl.Publish(topic, 1, false, payload).WaitTimeout(10 * time.Second)
}

func (s *simulation) run(ctx context.Context) (*Report, error) {
	s.start = s.o.Now()
	for r := range s.rounds {
		if err := ctx.Err(); err != nil {
			break
		}
		roundStart := s.o.Now()
		if r == s.attackRound {
			s.attackStart = roundStart
		}
		var wg sync.WaitGroup
		for _, d := range s.devices {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.round(ctx, d, r, r >= s.attackRound)
			}()
		}
		wg.Wait()
		var end time.Time
		if s.o.Stepper != nil {
			var err error
			if end, err = s.o.Stepper.Step(ctx); err != nil {
				return nil, err
			}
		} else {
			wait := s.o.Window - s.o.Now().Sub(roundStart)
			if wait > 0 {
				select {
				case <-ctx.Done():
				case <-time.After(wait): // live mode: the simulation runs on the wall clock
				}
			}
			end = s.o.Now()
		}
		if err := s.poll(ctx, r, end); err != nil {
			s.o.Logger.Warn("poll alerts", "err", err)
		}
		if s.o.Progress != nil {
			s.o.Progress(r+1, s.rounds)
		}
	}
	if s.o.Stepper == nil {
		// Let the last windows close on the server before the final poll.
		select {
		case <-ctx.Done():
		case <-time.After(s.o.Window + s.o.Window/2):
		}
	}
	if err := s.poll(ctx, s.rounds, s.o.Now()); err != nil {
		return nil, err
	}
	return s.report(), nil
}

// poll records the first alert of each simulated device.
func (s *simulation) poll(ctx context.Context, round int, at time.Time) error {
	var as []alert.Alert
	if err := s.o.API.Get(ctx, "/api/v1/alerts?limit=10000", &as); err != nil {
		return err
	}
	ids := map[string]*device{}
	for _, d := range s.devices {
		ids[d.id] = d
	}
	sort.Slice(as, func(i, j int) bool { return as[i].RaisedAt.Before(as[j].RaisedAt) })
	for _, a := range as {
		d := ids[a.Device]
		if d == nil || a.RaisedAt.Before(s.start.Add(-time.Second)) {
			continue
		}
		if _, seen := s.first[a.Device+"|"+a.Rule]; !seen {
			s.first[a.Device+"|"+a.Rule] = firstAlert{round: round, rule: a.Rule, at: a.RaisedAt}
		}
	}
	return nil
}
