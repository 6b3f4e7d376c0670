// Package update is Ward's TUF 1.0 repository: the workflow that creates,
// signs, rotates and lays out the metadata that devices verify before they
// install firmware.
//
// # Why this package exists
//
// go-tuf v2 (github.com/theupdateframework/go-tuf/v2) provides the metadata
// types, canonical signing, signature verification (VerifyDelegate) and the
// client updater, but no repository workflow: nothing bumps versions, keeps
// snapshot and timestamp in step with targets, rotates keys, or writes the
// consistent-snapshot file layout. This package is that layer and nothing
// more: every signature is made by go-tuf's Metadata.Sign, every check by
// go-tuf's VerifyDelegate, and the tests verify the result with go-tuf's own
// updater.
//
// # Layout (a contract: other TUF clients are pointed at it)
//
// A repository is one directory:
//
//	root.json                     the latest root
//	<N>.root.json                 every root version, so clients walk N → N+1
//	timestamp.json                the only unversioned file besides root.json
//	<V>.snapshot.json             consistent snapshots
//	<V>.targets.json
//	<V>.models%2F<model>.json     a delegated role's file: the role name
//	                              escaped as go-tuf's updater requests it
//	                              (url.PathEscape), so the file name equals
//	                              the URL path segment byte for byte
//	targets/<model>/<version>/<sha256>.<file>   firmware, content-addressed
//	targets/<model>/<version>/<sha512>.<file>   the same object (hard link)
//
// A firmware's target path is <model>/<version>/<file name>. Its bytes are
// stored once and filed under both hash names because the target records
// sha256 and sha512 and a client may pick either to build the
// consistent-snapshot name (go-tuf takes the first entry of a Go map).
//
// # Roles and keys
//
// Roles are root, targets, snapshot and timestamp, plus one delegated role
// models/<model> per model whose paths are <model>/*/* (TUF's "*" does not
// cross "/", so this matches exactly <model>/<version>/<file>), terminating,
// so a model's key signs only that model's firmware. A Keyring holds any
// subset of the private keys: a site holds all of them; a fleet that keeps
// root and targets offline holds only snapshot and timestamp on the server,
// and any operation needing a key the Keyring lacks fails with a
// *MissingKeyError naming the role and the command to run where the key is.
//
// # Serving
//
// NewHandler serves the layout read-only (ward serve mounts it at /tuf/
// behind its device-certificate or token check): only names of the
// layout, by the escaped request path, through os.Root, with HTTP Range.
//
// What this package leaves to others: authorising who fetches, the device
// agent, publishing from the CLI and rollouts (see docs/updates.md).
// Writers in several processes take turns on an flock(2) of
// .ward-update.lock in the directory and reload its state first.
package update
