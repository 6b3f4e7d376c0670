package main

import (
	"testing"

	"github.com/wardproject/ward/internal/wardtest"
)

// TestSniffLive runs scripts/sniff-live.sh in a network namespace of its
// own: `ward ids sniff -i lo` captures live (AF_PACKET) while the script
// scans ports and brute-forces telnet, and must raise both alerts.
func TestSniffLive(t *testing.T) {
	wardtest.RequireTool(t, "ip")
	runScript(t, wardtest.NetNamespace(t), "sniff-live.sh", wardBinary(t))
}
