package store

import (
	"context"
	"time"
)

// SBOMRecord is an imported SBOM of one model's firmware version.
type SBOMRecord struct {
	Model      string    `json:"model"`
	Firmware   string    `json:"firmware"`
	Format     string    `json:"format"` // "CycloneDX 1.5", "SPDX-2.3"
	Source     string    `json:"source"` // file name given at import
	Components int       `json:"components"`
	ImportedAt time.Time `json:"imported_at"`
	Data       []byte    `json:"-"`
}

// AdvisoryRecord is a stored OSV record (raw JSON).
type AdvisoryRecord struct {
	ID         string
	Source     string
	ImportedAt time.Time
	Data       []byte
}

// FindingRecord is a stored audit finding. Key identifies it across runs
// (check + resources); the JSON is the audit package's Finding.
type FindingRecord struct {
	Key        string
	Check      string
	Severity   string
	FirstSeen  time.Time
	LastSeen   time.Time
	ResolvedAt time.Time
	JSON       []byte
}

// Suppression hides findings of a check (for one resource or all, when
// Resource is empty) until it expires; a reason is required.
type Suppression struct {
	ID        string    `json:"id"`
	Check     string    `json:"check"`
	Resource  string    `json:"resource,omitempty"`
	Reason    string    `json:"reason"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// TrendPoint is the count of open findings by severity at one time.
type TrendPoint struct {
	Time   time.Time      `json:"time"`
	Counts map[string]int `json:"counts"`
}

// Compliance is the contract for the fleet's security audit: the SBOMs of
// each model's firmware, the advisories they are matched against, model
// information, the findings of each audit run, their suppressions and the
// trend of open findings.
type Compliance interface {
	// PutSBOM stores a model firmware's SBOM, replacing the one stored
	// for the same model and firmware.
	PutSBOM(ctx context.Context, s SBOMRecord) error
	// GetSBOM returns one SBOM with its data, ErrNotFound when absent.
	GetSBOM(ctx context.Context, model, firmware string) (SBOMRecord, error)
	// ListSBOMs returns every SBOM without its Data, ordered by model and
	// firmware.
	ListSBOMs(ctx context.Context) ([]SBOMRecord, error)

	// PutAdvisories stores advisories, replacing by ID, in one
	// transaction.
	PutAdvisories(ctx context.Context, as []AdvisoryRecord) error
	// EachAdvisory calls fn for every stored advisory, ordered by ID; fn's
	// error stops the walk and is returned.
	EachAdvisory(ctx context.Context, fn func(AdvisoryRecord) error) error

	// PutModelInfo stores (replacing) a model's metadata document.
	PutModelInfo(ctx context.Context, name string, data []byte) error
	// ListModelInfo returns every model's metadata document by name.
	ListModelInfo(ctx context.Context) (map[string][]byte, error)

	// PutFindings stores the findings of one audit run at now: new keys
	// are inserted (FirstSeen now), known keys updated (LastSeen now; a
	// resolved one reopens with FirstSeen now), and active findings whose
	// key is absent are marked resolved at now.
	PutFindings(ctx context.Context, fs []FindingRecord, now time.Time) error
	// ListFindings returns the active findings, and the resolved ones too
	// when includeResolved, ordered by check and key.
	ListFindings(ctx context.Context, includeResolved bool) ([]FindingRecord, error)
	// PutSuppression stores a suppression, replacing one with the same ID.
	PutSuppression(ctx context.Context, s Suppression) error
	// ListSuppressions returns every suppression, expired ones included,
	// oldest first (then by ID).
	ListSuppressions(ctx context.Context) ([]Suppression, error)
	// DeleteSuppression removes a suppression by ID, ErrNotFound when
	// there is none.
	DeleteSuppression(ctx context.Context, id string) error
	// AddTrendPoint records the open findings' counts by severity at a
	// time, replacing a point recorded at the same time.
	AddTrendPoint(ctx context.Context, at time.Time, counts map[string]int) error
	// ListTrend returns the trend points at or after since, oldest first.
	ListTrend(ctx context.Context, since time.Time) ([]TrendPoint, error)
}
