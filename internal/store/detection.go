package store

import (
	"context"
	"time"
)

// AlertRecord is a stored alert: the alert as JSON plus the fields that
// are queried. The alert package owns the JSON's shape.
type AlertRecord struct {
	ID        string
	DeviceID  string
	Rule      string
	State     string
	Severity  string
	RaisedAt  time.Time
	UpdatedAt time.Time
	JSON      []byte
}

// AlertFilter selects alerts; zero fields match everything.
type AlertFilter struct {
	DeviceID   string
	Rule       string
	States     []string
	Severities []string  // any of these
	Since      time.Time // raised at or after
	Limit      int       // default 1000
}

// MetricWindow is one device's metrics over one closed window.
type MetricWindow struct {
	DeviceID string
	Window   time.Duration
	Start    time.Time
	JSON     []byte // the detect package's datapoint
}

// Detection is the contract for anomaly detection's state: alerts, the
// per-device metric windows the detectors learn from, and small named
// documents (detection profiles, learned models).
type Detection interface {
	// PutAlert inserts an alert, or updates the state, severity, update
	// time and JSON of the alert with its ID (device, rule and raise time
	// are kept).
	PutAlert(ctx context.Context, a AlertRecord) error
	// PutAlerts does PutAlert for each of as, in order, in one
	// transaction (all or none): the detect engine's alerts of one window.
	PutAlerts(ctx context.Context, as []AlertRecord) error
	// GetAlert returns one alert, ErrNotFound when it is unknown.
	GetAlert(ctx context.Context, id string) (AlertRecord, error)
	// ListAlerts returns the alerts f selects, newest raised first (then
	// by ID), at most f.Limit (<= 0: 1000).
	ListAlerts(ctx context.Context, f AlertFilter) ([]AlertRecord, error)
	// CountAlerts returns how many alerts are in each state and severity,
	// counts[state][severity], counted in the database (no limit); a
	// state or severity with no alert is absent.
	CountAlerts(ctx context.Context) (map[string]map[string]int, error)

	// AddMetricWindows stores closed windows, replacing a window (device,
	// size, start) stored twice.
	AddMetricWindows(ctx context.Context, ws []MetricWindow) error
	// ListMetricWindows returns a device's windows of one size that start
	// at or after since, oldest first.
	ListMetricWindows(ctx context.Context, deviceID string, window time.Duration, since time.Time) ([]MetricWindow, error)
	// DeleteMetricWindowsBefore deletes the windows of one size that
	// start before before (retention) and returns how many.
	DeleteMetricWindowsBefore(ctx context.Context, window time.Duration, before time.Time) (int64, error)

	// GetBlob and PutBlob keep small named documents (detection profiles,
	// learned models). GetBlob returns ErrNotFound when absent; PutBlob
	// replaces.
	GetBlob(ctx context.Context, name string) ([]byte, error)
	PutBlob(ctx context.Context, name string, data []byte) error

	// PutPartialBatch stores one gateway node's batch of partial
	// datapoints. Storing a batch whose (Node, WindowEnd, Seq) is already
	// stored keeps the first and returns nil: a redelivered batch is not
	// counted twice, and a later batch cannot overwrite an earlier one.
	PutPartialBatch(ctx context.Context, b PartialBatch) error
	// CountPartialBatches returns, for every node and window end at or
	// before through, how many of its batches are stored and how many it
	// shipped, ordered by window end then node.
	CountPartialBatches(ctx context.Context, through time.Time) ([]PartialCount, error)
	// ListPartialBatches returns every stored batch with a window end at
	// or before through, ordered by window end, node and seq.
	ListPartialBatches(ctx context.Context, through time.Time) ([]PartialBatch, error)
	// CommitEvaluatedWindow stores what the detect leader made of one
	// window in one transaction, all or nothing: the metric windows
	// (as AddMetricWindows), the documents (as PutBlob) and the deletion
	// of the batches it evaluated (as DeletePartialBatches). A leader
	// that dies before it returns leaves every batch to the next leader
	// and none of its results; once it returned, no batch is evaluated
	// twice.
	CommitEvaluatedWindow(ctx context.Context, w EvaluatedWindow) error
	// DeletePartialBatches deletes the batches with the keys (Node,
	// WindowEnd, Seq) of bs; Batches and Data are ignored, and unknown
	// keys are not an error. It returns how many it deleted.
	DeletePartialBatches(ctx context.Context, bs []PartialBatch) (int64, error)
}

// PartialBatch is one gateway node's batch of partial datapoints of one
// base window, as the detector workers store it until the detect leader
// evaluates the window. The detect package owns Data's encoding.
type PartialBatch struct {
	Node      string
	WindowEnd time.Time
	Seq       int // 0-based number of the batch in the node's window
	Batches   int // how many batches the node shipped for the window
	Data      []byte
}

// EvaluatedWindow is what the detect leader stores of one evaluated
// window (CommitEvaluatedWindow).
type EvaluatedWindow struct {
	Windows []MetricWindow
	Blobs   map[string][]byte
	// Batches are the evaluated batches, deleted by key.
	Batches []PartialBatch
}

// PartialCount is how many of one node's batches of one window are
// stored, and how many it shipped.
type PartialCount struct {
	Node      string
	WindowEnd time.Time
	Stored    int
	Batches   int
}
