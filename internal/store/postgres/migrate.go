package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5"
)

// migrations are applied in order; each runs once, in its own transaction.
// Version N holds the same tables as version N of the SQLite backend, so
// that a copy between backends can check that both are at one version.
//
// Every text column is COLLATE "C": lists are ordered by byte value, as in
// SQLite, whatever the database's default collation is.
var migrations = []string{
	// 1: the secure core.
	`CREATE TABLE devices (
		id text COLLATE "C" PRIMARY KEY,
		model text COLLATE "C" NOT NULL,
		firmware text COLLATE "C" NOT NULL,
		tags jsonb NOT NULL DEFAULT '[]',
		status text COLLATE "C" NOT NULL,
		policy jsonb NOT NULL DEFAULT '{}',
		created_at bigint NOT NULL,
		updated_at bigint NOT NULL,
		last_seen bigint NOT NULL DEFAULT 0
	);
	CREATE TABLE model_policies (model text COLLATE "C" PRIMARY KEY, policy jsonb NOT NULL);
	CREATE TABLE enroll_tokens (
		device_id text COLLATE "C" PRIMARY KEY REFERENCES devices(id),
		hash bytea NOT NULL,
		created_at bigint NOT NULL,
		expires_at bigint NOT NULL,
		used_at bigint NOT NULL DEFAULT 0
	);
	CREATE TABLE certificates (
		serial text COLLATE "C" PRIMARY KEY,
		device_id text COLLATE "C" NOT NULL DEFAULT '',
		subject text COLLATE "C" NOT NULL,
		kind text COLLATE "C" NOT NULL,
		not_before bigint NOT NULL,
		not_after bigint NOT NULL,
		fingerprint text COLLATE "C" NOT NULL,
		der bytea NOT NULL,
		issued_at bigint NOT NULL,
		revoked_at bigint NOT NULL DEFAULT 0,
		revoke_reason text COLLATE "C" NOT NULL DEFAULT ''
	);
	CREATE INDEX certificates_device ON certificates(device_id);
	CREATE INDEX certificates_revoked ON certificates(revoked_at) WHERE revoked_at > 0;
	CREATE TABLE api_tokens (
		id text COLLATE "C" PRIMARY KEY,
		name text COLLATE "C" NOT NULL,
		role text COLLATE "C" NOT NULL,
		hash bytea NOT NULL,
		created_at bigint NOT NULL,
		expires_at bigint NOT NULL DEFAULT 0,
		revoked_at bigint NOT NULL DEFAULT 0
	);
	CREATE TABLE events (
		id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		device_id text COLLATE "C" NOT NULL,
		time bigint NOT NULL,
		kind text COLLATE "C" NOT NULL,
		detail json NOT NULL DEFAULT '{}'
	);
	CREATE INDEX events_device ON events(device_id, id);
	CREATE TABLE counters (name text COLLATE "C" PRIMARY KEY, value bigint NOT NULL);`,
	// 2: detection, alerts and the audit log.
	`CREATE TABLE blobs (name text COLLATE "C" PRIMARY KEY, data bytea NOT NULL, updated_at bigint NOT NULL);
	CREATE TABLE alerts (
		id text COLLATE "C" PRIMARY KEY,
		device_id text COLLATE "C" NOT NULL,
		rule text COLLATE "C" NOT NULL,
		state text COLLATE "C" NOT NULL,
		severity text COLLATE "C" NOT NULL,
		raised_at bigint NOT NULL,
		updated_at bigint NOT NULL,
		json bytea NOT NULL
	);
	CREATE INDEX alerts_device_rule ON alerts(device_id, rule, state);
	CREATE INDEX alerts_state ON alerts(state, raised_at);
	CREATE TABLE metric_windows (
		device_id text COLLATE "C" NOT NULL,
		window_ns bigint NOT NULL,
		start bigint NOT NULL,
		json bytea NOT NULL,
		PRIMARY KEY (device_id, window_ns, start)
	);
	CREATE INDEX metric_windows_start ON metric_windows(window_ns, start);
	CREATE TABLE audit_log (
		seq bigint PRIMARY KEY,
		time bigint NOT NULL,
		actor text COLLATE "C" NOT NULL,
		action text COLLATE "C" NOT NULL,
		target text COLLATE "C" NOT NULL,
		detail json NOT NULL,
		prev_hash text COLLATE "C" NOT NULL,
		hash text COLLATE "C" NOT NULL
	);`,
	// 3: audit, SBOMs and advisories.
	`CREATE TABLE sboms (
		model text COLLATE "C" NOT NULL,
		firmware text COLLATE "C" NOT NULL,
		format text COLLATE "C" NOT NULL,
		source text COLLATE "C" NOT NULL,
		components integer NOT NULL,
		imported_at bigint NOT NULL,
		data bytea NOT NULL,
		PRIMARY KEY (model, firmware)
	);
	CREATE TABLE advisories (id text COLLATE "C" PRIMARY KEY, source text COLLATE "C" NOT NULL, imported_at bigint NOT NULL, data bytea NOT NULL);
	CREATE TABLE model_info (name text COLLATE "C" PRIMARY KEY, data bytea NOT NULL);
	CREATE TABLE findings (
		key text COLLATE "C" PRIMARY KEY,
		check_id text COLLATE "C" NOT NULL,
		severity text COLLATE "C" NOT NULL,
		first_seen bigint NOT NULL,
		last_seen bigint NOT NULL,
		resolved_at bigint NOT NULL DEFAULT 0,
		json bytea NOT NULL
	);
	CREATE INDEX findings_active ON findings(check_id, key) WHERE resolved_at = 0;
	CREATE TABLE suppressions (
		id text COLLATE "C" PRIMARY KEY, check_id text COLLATE "C" NOT NULL, resource text COLLATE "C" NOT NULL,
		reason text COLLATE "C" NOT NULL, created_by text COLLATE "C" NOT NULL, created_at bigint NOT NULL, expires_at bigint NOT NULL
	);
	CREATE TABLE finding_trend (time bigint PRIMARY KEY, counts jsonb NOT NULL);`,
	// 4: restricted quarantine.
	`ALTER TABLE devices ADD COLUMN quarantine text COLLATE "C" NOT NULL DEFAULT ''`,
	// 5: the atomic lifecycle: revocation epoch, re-enrollment limits,
	// superseded certificates, event retention. A device revoked before
	// this migration gets its revocation time, which voids older tokens.
	`ALTER TABLE devices ADD COLUMN revoked_at bigint NOT NULL DEFAULT 0;
	ALTER TABLE devices ADD COLUMN reenrolled_at bigint NOT NULL DEFAULT 0;
	UPDATE devices SET revoked_at = updated_at WHERE status = 'revoked';
	ALTER TABLE certificates ADD COLUMN superseded_at bigint NOT NULL DEFAULT 0;
	CREATE INDEX certificates_superseded ON certificates(superseded_at) WHERE superseded_at > 0 AND revoked_at = 0;
	CREATE INDEX events_time ON events(time);`,
	// 6: staged firmware rollouts.
	`CREATE TABLE rollouts (
		id text COLLATE "C" PRIMARY KEY,
		model text COLLATE "C" NOT NULL,
		version text COLLATE "C" NOT NULL,
		waves jsonb NOT NULL,
		max_failure double precision NOT NULL,
		halt_on_alerts text COLLATE "C" NOT NULL,
		soak bigint NOT NULL,
		status text COLLATE "C" NOT NULL,
		wave integer NOT NULL,
		wave_started_at bigint NOT NULL,
		reason text COLLATE "C" NOT NULL,
		created_by text COLLATE "C" NOT NULL,
		created_at bigint NOT NULL,
		updated_at bigint NOT NULL
	);
	CREATE INDEX rollouts_created ON rollouts(created_at, id);
	CREATE TABLE rollout_devices (
		rollout_id text COLLATE "C" NOT NULL REFERENCES rollouts(id),
		device_id text COLLATE "C" NOT NULL,
		wave integer NOT NULL,
		state text COLLATE "C" NOT NULL,
		reason text COLLATE "C" NOT NULL,
		from_version text COLLATE "C" NOT NULL,
		ordered_at bigint NOT NULL,
		installed_at bigint NOT NULL,
		seen_at bigint NOT NULL,
		updated_at bigint NOT NULL,
		PRIMARY KEY (rollout_id, device_id)
	);
	CREATE INDEX rollout_devices_device ON rollout_devices(device_id);
	CREATE INDEX rollout_devices_wave ON rollout_devices(rollout_id, wave, state);
	CREATE TABLE rollout_history (
		id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		rollout_id text COLLATE "C" NOT NULL REFERENCES rollouts(id),
		time bigint NOT NULL,
		action text COLLATE "C" NOT NULL,
		actor text COLLATE "C" NOT NULL,
		status text COLLATE "C" NOT NULL,
		wave integer NOT NULL,
		reason text COLLATE "C" NOT NULL
	);
	CREATE INDEX rollout_history_rollout ON rollout_history(rollout_id, id);`,
	// 7: the device listing at fleet scale (store.DeviceQuery): an index
	// per exact filter with the ID for keyset paging, and one row per tag
	// so that a tag filter reads only its devices.
	`CREATE INDEX devices_status ON devices(status, id);
	CREATE INDEX devices_model ON devices(model, id);
	CREATE TABLE device_tags (
		device_id text COLLATE "C" NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
		tag text COLLATE "C" NOT NULL,
		PRIMARY KEY (tag, device_id)
	);
	CREATE INDEX device_tags_device ON device_tags(device_id);
	INSERT INTO device_tags(device_id, tag) SELECT DISTINCT d.id, t.tag FROM devices d, jsonb_array_elements_text(d.tags) AS t(tag);`,
	// 8: user accounts and their sessions.
	`CREATE TABLE users (
		name text COLLATE "C" PRIMARY KEY,
		role text COLLATE "C" NOT NULL,
		password_hash text COLLATE "C" NOT NULL,
		created_at bigint NOT NULL,
		disabled_at bigint NOT NULL DEFAULT 0,
		failed_logins integer NOT NULL DEFAULT 0,
		locked_until bigint NOT NULL DEFAULT 0,
		password_changed_at bigint NOT NULL DEFAULT 0
	);
	CREATE TABLE sessions (
		id text COLLATE "C" PRIMARY KEY,
		hash bytea NOT NULL,
		user_name text COLLATE "C" NOT NULL REFERENCES users(name),
		client text COLLATE "C" NOT NULL,
		csrf_token text COLLATE "C" NOT NULL,
		created_at bigint NOT NULL,
		last_seen_at bigint NOT NULL,
		expires_at bigint NOT NULL,
		idle_timeout bigint NOT NULL,
		revoked_at bigint NOT NULL DEFAULT 0
	);
	CREATE INDEX sessions_user ON sessions(user_name) WHERE revoked_at = 0;
	CREATE INDEX sessions_expires ON sessions(expires_at);`,
	// 9: the gateway nodes' partial datapoints of each detection window,
	// stored by the detector workers until the detect leader merges and
	// evaluates the window (then deletes them).
	`CREATE TABLE detect_partials (
		window_end bigint NOT NULL,
		node text COLLATE "C" NOT NULL,
		seq integer NOT NULL,
		batches integer NOT NULL,
		data bytea NOT NULL,
		PRIMARY KEY (window_end, node, seq)
	);`,
	// 10: the cluster's session directory (store.Presence): each gateway
	// node's heartbeat, and its live sessions of each device.
	`CREATE TABLE cluster_nodes (
		name text COLLATE "C" PRIMARY KEY,
		seen_at bigint NOT NULL
	);
	CREATE INDEX cluster_nodes_seen ON cluster_nodes(seen_at);
	CREATE TABLE device_presence (
		device_id text COLLATE "C" NOT NULL,
		node text COLLATE "C" NOT NULL REFERENCES cluster_nodes(name) ON DELETE CASCADE,
		sessions integer NOT NULL,
		since bigint NOT NULL,
		PRIMARY KEY (device_id, node)
	);
	CREATE INDEX device_presence_node ON device_presence(node);`,
	// 11: the addresses of each node's sessions of a device, for the
	// network sensor's map of hosts to devices on any node.
	`ALTER TABLE device_presence ADD COLUMN addrs text NOT NULL DEFAULT '';`,
}

// errNewerSchema is returned when the database was migrated by a newer
// binary.
var errNewerSchema = errors.New("database schema is newer than this binary")

// lockKey is the advisory lock that serialises migrations of one schema
// in one database, so that several Ward processes may start at once.
func lockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("ward/store/postgres/migrate\x00" + schema))
	return int64(h.Sum64())
}

// migrate applies the pending migrations, each in its own transaction
// that first takes the schema's advisory lock and reads the current
// version: a process that waited for the lock sees the work of the one
// that held it and applies nothing twice.
func (db *DB) migrate(ctx context.Context, schema string) error {
	for {
		done, err := db.migrateOne(ctx, schema)
		if err != nil || done {
			return err
		}
	}
}

// migrateOne applies the next pending migration, if any.
func (db *DB) migrateOne(ctx context.Context, schema string) (done bool, err error) {
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey(schema)); err != nil {
			return fmt.Errorf("take migration lock: %w", err)
		}
		if schema != "" {
			if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{schema}.Sanitize()); err != nil {
				return fmt.Errorf("create schema %s: %w", schema, err)
			}
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at bigint NOT NULL)`); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		var cur int
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&cur); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if cur > len(migrations) {
			return fmt.Errorf("%w: version %d, this binary knows %d (upgrade ward)", errNewerSchema, cur, len(migrations))
		}
		if cur == len(migrations) {
			done = true
			return nil
		}
		v := cur + 1
		if _, err := tx.Exec(ctx, migrations[v-1]); err != nil {
			return fmt.Errorf("migration %d: %w", v, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations(version, applied_at) VALUES($1, $2)`, v, time.Now().UnixNano()); err != nil {
			return fmt.Errorf("migration %d: %w", v, err)
		}
		return nil
	})
	return done, err
}
