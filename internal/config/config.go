// Package config is the only place Ward reads configuration: a YAML file,
// WARD_* environment variables and command-line flags, in that order of
// precedence (default < file < env < flag). Each setting has one name in
// each source: gateway.max_message_bytes <-> WARD_GATEWAY_MAX_MESSAGE_BYTES
// <-> --gateway-max-message-bytes. Parsing is strict: an unknown key or a bad
// value is an *Error naming the key, where it came from and the fix.
// Secrets (the CA passphrase) come from the environment or a file, never
// from a flag.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"

	"github.com/wardproject/ward/internal/profiler"
	"github.com/wardproject/ward/internal/suggest"
)

// Config is Ward's validated server configuration.
type Config struct {
	DataDir       string        // data_dir
	HTTPSAddr     string        // https_addr
	MQTTAddr      string        // mqtt_addr
	Hostnames     []string      // hostname
	LogLevel      string        // log.level
	LogFormat     string        // log.format
	ShutdownGrace time.Duration // shutdown_grace
	// PprofAddr (pprof_addr, --pprof-addr) is the opt-in loopback
	// listener for Go's runtime profiles; "" (the default) is off.
	PprofAddr string
	// Role (role, --role, WARD_ROLE) is which parts this node runs: one
	// of Roles, canonical lower case. Roles other than RoleAll need the
	// shared PostgreSQL store and NATS bus of a cluster.
	Role string

	PKI     PKI
	Enroll  Enroll
	EST     EST
	API     API
	Events  Events
	Stream  Stream
	Gateway Gateway
	Detect  Detect
	Audit   Audit
	Store   Store
	Bus     Bus
	Update  Update
	// Notify is the raw YAML of the file's notify section (alert sinks:
	// webhooks, syslog, mqtt), validated by package notify; nil when absent.
	// Lists of sinks have no env or flag form.
	Notify []byte

	sources map[string]string
}

// Node roles (Config.Role). A cluster runs each part on the nodes whose
// role includes it; RoleAll runs every part (the only role of a single
// node).
const (
	// RoleAll runs everything: the default.
	RoleAll = "all"
	// RoleGateway runs the MQTT gateway, the admission subscriber, the
	// session directory reporter and the detection window shipper.
	RoleGateway = "gateway"
	// RoleDetector runs the detection consumers and the fleet-wide
	// evaluation (under the "detect" leader lock).
	RoleDetector = "detector"
	// RoleAPI runs the HTTPS listener (API, EST, console, /crl, live
	// stream) and the scheduled work under leader locks (audit, CRL
	// refresh, rollouts, retention).
	RoleAPI = "api"
)

// Roles lists the values of Config.Role.
var Roles = []string{RoleAll, RoleGateway, RoleDetector, RoleAPI}

// PKI is the certificate authority section.
type PKI struct {
	CACert             string        // pki.ca_cert: operator-supplied issuing CA (PEM)
	CAKey              string        // pki.ca_key
	KeyPassphraseFile  string        // pki.key_passphrase_file
	KeyPassphrase      Secret        // WARD_CA_PASSPHRASE only
	DeviceCertValidity time.Duration // pki.device_cert_validity
}

// Enroll is the enrollment section.
type Enroll struct {
	TokenTTL         time.Duration // enroll.token_ttl
	ReenrollInterval time.Duration // enroll.reenroll_interval
	MaxDeviceCerts   int           // enroll.max_device_certs
	SupersededGrace  time.Duration // enroll.superseded_grace
}

// Events is the device event section: retention.
type Events struct {
	Retention time.Duration // events.retention
	PerDevice int           // events.max_per_device
}

// Stream is the live stream's section (GET /api/v1/stream, server-sent
// events): buffers, replay and limits.
type Stream struct {
	Buffer          int           // stream.buffer: events queued per client before it is dropped with an overflow
	Replay          int           // stream.replay: recent events kept for Last-Event-ID
	Heartbeat       time.Duration // stream.heartbeat: comment written on an idle stream
	MaxClients      int           // stream.max_clients: streams open at once on this node
	MaxPerPrincipal int           // stream.max_per_principal: streams open at once per token or session
}

// EST is the enrollment front-end's abuse limits. A source is an IPv4
// address or an IPv6 /64 (the TCP peer: Ward does not trust
// X-Forwarded-For). The defaults let a fleet behind one NAT enroll in bulk
// (20 enrollments a second, 72,000 an hour) and stop a flood within its
// first 200 requests.
type EST struct {
	SourceRate  float64 // est.source_rate: requests per second per source over every EST route
	SourceBurst int     // est.source_burst: requests a source may make at once
	// DeviceAttemptsPerHour (est.device_attempts_per_hour) bounds
	// simpleenroll attempts per device ID (the Basic-auth user name), in a
	// burst and per hour.
	DeviceAttemptsPerHour int
}

// API is the operator API's section: abuse limits on the routes without a
// token, and the lifetime of the admin token written to admin.token.
type API struct {
	PublicRate  float64 // api.public_rate: /crl and /healthz requests per second per source
	PublicBurst int     // api.public_burst
	// AuthFailuresPerMinute (api.auth_failures_per_minute) is how many
	// failed bearer-token authentications a source may make, in a burst and
	// per minute; past it every request from the source gets 429.
	AuthFailuresPerMinute int
	AdminTokenTTL         time.Duration // api.admin_token_ttl: lifetime of the first and rotated admin token
	// SessionIdleTimeout (api.session_idle_timeout) ends a user's session
	// not used for that long; SessionLifetime (api.session_lifetime) ends
	// it that long after sign-in.
	SessionIdleTimeout time.Duration
	SessionLifetime    time.Duration
	// LoginMaxFailures (api.login_max_failures) sign-in attempts in a row
	// lock the account for LoginLockout (api.login_lockout).
	LoginMaxFailures int
	LoginLockout     time.Duration
}

// Gateway is the MQTT gateway section: global per-device limits.
type Gateway struct {
	MaxMessageBytes   int     // gateway.max_message_bytes
	MessagesPerSecond float64 // gateway.messages_per_second
	BytesPerSecond    float64 // gateway.bytes_per_second
	ConnectsPerMinute int     // gateway.connects_per_minute
	// AllowCNIdentity lets a certificate without a urn:ward:device URI SAN
	// identify its device by CN (gateway.allow_cn_identity; default false).
	AllowCNIdentity bool
	// SessionsPerDevice caps the broker sessions (live or persisted) of
	// one device (gateway.sessions_per_device).
	SessionsPerDevice int
	// HandshakesPerAddress and HandshakesPerPrefix cap the connections
	// that have not yet sent CONNECT, per source address and per /24 or
	// /64 (gateway.handshakes_per_address, gateway.handshakes_per_prefix).
	HandshakesPerAddress int
	HandshakesPerPrefix  int
	// SubscriberQueueBytes (gateway.subscriber_queue_bytes) caps the
	// messages queued for one live session before they are written;
	// DeliveryWait and DeliveryWaitQoS0 (gateway.delivery_wait,
	// gateway.delivery_wait_qos0) bound how long a publish waits for room.
	SubscriberQueueBytes int
	DeliveryWait         time.Duration
	DeliveryWaitQoS0     time.Duration
	// OfflineQueueBytes (gateway.offline_queue_bytes) caps the QoS 1/2
	// messages a persisted session holds while its device is offline; a
	// publish it cannot hold is refused, not acknowledged.
	OfflineQueueBytes int
}

// Store is the storage section: the embedded SQLite file in DataDir by
// default, or PostgreSQL when a DSN is given.
type Store struct {
	// PostgresDSN (store.postgres_dsn, WARD_STORE_POSTGRES_DSN; never a
	// flag: it may hold a password) selects PostgreSQL, e.g.
	// postgres://ward@db.example:5432/ward?sslmode=verify-full.
	PostgresDSN Secret
	// PostgresSchema (store.postgres_schema) holds Ward's tables.
	PostgresSchema string
	// PostgresUrgentConns (store.postgres_urgent_conns) is the size of the
	// connection pool kept for containment (revoke, retire, quarantine and
	// their audit entries and CRL), which routine writes never hold.
	PostgresUrgentConns int
}

// Bus is the cluster section: with a NATS URL, several ward serve nodes
// sharing one PostgreSQL store tell each other about admission changes
// (device status, model policies, revocations).
type Bus struct {
	// NATSURL (bus.nats_url, WARD_BUS_NATS_URL; never a flag: it may hold
	// credentials), e.g. nats://127.0.0.1:4222.
	NATSURL Secret
	// Namespace (bus.namespace) prefixes Ward's subjects and streams.
	Namespace string
}

// Audit is the fleet audit section.
type Audit struct {
	Interval time.Duration // audit.interval: how often the fleet is audited
	// AnchorInterval (audit.anchor_interval) is how often the audit log's
	// head is checkpointed (signed) besides after every local append, so
	// that entries other cluster nodes append are anchored too.
	AnchorInterval time.Duration
}

// Detect is the detection section.
type Detect struct {
	Window    time.Duration // detect.window (flag --detect-window)
	Retention time.Duration // detect.retention
	// Grace (detect.grace) is how long after a window's end the detect
	// leader of a cluster waits for every gateway node's batches.
	Grace time.Duration
	// SpoolBytes (detect.spool_bytes) bounds a gateway node's window
	// batches kept while NATS is unreachable.
	SpoolBytes int
	// Workers (detect.workers) is how many detector workers consume the
	// window batches on this node.
	Workers int
}

// Update is the firmware update section: how long the TUF metadata the
// server and the ward update commands sign stays valid (docs/updates.md,
// "Roles, thresholds, expiries"). Each must be shorter than the next:
// timestamp < snapshot < targets < root.
type Update struct {
	// RootExpiry (update.root_expiry) is root's lifetime, re-signed
	// offline at each rotation.
	RootExpiry time.Duration
	// TargetsExpiry (update.targets_expiry) is the lifetime of targets and
	// of each model's delegated role, re-signed at each publish.
	TargetsExpiry time.Duration
	// SnapshotExpiry (update.snapshot_expiry) and TimestampExpiry
	// (update.timestamp_expiry) are the online roles' lifetimes; the
	// server re-signs them once half is left.
	SnapshotExpiry  time.Duration
	TimestampExpiry time.Duration
}

// updateExpiryBounds are the bounds of the update.*_expiry keys. The
// lower ones keep the fleet audit's update-metadata-expiring warning
// (6h, 2d, 14d, 30d ahead) from firing for as long as the metadata
// lives; the upper ones keep a stolen or frozen signature from being
// good for longer than a human would notice.
var updateExpiryBounds = []struct {
	key      string
	min, max time.Duration
}{
	{"update.timestamp_expiry", 12 * time.Hour, 7 * 24 * time.Hour},
	{"update.snapshot_expiry", 4 * 24 * time.Hour, 365 * 24 * time.Hour},
	{"update.targets_expiry", 30 * 24 * time.Hour, 365 * 24 * time.Hour},
	{"update.root_expiry", 60 * 24 * time.Hour, 10 * 365 * 24 * time.Hour},
}

// Secret is a configuration secret that never prints itself.
type Secret string

// String implements fmt.Stringer.
func (Secret) String() string { return "[REDACTED]" }

// Error is a configuration error: the key, where the value came from and a hint.
type Error struct {
	Key    string
	Source string
	Err    error
	Hint   string
}

func (e *Error) Error() string {
	s := fmt.Sprintf("config %s (from %s): %v", e.Key, e.Source, e.Err)
	if e.Hint != "" {
		s += " (" + e.Hint + ")"
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

type kind int

const (
	kString kind = iota
	kStrings
	kDuration
	kInt
	kFloat
	kBool
)

type setting struct {
	key    string
	kind   kind
	def    string
	usage  string
	ptr    func(*Config) any
	flag   string // flag name override ("" = derived)
	noFlag bool   // secrets: file or environment only
}

var settings = []setting{
	{key: "data_dir", def: "./ward-data", usage: "directory for the store, CA and tokens", ptr: func(c *Config) any { return &c.DataDir }},
	{key: "https_addr", def: ":8443", usage: "HTTPS listener for EST and the API", ptr: func(c *Config) any { return &c.HTTPSAddr }},
	{key: "mqtt_addr", def: ":8883", usage: "MQTT-over-TLS listener for devices", ptr: func(c *Config) any { return &c.MQTTAddr }},
	{key: "hostname", kind: kStrings, usage: "extra DNS names or IPs for the server certificate (repeat or comma-separate)", ptr: func(c *Config) any { return &c.Hostnames }},
	{key: "log.level", def: "info", usage: "log level: debug, info, warn, error", ptr: func(c *Config) any { return &c.LogLevel }},
	{key: "log.format", def: "text", usage: "log format: text or json", ptr: func(c *Config) any { return &c.LogFormat }},
	{key: "pprof_addr", usage: "opt-in listener for Go's runtime profiles (/debug/pprof/heap, goroutine, profile) on a loopback address such as 127.0.0.1:6060; no authentication, so any other address is refused; off when empty", ptr: func(c *Config) any { return &c.PprofAddr }},
	{key: "role", def: RoleAll, usage: "which parts this node runs: all (default), gateway (MQTT), detector (detection workers) or api (HTTPS API, EST, console and scheduled work); roles other than all need store.postgres_dsn and bus.nats_url", ptr: func(c *Config) any { return &c.Role }},
	{key: "shutdown_grace", kind: kDuration, def: "10s", usage: "how long in-flight requests may finish, and a cluster node may hand the rollout inputs it holds to the bus, on shutdown", ptr: func(c *Config) any { return &c.ShutdownGrace }},
	{key: "pki.ca_cert", usage: "operator-supplied issuing CA certificate (PEM, chain to the root may follow)", ptr: func(c *Config) any { return &c.PKI.CACert }, flag: "ca-cert"},
	{key: "pki.ca_key", usage: "operator-supplied issuing CA private key (PEM, mode 0600)", ptr: func(c *Config) any { return &c.PKI.CAKey }, flag: "ca-key"},
	{key: "pki.key_passphrase_file", usage: "file holding the passphrase that encrypts CA keys at rest (or set WARD_CA_PASSPHRASE)", ptr: func(c *Config) any { return &c.PKI.KeyPassphraseFile }, flag: "ca-passphrase-file"},
	{key: "pki.device_cert_validity", kind: kDuration, def: "2160h", usage: "lifetime of device certificates", ptr: func(c *Config) any { return &c.PKI.DeviceCertValidity }},
	{key: "est.source_rate", kind: kFloat, def: "20", usage: "EST requests per second per source address (IPv4 address, IPv6 /64); excess gets 429", ptr: func(c *Config) any { return &c.EST.SourceRate }},
	{key: "est.source_burst", kind: kInt, def: "200", usage: "EST requests a source address may make at once", ptr: func(c *Config) any { return &c.EST.SourceBurst }},
	{key: "est.device_attempts_per_hour", kind: kInt, def: "20", usage: "simpleenroll attempts per device ID, at once and per hour; excess gets 429", ptr: func(c *Config) any { return &c.EST.DeviceAttemptsPerHour }},
	{key: "api.public_rate", kind: kFloat, def: "20", usage: "/crl and /healthz requests per second per source address", ptr: func(c *Config) any { return &c.API.PublicRate }},
	{key: "api.public_burst", kind: kInt, def: "100", usage: "/crl and /healthz requests a source address may make at once", ptr: func(c *Config) any { return &c.API.PublicBurst }},
	{key: "api.auth_failures_per_minute", kind: kInt, def: "30", usage: "failed API token authentications per source address, at once and per minute, before 429", ptr: func(c *Config) any { return &c.API.AuthFailuresPerMinute }},
	{key: "api.admin_token_ttl", kind: kDuration, def: "2160h", usage: "lifetime of the admin token in admin.token (first start and ward token rotate-admin), 1m to 8760h", ptr: func(c *Config) any { return &c.API.AdminTokenTTL }},
	{key: "api.session_idle_timeout", kind: kDuration, def: "30m", usage: "a user's session ends after this long without a request (1m to the session lifetime)", ptr: func(c *Config) any { return &c.API.SessionIdleTimeout }},
	{key: "api.session_lifetime", kind: kDuration, def: "12h", usage: "a user's session ends this long after sign-in, however used (5m to 720h)", ptr: func(c *Config) any { return &c.API.SessionLifetime }},
	{key: "api.login_max_failures", kind: kInt, def: "5", usage: "failed sign-ins in a row that lock a user account (1 to 100)", ptr: func(c *Config) any { return &c.API.LoginMaxFailures }},
	{key: "api.login_lockout", kind: kDuration, def: "15m", usage: "how long a locked account refuses sign-ins, even with the right password (1m to 24h)", ptr: func(c *Config) any { return &c.API.LoginLockout }},
	{key: "enroll.token_ttl", kind: kDuration, def: "24h", usage: "default lifetime of one-time enrollment tokens (1m to 2160h)", ptr: func(c *Config) any { return &c.Enroll.TokenTTL }},
	{key: "enroll.reenroll_interval", kind: kDuration, def: "1h", usage: "shortest time between two re-enrollments (EST simplereenroll) of one device", ptr: func(c *Config) any { return &c.Enroll.ReenrollInterval }},
	{key: "enroll.max_device_certs", kind: kInt, def: "3", usage: "most valid certificates one device holds; issuing another revokes the oldest", ptr: func(c *Config) any { return &c.Enroll.MaxDeviceCerts }},
	{key: "enroll.superseded_grace", kind: kDuration, def: "10m", usage: "how long the certificate a device re-enrolled with stays valid before it is revoked", ptr: func(c *Config) any { return &c.Enroll.SupersededGrace }},
	{key: "events.retention", kind: kDuration, def: "720h", usage: "how long device events are kept", ptr: func(c *Config) any { return &c.Events.Retention }},
	{key: "events.max_per_device", kind: kInt, def: "2000", usage: "most events kept per device (the newest)", ptr: func(c *Config) any { return &c.Events.PerDevice }},
	{key: "stream.buffer", kind: kInt, def: "256", usage: "live stream: events queued per client; a client that falls this far behind is dropped with an overflow event and resumes with Last-Event-ID", ptr: func(c *Config) any { return &c.Stream.Buffer }},
	{key: "stream.replay", kind: kInt, def: "1000", usage: "live stream: recent events kept to resume a stream (Last-Event-ID)", ptr: func(c *Config) any { return &c.Stream.Replay }},
	{key: "stream.heartbeat", kind: kDuration, def: "15s", usage: "live stream: how often an idle stream gets a comment, so that proxies keep it open", ptr: func(c *Config) any { return &c.Stream.Heartbeat }},
	{key: "stream.max_clients", kind: kInt, def: "1000", usage: "live stream: streams open at once on this node; past it 429", ptr: func(c *Config) any { return &c.Stream.MaxClients }},
	{key: "stream.max_per_principal", kind: kInt, def: "8", usage: "live stream: streams open at once with one API token or session; past it 429", ptr: func(c *Config) any { return &c.Stream.MaxPerPrincipal }},
	{key: "gateway.max_message_bytes", kind: kInt, def: "262144", usage: "largest MQTT packet a device may send, in bytes", ptr: func(c *Config) any { return &c.Gateway.MaxMessageBytes }},
	{key: "gateway.messages_per_second", kind: kFloat, def: "100", usage: "per-device publish rate; excess publishes are dropped, sustained excess disconnects", ptr: func(c *Config) any { return &c.Gateway.MessagesPerSecond }},
	{key: "gateway.bytes_per_second", kind: kFloat, def: "1048576", usage: "per-device publish byte rate", ptr: func(c *Config) any { return &c.Gateway.BytesPerSecond }},
	{key: "gateway.connects_per_minute", kind: kInt, def: "30", usage: "per-device connection attempts per minute before a temporary ban", ptr: func(c *Config) any { return &c.Gateway.ConnectsPerMinute }},
	{key: "gateway.allow_cn_identity", kind: kBool, def: "false", usage: "identify a device by its certificate's CN when it has no urn:ward:device URI SAN (devices enrolled before URI SANs; the serial must still be one Ward recorded for that device)", ptr: func(c *Config) any { return &c.Gateway.AllowCNIdentity }},
	{key: "gateway.sessions_per_device", kind: kInt, def: "4", usage: "broker sessions one device may hold, live or persisted; past it a new connection is refused and offline sessions are purged oldest first", ptr: func(c *Config) any { return &c.Gateway.SessionsPerDevice }},
	{key: "gateway.handshakes_per_address", kind: kInt, def: "8", usage: "connections from one source address that may be in the TLS handshake or waiting to send CONNECT", ptr: func(c *Config) any { return &c.Gateway.HandshakesPerAddress }},
	{key: "gateway.handshakes_per_prefix", kind: kInt, def: "64", usage: "the same per /24 (IPv4) or /64 (IPv6) source prefix", ptr: func(c *Config) any { return &c.Gateway.HandshakesPerPrefix }},
	{key: "gateway.subscriber_queue_bytes", kind: kInt, def: "1048576", usage: "bytes of messages queued for one live session before publishers wait for it (allocated only while messages wait)", ptr: func(c *Config) any { return &c.Gateway.SubscriberQueueBytes }},
	{key: "gateway.delivery_wait", kind: kDuration, def: "5s", usage: "how long a publish waits for a subscriber's full queue (the publisher's socket is not read meanwhile); then a subscriber that takes no QoS 1/2 message is disconnected (0x97) and its persistent session keeps the message", ptr: func(c *Config) any { return &c.Gateway.DeliveryWait }},
	{key: "gateway.delivery_wait_qos0", kind: kDuration, def: "500ms", usage: "the same wait for QoS 0; then the message is dropped for that subscriber and counted (ward_gateway_delivery_dropped_total, device event limit=delivery-dropped)", ptr: func(c *Config) any { return &c.Gateway.DeliveryWaitQoS0 }},
	{key: "gateway.offline_queue_bytes", kind: kInt, def: "1048576", usage: "bytes of QoS 1/2 messages a persisted session holds while its device is offline (with about 800 bytes of bookkeeping each); a QoS 1/2 publish a matching offline session cannot hold is refused before its PUBACK (MQTT 5: 0x97 Quota exceeded; 3.1.1: connection closed unacknowledged, the client resends) and counted (ward_gateway_delivery_refused_total)", ptr: func(c *Config) any { return &c.Gateway.OfflineQueueBytes }},
	{key: "detect.window", kind: kDuration, def: "1m", usage: "shortest detection window; the 5m and 1h windows are 5x and 60x it", ptr: func(c *Config) any { return &c.Detect.Window }, flag: "detect-window"},
	{key: "store.postgres_dsn", usage: "PostgreSQL DSN instead of the embedded SQLite store (file or env only: it may hold a password)", ptr: func(c *Config) any { return &c.Store.PostgresDSN }, noFlag: true},
	{key: "store.postgres_schema", def: "ward", usage: "PostgreSQL schema for Ward's tables", ptr: func(c *Config) any { return &c.Store.PostgresSchema }},
	{key: "store.postgres_urgent_conns", kind: kInt, def: "2", usage: "PostgreSQL connections kept for containment (revoke, retire, quarantine, their audit entries and the CRL), opened when first needed, besides the routine pool: a flood of routine writes holding every routine connection cannot delay them; keep nodes x (pool + this) under the server's max_connections", ptr: func(c *Config) any { return &c.Store.PostgresUrgentConns }},
	{key: "bus.nats_url", usage: "NATS URL that joins this node to a cluster sharing one PostgreSQL store (file or env only)", ptr: func(c *Config) any { return &c.Bus.NATSURL }, noFlag: true},
	{key: "bus.namespace", def: "ward", usage: "prefix of Ward's NATS subjects and streams", ptr: func(c *Config) any { return &c.Bus.Namespace }},
	{key: "audit.interval", kind: kDuration, def: "1h", usage: "how often the fleet audit runs (also on demand: ward audit run)", ptr: func(c *Config) any { return &c.Audit.Interval }},
	{key: "audit.anchor_interval", kind: kDuration, def: "1m", usage: "how often the audit log's head is signed into audit-anchors.jsonl besides after every append", ptr: func(c *Config) any { return &c.Audit.AnchorInterval }},
	{key: "detect.retention", kind: kDuration, def: "168h", usage: "how long per-device metric windows are kept", ptr: func(c *Config) any { return &c.Detect.Retention }},
	{key: "detect.grace", kind: kDuration, def: "15s", usage: "cluster: how long after a window's end the detect leader waits for every gateway node's batches (late ones are evaluated with the next window); at most half of detect.window", ptr: func(c *Config) any { return &c.Detect.Grace }},
	{key: "detect.spool_bytes", kind: kInt, def: "67108864", usage: "cluster: bytes of window batches a gateway node keeps while NATS is unreachable; past it further windows are merged (counts kept, per-window detail lost)", ptr: func(c *Config) any { return &c.Detect.SpoolBytes }},
	{key: "update.timestamp_expiry", kind: kDuration, def: "24h", usage: "lifetime of the TUF timestamp the server signs (12h to 168h, shorter than update.snapshot_expiry); the server re-signs it once half is left, and devices stop updating when it expires", ptr: func(c *Config) any { return &c.Update.TimestampExpiry }},
	{key: "update.snapshot_expiry", kind: kDuration, def: "168h", usage: "lifetime of the TUF snapshot (96h to 8760h, shorter than update.targets_expiry); re-signed by the server like the timestamp", ptr: func(c *Config) any { return &c.Update.SnapshotExpiry }},
	{key: "update.targets_expiry", kind: kDuration, def: "2160h", usage: "lifetime of the TUF targets and each model's delegated role (720h to 8760h, shorter than update.root_expiry); re-signed when firmware is published", ptr: func(c *Config) any { return &c.Update.TargetsExpiry }},
	{key: "update.root_expiry", kind: kDuration, def: "8760h", usage: "lifetime of the TUF root (1440h to 87600h); re-signed at each key rotation (ward update keys rotate)", ptr: func(c *Config) any { return &c.Update.RootExpiry }},
	{key: "detect.workers", kind: kInt, def: "2", usage: "cluster: detector workers on this node consuming the gateway nodes' window batches", ptr: func(c *Config) any { return &c.Detect.Workers }},
}

func envName(key string) string {
	return "WARD_" + strings.ToUpper(strings.NewReplacer(".", "_").Replace(key))
}

func flagName(s setting) string {
	if s.flag != "" {
		return s.flag
	}
	return strings.NewReplacer(".", "-", "_", "-").Replace(s.key)
}

// flagAnnotation marks the flags RegisterFlags adds, with the setting's
// key: Load reads only those, so a command's own flag of the same name
// (ward update keys rotate --role) is never taken for a setting.
const flagAnnotation = "ward-config-key"

// RegisterFlags adds one flag per setting (plus --config) to fs. A
// setting whose flag name the command already uses for its own flag gets
// no flag there (its file and environment forms still apply).
func RegisterFlags(fs *pflag.FlagSet) {
	fs.String("config", "", "YAML configuration file (env WARD_CONFIG)")
	for _, s := range settings {
		if s.noFlag || fs.Lookup(flagName(s)) != nil {
			continue
		}
		usage := fmt.Sprintf("%s (config %s, env %s)", s.usage, s.key, envName(s.key))
		switch s.kind {
		case kStrings:
			fs.StringSlice(flagName(s), nil, usage)
		case kBool:
			fs.Bool(flagName(s), s.def == "true", usage)
		default:
			fs.String(flagName(s), s.def, usage)
		}
		_ = fs.SetAnnotation(flagName(s), flagAnnotation, []string{s.key}) // the flag was just added
	}
}

func set(c *Config, s setting, raw string, source string) error {
	bad := func(err error, hint string) error {
		return &Error{Key: s.key, Source: source, Err: err, Hint: hint}
	}
	switch p := s.ptr(c).(type) {
	case *string:
		*p = raw
	case *Secret:
		*p = Secret(raw)
	case *[]string:
		var out []string
		for _, v := range strings.Split(raw, ",") {
			if v = strings.TrimSpace(v); v != "" {
				out = append(out, v)
			}
		}
		*p = out
	case *time.Duration:
		d, err := time.ParseDuration(raw)
		if err != nil || d < 0 {
			return bad(fmt.Errorf("invalid duration %q", raw), `use a duration such as "90s", "5m" or "24h"`)
		}
		*p = d
	case *int:
		n, err := strconv.Atoi(raw)
		if err != nil || n < 0 {
			return bad(fmt.Errorf("invalid number %q", raw), "use a non-negative whole number")
		}
		*p = n
	case *float64:
		f, err := strconv.ParseFloat(raw, 64)
		if err != nil || f < 0 {
			return bad(fmt.Errorf("invalid number %q", raw), "use a non-negative number")
		}
		*p = f
	case *bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return bad(fmt.Errorf("invalid boolean %q", raw), "use true or false")
		}
		*p = b
	}
	c.sources[s.key] = source
	return nil
}

// Load builds the configuration from defaults, the file (--config or
// WARD_CONFIG), the environment and the flags that were set in fs.
func Load(fs *pflag.FlagSet, environ []string) (*Config, error) {
	c := &Config{sources: map[string]string{}}
	for _, s := range settings {
		if err := set(c, s, s.def, "default"); err != nil {
			return nil, err
		}
	}
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	path := env["WARD_CONFIG"]
	if fs != nil {
		if f := fs.Lookup("config"); f != nil && f.Changed {
			path = f.Value.String()
		}
	}
	if path != "" {
		if err := c.loadFile(path); err != nil {
			return nil, err
		}
	}
	known := map[string]bool{"WARD_CONFIG": true, "WARD_CA_PASSPHRASE": true}
	for _, s := range settings {
		known[envName(s.key)] = true
		if v, ok := env[envName(s.key)]; ok {
			if err := set(c, s, v, "env "+envName(s.key)); err != nil {
				return nil, err
			}
		}
	}
	for k := range env {
		// Client-side variables belong to the CLI, test ones to wardtest.
		if strings.HasPrefix(k, "WARD_") && !known[k] && !clientEnv[k] && !strings.HasPrefix(k, "WARD_TEST_") {
			return nil, &Error{Key: k, Source: "environment", Err: errors.New("unknown WARD_ variable"), Hint: "see ward serve --help for the settings"}
		}
	}
	if fs != nil {
		for _, s := range settings {
			if s.noFlag {
				continue
			}
			f := fs.Lookup(flagName(s))
			if f == nil || !f.Changed || f.Annotations[flagAnnotation] == nil {
				continue
			}
			v := f.Value.String()
			if s.kind == kStrings {
				ss, _ := fs.GetStringSlice(flagName(s))
				v = strings.Join(ss, ",")
			}
			if err := set(c, s, v, "flag --"+flagName(s)); err != nil {
				return nil, err
			}
		}
	}
	if p, ok := env["WARD_CA_PASSPHRASE"]; ok {
		c.PKI.KeyPassphrase = Secret(p)
		c.sources["pki.key_passphrase"] = "env WARD_CA_PASSPHRASE"
	} else if c.PKI.KeyPassphraseFile != "" {
		b, err := os.ReadFile(c.PKI.KeyPassphraseFile)
		if err != nil {
			return nil, &Error{Key: "pki.key_passphrase_file", Source: c.sources["pki.key_passphrase_file"], Err: err}
		}
		c.PKI.KeyPassphrase = Secret(strings.TrimRight(string(b), "\r\n"))
		c.sources["pki.key_passphrase"] = "file " + c.PKI.KeyPassphraseFile
	}
	return c, c.validate()
}

// clientEnv are the CLI's variables, allowed in the server's environment.
var clientEnv = map[string]bool{"WARD_SERVER": true, "WARD_TOKEN": true, "WARD_CA": true}

func (c *Config) loadFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return &Error{Key: "config", Source: "flag/env", Err: err, Hint: "check the --config path"}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return &Error{Key: "config", Source: path, Err: err, Hint: "the file must be YAML"}
	}
	if len(root.Content) == 0 {
		return nil
	}
	byKey := map[string]setting{}
	for _, s := range settings {
		byKey[s.key] = s
	}
	var walk func(n *yaml.Node, prefix string) error
	walk = func(n *yaml.Node, prefix string) error {
		if n.Kind != yaml.MappingNode {
			return &Error{Key: strings.TrimSuffix(prefix, "."), Source: fmt.Sprintf("%s:%d", path, n.Line), Err: errors.New("expected a mapping")}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			key := prefix + k.Value
			src := fmt.Sprintf("%s:%d", path, k.Line)
			if key == "notify" {
				if v.Kind != yaml.MappingNode {
					return &Error{Key: key, Source: src, Err: errors.New("expected a mapping of sinks"), Hint: "see docs/alerts.md"}
				}
				b, err := yaml.Marshal(v)
				if err != nil {
					return &Error{Key: key, Source: src, Err: err}
				}
				c.Notify = b
				c.sources["notify"] = src
				continue
			}
			if s, ok := byKey[key]; ok {
				var raw string
				switch {
				case v.Kind == yaml.SequenceNode && s.kind == kStrings:
					var parts []string
					for _, e := range v.Content {
						parts = append(parts, e.Value)
					}
					raw = strings.Join(parts, ",")
				case v.Kind == yaml.ScalarNode:
					raw = v.Value
				default:
					return &Error{Key: key, Source: src, Err: errors.New("expected a single value")}
				}
				if err := set(c, s, raw, src); err != nil {
					return err
				}
				continue
			}
			if v.Kind == yaml.MappingNode && hasPrefix(byKey, key+".") {
				if err := walk(v, key+"."); err != nil {
					return err
				}
				continue
			}
			return &Error{Key: key, Source: src, Err: errors.New("unknown setting"), Hint: "see ward serve --help for the settings"}
		}
		return nil
	}
	return walk(root.Content[0], "")
}

func hasPrefix(m map[string]setting, p string) bool {
	for k := range m {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

func (c *Config) validate() error {
	bad := func(key, msg, hint string) error {
		return &Error{Key: key, Source: c.sources[key], Err: errors.New(msg), Hint: hint}
	}
	if c.DataDir == "" {
		return bad("data_dir", "must not be empty", "")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return bad("log.level", "unknown level "+strconv.Quote(c.LogLevel), "use debug, info, warn or error")
	}
	if c.PprofAddr != "" {
		if err := profiler.CheckAddr(c.PprofAddr); err != nil {
			return &Error{Key: "pprof_addr", Source: c.sources["pprof_addr"], Err: err, Hint: "use 127.0.0.1:PORT or [::1]:PORT, and an SSH tunnel to reach it from elsewhere"}
		}
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return bad("log.format", "unknown format "+strconv.Quote(c.LogFormat), "use text or json")
	}
	if (c.PKI.CACert == "") != (c.PKI.CAKey == "") {
		return bad("pki.ca_cert", "an imported CA needs both pki.ca_cert and pki.ca_key", "give both --ca-cert and --ca-key, or neither")
	}
	if c.PKI.DeviceCertValidity < time.Hour {
		return bad("pki.device_cert_validity", "must be at least 1h", "")
	}
	if c.Enroll.TokenTTL < time.Minute || c.Enroll.TokenTTL > 2160*time.Hour {
		return bad("enroll.token_ttl", "must be between 1m and 2160h (90 days)", "")
	}
	if c.Enroll.ReenrollInterval < time.Minute {
		return bad("enroll.reenroll_interval", "must be at least 1m", "a device renews weeks before its certificate expires; 1h is the default")
	}
	if c.Enroll.MaxDeviceCerts < 2 || c.Enroll.MaxDeviceCerts > 100 {
		return bad("enroll.max_device_certs", "must be between 2 and 100", "a re-enrolling device holds its new and its superseded certificate at once")
	}
	if c.Enroll.SupersededGrace < time.Minute || c.Enroll.SupersededGrace > c.Enroll.ReenrollInterval {
		return bad("enroll.superseded_grace", "must be at least 1m and at most enroll.reenroll_interval", "")
	}
	if c.Events.Retention < time.Hour {
		return bad("events.retention", "must be at least 1h", "")
	}
	if c.Events.PerDevice < 10 {
		return bad("events.max_per_device", "must be at least 10", "")
	}
	for _, r := range []struct {
		key string
		v   float64
	}{{"est.source_rate", c.EST.SourceRate}, {"est.source_burst", float64(c.EST.SourceBurst)},
		{"est.device_attempts_per_hour", float64(c.EST.DeviceAttemptsPerHour)}, {"api.public_rate", c.API.PublicRate},
		{"api.public_burst", float64(c.API.PublicBurst)}, {"api.auth_failures_per_minute", float64(c.API.AuthFailuresPerMinute)}} {
		if r.v < 1 {
			return bad(r.key, "must be at least 1", "raise it rather than switch the limit off")
		}
	}
	if c.API.AdminTokenTTL < time.Minute || c.API.AdminTokenTTL > 365*24*time.Hour {
		return bad("api.admin_token_ttl", "must be between 1m and 8760h (one year)", "")
	}
	if c.API.SessionLifetime < 5*time.Minute || c.API.SessionLifetime > 720*time.Hour {
		return bad("api.session_lifetime", "must be between 5m and 720h (30 days)", "")
	}
	if c.API.SessionIdleTimeout < time.Minute || c.API.SessionIdleTimeout > c.API.SessionLifetime {
		return bad("api.session_idle_timeout", "must be at least 1m and at most api.session_lifetime", "")
	}
	if c.API.LoginMaxFailures < 1 || c.API.LoginMaxFailures > 100 {
		return bad("api.login_max_failures", "must be between 1 and 100", "")
	}
	if c.API.LoginLockout < time.Minute || c.API.LoginLockout > 24*time.Hour {
		return bad("api.login_lockout", "must be between 1m and 24h", "a lockout shorter than a minute does not slow guessing")
	}
	for _, v := range []struct {
		key string
		n   int
	}{{"stream.buffer", c.Stream.Buffer}, {"stream.replay", c.Stream.Replay}, {"stream.max_clients", c.Stream.MaxClients}, {"stream.max_per_principal", c.Stream.MaxPerPrincipal}} {
		if v.n < 1 {
			return bad(v.key, "must be at least 1", "")
		}
	}
	if c.Stream.Heartbeat < 10*time.Millisecond || c.Stream.Heartbeat > 30*time.Second {
		return bad("stream.heartbeat", "must be between 10ms and 30s", "proxies commonly close a connection idle for 60s, and ward --follow takes 60s of silence as a cut; 15s is the default")
	}
	if c.Gateway.MaxMessageBytes < 64 || c.Gateway.MaxMessageBytes > 256<<20 {
		return bad("gateway.max_message_bytes", "must be between 64 and 268435456", "")
	}
	for _, v := range []struct {
		key string
		n   int
	}{{"gateway.sessions_per_device", c.Gateway.SessionsPerDevice}, {"gateway.handshakes_per_address", c.Gateway.HandshakesPerAddress}, {"gateway.handshakes_per_prefix", c.Gateway.HandshakesPerPrefix}, {"gateway.subscriber_queue_bytes", c.Gateway.SubscriberQueueBytes}, {"gateway.offline_queue_bytes", c.Gateway.OfflineQueueBytes}} {
		if v.n < 1 {
			return bad(v.key, "must be at least 1", "")
		}
	}
	for _, v := range []struct {
		key string
		d   time.Duration
	}{{"gateway.delivery_wait", c.Gateway.DeliveryWait}, {"gateway.delivery_wait_qos0", c.Gateway.DeliveryWaitQoS0}} {
		if v.d < time.Millisecond || v.d > time.Minute {
			return bad(v.key, "must be between 1ms and 1m", "a publisher waits this long for a slow subscriber")
		}
	}
	if c.Store.PostgresUrgentConns < 1 || c.Store.PostgresUrgentConns > 64 {
		return bad("store.postgres_urgent_conns", "must be between 1 and 64", "one connection serves one containment at a time; 2 is the default")
	}
	if c.Bus.NATSURL != "" && c.Store.PostgresDSN == "" {
		return bad("bus.nats_url", "a cluster needs a shared store", "set store.postgres_dsn (WARD_STORE_POSTGRES_DSN) on every node too")
	}
	if i := slices.IndexFunc(Roles, func(r string) bool { return strings.EqualFold(r, c.Role) }); i >= 0 {
		c.Role = Roles[i]
	} else {
		return bad("role", suggest.Unknown("role", c.Role, Roles), "")
	}
	if c.Role != RoleAll && (c.Store.PostgresDSN == "" || c.Bus.NATSURL == "") {
		return bad("role", "role "+c.Role+" is one part of a cluster: it needs the cluster's shared PostgreSQL store and NATS bus",
			"set store.postgres_dsn and bus.nats_url (WARD_STORE_POSTGRES_DSN, WARD_BUS_NATS_URL) on every node, or run a single node with --role all")
	}
	if c.Audit.Interval < time.Minute {
		return bad("audit.interval", "must be at least 1m", "")
	}
	if c.Audit.AnchorInterval < time.Second {
		return bad("audit.anchor_interval", "must be at least 1s", "")
	}
	if c.Detect.Window < time.Second {
		return bad("detect.window", "must be at least 1s", "")
	}
	if c.Detect.Grace < 0 {
		return bad("detect.grace", "must not be negative", "")
	}
	if c.Detect.SpoolBytes < 1<<20 {
		return bad("detect.spool_bytes", "must be at least 1048576 (two batches)", "")
	}
	if c.Detect.Workers < 1 {
		return bad("detect.workers", "must be at least 1", "")
	}
	return c.validateUpdate()
}

// validateUpdate checks each update.*_expiry against its bounds and that
// timestamp < snapshot < targets < root: a role that outlives the one
// above it would be trusted after what vouches for it expired.
func (c *Config) validateUpdate() error {
	got := []time.Duration{c.Update.TimestampExpiry, c.Update.SnapshotExpiry, c.Update.TargetsExpiry, c.Update.RootExpiry}
	for i, b := range updateExpiryBounds {
		if got[i] < b.min || got[i] > b.max {
			return &Error{Key: b.key, Source: c.sources[b.key], Err: fmt.Errorf("must be between %s and %s", hours(b.min), hours(b.max))}
		}
		if i > 0 && got[i] <= got[i-1] {
			prev := updateExpiryBounds[i-1].key
			return &Error{Key: b.key, Source: c.sources[b.key], Err: fmt.Errorf("must be longer than %s (%s)", prev, hours(got[i-1])),
				Hint: "timestamp < snapshot < targets < root: raise " + b.key + " or lower " + prev}
		}
	}
	return nil
}

// hours writes d as the key's examples do ("168h", "90m").
func hours(d time.Duration) string {
	if d%time.Hour == 0 {
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	}
	return d.String()
}

// Effective lists every setting with its value (secrets redacted) and
// where it came from, for `ward config check`.
func (c *Config) Effective() []Entry {
	var out []Entry
	for _, s := range settings {
		v := s.ptr(c)
		var str string
		switch p := v.(type) {
		case *string:
			str = *p
		case *Secret:
			str = redactDSN(string(*p))
		case *[]string:
			str = strings.Join(*p, ",")
		case *time.Duration:
			str = p.String()
		case *int:
			str = strconv.Itoa(*p)
		case *float64:
			str = strconv.FormatFloat(*p, 'g', -1, 64)
		case *bool:
			str = strconv.FormatBool(*p)
		}
		out = append(out, Entry{Key: s.key, Value: str, Source: c.sources[s.key]})
	}
	if c.PKI.KeyPassphrase != "" {
		out = append(out, Entry{Key: "pki.key_passphrase", Value: c.PKI.KeyPassphrase.String(), Source: c.sources["pki.key_passphrase"]})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// Entry is one effective setting.
type Entry struct {
	Key    string `json:"key"`
	Value  string `json:"value"`
	Source string `json:"source"`
}

// redactDSN hides the password of a URL-form DSN (and any key=value
// password), keeping the rest readable for `ward config check`.
func redactDSN(dsn string) string {
	if dsn == "" {
		return ""
	}
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "REDACTED")
		}
		q := u.Query()
		if q.Has("password") {
			q.Set("password", "REDACTED")
			u.RawQuery = q.Encode()
		}
		return u.String()
	}
	return "[REDACTED]"
}

// RequestedLogFormat is the log format asked for by --log-format or
// WARD_LOG_FORMAT, read without loading the rest: ward serve reports a
// configuration it cannot load in that format. A format given only in the
// file is not seen (the file may be the broken part).
func RequestedLogFormat(fs *pflag.FlagSet, environ []string) string {
	if fs != nil {
		if f := fs.Lookup("log-format"); f != nil && f.Changed {
			return f.Value.String()
		}
	}
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, envName("log.format")+"="); ok {
			return v
		}
	}
	return "text"
}
