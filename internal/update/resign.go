package update

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// ResignerOptions configure a Resigner. RepoDir and KeysDir are required.
type ResignerOptions struct {
	RepoDir    string // <data-dir>/tuf
	KeysDir    string // <data-dir>/tuf-keys: the snapshot and timestamp keys
	Passphrase []byte // decrypts the keys (the CA passphrase)
	// Expiries are the lifetimes the server signs with; zero fields take
	// DefaultExpiries. A role is re-signed once half its lifetime is left.
	Expiries Expiries
	Every    time.Duration // how often Run looks (default DefaultResignCheck)
	Now      func() time.Time
	Logger   *slog.Logger
	Metrics  prometheus.Registerer
}

// DefaultResignCheck is how often the server looks at the timestamp's and
// snapshot's expiry. Reading them costs two small files; keys are loaded
// only when a re-sign is due.
const DefaultResignCheck = time.Minute

// Resigner keeps a server's timestamp and snapshot fresh: it re-signs them
// with the online keys once half of either's lifetime has passed (with the
// default one-day timestamp, every 12 hours), so that a failure leaves
// half a lifetime to fix it before devices stop updating. Failures are
// logged at Error, counted in ward_update_resign_failures_total and
// reported by Problem (ward serve shows it in /healthz), because an
// expired timestamp freezes every device's updates.
type Resigner struct {
	opts     ResignerOptions
	log      *slog.Logger
	failures prometheus.Counter
	expiry   prometheus.Gauge

	mu      sync.Mutex // guards problem
	problem string
}

// NewResigner returns a Resigner.
func NewResigner(opts ResignerOptions) (*Resigner, error) {
	if opts.RepoDir == "" || opts.KeysDir == "" {
		return nil, errors.New("update: ResignerOptions.RepoDir and KeysDir are required")
	}
	e := &opts.Expiries
	if e.Timestamp <= 0 {
		e.Timestamp = DefaultExpiries.Timestamp
	}
	if e.Snapshot <= 0 {
		e.Snapshot = DefaultExpiries.Snapshot
	}
	if opts.Every <= 0 {
		opts.Every = DefaultResignCheck
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	f := promauto.With(opts.Metrics)
	return &Resigner{opts: opts, log: opts.Logger.With("component", "update"),
		failures: f.NewCounter(prometheus.CounterOpts{Name: "ward_update_resign_failures_total",
			Help: "Failed re-signings of the TUF timestamp and snapshot (devices stop updating when the timestamp expires)."}),
		expiry: f.NewGauge(prometheus.GaugeOpts{Name: "ward_update_timestamp_expiry_seconds",
			Help: "When the served TUF timestamp expires, in Unix seconds (0: no repository)."}),
	}, nil
}

// Run checks at start and every Options.Every until ctx is done.
func (r *Resigner) Run(ctx context.Context) error {
	t := time.NewTicker(r.opts.Every)
	defer t.Stop()
	for {
		r.Check(ctx) // logged and counted inside
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Problem returns why the repository's freshness is at risk (a failed
// re-sign, an expired timestamp), or "".
func (r *Resigner) Problem() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.problem
}

func (r *Resigner) setProblem(p string) {
	r.mu.Lock()
	r.problem = p
	r.mu.Unlock()
}

// Check re-signs timestamp and snapshot when either has less than half
// its lifetime left, and reports whether it did. A directory without a
// repository, or whose root was made offline and is waiting for ward
// update init (no timestamp yet), is left alone.
func (r *Resigner) Check(ctx context.Context) (bool, error) {
	now := r.opts.Now()
	ts, snap, err := r.expiries()
	if errors.Is(err, errNoRepository) {
		r.expiry.Set(0)
		r.setProblem("")
		return false, nil
	}
	if err == nil {
		r.expiry.Set(float64(ts.Unix()))
		if now.Before(ts.Add(-r.opts.Expiries.Timestamp/2)) && now.Before(snap.Add(-r.opts.Expiries.Snapshot/2)) {
			return false, nil
		}
	}
	// Due, or unreadable (a fresh snapshot and timestamp may repair it).
	if err = r.resign(ctx); err != nil {
		r.failures.Inc()
		p := fmt.Sprintf("re-signing the TUF timestamp failed: %v", err)
		switch {
		case ts.IsZero():
		case !now.Before(ts):
			p += fmt.Sprintf("; the timestamp expired at %s: no device can update until it is re-signed (ward update resign)", ts.UTC().Format(time.RFC3339))
		default:
			p += fmt.Sprintf("; the timestamp expires at %s, then no device can update", ts.UTC().Format(time.RFC3339))
		}
		r.log.Error("TUF timestamp not re-signed", "err", err, "timestamp_expires", ts)
		r.setProblem(p)
		return false, err
	}
	if ts, _, err := r.expiries(); err == nil {
		r.expiry.Set(float64(ts.Unix()))
	}
	r.setProblem("")
	return true, nil
}

func (r *Resigner) resign(ctx context.Context) error {
	kr, err := LoadKeyring(r.opts.KeysDir, r.opts.Passphrase)
	if err != nil {
		return err
	}
	repo, err := Open(Options{Dir: r.opts.RepoDir, Keys: kr, Expiries: r.opts.Expiries, Now: r.opts.Now, Logger: r.opts.Logger})
	if err != nil {
		return err
	}
	return repo.Resign(ctx)
}

// errNoRepository: no root.json, or no timestamp.json yet (a root made
// offline, waiting for ward update init).
var errNoRepository = errors.New("no TUF repository")

// expiries reads when the current timestamp and the snapshot it names
// expire. Signatures are not checked: this only decides when to re-sign.
func (r *Resigner) expiries() (ts, snap time.Time, err error) {
	return onlineExpiries(r.opts.RepoDir)
}

// onlineExpiries reads when the timestamp in dir and the snapshot it
// names expire, without checking signatures; errNoRepository when dir has
// no root.json or no timestamp.json yet.
func onlineExpiries(dir string) (ts, snap time.Time, err error) {
	for _, f := range []string{rootFile, timestampFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); errors.Is(err, os.ErrNotExist) {
			return ts, snap, errNoRepository
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, timestampFile))
	if err != nil {
		return ts, snap, err
	}
	t, err := new(metadata.Metadata[metadata.TimestampType]).FromBytes(b)
	if err != nil {
		return ts, snap, fmt.Errorf("read %s: %w", timestampFile, err)
	}
	ts = t.Signed.Expires
	m := t.Signed.Meta["snapshot.json"]
	if m == nil {
		return ts, snap, fmt.Errorf("%s names no snapshot", timestampFile)
	}
	sb, err := os.ReadFile(filepath.Join(dir, versionedName(metadata.SNAPSHOT, m.Version)))
	if err != nil {
		return ts, snap, fmt.Errorf("read the snapshot the timestamp names: %w", err)
	}
	s, err := new(metadata.Metadata[metadata.SnapshotType]).FromBytes(sb)
	if err != nil {
		return ts, snap, fmt.Errorf("read snapshot version %d: %w", m.Version, err)
	}
	return ts, s.Signed.Expires, nil
}
