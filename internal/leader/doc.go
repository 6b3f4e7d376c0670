// Package leader chooses, among the nodes of a Ward cluster, the one that
// runs a piece of scheduled work (the compliance audit loop, the CRL
// refresh, the rollout engine, retention, fleet-wide detection), so that it
// runs once per cluster and not once per node.
//
// An [Elector] runs work while this node holds a named lock. Two
// implementations:
//
//   - [Local] always leads. A single Ward node (SQLite, or PostgreSQL
//     without a cluster) is already the only server: its data directory
//     is locked with flock.
//   - [Postgres] holds a PostgreSQL session-level advisory lock
//     (pg_try_advisory_lock) on a dedicated connection per lock name. The
//     64-bit key is derived from the name and the store's schema, so two
//     Ward clusters sharing one database (one schema each) do not collide.
//
// # Guarantees and their limits
//
// A PostgreSQL advisory lock has no fencing token: a leader that has lost
// its connection does not know it until it next talks to the server. The
// Postgres elector bounds that window instead of ignoring it:
//
//   - the holder checks its connection every Poll, each check bounded by
//     Poll; a failed check cancels the work's context at once, so a holder
//     stops working at most 2×Poll after its session is gone;
//   - a node that acquires the lock waits Takeover (default 3×Poll) before
//     it starts the work, so the previous holder has stopped by then,
//     provided its work returns promptly once its context is cancelled;
//   - the dedicated connection sets idle_session_timeout to Takeover, so
//     when a holder is cut off from the database (no FIN ever arrives) the
//     server ends its session, and frees the lock, after Takeover instead
//     of after TCP keepalive gives up.
//
// Work must therefore treat its context as the lease: stop promptly when
// it is cancelled, and keep the store as the truth (every job Ward runs
// under a lock is idempotent: an audit run, a CRL refresh, a rollout
// gate evaluation or a retention pass done twice does no harm).
//
// When work returns before ctx ends (an error, or simply done), the lock
// is released and the node competes again after Pause, so a failing job
// moves to another node instead of spinning on one.
package leader
