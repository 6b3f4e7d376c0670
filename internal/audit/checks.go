package audit

import "slices"

// Scope says what a check's findings are about, which decides how they
// count towards the share of devices passing a provision in [Score].
type Scope string

// Check scopes.
const (
	// ScopeDevice findings name the affected devices as "device:"
	// resources (model- and firmware-level findings list their devices).
	ScopeDevice Scope = "device"
	// ScopeFleet findings are about the server or the CA and affect every
	// device.
	ScopeFleet Scope = "fleet"
	// ScopeProcess findings are about the operator's processes (feeds,
	// logs of the server itself); they affect no device directly.
	ScopeProcess Scope = "process"
)

// Check ids. They are stable: stored findings, suppressions and reports
// refer to them.
const (
	CheckCACertExpiring        = "ca-cert-expiring"
	CheckCACertWeakKey         = "ca-cert-weak-key"
	CheckIssuerRevoked         = "issuer-revoked-active-certs"
	CheckCAKeyUnencrypted      = "ca-key-unencrypted"
	CheckDeviceCertExpiring    = "device-cert-expiring"
	CheckDeviceCertExpired     = "device-cert-expired"
	CheckDeviceCertAge         = "device-cert-age"
	CheckDeviceCertValidity    = "device-cert-validity-too-long"
	CheckDeviceCertWeakKey     = "device-cert-weak-key"
	CheckDeviceCertShared      = "device-cert-shared"
	CheckDeviceCertManySources = "device-cert-many-sources"
	CheckRevokedCertConnecting = "revoked-cert-connecting"
	CheckServerCertExpiring    = "server-cert-expiring"
	CheckServerCertWeakKey     = "server-cert-weak-key"
	CheckACLOverlyPermissive   = "acl-overly-permissive"
	CheckPasswordAuth          = "password-auth-enabled"
	CheckPlaintextMQTT         = "plaintext-mqtt-listener"
	CheckTLSVersion            = "tls-below-1.2"
	CheckAuditLogDisabled      = "audit-log-disabled"
	CheckAuditLogBroken        = "audit-log-broken"
	CheckEventLogDisabled      = "event-log-disabled"
	CheckMessageSizeUnlimited  = "message-size-unlimited"
	CheckConnectRateUnlimited  = "connect-rate-unlimited"
	CheckEnrollTokenTTL        = "enroll-token-ttl-long"
	CheckDeviceNotSeen         = "device-not-seen"
	CheckDeviceNeverEnrolled   = "device-never-enrolled"
	CheckEnrollTokenExpired    = "enroll-token-expired-unused"
	CheckClientIDConflict      = "client-id-conflict"
	CheckInsecureService       = "insecure-service"
	CheckDefaultCredential     = "default-credential-indicator"
	CheckFirmwareVulnerable    = "firmware-vulnerable"
	CheckKEVExposure           = "kev-exposure"
	CheckFirmwareOutdated      = "firmware-outdated"
	CheckModelSupportEnded     = "model-support-ended"
	CheckModelSupportEnding    = "model-support-ending"
	CheckModelNoSupportPeriod  = "model-no-support-period"
	CheckSBOMMissing           = "sbom-missing"
	CheckSBOMCoverage          = "sbom-coverage-gap"
	CheckVulnFeedStale         = "vuln-feed-stale"
	CheckVulnFeedMissing       = "vuln-feed-missing"

	CheckModelNoSignedUpdates    = "model-no-signed-updates"
	CheckModelUpdatesUnconfirmed = "model-updates-unconfirmed"
	CheckUpdateFailed            = "device-update-failed"
	CheckUpdateMetadataExpiring  = "update-metadata-expiring"
	CheckReleaseNotesMissing     = "release-notes-missing"
)

// Check describes one audit check.
type Check struct {
	ID       string   `json:"id"`
	Title    string   `json:"title"`
	Severity Severity `json:"severity"` // usual severity; see the package doc
	Scope    Scope    `json:"scope"`
	// Description says what the check looks at and why it matters.
	Description string `json:"description"`
	Remediation string `json:"remediation"`
	// Standards are the provision ids the check assesses.
	Standards []string `json:"standards"`
	// AWS is the AWS IoT Device Defender Audit check it corresponds to,
	// if any.
	AWS string `json:"aws,omitempty"`
}

// Checks returns every check, ordered by id. The result is a fresh copy.
func Checks() []Check {
	out := make([]Check, len(catalog))
	for i, c := range catalog {
		c.Standards = slices.Clone(c.Standards)
		out[i] = c
	}
	slices.SortFunc(out, func(a, b Check) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return out
}

// LookupCheck returns the check with the given id.
func LookupCheck(id string) (Check, bool) {
	c, ok := checkByID[id]
	if !ok {
		return Check{}, false
	}
	c.Standards = slices.Clone(c.Standards)
	return *c, true
}

func e(refs ...string) []string { return prefixed(prefixETSI, refs) }
func n(refs ...string) []string { return prefixed(prefixNIST, refs) }
func c(refs ...string) []string { return prefixed(prefixCRA, refs) }

func prefixed(p string, refs []string) []string {
	out := make([]string, len(refs))
	for i, r := range refs {
		out[i] = p + r
	}
	return out
}

func std(lists ...[]string) []string { return slices.Clip(slices.Concat(lists...)) }

const (
	p1a = "Annex I Part I (2)(a)"
	p1b = "Annex I Part I (2)(b)"
	p1c = "Annex I Part I (2)(c)"
	p1d = "Annex I Part I (2)(d)"
	p1e = "Annex I Part I (2)(e)"
	p1f = "Annex I Part I (2)(f)"
	p1h = "Annex I Part I (2)(h)"
	p1i = "Annex I Part I (2)(i)"
	p1j = "Annex I Part I (2)(j)"
	p1l = "Annex I Part I (2)(l)"

	nID   = "Device Identification"
	nConf = "Device Configuration"
	nData = "Data Protection"
	nIfc  = "Logical Access to Interfaces"
	nSW   = "Software Update"
	nCSA  = "Cybersecurity State Awareness"
)

var catalog = []Check{
	{ID: CheckCACertExpiring, Title: "CA certificate expiring", Severity: High, Scope: ScopeFleet, AWS: "CA_CERTIFICATE_EXPIRING_CHECK",
		Description: "The root or issuing CA certificate expires within the CA threshold (default 90 days) or has expired. When it expires every device certificate it signed stops verifying and the whole fleet is locked out.",
		Remediation: "Plan the CA rollover now: issue a new CA certificate (ward ca rotate), distribute the new trust anchor to devices and the gateway, and re-issue device certificates before the old CA expires.",
		Standards:   std(e("5.5-8", "5.9-1"), n(nID), c(p1d, p1h))},
	{ID: CheckCACertWeakKey, Title: "CA certificate has a weak key or signature", Severity: High, Scope: ScopeFleet, AWS: "CA_CERTIFICATE_KEY_QUALITY_CHECK",
		Description: "The root or issuing CA certificate uses an RSA key below 2048 bits, an elliptic curve below 256 bits, DSA, or (for the issuing CA) a SHA-1 or MD5 signature. Anyone who breaks the CA key can mint device identities.",
		Remediation: "Create a new CA with an ECDSA P-256 (or stronger) key signed with SHA-256 or better, and re-issue every device certificate under it.",
		Standards:   std(e("5.5-1", "5.5-8"), n(nID, nData), c(p1d, p1e))},
	{ID: CheckIssuerRevoked, Title: "Issuing CA revoked while its device certificates are active", Severity: Critical, Scope: ScopeFleet, AWS: "INTERMEDIATE_CA_REVOKED_FOR_ACTIVE_DEVICE_CERTIFICATES_CHECK",
		Description: "The issuing (intermediate) CA has been revoked by its parent, but device certificates it signed are still unrevoked and unexpired. Relying parties that check revocation refuse those devices; ones that do not trust a compromised CA.",
		Remediation: "Re-enroll the affected devices under a new issuing CA and revoke their old certificates; find out why the issuing CA was revoked.",
		Standards:   std(e("5.5-8"), n(nID), c(p1d))},
	{ID: CheckCAKeyUnencrypted, Title: "CA private key not encrypted at rest", Severity: High, Scope: ScopeFleet,
		Description: "The CA's private key is stored without encryption. Whoever reads the file (a backup, a stolen disk, a compromised host) can issue trusted device and server certificates.",
		Remediation: "Encrypt the CA key with a passphrase (pki.key_passphrase_file) or move it to an HSM/KMS, keep the file mode 0600, and rotate the CA if the plaintext key may have been copied.",
		Standards:   std(e("5.4-1", "5.5-8"), n(nData), c(p1e))},
	{ID: CheckDeviceCertExpiring, Title: "Device certificate expiring", Severity: Medium, Scope: ScopeDevice, AWS: "DEVICE_CERTIFICATE_EXPIRING_CHECK",
		Description: "The device's current certificate expires within the threshold (default 30 days) and no newer certificate has been issued. The device will be refused by the gateway when it expires.",
		Remediation: "Check that the device renews over EST (/simplereenroll) and that its clock is right; renew it manually if automatic renewal is failing.",
		Standards:   std(e("5.5-8", "5.9-1"), n(nID), c(p1h))},
	{ID: CheckDeviceCertExpired, Title: "Active device with an expired certificate", Severity: High, Scope: ScopeDevice,
		Description: "An active or quarantined device's newest unrevoked certificate has expired: the device can no longer connect and cannot renew over EST with it.",
		Remediation: "Re-enroll the device with a new enrollment token (ward device enroll-token), or revoke and retire it if it is gone.",
		Standards:   std(e("5.5-8", "5.9-1"), n(nID), c(p1d, p1h))},
	{ID: CheckDeviceCertAge, Title: "Device certificate older than policy", Severity: Low, Scope: ScopeDevice, AWS: "DEVICE_CERTIFICATE_AGE_CHECK",
		Description: "The device's current certificate was issued longer ago than the maximum age (default 365 days). Long-lived keys give more time to extract and misuse them.",
		Remediation: "Renew the device's certificate with a new key (EST /simplereenroll with a fresh CSR) and shorten the certificate lifetime so renewal happens on its own.",
		Standards:   std(e("5.5-8"), n(nID), c(p1d))},
	{ID: CheckDeviceCertValidity, Title: "Device certificate validity longer than policy", Severity: Medium, Scope: ScopeDevice,
		Description: "The device's current certificate is valid for longer than the configured device certificate lifetime (pki.device_cert_lifetime, or 398 days when unset), typically because it was issued under an older policy or by another CA.",
		Remediation: "Re-issue the certificate under the current policy and revoke the long-lived one.",
		Standards:   std(e("5.5-8"), n(nID), c(p1d))},
	{ID: CheckDeviceCertWeakKey, Title: "Device certificate has a weak key or signature", Severity: High, Scope: ScopeDevice, AWS: "DEVICE_CERTIFICATE_KEY_QUALITY_CHECK",
		Description: "An unrevoked, unexpired device certificate has an RSA key below 2048 bits, an elliptic curve below 256 bits, a DSA key, or a SHA-1/MD5 signature.",
		Remediation: "Have the device generate a new ECDSA P-256 key and re-enroll; revoke the weak certificate.",
		Standards:   std(e("5.5-1", "5.4-4"), n(nID, nData), c(p1d, p1e))},
	{ID: CheckDeviceCertShared, Title: "Device certificate or key shared by several devices", Severity: Critical, Scope: ScopeDevice, AWS: "DEVICE_CERTIFICATE_SHARED_CHECK",
		Description: "The same public key is certified for several devices, or a device presented a certificate issued to another device. Credentials are not unique per device: one extraction compromises them all, and the gateway cannot tell the devices apart.",
		Remediation: "Give every device its own key pair generated on the device (or in its secure element); re-enroll the devices named and revoke the shared certificates.",
		Standards:   std(e("5.4-4", "5.4-3"), n(nID), c(p1d))},
	{ID: CheckDeviceCertManySources, Title: "Device certificate used from many source addresses", Severity: Medium, Scope: ScopeDevice, AWS: "DEVICE_CERTIFICATE_SHARED_CHECK",
		Description: "One device's certificate was presented from more distinct source IP addresses in the audit window than the threshold (default 5). It may be copied to other hosts, or the device roams between networks.",
		Remediation: "Check whether the addresses are expected (mobile networks, NAT pools); if not, quarantine the device, revoke its certificate and re-enroll it with a new key.",
		Standards:   std(e("5.4-4", "5.10-1"), n(nID, nCSA), c(p1d))},
	{ID: CheckRevokedCertConnecting, Title: "Revoked certificate still trying to connect", Severity: High, Scope: ScopeDevice, AWS: "REVOKED_DEVICE_CERTIFICATE_STILL_ACTIVE_CHECK",
		Description: "The gateway refused connections made with a revoked certificate, or saw a revoked serial presented, during the audit window. A revoked credential is still in use by the device or by someone holding its key.",
		Remediation: "Find the host presenting the certificate (see the refused events' remote_addr), re-enroll the legitimate device with a new key, and block the source if it is not yours.",
		Standards:   std(e("5.5-8", "5.10-1"), n(nID, nCSA), c(p1d))},
	{ID: CheckServerCertExpiring, Title: "Server certificate expiring", Severity: High, Scope: ScopeFleet,
		Description: "The newest certificate for one of Ward's server names (MQTT gateway, EST, API) expires within the threshold (default 30 days). Devices will refuse the server when it expires.",
		Remediation: "Renew the server certificate (ward serve renews at two thirds of its life; check the logs for renewal errors) and reload the listeners.",
		Standards:   std(e("5.5-1", "5.9-1"), n(nData), c(p1e, p1h))},
	{ID: CheckServerCertWeakKey, Title: "Server certificate has a weak key or signature", Severity: High, Scope: ScopeFleet,
		Description: "An unrevoked, unexpired server certificate has an RSA key below 2048 bits, an elliptic curve below 256 bits, a DSA key, or a SHA-1/MD5 signature.",
		Remediation: "Issue a new server certificate with an ECDSA P-256 key and revoke the weak one.",
		Standards:   std(e("5.5-1"), n(nData), c(p1e))},
	{ID: CheckACLOverlyPermissive, Title: "Overly permissive topic grants", Severity: High, Scope: ScopeDevice, AWS: "IOT_POLICY_OVERLY_PERMISSIVE_CHECK",
		Description: "A model or device policy grants topic filters beyond the device's own tree devices/{id}/#: '#', a leading '+', other devices' trees (devices/+/..., devices/#) or $-topics such as $SYS/#. The gateway refuses cross-device and $ topics at run time, but the grant shows a policy that does not follow least privilege and '#' still opens every shared topic.",
		Remediation: "Replace the wildcard grants with the exact topics the devices need (for example fleet/{model}/config), using {id} for per-device topics.",
		Standards:   std(e("5.6-7"), n(nIfc, nConf), c(p1d, p1j))},
	{ID: CheckPasswordAuth, Title: "Password authentication enabled on the gateway", Severity: High, Scope: ScopeFleet,
		Description: "The MQTT gateway accepts username/password authentication. Passwords are shared, guessable and phishable secrets; device identity should come only from the verified client certificate.",
		Remediation: "Disable password authentication (gateway.password_auth: false) and enroll the devices that still use it with certificates.",
		Standards:   std(e("5.1-1", "5.1-3"), n(nID, nIfc), c(p1d))},
	{ID: CheckPlaintextMQTT, Title: "Plaintext MQTT listener enabled", Severity: High, Scope: ScopeFleet,
		Description: "An MQTT listener without TLS (typically port 1883) is enabled. Messages and any credentials travel in clear and can be modified in transit.",
		Remediation: "Remove the plaintext listener; devices connect on MQTT over TLS (8883) with their certificates.",
		Standards:   std(e("5.5-1", "5.5-7", "5.8-1"), n(nData, nIfc), c(p1e, p1f))},
	{ID: CheckTLSVersion, Title: "TLS versions below 1.2 allowed", Severity: High, Scope: ScopeFleet,
		Description: "The gateway's minimum TLS version is below 1.2. TLS 1.0 and 1.1 are deprecated (RFC 8996).",
		Remediation: "Set the minimum TLS version to 1.2 (Ward's default) or 1.3.",
		Standards:   std(e("5.5-1", "5.8-1"), n(nData), c(p1e))},
	{ID: CheckAuditLogDisabled, Title: "Audit trail disabled", Severity: High, Scope: ScopeProcess, AWS: "LOGGING_DISABLED_CHECK",
		Description: "The hash-chained audit trail of operator actions (enrollments, revocations, policy changes) is off, so changes to the fleet cannot be attributed or proven.",
		Remediation: "Enable the audit trail (audit.enabled: true) and ship it to storage the operators cannot modify.",
		Standards:   std(n(nCSA), c(p1f, p1l))},
	{ID: CheckAuditLogBroken, Title: "Audit trail fails verification", Severity: Critical, Scope: ScopeProcess,
		Description: "The audit trail's hash chain does not verify: records were changed, removed or inserted after they were written.",
		Remediation: "Treat as a possible incident: find what fails (ward audit log --verify: the whole trail against its signed checkpoints), compare with the off-host copy, and investigate who had write access to the store.",
		Standards:   std(n(nCSA), c(p1f, p1l))},
	{ID: CheckEventLogDisabled, Title: "Device event log disabled", Severity: Medium, Scope: ScopeFleet, AWS: "LOGGING_DISABLED_CHECK",
		Description: "Device events (connections, refusals, limit hits) are not recorded, so anomalies cannot be examined and several audit checks have no data.",
		Remediation: "Enable the device event log (events.enabled: true) with a retention that covers your investigation window.",
		Standards:   std(e("5.10-1"), n(nCSA), c(p1l))},
	{ID: CheckMessageSizeUnlimited, Title: "No maximum MQTT message size", Severity: Low, Scope: ScopeFleet,
		Description: "The gateway sets no maximum message size, so one device can exhaust the broker's memory.",
		Remediation: "Set gateway.max_message_bytes (and per-model limits where needed).",
		Standards:   std(e("5.13-1", "5.9-1"), c(p1h, p1i))},
	{ID: CheckConnectRateUnlimited, Title: "No connection rate limit", Severity: Low, Scope: ScopeFleet,
		Description: "The gateway does not limit connections per device per minute, so a misbehaving or cloned device can reconnect in a tight loop.",
		Remediation: "Set gateway.connects_per_minute (a few per minute is plenty for healthy devices).",
		Standards:   std(e("5.1-5", "5.9-3"), c(p1h, p1i))},
	{ID: CheckEnrollTokenTTL, Title: "Enrollment tokens live too long", Severity: Low, Scope: ScopeFleet,
		Description: "Enrollment tokens are valid for longer than 7 days; a leaked token lets anyone enroll as the device until it is used or expires.",
		Remediation: "Lower fleet.enroll_token_ttl (24h is typical) and issue tokens just before provisioning.",
		Standards:   std(e("5.5-8"), n(nID), c(p1d))},
	{ID: CheckDeviceNotSeen, Title: "Device not seen recently", Severity: Low, Scope: ScopeDevice,
		Description: "An active device has not connected for longer than the threshold (default 30 days), or has never connected since it was enrolled. It receives no updates, and its credentials stay valid while nobody watches it.",
		Remediation: "Find the device; if it is retired, revoke its certificate (ward device revoke) so its credentials cannot be reused.",
		Standards:   std(e("5.10-1"), n(nCSA), c(p1c))},
	{ID: CheckDeviceNeverEnrolled, Title: "Device registered but never enrolled", Severity: Low, Scope: ScopeDevice,
		Description: "A device has been pending (registered, no certificate) for longer than the threshold (default 14 days).",
		Remediation: "Finish provisioning the device or delete the registration; revoke its enrollment token.",
		Standards:   std(e("5.5-8"), n(nID), c(p1d))},
	{ID: CheckEnrollTokenExpired, Title: "Enrollment token expired unused", Severity: Info, Scope: ScopeDevice,
		Description: "An enrollment token expired without being used: the device was never provisioned, or provisioning failed.",
		Remediation: "Issue a new token when the device is ready to enroll, or delete the device registration.",
		Standards:   std(e("5.5-8"), n(nID))},
	{ID: CheckClientIDConflict, Title: "Conflicting MQTT client IDs", Severity: Medium, Scope: ScopeDevice, AWS: "CONFLICTING_CLIENT_IDS_CHECK",
		Description: "One MQTT client ID was used by several devices, a device used more distinct client IDs than the threshold (default 3), or the gateway refused a device's client ID. Devices fighting over a client ID disconnect each other; many client IDs suggest a copied credential.",
		Remediation: "Make devices use their device ID as the MQTT client ID (Ward's default policy) and investigate devices with many client IDs as possibly cloned.",
		Standards:   std(e("5.10-1"), n(nID, nCSA), c(p1d))},
	{ID: CheckInsecureService, Title: "Insecure network service exposed", Severity: High, Scope: ScopeDevice,
		Description: "The device listens on a service that is insecure by design or rarely needed in production: Telnet (23, 2323), FTP (21), TFTP (69/udp), rsh/rlogin/rexec (512-514), UPnP/SSDP (1900/udp), SNMP (161/udp), Android Debug Bridge (5555), TR-069/CWMP (7547) or a plaintext MQTT broker (1883), as reported by the device or seen by the network sensor.",
		Remediation: "Disable the service in the firmware build (or the device configuration); if it is needed for servicing, bind it to a local interface and require authentication.",
		Standards:   std(e("5.6-1", "5.6-5", "5.5-4"), n(nIfc, nConf), c(p1b, p1j))},
	{ID: CheckDefaultCredential, Title: "Default-credential indicator", Severity: High, Scope: ScopeDevice,
		Description: "The device exposes an interface that is the usual route for default or universal credentials: Telnet (23, 2323, the Mirai botnet's entry) or an Android Debug Bridge (5555) that accepts unauthenticated shells. Ward cannot try passwords; an open service of this kind is the indicator.",
		Remediation: "Disable the interface, or make sure its password is unique per device or set by the user, and audit the device for compromise (unexpected destination IPs, new processes).",
		Standards:   std(e("5.1-1", "5.1-2"), n(nIfc), c(p1b, p1d))},
	{ID: CheckFirmwareVulnerable, Title: "Firmware with known vulnerabilities", Severity: High, Scope: ScopeDevice,
		Description: "The SBOM of the device's model and firmware version contains components with known vulnerabilities (OSV). The finding summarises them by severity and CISA KEV status; its severity follows the worst (critical when any is actively exploited).",
		Remediation: "Update the device to a firmware version whose components include the fixed versions (ward vuln list --device shows each fix); prioritise KEV entries.",
		Standards:   std(e("5.2-3", "5.3-8"), n(nSW, nCSA), c(p1a, "Annex I Part II (2)"))},
	{ID: CheckKEVExposure, Title: "Actively exploited vulnerability in the fleet", Severity: Critical, Scope: ScopeDevice,
		Description: "Devices run firmware with a vulnerability listed in CISA's Known Exploited Vulnerabilities catalogue. Under the CRA an actively exploited vulnerability in a product needs an early warning to the CSIRT and ENISA within 24 hours of becoming aware (Article 14(2)(a)).",
		Remediation: "Update or isolate the affected devices first; if you are the manufacturer, send the Article 14 early warning within 24 hours, the notification within 72 hours and the final report within 14 days of a fix.",
		Standards:   std(e("5.2-2", "5.3-8"), n(nSW, nCSA), c(p1a, "Annex I Part II (2)", "Article 14(1)", "Article 14(2)(a)"))},
	{ID: CheckFirmwareOutdated, Title: "Firmware behind the model's latest release", Severity: Medium, Scope: ScopeDevice,
		Description: "Devices run a firmware version released longer before the model's latest firmware than the threshold (default 180 days), or, when the version's release date is unknown, the latest firmware has been available that long and they have not taken it.",
		Remediation: "Roll the latest firmware out to these devices (ward rollout create --model M --version V) and check why they did not update.",
		Standards:   std(e("5.3-8", "5.3-4"), n(nSW), c(p1c, "Annex I Part II (7)", "Annex I Part II (8)"))},
	{ID: CheckModelSupportEnded, Title: "Model past its support period", Severity: High, Scope: ScopeDevice,
		Description: "The model's declared security-support period has ended: its devices no longer receive security updates.",
		Remediation: "Replace the devices, isolate them on a restricted network, or obtain extended support from the manufacturer.",
		Standards:   std(e("5.3-13", "5.3-8"), n(nSW), c(p1c, "Article 13(8)"))},
	{ID: CheckModelSupportEnding, Title: "Model support period ends soon", Severity: Info, Scope: ScopeDevice,
		Description: "The model's declared security-support period ends within the threshold (default 180 days).",
		Remediation: "Plan the devices' replacement or an extension of support before the end date.",
		Standards:   std(e("5.3-13"), c("Article 13(8)"))},
	{ID: CheckModelNoSupportPeriod, Title: "Model has no declared support period", Severity: Medium, Scope: ScopeDevice,
		Description: "The model's metadata declares no end of security support (or the model has no metadata). ETSI EN 303 645, the UK PSTI Act and the CRA require the support period to be published.",
		Remediation: "Obtain the support period from the manufacturer and record it (ward model set --support-ends YYYY-MM-DD).",
		Standards:   std(e("5.3-13"), c("Article 13(8)", "Annex II (7)"))},
	{ID: CheckModelNoSignedUpdates, Title: "Model without signed firmware updates", Severity: Medium, Scope: ScopeDevice,
		Description: "Devices of a model are in use but Ward's TUF repository holds no signed firmware release for the model (or Ward has no update repository). Nothing can deliver these devices an update whose authenticity and integrity they verify against keys they trust.",
		Remediation: "Initialise the update repository (ward update init, or the offline key ceremony in docs/updates.md) and publish the model's firmware (ward firmware publish --model M --version V FILE); run ward agent or an equivalent TUF client on the devices.",
		Standards:   std(e("5.3-1", "5.3-2", "5.3-7", "5.3-9", "5.3-10"), n(nSW), c(p1c, p1f, "Annex I Part II (7)"))},
	{ID: CheckModelUpdatesUnconfirmed, Title: "No device of a model has reported an update", Severity: Low, Scope: ScopeDevice,
		Description: "A model has signed firmware releases, but none of its devices has ever reported an update through Ward's update protocol (devices/<id>/update/status): there is no evidence that the devices take updates automatically, nor that applying one is simple (a rollout) rather than a visit to each device.",
		Remediation: "Run ward agent (or a TUF client that speaks Ward's update protocol) on the devices and roll the latest release out with ward rollout create; a device that cannot be updated remotely needs a documented replacement plan.",
		Standards:   std(e("5.3-2", "5.3-3", "5.3-4"), n(nSW), c("Annex I Part II (7)"))},
	{ID: CheckUpdateFailed, Title: "Firmware update failed on devices", Severity: Medium, Scope: ScopeDevice,
		Description: "The latest update reported by these devices failed (download, verification, a refused rollback or another model's firmware, or the install command): they still run the old firmware and its vulnerabilities.",
		Remediation: "Read the reasons (ward rollout show ID), fix the cause (storage, network, install command, a bad release), and retry with a new rollout; investigate verification failures as possible tampering.",
		Standards:   std(e("5.3-8"), n(nSW), c(p1c, "Annex I Part II (2)"))},
	{ID: CheckUpdateMetadataExpiring, Title: "Update metadata expiring or expired", Severity: Medium, Scope: ScopeFleet,
		Description: "A top-level role's metadata in Ward's TUF repository has expired or expires soon (timestamp within 6 hours, snapshot 2 days, targets 14 days, root 30 days). Devices refuse expired metadata, so every update stops (a freeze attack looks the same), and an expiring root or targets needs the offline keys.",
		Remediation: "Check that ward serve re-signs timestamp and snapshot (its log, ward_update_resign_failures_total, /healthz) or run ward update resign; re-sign targets and root with the offline keys (ward update sign --dir DIR) before they expire.",
		Standards:   std(e("5.3-7", "5.3-10"), n(nSW), c(p1c, "Annex I Part II (7)"))},
	{ID: CheckReleaseNotesMissing, Title: "Latest firmware release has no release notes", Severity: Low, Scope: ScopeDevice,
		Description: "The latest signed release of a model carries no release notes in its metadata: operators and users are not told which vulnerabilities it fixes or why it is needed.",
		Remediation: "Publish releases with --notes (what is fixed, CVE ids, whether installing disrupts the device) and import the release's SBOM (--sbom) so the audit can show what it fixes.",
		Standards:   std(e("5.3-11"), c("Annex I Part II (4)", "Annex I Part II (8)"))},
	{ID: CheckSBOMMissing, Title: "No SBOM for a model's firmware", Severity: Medium, Scope: ScopeDevice,
		Description: "No software bill of materials has been imported for a model and firmware version running in the fleet, so its exposure to known vulnerabilities is unknown.",
		Remediation: "Obtain the SBOM (CycloneDX or SPDX JSON) from the manufacturer or generate it from the image, and import it (ward sbom import --model M --firmware V FILE).",
		Standards:   std(e("5.2-3"), n(nCSA), c("Annex I Part II (1)"))},
	{ID: CheckSBOMCoverage, Title: "SBOM components that could not be checked", Severity: Low, Scope: ScopeDevice,
		Description: "Components of a model's firmware SBOM could not be matched against advisories (no purl, CPE only, unsupported ecosystem) or their status could not be decided (no distribution release, GIT range without a commit).",
		Remediation: "Ask for an SBOM with package URLs (including the distro qualifier for OS packages) or fix the generator's configuration; ward vuln list shows the components.",
		Standards:   std(c("Annex I Part II (1)"))},
	{ID: CheckVulnFeedStale, Title: "Vulnerability feed out of date", Severity: Medium, Scope: ScopeProcess,
		Description: "A vulnerability feed (OSV ecosystem or the CISA KEV catalogue) was last imported longer ago than the threshold (default 7 days); newer advisories are not being matched.",
		Remediation: "Import the current feed (ward advisories import, ward kev import), on a schedule where the site is air-gapped.",
		Standards:   std(e("5.2-3"), n(nCSA), c("Annex I Part II (1)", "Annex I Part II (3)"))},
	{ID: CheckVulnFeedMissing, Title: "Vulnerability feed never imported", Severity: High, Scope: ScopeProcess,
		Description: "No OSV advisories, or no CISA KEV catalogue, have ever been imported: vulnerabilities cannot be found, or cannot be flagged as actively exploited for the CRA early warning.",
		Remediation: "Import the OSV data for your firmware's ecosystems and the KEV catalogue (ward advisories import, ward kev import).",
		Standards:   std(e("5.2-3"), n(nCSA), c("Annex I Part II (1)", "Article 14(1)"))},
}

var checkByID = func() map[string]*Check {
	m := make(map[string]*Check, len(catalog))
	for i := range catalog {
		m[catalog[i].ID] = &catalog[i]
	}
	return m
}()
