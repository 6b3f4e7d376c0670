package compliance

import (
	"context"
	"encoding/json"
	"time"

	"github.com/wardproject/ward/internal/audit"
	"github.com/wardproject/ward/internal/report"
	"github.com/wardproject/ward/internal/update"
)

// FirmwareSource lists the firmware published in Ward's TUF repository.
// update.Site implements it.
type FirmwareSource interface {
	ListFirmware(ctx context.Context) ([]update.Firmware, error)
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
