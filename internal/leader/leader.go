package leader

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Elector runs work while this node leads the job name.
//
// Lead blocks until ctx ends. While this node holds lock name it runs work
// with a context that is cancelled when the lock is lost; when work
// returns early it releases the lock and competes again after a pause.
// Lead returns nil once ctx has ended and work has returned, and an error
// only when it can never lead (an invalid name).
type Elector interface {
	Lead(ctx context.Context, name string, work func(ctx context.Context) error) error
}

// DefaultPause is how long an elector waits after work returned early
// before it competes (or, for Local, runs) again.
const DefaultPause = 5 * time.Second

// Local returns the Elector of a single node: it always leads. Work that
// returns early runs again after DefaultPause.
func Local() Elector { return local{pause: DefaultPause} }

type local struct{ pause time.Duration }

func (l local) Lead(ctx context.Context, name string, work func(ctx context.Context) error) error {
	if err := checkName(name); err != nil {
		return err
	}
	for ctx.Err() == nil {
		_ = work(ctx) // the work logs its own failures; it runs again after the pause
		if !sleep(ctx, l.pause) {
			break
		}
	}
	return nil
}

// Metered wraps an Elector so that the gauge ward_leader{job} is 1 while
// this node runs the job's work and 0 otherwise. It registers the gauge
// on reg (nil: not registered); call it once per registry.
func Metered(e Elector, reg prometheus.Registerer, log *slog.Logger) Elector {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g := promauto.With(reg).NewGaugeVec(prometheus.GaugeOpts{
		Name: "ward_leader",
		Help: "1 while this node leads the job (runs its scheduled work under the cluster-wide lock), else 0.",
	}, []string{"job"})
	return metered{e: e, g: g, log: log}
}

type metered struct {
	e   Elector
	g   *prometheus.GaugeVec
	log *slog.Logger
}

func (m metered) Lead(ctx context.Context, name string, work func(ctx context.Context) error) error {
	g := m.g.WithLabelValues(name)
	g.Set(0)
	return m.e.Lead(ctx, name, func(ctx context.Context) error {
		g.Set(1)
		m.log.Info("leading", "job", name)
		defer g.Set(0)
		err := work(ctx)
		switch {
		case ctx.Err() != nil:
			m.log.Info("no longer leading", "job", name)
		case err != nil:
			m.log.Error("leader work failed; releasing the job", "job", name, "err", err)
		default:
			m.log.Info("leader work returned; releasing the job", "job", name)
		}
		return err
	})
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
