package main

import (
	"testing"

	"github.com/wardproject/ward/internal/wardtest"
)

// TestInteropImportedCA runs scripts/interop-imported-ca.sh: with an
// imported intermediate under a corporate root, mosquitto_pub and curl
// (OpenSSL) present the device certificate Ward issued and are admitted,
// and a certificate for the same device from a sibling intermediate under
// the same root is refused at the MQTT and the EST TLS handshakes.
func TestInteropImportedCA(t *testing.T) {
	wardtest.RequireTool(t, "curl", "openssl", "mosquitto_pub", "base64")
	runScript(t, nil, "interop-imported-ca.sh", wardBinary(t))
}
