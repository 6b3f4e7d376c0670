package config

import (
	"strings"
	"testing"
	"time"
)

// TestAbuseLimitSettings: the EST and API limits and the admin token
// lifetime come from the file, the env and flags, with their defaults,
// and values that would switch a limit off or make the admin token live
// for ever are refused, naming the key.
func TestAbuseLimitSettings(t *testing.T) {
	c, err := Load(flags(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.EST != (EST{SourceRate: 20, SourceBurst: 200, DeviceAttemptsPerHour: 20}) ||
		c.API != (API{PublicRate: 20, PublicBurst: 100, AuthFailuresPerMinute: 30, AdminTokenTTL: 2160 * time.Hour,
			SessionIdleTimeout: 30 * time.Minute, SessionLifetime: 12 * time.Hour, LoginMaxFailures: 5, LoginLockout: 15 * time.Minute}) ||
		c.Audit.AnchorInterval != time.Minute {
		t.Errorf("defaults: EST %+v API %+v anchor %v", c.EST, c.API, c.Audit.AnchorInterval)
	}
	file := writeFile(t, "est:\n  source_rate: 50\n  device_attempts_per_hour: 5\napi:\n  auth_failures_per_minute: 10\n  session_lifetime: 8h\n")
	c, err = Load(flags(t, "--api-admin-token-ttl", "720h", "--est-source-burst", "1000", "--api-login-lockout", "1h"),
		[]string{"WARD_CONFIG=" + file, "WARD_API_PUBLIC_RATE=7", "WARD_AUDIT_ANCHOR_INTERVAL=10s", "WARD_API_SESSION_IDLE_TIMEOUT=10m", "WARD_API_LOGIN_MAX_FAILURES=3"})
	if err != nil {
		t.Fatal(err)
	}
	if c.EST != (EST{SourceRate: 50, SourceBurst: 1000, DeviceAttemptsPerHour: 5}) ||
		c.API != (API{PublicRate: 7, PublicBurst: 100, AuthFailuresPerMinute: 10, AdminTokenTTL: 720 * time.Hour,
			SessionIdleTimeout: 10 * time.Minute, SessionLifetime: 8 * time.Hour, LoginMaxFailures: 3, LoginLockout: time.Hour}) ||
		c.Audit.AnchorInterval != 10*time.Second {
		t.Errorf("from file, env and flags: EST %+v API %+v anchor %v", c.EST, c.API, c.Audit.AnchorInterval)
	}
	for _, tt := range []struct{ env, key string }{
		{"WARD_EST_SOURCE_RATE=0", "est.source_rate"},
		{"WARD_EST_SOURCE_BURST=0", "est.source_burst"},
		{"WARD_EST_DEVICE_ATTEMPTS_PER_HOUR=0", "est.device_attempts_per_hour"},
		{"WARD_API_PUBLIC_RATE=0.5", "api.public_rate"},
		{"WARD_API_AUTH_FAILURES_PER_MINUTE=0", "api.auth_failures_per_minute"},
		{"WARD_API_ADMIN_TOKEN_TTL=30s", "api.admin_token_ttl"},
		{"WARD_API_ADMIN_TOKEN_TTL=87600h", "api.admin_token_ttl"},
		{"WARD_AUDIT_ANCHOR_INTERVAL=1ms", "audit.anchor_interval"},
		{"WARD_API_SESSION_LIFETIME=1m", "api.session_lifetime"},
		{"WARD_API_SESSION_IDLE_TIMEOUT=13h", "api.session_idle_timeout"},
		{"WARD_API_LOGIN_MAX_FAILURES=0", "api.login_max_failures"},
		{"WARD_API_LOGIN_LOCKOUT=1s", "api.login_lockout"},
	} {
		_, err := Load(flags(t), []string{tt.env})
		if err == nil || !strings.Contains(err.Error(), "config "+tt.key+" (from env") {
			t.Errorf("%s: %v, want an error naming %s and its source", tt.env, err, tt.key)
		}
	}
}
