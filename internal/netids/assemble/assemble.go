// Package assemble builds a ready-to-run network sensor from its settings:
// the detector's options or a saved model, the alerts file, the device
// registry, the rules with a reloadable blocklist and the MUD policy; after
// a run it saves the trained model and the asset list. cmd/ward maps its
// flags onto a Config and keeps only flags and output, as `ward serve`
// does with the server.
//
// It lives beside package netids, not in it, because the rules and MUD
// inspectors it wires import netids.
package assemble

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/wardproject/ward/internal/netids"
	"github.com/wardproject/ward/internal/netids/kitnet"
	"github.com/wardproject/ward/internal/netids/mud"
	"github.com/wardproject/ward/internal/netids/rules"
)

// Config are the sensor's settings. Zero values mean netids' defaults.
type Config struct {
	Learn, FMGrace, Calibrate int
	Seed                      uint64
	UncoupledFeatures         bool
	Transform                 string
	// WindowAlpha > 0 scores packets with the old per-host window of the
	// learned score (an evaluation baseline), unless NoWindow.
	WindowAlpha float64
	NoWindow    bool
	// ThresholdQuantile and ThresholdMargin set the learned detector's
	// threshold; IncidentThreshold the fused score's.
	ThresholdQuantile, ThresholdMargin, IncidentThreshold float64
	// Model is a saved model file to load instead of learning; SaveModel
	// where to save the trained one; Assets where to write the hosts seen.
	Model, SaveModel, Assets string
	// Alerts is the alerts file: "" none, "-" Stdout. Live writes each
	// alert as it is raised (for tail -f); otherwise they are buffered.
	Alerts string
	Live   bool
	Stdout io.Writer
	// Devices is a CSV file mac_or_ip,device_id,model; MUDDir a directory
	// of MUD files (needs Devices); Blocklist a reloadable list of bad
	// addresses. NoRules leaves the rule engine out.
	Devices, MUDDir, Blocklist string
	NoRules                    bool
	// Extend, if set, may change the options last (cmd/ward's --report
	// adds the server's sink and registry).
	Extend func(*netids.Options) error
	Logger *slog.Logger // nil: discard
}

// Sensor is an assembled sensor and what it must close.
type Sensor struct {
	*netids.Sensor
	cfg     Config
	closers []func() error
	bl      *rules.Blocklist
}

// New builds the sensor. On error everything opened is closed.
func New(cfg Config) (_ *Sensor, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Stdout == nil {
		cfg.Stdout = os.Stdout
	}
	s := &Sensor{cfg: cfg}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	opts := netids.Options{
		Learn: cfg.Learn, FMGrace: cfg.FMGrace, Calibrate: cfg.Calibrate, UncoupledFeatures: cfg.UncoupledFeatures,
		Seed: cfg.Seed, Transform: cfg.Transform,
		Window:            netids.WindowOptions{On: cfg.WindowAlpha > 0 && !cfg.NoWindow, Alpha: cfg.WindowAlpha},
		ThresholdQuantile: cfg.ThresholdQuantile, ThresholdMargin: cfg.ThresholdMargin,
		Evidence: netids.EvidenceOptions{Threshold: cfg.IncidentThreshold},
		Logger:   cfg.Logger,
	}
	if cfg.Model != "" {
		mf, err := os.Open(cfg.Model)
		if err != nil {
			return nil, fmt.Errorf("open model: %w", err)
		}
		det, err := kitnet.Load(mf)
		mf.Close()
		if err != nil {
			return nil, fmt.Errorf("load model %s: %w", cfg.Model, err)
		}
		opts.Model = det
	}
	if err := s.alerts(&opts); err != nil {
		return nil, err
	}
	if err := s.inspectors(&opts); err != nil {
		return nil, err
	}
	if cfg.Extend != nil {
		if err := cfg.Extend(&opts); err != nil {
			return nil, err
		}
	}
	ns, err := netids.New(opts)
	if err != nil {
		return nil, err
	}
	s.Sensor = ns
	return s, nil
}

func (s *Sensor) alerts(opts *netids.Options) error {
	switch s.cfg.Alerts {
	case "":
		return nil
	case "-":
		opts.Sink = netids.NewJSONSink(s.cfg.Stdout)
		return nil
	}
	af, err := os.OpenFile(s.cfg.Alerts, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("open alerts file: %w", err)
	}
	if s.cfg.Live {
		// Live alerts are written as they are raised, for tail -f and
		// log shippers.
		opts.Sink = netids.NewJSONSink(af)
		s.closers = append(s.closers, af.Close)
		return nil
	}
	bw := bufio.NewWriter(af)
	opts.Sink = netids.NewJSONSink(bw)
	s.closers = append(s.closers, func() error { return errors.Join(bw.Flush(), af.Close()) })
	return nil
}

// inspectors wires the device registry, the rule engine, the blocklist and
// the MUD policy.
func (s *Sensor) inspectors(opts *netids.Options) error {
	cfg := s.cfg
	var reg *netids.StaticRegistry
	if cfg.Devices != "" {
		df, err := os.Open(cfg.Devices)
		if err != nil {
			return fmt.Errorf("open devices file: %w", err)
		}
		reg, err = netids.ParseStaticRegistry(df)
		df.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", cfg.Devices, err)
		}
		opts.Registry = reg
	}
	if !cfg.NoRules {
		ro := rules.Options{}
		if cfg.Blocklist != "" {
			bl, err := rules.LoadBlocklist(cfg.Blocklist, cfg.Logger)
			if err != nil {
				return err
			}
			ro.Blocklist, s.bl = bl, bl
		}
		opts.Inspectors = append(opts.Inspectors, rules.New(ro))
	}
	if cfg.MUDDir != "" {
		if reg == nil {
			return fmt.Errorf("--mud-dir needs --devices to know which device is which model")
		}
		profiles, err := LoadProfiles(cfg.MUDDir)
		if err != nil {
			return err
		}
		pol, err := mud.NewPolicy(mud.Options{Profiles: profiles, Lookup: reg.Model})
		if err != nil {
			return err
		}
		opts.Inspectors = append(opts.Inspectors, pol)
	}
	return nil
}

// Reloads reports whether Watch has anything to do (a blocklist).
func (s *Sensor) Reloads() bool { return s.bl != nil }

// Watch reloads the blocklist when its file changes and on SIGHUP, until
// ctx ends. It returns at once when there is no blocklist.
func (s *Sensor) Watch(ctx context.Context) {
	if s.bl == nil {
		return
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	s.bl.Watch(ctx, 0, hup)
}

// Finish saves the trained model and the asset list, as configured.
func (s *Sensor) Finish() error {
	if s.cfg.SaveModel != "" {
		if err := WriteFileAtomic(s.cfg.SaveModel, func(w io.Writer) error { return s.Detector().Save(w) }); err != nil {
			return fmt.Errorf("save model %s: %w", s.cfg.SaveModel, err)
		}
	}
	if s.cfg.Assets != "" {
		if err := WriteFileAtomic(s.cfg.Assets, func(w io.Writer) error {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			return enc.Encode(s.Assets().List())
		}); err != nil {
			return fmt.Errorf("write assets %s: %w", s.cfg.Assets, err)
		}
	}
	return nil
}

// Close flushes and closes the alerts file.
func (s *Sensor) Close() error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i]())
	}
	s.closers = nil
	return errors.Join(errs...)
}

// LoadProfiles reads every *.json MUD file of dir, keyed by file name
// without extension (the device model).
func LoadProfiles(dir string) (map[string]*mud.Profile, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, fmt.Errorf("list MUD files: %w", err)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no MUD files (*.json) in %s", dir)
	}
	profiles := map[string]*mud.Profile{}
	for _, p := range paths {
		prof, err := LoadProfile(p)
		if err != nil {
			return nil, err
		}
		profiles[strings.TrimSuffix(filepath.Base(p), ".json")] = prof
	}
	return profiles, nil
}

// LoadProfile reads one MUD file.
func LoadProfile(path string) (*mud.Profile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open MUD file: %w", err)
	}
	defer f.Close()
	prof, err := mud.Parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return prof, nil
}

// WriteFileAtomic writes path through a temporary file in the same
// directory, synced and renamed into place, so readers never see half a
// file.
func WriteFileAtomic(path string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	bw := bufio.NewWriter(tmp)
	if err := write(bw); err != nil {
		tmp.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
