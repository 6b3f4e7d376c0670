package compliance

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/wardproject/ward/internal/audit"
	"github.com/wardproject/ward/internal/report"
	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/update"
)

// FirmwareSource lists the firmware published in Ward's TUF repository
// and when the repository's metadata expires. update.Site implements it.
type FirmwareSource interface {
	ListFirmware(ctx context.Context) ([]update.Firmware, error)
	// Expires returns each top-level role's expiry; nil before the
	// repository exists.
	Expires(ctx context.Context) (map[string]time.Time, error)
}

// Where a model's latest firmware comes from (report.ModelSummary).
const (
	LatestFromRepository = "repository" // the newest version published in the TUF repository
	LatestFromManual     = "manual"     // ward model set --latest-firmware
)

// modelsWithFirmware decodes the stored model metadata and sets each
// model's latest firmware from the repository: its newest published
// version (update.Latest), when it was published, and the publish time of
// every version (Releases, so firmware-outdated measures how far behind a
// version is). The manual value (ward model set --latest-firmware) stays
// only for a model the repository knows nothing of. It returns the
// models by name and where each one's latest firmware came from. A
// repository that cannot be read is logged and left out: the audit runs
// on what it has.
func (s *Service) modelsWithFirmware(ctx context.Context, infos map[string][]byte) (map[string]*audit.Model, map[string]string) {
	models := map[string]*audit.Model{}
	for name, b := range infos {
		var m audit.Model
		if json.Unmarshal(b, &m) == nil {
			m.Name = name
			models[name] = &m
		}
	}
	source := map[string]string{}
	for name, m := range models {
		if m.LatestFirmware != "" {
			source[name] = LatestFromManual
		}
	}
	if s.opts.Firmware == nil {
		return models, source
	}
	fws, err := s.opts.Firmware.ListFirmware(ctx)
	if err != nil {
		s.log.Warn("read the firmware repository for the audit", "err", err)
		return models, source
	}
	for name, latest := range update.Latest(fws) {
		m := models[name]
		if m == nil {
			m = &audit.Model{Name: name}
			models[name] = m
		}
		m.LatestFirmware, m.LatestFirmwareReleased = latest.Version, latest.Published
		m.Releases = map[string]time.Time{}
		for _, fw := range fws {
			if fw.Model == name && !fw.Published.IsZero() {
				m.Releases[fw.Version] = fw.Published
			}
		}
		source[name] = LatestFromRepository
	}
	return models, source
}

// reportStates are the rollout states a device reaches by reporting
// (pending, skipped and aborted are Ward's doing, not the device's).
var reportStates = []store.RolloutDeviceState{store.DeviceDownloading, store.DeviceInstalling, store.DeviceInstalled, store.DeviceFailed}

// updateFacts gathers the facts of the update checks: the repository's
// expiries and signed releases, and each device's latest update report
// from the rollouts. It returns nil (the update checks do not run) when
// the service has no repository to look at or cannot read it: an audit
// must not report "no signed updates" because a file was unreadable.
func (s *Service) updateFacts(ctx context.Context) (*audit.UpdateFacts, error) {
	if s.opts.Firmware == nil {
		return nil, nil
	}
	expires, err := s.opts.Firmware.Expires(ctx)
	if err != nil {
		s.log.Warn("read the update repository's expiries for the audit", "err", err)
		return nil, nil
	}
	fws, err := s.opts.Firmware.ListFirmware(ctx)
	if err != nil {
		s.log.Warn("read the firmware repository for the audit", "err", err)
		return nil, nil
	}
	u := &audit.UpdateFacts{Repository: expires != nil, Expires: expires, Releases: map[string][]audit.Release{}, Reports: map[string]audit.UpdateReport{}}
	update.SortFirmware(fws) // newest first, versions that cannot be ordered last
	for _, fw := range slices.Backward(fws) {
		u.Releases[fw.Model] = append(u.Releases[fw.Model], audit.Release{Version: fw.Version, Published: fw.Published, MinVersion: fw.MinVersion, Notes: fw.Notes != ""})
	}
	versions := map[string]string{} // rollout ID -> version
	f := store.RolloutDeviceFilter{States: reportStates, Limit: 1000}
	for {
		page, err := s.opts.Store.ListRolloutDevices(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("list the devices' update reports: %w", err)
		}
		for _, d := range page {
			if r, ok := u.Reports[d.DeviceID]; ok && !d.UpdatedAt.After(r.At) {
				continue
			}
			version, ok := versions[d.RolloutID]
			if !ok {
				r, err := s.opts.Store.GetRollout(ctx, d.RolloutID)
				if err != nil {
					return nil, fmt.Errorf("read rollout %s for the audit: %w", d.RolloutID, err)
				}
				version = r.Version
				versions[d.RolloutID] = version
			}
			u.Reports[d.DeviceID] = audit.UpdateReport{Rollout: d.RolloutID, Version: version, State: string(d.State), Reason: d.Reason, At: d.UpdatedAt}
		}
		if len(page) < f.Limit {
			return u, nil
		}
		f.After = page[len(page)-1].Cursor()
	}
}

// sameRelease files a device's firmware version under the release date
// of the published version it equals in another spelling (1.5 and 1.5.0,
// v1.5.0, 1.5.0+b7: update.CompareVersions), so that firmware-outdated,
// which looks versions up by their string, does not count a device on
// the latest release as behind it.
func sameRelease(m *audit.Model, firmware string) {
	if m.Releases == nil {
		return
	}
	if _, ok := m.Releases[firmware]; ok {
		return
	}
	for v, at := range m.Releases {
		if c, err := update.CompareVersions(firmware, v); err == nil && c == 0 {
			m.Releases[firmware] = at
			return
		}
	}
}

// patchLevel counts firmware versions against the latest: the same
// release (update.CompareVersions), an older one, or anything else (newer,
// or a version that cannot be ordered).
func patchLevel(latest string, firmware []string) *report.PatchLevel {
	if latest == "" {
		return nil
	}
	p := &report.PatchLevel{}
	for _, f := range firmware {
		c, err := update.CompareVersions(f, latest)
		switch {
		case f == latest || (err == nil && c == 0):
			p.OnLatest++
		case err == nil && c < 0:
			p.Behind++
		default:
			p.Other++
		}
	}
	return p
}
