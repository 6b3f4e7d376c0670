// Package store defines Ward's persistent data model and the contracts that
// every storage backend implements. The embedded backend is store/sqlite; a
// PostgreSQL backend (store/postgres) satisfies the same contracts, and
// store/storetest holds the conformance suites both must pass.
//
// # Contracts
//
// Store is cut by capability into contracts, one per file, each with the
// record types it stores:
//
//   - Devices (devices.go): devices, model policies, lifecycle transitions
//     (TransitionDevice, EnrollDevice), enrollment tokens and device events.
//   - Certificates (certificates.go): issued certificates, their
//     revocation and the CRL number.
//   - APITokens (tokens.go): operator bearer tokens for the API.
//   - Users (users.go): people's accounts (argon2id password hashes,
//     sign-in failure counts and lockouts) and their sessions, stored
//     hashed so that every node of a cluster shares them.
//   - Detection (detection.go): alerts, metric windows, named blobs
//     (detection profiles, learned models) and the gateway nodes' partial
//     datapoints waiting for the detect leader.
//   - Compliance (compliance.go): SBOMs, advisories, model information,
//     audit findings, suppressions and the findings trend.
//   - AuditLog (audit.go): the hash-chained log of operator and automatic
//     actions.
//   - Updates (updates.go): staged firmware rollouts, the wave of each
//     device, each device's progress and each rollout's history. (The
//     firmware releases themselves live in the TUF repository, package
//     update, not in the database.)
//   - Presence (presence.go): the cluster's directory of live device
//     sessions, reported in batches by each gateway node with its
//     heartbeat, so that any node answers "is this device connected".
//
// The issue that cut the contracts named "devices and tokens" as one. The
// two kinds of token are split here: an enrollment token belongs to a
// device's lifecycle (issuing one checks the device's status in the same
// transaction, and enrolling consumes it), so it is part of Devices; an API
// token is an operator's credential, unrelated to any device, read by the
// API's authentication alone, so it is its own small contract.
//
// Consumers (fleet, pki, api, gateway) declare the few methods they need as
// their own interfaces; the contracts here exist for backends, for the
// conformance suites and for wiring that needs one whole capability. Store
// embeds them all and exists for cmd/ward and the server, which open one
// backend and hand it to every consumer.
//
// # Adding a contract
//
// A new capability is added in five steps, as Updates was, each in its own
// file so that the backends can be read side by side:
//
//  1. Record types and the interface, with a doc comment on each method
//     that states its errors (ErrNotFound, ErrConflict), ordering and
//     limits, in internal/store/<capability>.go.
//  2. One embed line in Store below.
//  3. The SQL in <backend>/<capability>.go for both backends
//     (store/sqlite and store/postgres), methods in the order of the
//     interface, with the package's conventions (times as unix
//     nanoseconds, 0 for the zero time; unique violations wrapped as
//     ErrConflict and missing rows as ErrNotFound, both with the key).
//  4. A migration appended to the migrations list of both migrate.go
//     files, with the same number in both: version N has the same tables
//     in both backends. Never edit a released migration.
//  5. A conformance suite storetest.Test<Capability>(t, open) that asserts
//     every method's documented behaviour (bad input, not found,
//     conflicts, ordering, limits), in storetest/<capability>.go, and one
//     line in storetest.Run's table, which both backends' tests run.
package store

import "errors"

// ErrNotFound is returned when the requested record does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned when a record with the same key already exists
// or a conditional update lost a race (for example a token used twice).
var ErrConflict = errors.New("conflict")

// Store is the whole contract a backend implements: every capability's
// contract, and Close. All methods are safe for concurrent use.
type Store interface {
	Devices
	Certificates
	APITokens
	Users
	Detection
	Compliance
	AuditLog
	Updates
	Presence

	// Close releases the backend's connections and files.
	Close() error
}
