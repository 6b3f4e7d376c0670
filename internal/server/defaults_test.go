package server

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wardproject/ward/internal/api"
	"github.com/wardproject/ward/internal/config"
	"github.com/wardproject/ward/internal/est"
	"github.com/wardproject/ward/internal/gateway"
)

// TestConfigDefaultsAreThePackagesDefaults: defaults live in
// internal/config (the table `ward serve --help` and `ward config check`
// show); a package's zero-value defaults must be the same values, so that
// a part built without configuration (a test, a tool) behaves as the
// server does out of the box. Each config-to-Options translation of the
// default configuration must equal what the package applies to zero.
func TestConfigDefaultsAreThePackagesDefaults(t *testing.T) {
	cfg, err := config.Load(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("gateway", func(t *testing.T) {
		got, want := gatewayOptions(cfg).Limits.WithDefaults(), (gateway.Limits{}).WithDefaults()
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("gateway.* config defaults differ from gateway.Limits defaults (-package +config):\n%s", d)
		}
	})
	t.Run("est", func(t *testing.T) {
		want := est.Limits{SourceRate: est.DefaultSourceRate, SourceBurst: est.DefaultSourceBurst, DeviceAttemptsPerHour: est.DefaultDeviceAttemptsPerHour}
		if d := cmp.Diff(want, estLimits(cfg)); d != "" {
			t.Errorf("est.* config defaults differ from package est's (-package +config):\n%s", d)
		}
	})
	t.Run("api", func(t *testing.T) {
		o := apiOptions(cfg)
		type view struct {
			Limits   api.Limits
			Sessions api.Sessions
			TokenTTL time.Duration
		}
		want := view{
			Limits:   api.Limits{PublicRate: api.DefaultPublicRate, PublicBurst: api.DefaultPublicBurst, AuthFailuresPerMinute: api.DefaultAuthFailuresPerMinute},
			Sessions: api.Sessions{IdleTimeout: api.DefaultSessionIdleTimeout, Lifetime: api.DefaultSessionLifetime, MaxFailures: api.DefaultLoginMaxFailures, Lockout: api.DefaultLoginLockout},
			TokenTTL: api.DefaultTokenTTL,
		}
		if d := cmp.Diff(want, view{o.Limits, o.Sessions, o.AdminTokenTTL}); d != "" {
			t.Errorf("api.* config defaults differ from package api's (-package +config):\n%s", d)
		}
	})
}
