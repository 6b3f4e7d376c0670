package sim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/wardproject/ward/internal/client"
	"github.com/wardproject/ward/internal/config"
	"github.com/wardproject/ward/internal/rollout"
	"github.com/wardproject/ward/internal/server"
	"github.com/wardproject/ward/internal/update"
)

// Stepped is a real Ward server run in-process on an injected clock, with
// detection windows closed by the simulation (tests, detection report).
type Stepped struct {
	Server *server.Server
	API    *client.Client
	Base   string // https URL
	Window time.Duration
	Dir    string // the data directory

	mu     sync.Mutex // guards now
	now    time.Time
	cancel context.CancelFunc
	done   chan error
}

// StartStepped starts a server with its data in dir on random loopback ports.
func StartStepped(ctx context.Context, dir string, window time.Duration) (*Stepped, error) {
	env := append(os.Environ(), "WARD_DATA_DIR="+dir, "WARD_HTTPS_ADDR=127.0.0.1:0", "WARD_MQTT_ADDR=127.0.0.1:0",
		"WARD_DETECT_WINDOW="+window.String(),
		// The whole simulated fleet enrolls from one address: lift the
		// per-source EST budget (an abuse limit, tested in package est).
		"WARD_EST_SOURCE_RATE=100000", "WARD_EST_SOURCE_BURST=100000")
	cfg, err := config.Load(nil, env)
	if err != nil {
		return nil, err
	}
	st := &Stepped{Window: window, Dir: dir, now: time.Now().Truncate(60 * window), done: make(chan error, 1)}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	srv, err := server.New(rctx, server.Options{Config: cfg, Now: st.Now, ManualWindows: true, ManualRollouts: true})
	if err != nil {
		cancel()
		return nil, err
	}
	st.Server, st.cancel = srv, cancel
	go func() { st.done <- srv.Run(rctx) }()
	select {
	case <-srv.Ready():
	case err := <-st.done:
		cancel()
		return nil, fmt.Errorf("server exited: %w", err)
	case <-time.After(30 * time.Second):
		st.Close()
		return nil, errors.New("server not ready after 30s")
	}
	tok, err := os.ReadFile(filepath.Join(dir, server.AdminTokenFile))
	if err != nil {
		st.Close()
		return nil, err
	}
	st.Base = "https://" + srv.HTTPSAddr().String()
	if st.API, err = client.New(client.Options{Server: st.Base, Token: strings.TrimSpace(string(tok)), Roots: srv.CA().RootPool()}); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// Now is the server's clock.
func (s *Stepped) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now
}

// Step advances the clock by one window and closes it on the server.
//
// The rollout engine first handles everything queued so far at the old
// time: a device's update report it is still handling would otherwise
// check the gates at the new time, soak over, before the window's alerts
// reach it (TestRolloutScenarios' Mirai release then passed wave 1).
func (s *Stepped) Step(ctx context.Context) (time.Time, error) {
	if err := s.Server.Rollouts().Sync(ctx); err != nil {
		return time.Time{}, err
	}
	s.mu.Lock()
	s.now = s.now.Add(s.Window)
	end := s.now
	s.mu.Unlock()
	return end, s.Server.Detect().CloseWindow(ctx, end)
}

// Options returns simulation options aimed at this server.
func (s *Stepped) Options() Options {
	return Options{API: s.API, Server: s.Base, MQTTAddr: s.Server.MQTTAddr().String(), Roots: s.Server.CA().RootPool(),
		Window: s.Window, Stepper: s, Now: s.Now}
}

// Close stops the server and waits for it.
func (s *Stepped) Close() error {
	s.cancel()
	return <-s.done
}

// PublishFirmware publishes a small firmware file of model at version in
// the server's TUF repository (<dir>/tuf, created with every key on first
// use), as ward firmware publish does on a site.
func (s *Stepped) PublishFirmware(ctx context.Context, model, version string) error {
	repo, err := update.InitSite(ctx, s.Dir, nil, nil, update.Options{Now: s.Now})
	if errors.Is(err, update.ErrExists) {
		kr, kerr := update.LoadKeyring(filepath.Join(s.Dir, update.SiteKeysDir), nil)
		if kerr != nil {
			return kerr
		}
		repo, err = update.Open(update.Options{Dir: filepath.Join(s.Dir, update.SiteRepoDir), Keys: kr, Now: s.Now})
	}
	if err != nil {
		return err
	}
	_, err = repo.AddTarget(ctx, update.Target{Custom: update.Custom{Model: model, Version: version}, File: "firmware.bin"},
		bytes.NewReader([]byte("simulated firmware "+model+" "+version)))
	return err
}

// EvaluateRollouts checks the server's rollout gates once the engine has
// handled every report and alert so far (RolloutOptions.Evaluate).
func (s *Stepped) EvaluateRollouts(ctx context.Context) error {
	if err := s.Server.Rollouts().Sync(ctx); err != nil {
		return err
	}
	return s.Server.Rollouts().Evaluate(ctx)
}

// RolloutVersions are the releases of the rollout scenarios, published
// by PrepareRollouts; the fleet runs 1.0.0.
var RolloutVersions = map[string]string{RolloutGood: "1.5.0", RolloutFailing: "1.6.0", RolloutMirai: "1.7.0"}

// PrepareRollouts publishes the scenarios' releases of acme-th1 and
// returns rollout options for devices devices on this server: waves
// 1%,10%,50%,100%, max-failure 2%, halt on high alerts, a soak of one
// window.
func (s *Stepped) PrepareRollouts(ctx context.Context, devices int) (RolloutOptions, error) {
	const model = "acme-th1"
	for _, sc := range RolloutScenarios {
		if err := s.PublishFirmware(ctx, model, RolloutVersions[sc]); err != nil {
			return RolloutOptions{}, fmt.Errorf("publish %s %s: %w", model, RolloutVersions[sc], err)
		}
	}
	o := RolloutOptions{Options: s.Options(), Versions: RolloutVersions, Evaluate: s.EvaluateRollouts,
		Spec: rollout.Spec{Model: model, Waves: []float64{1, 10, 50, 100}, MaxFailure: 2, HaltOnAlerts: "high", Soak: s.Window.String()}}
	o.Devices = devices
	return o, nil
}
