package fleet

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wardproject/ward/internal/store"
)

// fleetCollector computes the fleet's gauges on each scrape, from one
// grouped query each (a row per model or per status, whatever the fleet's
// size): ward_fleet_devices{status} and
// ward_certificate_expiry_soonest_seconds{model}.
type fleetCollector struct {
	store   Store
	now     func() time.Time
	log     *slog.Logger
	devices *prometheus.Desc
	expiry  *prometheus.Desc
}

// scrapeTimeout bounds the collector's queries.
const scrapeTimeout = 5 * time.Second

func newFleetCollector(s Store, now func() time.Time, log *slog.Logger) *fleetCollector {
	return &fleetCollector{store: s, now: now, log: log,
		devices: prometheus.NewDesc("ward_fleet_devices", "Registered devices, by lifecycle status.", []string{"status"}, nil),
		expiry: prometheus.NewDesc("ward_certificate_expiry_soonest_seconds",
			"Seconds until the soonest expiry of a model's valid device certificates (not revoked, not superseded, not expired); no series for a model without one.",
			[]string{"model"}, nil),
	}
}

// Describe sends the two descriptors.
func (c *fleetCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.devices
	ch <- c.expiry
}

// Collect queries the store; a failed query is logged and its metric
// left out of this scrape.
func (c *fleetCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	if counts, err := c.store.CountDevices(ctx); err != nil {
		c.log.Error("count devices for metrics", "err", err)
	} else {
		for _, s := range []store.DeviceStatus{store.StatusPending, store.StatusActive, store.StatusQuarantined, store.StatusRevoked, store.StatusRetired} {
			ch <- prometheus.MustNewConstMetric(c.devices, prometheus.GaugeValue, float64(counts[s]), string(s))
		}
	}
	now := c.now()
	es, err := c.store.SoonestExpiryByModel(ctx, now)
	if err != nil {
		c.log.Error("soonest certificate expiry for metrics", "err", err)
		return
	}
	for _, e := range es {
		ch <- prometheus.MustNewConstMetric(c.expiry, prometheus.GaugeValue, e.NotAfter.Sub(now).Seconds(), e.Model)
	}
}
