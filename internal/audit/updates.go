package audit

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// UpdateFacts are what Ward's TUF repository and the devices' update
// reports show: the facts behind the update provisions (ETSI EN 303 645
// 5.3, NIST IR 8259A Software Update, CRA Annex I). The server gathers
// them (package compliance); a nil Snapshot.Updates means they were not
// gathered and the update checks do not run.
type UpdateFacts struct {
	// Repository reports whether Ward holds a TUF repository (ward update
	// init has run).
	Repository bool `json:"repository"`
	// Expires is the expiry of each top-level role's current metadata
	// ("root", "targets", "snapshot", "timestamp").
	Expires map[string]time.Time `json:"expires,omitempty"`
	// Releases are, per model, its firmware releases signed in the
	// repository, oldest to newest: the last one is the latest.
	Releases map[string][]Release `json:"releases,omitempty"`
	// Reports are, per device, its latest report through a rollout.
	Reports map[string]UpdateReport `json:"reports,omitempty"`
}

// Release is one signed firmware release of a model.
type Release struct {
	Version    string    `json:"version"`
	Published  time.Time `json:"published,omitzero"`
	MinVersion string    `json:"min_version,omitempty"`
	// Notes reports whether the release carries release notes (what it
	// fixes) in its signed metadata.
	Notes bool `json:"notes"`
}

// UpdateReport is a device's latest update report: the state it reached
// in a rollout (installed, failed, …) and why.
type UpdateReport struct {
	Rollout string    `json:"rollout"`
	Version string    `json:"version"`
	State   string    `json:"state"`
	Reason  string    `json:"reason,omitempty"`
	At      time.Time `json:"at"`
}

// How long before expiry each top-level role's metadata is reported. The
// online roles are re-signed by ward serve at half their lifetime
// (timestamp 1 day, snapshot 7 days), so a timestamp with under 6 hours
// left means the re-signing has stopped; targets and root are signed
// offline and need a ceremony, so they are reported weeks ahead.
var metadataWarn = map[string]time.Duration{
	"timestamp": 6 * time.Hour,
	"snapshot":  2 * day,
	"targets":   14 * day,
	"root":      30 * day,
}

// checkUpdates runs the update checks on s.Updates.
func (a *auditor) checkUpdates() {
	u := a.s.Updates
	if u == nil {
		return
	}
	if u.Repository {
		a.checkMetadataExpiry(u)
	}
	names := make([]string, 0, len(a.models))
	for name, ms := range a.models {
		if len(ms.devices) > 0 {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		ms := a.models[name]
		head := []string{"model:" + name}
		count := plural(len(ms.devices), "device", "devices")
		rels := u.Releases[name]
		if len(rels) == 0 {
			ev := fmt.Sprintf("Ward's update repository holds no signed firmware for model %q (%s in use): Ward cannot deliver a verified update to them", name, count)
			if !u.Repository {
				ev = fmt.Sprintf("Ward has no update repository (ward update init has not run), so model %q (%s in use) has no signed update path", name, count)
			}
			a.add(CheckModelNoSignedUpdates, "", ev, a.devicesRes(head, ms.devices)...)
			continue
		}
		latest := rels[len(rels)-1]
		if !latest.Notes {
			a.add(CheckReleaseNotesMissing, "", fmt.Sprintf("the latest signed release of model %q, %s, has no release notes: operators and users are not told what it fixes", name, latest.Version), head...)
		}
		reported := false
		for _, d := range ms.devices {
			if _, ok := u.Reports[a.s.Devices[d].ID]; ok {
				reported = true
				break
			}
		}
		if !reported {
			a.add(CheckModelUpdatesUnconfirmed, "", fmt.Sprintf("model %q has %s signed (latest %s) but none of its %s has reported an update through Ward's update protocol (devices/<id>/update/status): nothing shows that they install signed updates automatically",
				name, plural(len(rels), "release", "releases"), latest.Version, count), a.devicesRes(head, ms.devices)...)
		}
		a.checkFailedUpdates(name, ms)
	}
}

// checkMetadataExpiry reports top-level metadata expired or close to it.
func (a *auditor) checkMetadataExpiry(u *UpdateFacts) {
	for _, role := range []string{"timestamp", "snapshot", "targets", "root"} {
		exp, ok := u.Expires[role]
		if !ok {
			continue
		}
		left := exp.Sub(a.now)
		switch {
		case left <= 0:
			a.add(CheckUpdateMetadataExpiring, High, fmt.Sprintf("the repository's %s metadata expired on %s (%s ago): devices refuse every update until it is re-signed",
				role, exp.UTC().Format(time.RFC3339), roundDuration(-left)), "update:"+role)
		case left <= metadataWarn[role]:
			a.add(CheckUpdateMetadataExpiring, "", fmt.Sprintf("the repository's %s metadata expires on %s (in %s; reported %s ahead)",
				role, exp.UTC().Format(time.RFC3339), roundDuration(left), roundDuration(metadataWarn[role])), "update:"+role)
		}
	}
}

// checkFailedUpdates reports, per version, the model's devices whose
// latest update failed.
func (a *auditor) checkFailedUpdates(model string, ms *modelState) {
	type group struct {
		devices []int32
		reasons []string
	}
	byVersion := map[string]*group{}
	for _, d := range ms.devices {
		r, ok := a.s.Updates.Reports[a.s.Devices[d].ID]
		if !ok || r.State != "failed" {
			continue
		}
		g := byVersion[r.Version]
		if g == nil {
			g = &group{}
			byVersion[r.Version] = g
		}
		g.devices = append(g.devices, d)
		if reason := cmp.Or(r.Reason, "no reason given"); !slices.Contains(g.reasons, reason) {
			g.reasons = append(g.reasons, reason)
		}
	}
	for v, g := range byVersion {
		slices.Sort(g.reasons)
		a.add(CheckUpdateFailed, "", fmt.Sprintf("%s of model %q failed to install firmware %s; reasons: %s",
			plural(len(g.devices), "device", "devices"), model, v, strings.Join(capList(g.reasons, 5), "; ")),
			a.devicesRes([]string{"firmware:" + model + "@" + v}, g.devices)...)
	}
}

// roundDuration formats a duration in days, or hours under two days.
func roundDuration(d time.Duration) string {
	if d >= 2*day {
		return days(d)
	}
	h := int(d.Round(time.Hour) / time.Hour)
	return plural(h, "hour", "hours")
}
