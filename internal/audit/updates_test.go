package audit

import (
	"strings"
	"testing"
	"time"
)

// updateFindings runs the audit on s and keeps the update checks' findings.
func updateFindings(s *Snapshot) []Finding {
	var out []Finding
	for _, f := range Run(s, Options{}) {
		switch f.Check {
		case CheckModelNoSignedUpdates, CheckModelUpdatesUnconfirmed, CheckUpdateFailed, CheckUpdateMetadataExpiring, CheckReleaseNotesMissing:
			out = append(out, f)
		}
	}
	return out
}

func TestUpdateChecks(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(s *Snapshot)
		want   []string // check: evidence substring
	}{
		{"clean fleet", func(*Snapshot) {}, nil},
		{"facts not gathered: the update checks do not run", func(s *Snapshot) { s.Updates = nil }, nil},
		{"no repository at all", func(s *Snapshot) { s.Updates = &UpdateFacts{} },
			[]string{CheckModelNoSignedUpdates + `: ward update init has not run), so model "acme-th1" (3 devices in use)`}},
		{"timestamp with 7 hours left is fine", func(s *Snapshot) { s.Updates.Expires["timestamp"] = s.Now.Add(7 * time.Hour) }, nil},
		{"timestamp with 5 hours left: re-signing stopped", func(s *Snapshot) { s.Updates.Expires["timestamp"] = s.Now.Add(5 * time.Hour) },
			[]string{CheckUpdateMetadataExpiring + ": timestamp metadata expires on"}},
		{"targets expired", func(s *Snapshot) { s.Updates.Expires["targets"] = s.Now.Add(-3 * day) },
			[]string{CheckUpdateMetadataExpiring + ": targets metadata expired on 2026-02-26T00:00:00Z (3 days ago)"}},
		{"expiries are not judged without a repository", func(s *Snapshot) {
			s.Updates.Repository = false
			s.Updates.Expires["timestamp"] = s.Now.Add(-day)
		}, nil},
		{"latest release without notes; an older one without notes does not count", func(s *Snapshot) {
			s.Updates.Releases["acme-th1"] = []Release{{Version: "2.0.0"}, {Version: "2.0.1"}}
		}, []string{CheckReleaseNotesMissing + `: model "acme-th1", 2.0.1, has no release notes`}},
		{"old release without notes only", func(s *Snapshot) {
			s.Updates.Releases["acme-th1"][0].Notes = false
		}, nil},
		{"no device of the model ever reported", func(s *Snapshot) { s.Updates.Reports = nil },
			[]string{CheckModelUpdatesUnconfirmed + `: model "acme-th1" has 2 releases signed (latest 2.0.1) but none of its 3 devices`}},
		{"a failed update is reported per version with its reasons", func(s *Snapshot) {
			s.Updates.Reports["d-good-2"] = UpdateReport{Rollout: "r2", Version: "2.0.1", State: "failed", Reason: "rollback refused"}
			s.Updates.Reports["d-good-3"] = UpdateReport{Rollout: "r2", Version: "2.0.1", State: "failed"}
		}, []string{CheckUpdateFailed + `: 2 devices of model "acme-th1" failed to install firmware 2.0.1; reasons: no reason given; rollback refused`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := cleanFleet(t)
			tc.change(s)
			got := updateFindings(s)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d update findings, want %d: %+v", len(got), len(tc.want), got)
			}
			for i, w := range tc.want {
				check, sub, _ := strings.Cut(w, ": ")
				if got[i].Check != check || !strings.Contains(got[i].Evidence, sub) {
					t.Errorf("finding %d = %s: %q; want %s containing %q", i, got[i].Check, got[i].Evidence, check, sub)
				}
			}
		})
	}
}
