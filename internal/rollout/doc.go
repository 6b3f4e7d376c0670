// Package rollout runs staged firmware rollouts: it orders a model's
// devices to install a release signed in Ward's TUF repository, wave by
// wave, and halts by itself when the release hurts.
//
// # A rollout
//
// ward rollout create --model acme-th1 --version 1.5.0 --waves 1%,10%,50%,100%
// --max-failure 2% --halt-on-alerts high --soak 10m creates one. The
// release must be a target of the TUF repository (<data-dir>/tuf) whose
// custom fields name that model and version.
//
// Population. The devices of the model whose status is active. Pending
// devices have never run anything Ward knows of; quarantined devices are
// cut off on purpose (a restricted one may be remediated by hand with its
// own rollout after release); revoked and retired ones are out of the
// fleet. All of these are excluded, not recorded. Of the population, a
// device already at or above the version is recorded as skipped ("already
// current"), as is a device below the release's min_version (the agent
// would refuse it as a rollback risk; it needs an intermediate release
// first). A device whose version cannot be ordered (update.CompareVersions)
// is ordered anyway: its agent decides.
//
// Waves. The devices to update are ordered by SHA-256(rollout ID "/"
// device ID), which is deterministic, stable across restarts and different
// for every rollout (the same devices are not always the canaries). Wave k
// holds the devices up to its cumulative percentage of them, rounded up,
// and at least one device while any remain. Skipped devices are recorded
// in wave 1 and count in no wave's shares.
//
// Per-device states: pending, downloading (the agent's "verified" too),
// installing, installed, failed with the agent's reason, skipped, aborted.
// A report only moves a device forward (the store's conditional updates),
// so a late "downloading" never overwrites "installed" and an aborted
// device stays aborted. On installed, the device's firmware field in the
// registry becomes the version, so the audit sees it patched, and a
// firmware-updated device event records the change.
//
// # Gates
//
// A wave advances when installed devices are at least (100 − max-failure) %
// of its devices (skipped and aborted ones aside) and the soak time has
// passed since its last install, and none of its updated devices has
// failed to come back. The rollout halts by itself when:
//   - failed devices in the current wave exceed max-failure %;
//   - an alert at or above --halt-on-alerts is raised (or updated) on a
//     device that installed the release in the current wave or within the
//     soak time (the engine subscribes to the alert manager, as package
//     respond does);
//   - a device reported installed, then went offline and did not connect
//     again within the soak time ("bricked"). A device that stays connected
//     after its report is online.
//
// Operators pause (no orders, no advance; reports are still recorded),
// resume (the gates are checked again at once: to go on despite a failed
// gate, use next), abort (pending devices become aborted and get no
// orders) and next (start the next wave now, whatever the gates say).
// Every transition — create, wave start, halt with its reason, pause,
// resume, abort, next, complete — is appended to the hash-chained audit
// trail.
//
// # Orders and reports
//
// An order is an update.Order published at QoS 1 on the device's
// devices/<id>/update/cmd through gateway.PublishOrder, the one topic of a
// device's tree only Ward may publish on. A device offline during its wave
// gets the order again when it subscribes to that topic after connecting
// (the gateway's ObsSubscribed observation; a subscription that mochi
// restores with a persistent session gets the queued order). Reports are
// update.Status messages taken from the gateway's ObsPublished
// observations on the device's own devices/<id>/update/status: the
// identity is the gateway's (the device's verified certificate; on a
// cluster the bus message carries that identity beside the report's
// opaque bytes), so a device cannot report for another, and a report naming a rollout the
// device is not in, or another version, or sent before its wave started
// (no order was sent to it), changes nothing.
//
// # Scale
//
// The engine handles its inputs on one goroutine, in order, through a
// bounded queue (on a cluster: the bus's work queue, fed from a bounded
// queue on each node). A full queue refuses a device's QoS 1/2 status
// report before the gateway acknowledges it, so the device sends it again
// (ward_rollout_reports_refused_total, gateway.PublishHolder), and drops
// and counts anything else (ward_rollout_dropped_total): a dropped
// subscription is recovered by the device's next connection, a QoS 0
// report by its next one. Create reads the whole device
// registry once; each gate check reads the rollout's per-wave counts (one
// grouped query) and its installed devices (for the bricked gate). Both
// are fine for the fleets Ward runs today; for millions of devices the
// population should be read by model and the bricked gate should read
// only the devices whose soak ends, which the store's filter does not
// express yet.
//
// # Time and ownership
//
// The clock is injected (Options.Now); Run checks the gates every
// Options.Interval and after every report, and tests call Evaluate after
// moving their clock. One engine runs per server, and its state is in the
// store: a restarted server resumes its rollouts where they stood.
//
// On a cluster (Options.Bus, issue 13), every node's engine takes the
// operators' actions, whose changes are conditional in the shared store,
// and forwards what it observes (a gateway node's device observations,
// any node's alerts) over the bus; only the engine of the "rollouts"
// leader runs Run, which checks the gates and handles those inputs, at
// least once. Its orders fan out to every gateway node. A new leader
// resumes from the store and takes the inputs the old one left
// unacknowledged. cluster.go says how, and what happens while NATS is
// down.
package rollout
