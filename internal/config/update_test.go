package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestUpdateExpiries: the TUF metadata lifetimes default to what the
// update package signed with before they were settings, come from the
// file, the env and flags, and are refused (naming the key, its source
// and the order) out of bounds or out of order.
func TestUpdateExpiries(t *testing.T) {
	day := 24 * time.Hour
	c, err := Load(flags(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Update{RootExpiry: 365 * day, TargetsExpiry: 90 * day, SnapshotExpiry: 7 * day, TimestampExpiry: day}); c.Update != want {
		t.Errorf("defaults %+v, want %+v", c.Update, want)
	}
	file := writeFile(t, "update:\n  root_expiry: 17520h\n  targets_expiry: 4320h\n")
	c, err = Load(flags(t, "--update-timestamp-expiry", "12h"), []string{"WARD_CONFIG=" + file, "WARD_UPDATE_SNAPSHOT_EXPIRY=96h"})
	if err != nil {
		t.Fatal(err)
	}
	if want := (Update{RootExpiry: 730 * day, TargetsExpiry: 180 * day, SnapshotExpiry: 4 * day, TimestampExpiry: 12 * time.Hour}); c.Update != want {
		t.Errorf("from file, env and flag: %+v, want %+v", c.Update, want)
	}
	tests := []struct {
		name string
		env  []string
		key  string
		msg  string
	}{
		{"timestamp-too-short", []string{"WARD_UPDATE_TIMESTAMP_EXPIRY=1h"}, "update.timestamp_expiry", "between 12h and 168h"},
		{"timestamp-too-long", []string{"WARD_UPDATE_TIMESTAMP_EXPIRY=169h"}, "update.timestamp_expiry", "between 12h and 168h"},
		{"timestamp-negative", []string{"WARD_UPDATE_TIMESTAMP_EXPIRY=-24h"}, "update.timestamp_expiry", "invalid duration"},
		{"snapshot-too-short", []string{"WARD_UPDATE_SNAPSHOT_EXPIRY=24h"}, "update.snapshot_expiry", "between 96h and 8760h"},
		{"targets-zero", []string{"WARD_UPDATE_TARGETS_EXPIRY=0s"}, "update.targets_expiry", "between 720h and 8760h"},
		{"root-too-long", []string{"WARD_UPDATE_ROOT_EXPIRY=87601h"}, "update.root_expiry", "between 1440h and 87600h"},
		{"snapshot-not-above-timestamp", []string{"WARD_UPDATE_TIMESTAMP_EXPIRY=168h", "WARD_UPDATE_SNAPSHOT_EXPIRY=168h"}, "update.snapshot_expiry", "longer than update.timestamp_expiry (168h)"},
		{"targets-below-snapshot", []string{"WARD_UPDATE_SNAPSHOT_EXPIRY=2000h", "WARD_UPDATE_TARGETS_EXPIRY=1000h"}, "update.targets_expiry", "longer than update.snapshot_expiry (2000h)"},
		{"root-not-above-targets", []string{"WARD_UPDATE_ROOT_EXPIRY=2160h"}, "update.root_expiry", "longer than update.targets_expiry (2160h)"},
		{"not-a-duration", []string{"WARD_UPDATE_ROOT_EXPIRY=a year"}, "update.root_expiry", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(flags(t), tt.env)
			var ce *Error
			if !errors.As(err, &ce) || ce.Key != tt.key || !strings.HasPrefix(ce.Source, "env ") || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("%v: %v, want a config error naming %s, its env var and %q", tt.env, err, tt.key, tt.msg)
			}
		})
	}
}
