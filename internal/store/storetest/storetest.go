// Package storetest holds the conformance suites every store.Store backend
// must pass: one per contract of package store (TestDevices,
// TestCertificates, TestAPITokens, TestUsers, TestDetection, TestCompliance,
// TestAuditLog, TestUpdates, TestPresence), the lifecycle suite that attacks the device
// state machine with concurrent transitions (TestLifecycle), and
// RunAuditAttacks, which tampers with the audit log behind the store's
// back.
//
// A backend's test calls Run with a function that opens a fresh, empty
// store; Run runs every suite, each subtest on its own store. Each suite
// asserts the behaviour its contract documents for every method: the
// round trip of every field, ErrNotFound and ErrConflict, orderings,
// limits and defaults, replacement, and what a refused call leaves behind.
//
// A new contract's suite is a TestX function in its own file, with the
// same signature, and one line in Run's table.
package storetest

import (
	"testing"
	"time"

	"github.com/wardproject/ward/internal/store"
)

// Run runs every conformance suite; open returns a new empty store for
// each subtest.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	suites := []struct {
		name string
		run  func(*testing.T, func(*testing.T) store.Store)
	}{
		{"devices", TestDevices},
		{"certificates", TestCertificates},
		{"api-tokens", TestAPITokens},
		{"users", TestUsers},
		{"detection", TestDetection},
		{"compliance", TestCompliance},
		{"audit-log", TestAuditLog},
		{"lifecycle", TestLifecycle},
		{"updates", TestUpdates},
		{"presence", TestPresence},
	}
	for _, s := range suites {
		t.Run(s.name, func(t *testing.T) { s.run(t, open) })
	}
}

// subtest is one case of a suite, run on a fresh store.
type subtest struct {
	name string
	fn   func(t *testing.T, s store.Store)
}

// runAll runs each case on its own store from open.
func runAll(t *testing.T, open func(t *testing.T) store.Store, tests []subtest) {
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open(t)) })
	}
}

var t0 = time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)

// keysOf maps records to their keys, in order, so that a list's content
// and order compare in one cmp.Equal.
func keysOf[T any](xs []T, key func(T) string) []string {
	var out []string
	for _, x := range xs {
		out = append(out, key(x))
	}
	return out
}
