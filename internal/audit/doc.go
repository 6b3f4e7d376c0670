// Package audit checks a snapshot of a Ward fleet against security best
// practice and maps what it finds onto the provisions of ETSI EN 303 645
// v2.1.1, NIST IR 8259A and the EU Cyber Resilience Act (Regulation (EU)
// 2024/2847). It is a pure library: the server builds the [Snapshot] from
// the store, the CA, the gateway and the vulnerability database, persists
// the findings (first seen, last seen, resolved, suppressions) and
// schedules runs; rendering reports is package report's job.
//
// # Checks
//
// [Run] evaluates every check in [Checks] against a [Snapshot] and returns
// the findings in a deterministic order: severity (critical first), then
// check id, then first resource, then evidence. It does no I/O and starts
// no goroutines; a fleet of a million devices audits in a few seconds
// (BenchmarkAudit1M). Checks cover what AWS IoT Device Defender Audit
// checks on a self-hosted fleet (each [Check] names its Device Defender
// equivalent) and more: the CA and device certificates (expiry, age,
// validity, key quality, sharing, revocation), the gateway's
// configuration (password authentication, plaintext listeners, TLS floor,
// audit and event logs, CA key at rest, limits), ACL grants, device
// lifecycle (unseen, never enrolled, stale enrollment tokens, client ID
// conflicts), services the devices expose, and firmware (known
// vulnerabilities, CISA KEV exposure, outdated firmware, support periods,
// missing SBOMs, stale vulnerability feeds).
//
// Every finding's first resource is its subject ("device:d-1",
// "certificate:4a…", "model:acme-th1", "firmware:acme-th1@1.2.0",
// "vulnerability:CVE-2023-4911", "ca:issuer", "server", "feed:kev");
// further "device:" resources are the devices affected. The server keys
// stored findings by check id and first resource.
//
// A check's severity is its usual severity; a finding may be raised above
// it (an expired certificate is worse than an expiring one) or, for
// per-device vulnerability summaries, follow the worst vulnerability.
//
// Certificate keys are read from the DER with a small parser of the
// SubjectPublicKeyInfo and signature algorithm (certkey.go) rather than
// crypto/x509: the audit needs only the algorithm, key size and a hash of
// the key, and x509.ParseCertificate validates the whole certificate and
// its key material, which costs several times more at a million devices.
//
// # Standards and scores
//
// [Standards] is the provision table of each supported standard, as data;
// every check lists the provision ids it assesses ("ETSI EN 303 645
// 5.3-13", "NIST IR 8259A Software Update", "CRA Annex I Part I (2)(a)").
// [Score] turns findings into a [Scorecard] per standard: a provision that
// no check assesses is "not-assessed"; an assessed provision fails when an
// open (neither resolved nor suppressed) finding above info severity maps
// to it, and passes otherwise. docs/compliance.md describes the checks and
// the scoring.
package audit
