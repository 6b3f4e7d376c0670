package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/wardtest"
)

// TestInterop runs scripts/interop.sh: enrollment with curl + openssl only,
// then mosquitto_pub/mosquitto_sub over mutual TLS (MQTT 3.1.1 and 5), the
// cross-device attempts that must fail, and revocation seen by openssl.
func TestInterop(t *testing.T) {
	wardtest.RequireTool(t, "curl", "openssl", "mosquitto_pub", "mosquitto_sub", "base64")
	bin := filepath.Join(t.TempDir(), "ward")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("build ward: %v", err)
	}
	cmd := exec.CommandContext(ctx, "bash", filepath.Join("..", "..", "scripts", "interop.sh"), bin)
	cmd.Env = append(os.Environ(), "WARD_SERVER=", "WARD_TOKEN=", "WARD_CA=")
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("interop.sh: %v", err)
	}
}
