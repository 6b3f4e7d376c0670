package sqlite

import (
	"context"
	"fmt"
	"time"
)

// migrations are applied in order; each runs once, in its own transaction.
var migrations = []string{
	// 1: the secure core.
	`CREATE TABLE devices (
		id TEXT PRIMARY KEY,
		model TEXT NOT NULL,
		firmware TEXT NOT NULL,
		tags TEXT NOT NULL DEFAULT '[]',
		status TEXT NOT NULL,
		policy TEXT NOT NULL DEFAULT '{}',
		created_at INTEGER NOT NULL,
		updated_at INTEGER NOT NULL,
		last_seen INTEGER NOT NULL DEFAULT 0
	);
	CREATE TABLE model_policies (model TEXT PRIMARY KEY, policy TEXT NOT NULL);
	CREATE TABLE enroll_tokens (
		device_id TEXT PRIMARY KEY REFERENCES devices(id),
		hash BLOB NOT NULL,
		created_at INTEGER NOT NULL,
		expires_at INTEGER NOT NULL,
		used_at INTEGER NOT NULL DEFAULT 0
	);
	CREATE TABLE certificates (
		serial TEXT PRIMARY KEY,
		device_id TEXT NOT NULL DEFAULT '',
		subject TEXT NOT NULL,
		kind TEXT NOT NULL,
		not_before INTEGER NOT NULL,
		not_after INTEGER NOT NULL,
		fingerprint TEXT NOT NULL,
		der BLOB NOT NULL,
		issued_at INTEGER NOT NULL,
		revoked_at INTEGER NOT NULL DEFAULT 0,
		revoke_reason TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX certificates_device ON certificates(device_id);
	CREATE INDEX certificates_revoked ON certificates(revoked_at) WHERE revoked_at > 0;
	CREATE TABLE api_tokens (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL,
		role TEXT NOT NULL,
		hash BLOB NOT NULL,
		created_at INTEGER NOT NULL,
		expires_at INTEGER NOT NULL DEFAULT 0,
		revoked_at INTEGER NOT NULL DEFAULT 0
	);
	CREATE TABLE events (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		device_id TEXT NOT NULL,
		time INTEGER NOT NULL,
		kind TEXT NOT NULL,
		detail TEXT NOT NULL DEFAULT '{}'
	);
	CREATE INDEX events_device ON events(device_id, id);
	CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);`,
	// 2: detection, alerts and the audit log.
	`CREATE TABLE blobs (name TEXT PRIMARY KEY, data BLOB NOT NULL, updated_at INTEGER NOT NULL);
	CREATE TABLE alerts (
		id TEXT PRIMARY KEY,
		device_id TEXT NOT NULL,
		rule TEXT NOT NULL,
		state TEXT NOT NULL,
		severity TEXT NOT NULL,
		raised_at INTEGER NOT NULL,
		updated_at INTEGER NOT NULL,
		json BLOB NOT NULL
	);
	CREATE INDEX alerts_device_rule ON alerts(device_id, rule, state);
	CREATE INDEX alerts_state ON alerts(state, raised_at);
	CREATE TABLE metric_windows (
		device_id TEXT NOT NULL,
		window_ns INTEGER NOT NULL,
		start INTEGER NOT NULL,
		json BLOB NOT NULL,
		PRIMARY KEY (device_id, window_ns, start)
	) WITHOUT ROWID;
	CREATE INDEX metric_windows_start ON metric_windows(window_ns, start);
	CREATE TABLE audit_log (
		seq INTEGER PRIMARY KEY,
		time INTEGER NOT NULL,
		actor TEXT NOT NULL,
		action TEXT NOT NULL,
		target TEXT NOT NULL,
		detail TEXT NOT NULL,
		prev_hash TEXT NOT NULL,
		hash TEXT NOT NULL
	);`,
	// 3: audit, SBOMs and advisories.
	`CREATE TABLE sboms (
		model TEXT NOT NULL,
		firmware TEXT NOT NULL,
		format TEXT NOT NULL,
		source TEXT NOT NULL,
		components INTEGER NOT NULL,
		imported_at INTEGER NOT NULL,
		data BLOB NOT NULL,
		PRIMARY KEY (model, firmware)
	);
	CREATE TABLE advisories (id TEXT PRIMARY KEY, source TEXT NOT NULL, imported_at INTEGER NOT NULL, data BLOB NOT NULL);
	CREATE TABLE model_info (name TEXT PRIMARY KEY, data BLOB NOT NULL);
	CREATE TABLE findings (
		key TEXT PRIMARY KEY,
		check_id TEXT NOT NULL,
		severity TEXT NOT NULL,
		first_seen INTEGER NOT NULL,
		last_seen INTEGER NOT NULL,
		resolved_at INTEGER NOT NULL DEFAULT 0,
		json BLOB NOT NULL
	);
	CREATE INDEX findings_active ON findings(resolved_at);
	CREATE TABLE suppressions (
		id TEXT PRIMARY KEY, check_id TEXT NOT NULL, resource TEXT NOT NULL, reason TEXT NOT NULL,
		created_by TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL
	);
	CREATE TABLE finding_trend (time INTEGER PRIMARY KEY, counts TEXT NOT NULL);`,
	// 4: restricted quarantine.
	`ALTER TABLE devices ADD COLUMN quarantine TEXT NOT NULL DEFAULT ''`,
	// 5: the atomic lifecycle: revocation epoch, re-enrollment limits,
	// superseded certificates, event retention. A device revoked before
	// this migration gets its revocation time, which voids older tokens.
	`ALTER TABLE devices ADD COLUMN revoked_at INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE devices ADD COLUMN reenrolled_at INTEGER NOT NULL DEFAULT 0;
	UPDATE devices SET revoked_at = updated_at WHERE status = 'revoked';
	ALTER TABLE certificates ADD COLUMN superseded_at INTEGER NOT NULL DEFAULT 0;
	CREATE INDEX certificates_superseded ON certificates(superseded_at) WHERE superseded_at > 0 AND revoked_at = 0;
	CREATE INDEX events_time ON events(time);`,
	// 6: staged firmware rollouts.
	`CREATE TABLE rollouts (
		id TEXT PRIMARY KEY,
		model TEXT NOT NULL,
		version TEXT NOT NULL,
		waves TEXT NOT NULL,
		max_failure REAL NOT NULL,
		halt_on_alerts TEXT NOT NULL,
		soak INTEGER NOT NULL,
		status TEXT NOT NULL,
		wave INTEGER NOT NULL,
		wave_started_at INTEGER NOT NULL,
		reason TEXT NOT NULL,
		created_by TEXT NOT NULL,
		created_at INTEGER NOT NULL,
		updated_at INTEGER NOT NULL
	);
	CREATE INDEX rollouts_created ON rollouts(created_at, id);
	CREATE TABLE rollout_devices (
		rollout_id TEXT NOT NULL REFERENCES rollouts(id),
		device_id TEXT NOT NULL,
		wave INTEGER NOT NULL,
		state TEXT NOT NULL,
		reason TEXT NOT NULL,
		from_version TEXT NOT NULL,
		ordered_at INTEGER NOT NULL,
		installed_at INTEGER NOT NULL,
		seen_at INTEGER NOT NULL,
		updated_at INTEGER NOT NULL,
		PRIMARY KEY (rollout_id, device_id)
	);
	CREATE INDEX rollout_devices_device ON rollout_devices(device_id);
	CREATE INDEX rollout_devices_wave ON rollout_devices(rollout_id, wave, state);
	CREATE TABLE rollout_history (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		rollout_id TEXT NOT NULL REFERENCES rollouts(id),
		time INTEGER NOT NULL,
		action TEXT NOT NULL,
		actor TEXT NOT NULL,
		status TEXT NOT NULL,
		wave INTEGER NOT NULL,
		reason TEXT NOT NULL
	);
	CREATE INDEX rollout_history_rollout ON rollout_history(rollout_id, id);`,
	// 7: the device listing at fleet scale (store.DeviceQuery): an index
	// per exact filter with the ID for keyset paging, and one row per tag
	// so that a tag filter reads only its devices.
	`CREATE INDEX devices_status ON devices(status, id);
	CREATE INDEX devices_model ON devices(model, id);
	CREATE TABLE device_tags (
		device_id TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
		tag TEXT NOT NULL,
		PRIMARY KEY (tag, device_id)
	) WITHOUT ROWID;
	CREATE INDEX device_tags_device ON device_tags(device_id);
	INSERT INTO device_tags(device_id, tag) SELECT DISTINCT d.id, j.value FROM devices d, json_each(d.tags) j WHERE j.type = 'text';`,
	// 8: user accounts and their sessions.
	`CREATE TABLE users (
		name TEXT PRIMARY KEY,
		role TEXT NOT NULL,
		password_hash TEXT NOT NULL,
		created_at INTEGER NOT NULL,
		disabled_at INTEGER NOT NULL DEFAULT 0,
		failed_logins INTEGER NOT NULL DEFAULT 0,
		locked_until INTEGER NOT NULL DEFAULT 0,
		password_changed_at INTEGER NOT NULL DEFAULT 0
	);
	CREATE TABLE sessions (
		id TEXT PRIMARY KEY,
		hash BLOB NOT NULL,
		user_name TEXT NOT NULL REFERENCES users(name),
		client TEXT NOT NULL,
		csrf_token TEXT NOT NULL,
		created_at INTEGER NOT NULL,
		last_seen_at INTEGER NOT NULL,
		expires_at INTEGER NOT NULL,
		idle_timeout INTEGER NOT NULL,
		revoked_at INTEGER NOT NULL DEFAULT 0
	);
	CREATE INDEX sessions_user ON sessions(user_name) WHERE revoked_at = 0;
	CREATE INDEX sessions_expires ON sessions(expires_at);`,
	// 9: the gateway nodes' partial datapoints of each detection window,
	// stored by the detector workers until the detect leader merges and
	// evaluates the window (then deletes them).
	`CREATE TABLE detect_partials (
		window_end INTEGER NOT NULL,
		node TEXT NOT NULL,
		seq INTEGER NOT NULL,
		batches INTEGER NOT NULL,
		data BLOB NOT NULL,
		PRIMARY KEY (window_end, node, seq)
	) WITHOUT ROWID;`,
	// 10: the cluster's session directory (store.Presence): each gateway
	// node's heartbeat, and its live sessions of each device.
	`CREATE TABLE cluster_nodes (
		name TEXT PRIMARY KEY,
		seen_at INTEGER NOT NULL
	);
	CREATE INDEX cluster_nodes_seen ON cluster_nodes(seen_at);
	CREATE TABLE device_presence (
		device_id TEXT NOT NULL,
		node TEXT NOT NULL REFERENCES cluster_nodes(name) ON DELETE CASCADE,
		sessions INTEGER NOT NULL,
		since INTEGER NOT NULL,
		PRIMARY KEY (device_id, node)
	) WITHOUT ROWID;
	CREATE INDEX device_presence_node ON device_presence(node);`,
	// 11: the addresses of each node's sessions of a device, for the
	// network sensor's map of hosts to devices on any node.
	`ALTER TABLE device_presence ADD COLUMN addrs text NOT NULL DEFAULT '';`,
}

func (db *DB) migrate(ctx context.Context) error {
	if _, err := db.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return err
	}
	var cur int
	if err := db.w.QueryRowContext(ctx, `SELECT COALESCE(MAX(version),0) FROM schema_migrations`).Scan(&cur); err != nil {
		return err
	}
	if cur > len(migrations) {
		return fmt.Errorf("database schema version %d is newer than this binary knows (%d): upgrade ward", cur, len(migrations))
	}
	for v := cur + 1; v <= len(migrations); v++ {
		tx, err := db.w.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, migrations[v-1]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", v, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations(version, applied_at) VALUES(?, ?)`, v, time.Now().UnixNano()); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", v, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %d: %w", v, err)
		}
	}
	return nil
}
