package metered

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/store/sqlite"
	"github.com/wardproject/ward/internal/store/storetest"
)

var _ store.Store = (*Store)(nil)

// TestConformance runs the store suites through the decorator: it
// changes nothing a backend answers.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "ward.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return New(db, "sqlite", nil)
	})
}

// TestObservesEachOperation: each call is one observation under its
// backend and method name.
func TestObservesEachOperation(t *testing.T) {
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "ward.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	reg := prometheus.NewPedanticRegistry()
	s := New(db, "sqlite", reg)
	ctx := context.Background()
	s.GetDevice(ctx, "nope")
	s.GetDevice(ctx, "nope")
	s.QueryDevices(ctx, store.DeviceQuery{})
	if n := testutil.CollectAndCount(s.duration); n != 2 {
		t.Errorf("%d series, want 2 (GetDevice, QueryDevices)", n)
	}
	var m dto.Metric
	if err := s.duration.WithLabelValues("sqlite", "GetDevice").(prometheus.Histogram).Write(&m); err != nil || m.GetHistogram().GetSampleCount() != 2 {
		t.Errorf("GetDevice observed %d times (%v), want 2", m.GetHistogram().GetSampleCount(), err)
	}
}
