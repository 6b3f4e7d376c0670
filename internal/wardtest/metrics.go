package wardtest

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Counter returns the value of the counter name{label="value"} gathered
// from g, and 0 when no such series exists yet (a counter that was never
// incremented).
func Counter(t testing.TB, g prometheus.Gatherer, name, label, value string) float64 {
	t.Helper()
	return series(t, g, name, label, value).GetCounter().GetValue()
}

// Gauge returns the value of the gauge name{label="value"} gathered from
// g (label "": the first series of name), and 0 when there is none.
func Gauge(t testing.TB, g prometheus.Gatherer, name, label, value string) float64 {
	t.Helper()
	return series(t, g, name, label, value).GetGauge().GetValue()
}

// series returns the series name{label="value"} gathered from g, nil
// when there is none.
func series(t testing.TB, g prometheus.Gatherer, name, label, value string) *dto.Metric {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label == "" {
				return m
			}
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m
				}
			}
		}
	}
	return nil
}
