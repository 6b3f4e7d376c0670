package main

import (
	"log/slog"
	"os"

	"github.com/spf13/cobra"
)

// idsNewLogger returns the sensor's logger: text on stderr, warnings and up
// unless WARD_LOG_LEVEL=debug|info.
func idsNewLogger(cmd *cobra.Command) *slog.Logger {
	lvl := slog.LevelWarn
	_ = lvl.UnmarshalText([]byte(idsEnv("WARD_LOG_LEVEL", "warn")))
	return slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: lvl}))
}

func idsEnv(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
