package main

import (
	"testing"

	"github.com/wardproject/ward/internal/wardtest"
)

// TestInterop runs scripts/interop.sh: enrollment with curl + openssl only,
// then mosquitto_pub/mosquitto_sub over mutual TLS (MQTT 3.1.1 and 5), the
// cross-device attempts that must fail, restricted quarantine, and
// revocation seen by openssl.
func TestInterop(t *testing.T) {
	wardtest.RequireTool(t, "curl", "openssl", "mosquitto_pub", "mosquitto_sub", "base64")
	runScript(t, nil, "interop.sh", wardBinary(t))
}
