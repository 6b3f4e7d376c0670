package sim

import (
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
	"github.com/wardproject/ward/internal/server"
)

// Stepped is a real Ward server run in-process on an injected clock, with
// detection windows closed by the simulation (tests, detection report).
type Stepped struct {
	Server *server.Server
	API    *client.Client
	Base   string // https URL
	Window time.Duration

	mu     sync.Mutex // guards now
	now    time.Time
	cancel context.CancelFunc
	done   chan error
}

// StartStepped starts a server with its data in dir on random loopback ports.
func StartStepped(ctx context.Context, dir string, window time.Duration) (*Stepped, error) {
	env := append(os.Environ(), "WARD_DATA_DIR="+dir, "WARD_HTTPS_ADDR=127.0.0.1:0", "WARD_MQTT_ADDR=127.0.0.1:0",
		"WARD_DETECT_WINDOW="+window.String())
	cfg, err := config.Load(nil, env)
	if err != nil {
		return nil, err
	}
	st := &Stepped{Window: window, now: time.Now().Truncate(60 * window), done: make(chan error, 1)}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	srv, err := server.New(rctx, server.Options{Config: cfg, Now: st.Now, ManualWindows: true})
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
func (s *Stepped) Step(ctx context.Context) (time.Time, error) {
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
