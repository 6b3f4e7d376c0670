package audit

import (
	"crypto/x509"
	"time"

	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/vuln"
)

// CONTRACT between the server (which builds a Snapshot from the store, the
// CA, the gateway and the vulnerability database) and the checks (which
// turn it into findings). Written by the lead; the checks' author may add
// fields (and say so), never rename these.

// Snapshot is everything the audit checks look at, taken at one time.
type Snapshot struct {
	Now time.Time

	// CA: the root and issuing certificates.
	Root   *x509.Certificate
	Issuer *x509.Certificate
	// IssuerRevoked: the issuing CA has been revoked by its parent.
	IssuerRevoked bool

	Devices      []store.Device
	Certificates []store.Certificate // every certificate Ward issued (device and server), with DER
	Models       []Model             // model metadata (support period, latest firmware)
	// EnrollTokens are the devices' enrollment tokens (hashes never used).
	EnrollTokens []store.EnrollToken
	// Connections are, per device, what the gateway and the event log saw
	// during Window: source IPs, client IDs, certificate serials presented,
	// refusals by reason.
	Connections map[string]DeviceConnections
	// DeviceReports are the latest device-side facts (listening ports,
	// destination IPs) per device, from the detection datapoints.
	DeviceReports map[string]DeviceReport
	// NetworkServices are services the network sensor saw devices offer
	// (device -> "tcp/23"...), when it reports to the server.
	NetworkServices map[string][]string
	// Vulnerabilities are, per device, the SBOM findings for its model and
	// firmware version; Unmatched / Undecided counts per device too.
	Vulnerabilities map[string]DeviceVulns
	// Feeds are the vulnerability feeds with their import times.
	Feeds []vuln.Feed
	// Updates are the TUF repository's releases and expiries and the
	// devices' update reports (nil: not gathered; the update checks do
	// not run).
	Updates *UpdateFacts
	// Server describes Ward's own configuration.
	Server ServerFacts
	// Window is how far back Connections look (default 24h).
	Window time.Duration
}

// Model is a device model's metadata.
type Model struct {
	Name string `json:"name"`
	// SupportEnds is the end of the declared security-support period
	// (PSTI / CRA require it to be published); zero: not declared.
	SupportEnds time.Time `json:"support_ends,omitzero"`
	// LatestFirmware is the newest firmware version released for the model
	// and when it was released.
	LatestFirmware         string    `json:"latest_firmware,omitempty"`
	LatestFirmwareReleased time.Time `json:"latest_firmware_released,omitzero"`
	// Policy is the model's ACL grants and limits.
	Policy store.Policy `json:"policy"`
	// Releases are the release dates of the model's firmware versions
	// (version -> date), when known. Added by the audit checks: with it,
	// firmware-outdated measures how far a version is behind the latest;
	// without it, how long the latest has been available.
	Releases map[string]time.Time `json:"releases,omitempty"`
}

// DeviceConnections is what was seen of a device's connections.
type DeviceConnections struct {
	SourceIPs      []string       // distinct source addresses
	ClientIDs      []string       // distinct client IDs
	Serials        []string       // certificate serials presented (lower-case hex)
	Refused        map[string]int // refusal reason -> count (revoked, expired, client-id...)
	Connects       int
	LastConnection time.Time
}

// DeviceReport is the latest device-side report facts.
type DeviceReport struct {
	ListeningTCP   []int
	ListeningUDP   []int
	DestinationIPs []string
	At             time.Time
}

// DeviceVulns is a device's exposure from its SBOM.
type DeviceVulns struct {
	SBOM      bool // an SBOM exists for the device's model and firmware
	Findings  []vuln.Finding
	Undecided int
	Unmatched int
}

// ServerFacts are Ward's own settings that checks audit.
type ServerFacts struct {
	PlaintextMQTT    bool   // a plaintext MQTT listener is enabled (never in Ward; operator-declared brokers)
	PasswordAuth     bool   // password authentication is enabled on the gateway
	MinTLSVersion    uint16 // tls.VersionTLS12...
	AuditLogEnabled  bool   // the hash-chained audit trail is on
	AuditLogIntact   bool   // it verifies
	EventLogEnabled  bool   // device events are recorded
	CAKeyEncrypted   bool   // CA keys encrypted at rest
	MaxMessageBytes  int
	ConnectsPerMin   int
	TokenTTL         time.Duration
	DeviceCertMaxAge time.Duration // configured device certificate lifetime
}

// Severity of a finding.
type Severity string

// Finding severities.
const (
	Info     Severity = "info"
	Low      Severity = "low"
	Medium   Severity = "medium"
	High     Severity = "high"
	Critical Severity = "critical"
)

// Finding is one audit result. JSON field names are a contract
// (`ward audit run --output json`).
type Finding struct {
	Check       string   `json:"check"`     // check id, e.g. "device-cert-expiring"
	Title       string   `json:"title"`     // one line for people
	Severity    Severity `json:"severity"`  //
	Resources   []string `json:"resources"` // e.g. "device:sensor-17", "certificate:4a..", "model:acme-th1", "server"
	Evidence    string   `json:"evidence"`
	Remediation string   `json:"remediation"`
	Standards   []string `json:"standards"` // provision ids, e.g. "ETSI EN 303 645 5.3-1", "NIST IR 8259A Software Update", "CRA Annex I Part I (2)(c)"
	// Stored fields (set by the server's finding store).
	ID         string    `json:"id,omitempty"`
	FirstSeen  time.Time `json:"first_seen,omitzero"`
	LastSeen   time.Time `json:"last_seen,omitzero"`
	ResolvedAt time.Time `json:"resolved_at,omitzero"`
	Suppressed bool      `json:"suppressed,omitempty"`
}
