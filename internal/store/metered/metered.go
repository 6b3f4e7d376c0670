// Package metered times every call of a store.Store: it is a decorator
// that wraps a backend (store/sqlite or store/postgres) and records
// ward_store_operation_duration_seconds{backend,op}, op being the method's
// name (a fixed set, one per method of the contracts). The methods below
// are all alike, one line of timing around the call, written out because
// Go has no other way to implement an interface of this size; the
// compile-time check in metered_test.go keeps the set complete.
package metered

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/wardproject/ward/internal/store"
)

// Store is a store.Store whose every call is timed.
type Store struct {
	next     store.Store
	backend  string
	duration *prometheus.HistogramVec
}

// New wraps s; backend names it in the metric ("sqlite", "postgres").
// reg nil: the metric is not registered.
func New(s store.Store, backend string, reg prometheus.Registerer) *Store {
	return &Store{next: s, backend: backend,
		duration: promauto.With(reg).NewHistogramVec(prometheus.HistogramOpts{Name: "ward_store_operation_duration_seconds",
			Help:    "Store call latency, by backend and operation (the store.Store method).",
			Buckets: []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5}},
			[]string{"backend", "op"})}
}

// observe records one call of op that began at began.
func (s *Store) observe(op string, began time.Time) {
	s.duration.WithLabelValues(s.backend, op).Observe(time.Since(began).Seconds()) // wall time for a latency metric, not logic
}

// Close closes the backend.
func (s *Store) Close() error { return s.next.Close() }

// AddEvents times Store.AddEvents.
func (s *Store) AddEvents(ctx context.Context, a1 []store.Event) error {
	defer s.observe("AddEvents", time.Now())
	return s.next.AddEvents(ctx, a1)
}

// AddMetricWindows times Store.AddMetricWindows.
func (s *Store) AddMetricWindows(ctx context.Context, a1 []store.MetricWindow) error {
	defer s.observe("AddMetricWindows", time.Now())
	return s.next.AddMetricWindows(ctx, a1)
}

// AddTrendPoint times Store.AddTrendPoint.
func (s *Store) AddTrendPoint(ctx context.Context, a1 time.Time, a2 map[string]int) error {
	defer s.observe("AddTrendPoint", time.Now())
	return s.next.AddTrendPoint(ctx, a1, a2)
}

// AppendAudit times Store.AppendAudit.
func (s *Store) AppendAudit(ctx context.Context, a1 store.AuditEntry) (store.AuditEntry, error) {
	defer s.observe("AppendAudit", time.Now())
	return s.next.AppendAudit(ctx, a1)
}

// AttemptLogin times Store.AttemptLogin.
func (s *Store) AttemptLogin(ctx context.Context, a1 string, a2 time.Time, a3 int, a4 time.Duration) (store.User, bool, error) {
	defer s.observe("AttemptLogin", time.Now())
	return s.next.AttemptLogin(ctx, a1, a2, a3, a4)
}

// CountAlerts times Store.CountAlerts.
func (s *Store) CountAlerts(ctx context.Context) (map[string]map[string]int, error) {
	defer s.observe("CountAlerts", time.Now())
	return s.next.CountAlerts(ctx)
}

// CountDevices times Store.CountDevices.
func (s *Store) CountDevices(ctx context.Context) (map[store.DeviceStatus]int, error) {
	defer s.observe("CountDevices", time.Now())
	return s.next.CountDevices(ctx)
}

// CountRolloutDevices times Store.CountRolloutDevices.
func (s *Store) CountRolloutDevices(ctx context.Context, a1 string) ([]store.WaveCount, error) {
	defer s.observe("CountRolloutDevices", time.Now())
	return s.next.CountRolloutDevices(ctx, a1)
}

// CreateDevice times Store.CreateDevice.
func (s *Store) CreateDevice(ctx context.Context, a1 store.Device) error {
	defer s.observe("CreateDevice", time.Now())
	return s.next.CreateDevice(ctx, a1)
}

// CreateDevices times Store.CreateDevices.
func (s *Store) CreateDevices(ctx context.Context, a1 []store.Device, a2 []store.EnrollToken) error {
	defer s.observe("CreateDevices", time.Now())
	return s.next.CreateDevices(ctx, a1, a2)
}

// CreateRollout times Store.CreateRollout.
func (s *Store) CreateRollout(ctx context.Context, a1 store.Rollout, a2 []store.RolloutDevice) error {
	defer s.observe("CreateRollout", time.Now())
	return s.next.CreateRollout(ctx, a1, a2)
}

// CreateSession times Store.CreateSession.
func (s *Store) CreateSession(ctx context.Context, a1 store.Session) error {
	defer s.observe("CreateSession", time.Now())
	return s.next.CreateSession(ctx, a1)
}

// CreateUser times Store.CreateUser.
func (s *Store) CreateUser(ctx context.Context, a1 store.User) error {
	defer s.observe("CreateUser", time.Now())
	return s.next.CreateUser(ctx, a1)
}

// DeleteDevice times Store.DeleteDevice.
func (s *Store) DeleteDevice(ctx context.Context, a1 string) error {
	defer s.observe("DeleteDevice", time.Now())
	return s.next.DeleteDevice(ctx, a1)
}

// DeleteSuppression times Store.DeleteSuppression.
func (s *Store) DeleteSuppression(ctx context.Context, a1 string) error {
	defer s.observe("DeleteSuppression", time.Now())
	return s.next.DeleteSuppression(ctx, a1)
}

// DeleteMetricWindowsBefore times Store.DeleteMetricWindowsBefore.
func (s *Store) DeleteMetricWindowsBefore(ctx context.Context, a1 time.Duration, a2 time.Time) (int64, error) {
	defer s.observe("DeleteMetricWindowsBefore", time.Now())
	return s.next.DeleteMetricWindowsBefore(ctx, a1, a2)
}

// EachAdvisory times Store.EachAdvisory.
func (s *Store) EachAdvisory(ctx context.Context, a1 func(store.AdvisoryRecord) error) error {
	defer s.observe("EachAdvisory", time.Now())
	return s.next.EachAdvisory(ctx, a1)
}

// EachValidDeviceCertificate times Store.EachValidDeviceCertificate.
func (s *Store) EachValidDeviceCertificate(ctx context.Context, a1 time.Time, a2 func(store.Certificate) error) error {
	defer s.observe("EachValidDeviceCertificate", time.Now())
	return s.next.EachValidDeviceCertificate(ctx, a1, a2)
}

// EnrollDevice times Store.EnrollDevice.
func (s *Store) EnrollDevice(ctx context.Context, a1 store.Enrollment) (store.Outcome, error) {
	defer s.observe("EnrollDevice", time.Now())
	return s.next.EnrollDevice(ctx, a1)
}

// GetAPIToken times Store.GetAPIToken.
func (s *Store) GetAPIToken(ctx context.Context, a1 string) (store.APIToken, error) {
	defer s.observe("GetAPIToken", time.Now())
	return s.next.GetAPIToken(ctx, a1)
}

// GetAlert times Store.GetAlert.
func (s *Store) GetAlert(ctx context.Context, a1 string) (store.AlertRecord, error) {
	defer s.observe("GetAlert", time.Now())
	return s.next.GetAlert(ctx, a1)
}

// GetBlob times Store.GetBlob.
func (s *Store) GetBlob(ctx context.Context, a1 string) ([]uint8, error) {
	defer s.observe("GetBlob", time.Now())
	return s.next.GetBlob(ctx, a1)
}

// GetCertificate times Store.GetCertificate.
func (s *Store) GetCertificate(ctx context.Context, a1 string) (store.Certificate, error) {
	defer s.observe("GetCertificate", time.Now())
	return s.next.GetCertificate(ctx, a1)
}

// GetDevice times Store.GetDevice.
func (s *Store) GetDevice(ctx context.Context, a1 string) (store.Device, error) {
	defer s.observe("GetDevice", time.Now())
	return s.next.GetDevice(ctx, a1)
}

// GetEnrollToken times Store.GetEnrollToken.
func (s *Store) GetEnrollToken(ctx context.Context, a1 string) (store.EnrollToken, error) {
	defer s.observe("GetEnrollToken", time.Now())
	return s.next.GetEnrollToken(ctx, a1)
}

// GetRollout times Store.GetRollout.
func (s *Store) GetRollout(ctx context.Context, a1 string) (store.Rollout, error) {
	defer s.observe("GetRollout", time.Now())
	return s.next.GetRollout(ctx, a1)
}

// GetRolloutDevice times Store.GetRolloutDevice.
func (s *Store) GetRolloutDevice(ctx context.Context, a1 string, a2 string) (store.RolloutDevice, error) {
	defer s.observe("GetRolloutDevice", time.Now())
	return s.next.GetRolloutDevice(ctx, a1, a2)
}

// GetSBOM times Store.GetSBOM.
func (s *Store) GetSBOM(ctx context.Context, a1 string, a2 string) (store.SBOMRecord, error) {
	defer s.observe("GetSBOM", time.Now())
	return s.next.GetSBOM(ctx, a1, a2)
}

// GetSession times Store.GetSession.
func (s *Store) GetSession(ctx context.Context, a1 string) (store.Session, error) {
	defer s.observe("GetSession", time.Now())
	return s.next.GetSession(ctx, a1)
}

// GetUser times Store.GetUser.
func (s *Store) GetUser(ctx context.Context, a1 string) (store.User, error) {
	defer s.observe("GetUser", time.Now())
	return s.next.GetUser(ctx, a1)
}

// ListAPITokens times Store.ListAPITokens.
func (s *Store) ListAPITokens(ctx context.Context) ([]store.APIToken, error) {
	defer s.observe("ListAPITokens", time.Now())
	return s.next.ListAPITokens(ctx)
}

// ListAlerts times Store.ListAlerts.
func (s *Store) ListAlerts(ctx context.Context, a1 store.AlertFilter) ([]store.AlertRecord, error) {
	defer s.observe("ListAlerts", time.Now())
	return s.next.ListAlerts(ctx, a1)
}

// ListAudit times Store.ListAudit.
func (s *Store) ListAudit(ctx context.Context, a1 int) ([]store.AuditEntry, error) {
	defer s.observe("ListAudit", time.Now())
	return s.next.ListAudit(ctx, a1)
}

// ListAuditFrom times Store.ListAuditFrom.
func (s *Store) ListAuditFrom(ctx context.Context, a1 int64, a2 int) ([]store.AuditEntry, error) {
	defer s.observe("ListAuditFrom", time.Now())
	return s.next.ListAuditFrom(ctx, a1, a2)
}

// ListCertificates times Store.ListCertificates.
func (s *Store) ListCertificates(ctx context.Context, a1 string) ([]store.Certificate, error) {
	defer s.observe("ListCertificates", time.Now())
	return s.next.ListCertificates(ctx, a1)
}

// ListDeviceCertificates times Store.ListDeviceCertificates.
func (s *Store) ListDeviceCertificates(ctx context.Context, a1 []string) ([]store.Certificate, error) {
	defer s.observe("ListDeviceCertificates", time.Now())
	return s.next.ListDeviceCertificates(ctx, a1)
}

// ListDevices times Store.ListDevices.
func (s *Store) ListDevices(ctx context.Context) ([]store.Device, error) {
	defer s.observe("ListDevices", time.Now())
	return s.next.ListDevices(ctx)
}

// ListEnrollTokens times Store.ListEnrollTokens.
func (s *Store) ListEnrollTokens(ctx context.Context) ([]store.EnrollToken, error) {
	defer s.observe("ListEnrollTokens", time.Now())
	return s.next.ListEnrollTokens(ctx)
}

// ListEvents times Store.ListEvents.
func (s *Store) ListEvents(ctx context.Context, a1 string, a2 int) ([]store.Event, error) {
	defer s.observe("ListEvents", time.Now())
	return s.next.ListEvents(ctx, a1, a2)
}

// ListFindings times Store.ListFindings.
func (s *Store) ListFindings(ctx context.Context, a1 bool) ([]store.FindingRecord, error) {
	defer s.observe("ListFindings", time.Now())
	return s.next.ListFindings(ctx, a1)
}

// ListMetricWindows times Store.ListMetricWindows.
func (s *Store) ListMetricWindows(ctx context.Context, a1 string, a2 time.Duration, a3 time.Time) ([]store.MetricWindow, error) {
	defer s.observe("ListMetricWindows", time.Now())
	return s.next.ListMetricWindows(ctx, a1, a2, a3)
}

// ListModelInfo times Store.ListModelInfo.
func (s *Store) ListModelInfo(ctx context.Context) (map[string][]uint8, error) {
	defer s.observe("ListModelInfo", time.Now())
	return s.next.ListModelInfo(ctx)
}

// ListModelPolicies times Store.ListModelPolicies.
func (s *Store) ListModelPolicies(ctx context.Context) ([]store.ModelPolicy, error) {
	defer s.observe("ListModelPolicies", time.Now())
	return s.next.ListModelPolicies(ctx)
}

// ListRevoked times Store.ListRevoked.
func (s *Store) ListRevoked(ctx context.Context) ([]store.Certificate, error) {
	defer s.observe("ListRevoked", time.Now())
	return s.next.ListRevoked(ctx)
}

// ListRolloutDevices times Store.ListRolloutDevices.
func (s *Store) ListRolloutDevices(ctx context.Context, a1 store.RolloutDeviceFilter) ([]store.RolloutDevice, error) {
	defer s.observe("ListRolloutDevices", time.Now())
	return s.next.ListRolloutDevices(ctx, a1)
}

// ListRollouts times Store.ListRollouts.
func (s *Store) ListRollouts(ctx context.Context, a1 store.RolloutFilter) ([]store.Rollout, error) {
	defer s.observe("ListRollouts", time.Now())
	return s.next.ListRollouts(ctx, a1)
}

// ListSBOMs times Store.ListSBOMs.
func (s *Store) ListSBOMs(ctx context.Context) ([]store.SBOMRecord, error) {
	defer s.observe("ListSBOMs", time.Now())
	return s.next.ListSBOMs(ctx)
}

// ListSuppressions times Store.ListSuppressions.
func (s *Store) ListSuppressions(ctx context.Context) ([]store.Suppression, error) {
	defer s.observe("ListSuppressions", time.Now())
	return s.next.ListSuppressions(ctx)
}

// ListTrend times Store.ListTrend.
func (s *Store) ListTrend(ctx context.Context, a1 time.Time) ([]store.TrendPoint, error) {
	defer s.observe("ListTrend", time.Now())
	return s.next.ListTrend(ctx, a1)
}

// ListUsers times Store.ListUsers.
func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	defer s.observe("ListUsers", time.Now())
	return s.next.ListUsers(ctx)
}

// LoginSucceeded times Store.LoginSucceeded.
func (s *Store) LoginSucceeded(ctx context.Context, a1 string) error {
	defer s.observe("LoginSucceeded", time.Now())
	return s.next.LoginSucceeded(ctx, a1)
}

// NextCounter times Store.NextCounter.
func (s *Store) NextCounter(ctx context.Context, a1 string) (int64, error) {
	defer s.observe("NextCounter", time.Now())
	return s.next.NextCounter(ctx, a1)
}

// PruneEvents times Store.PruneEvents.
func (s *Store) PruneEvents(ctx context.Context, a1 time.Time, a2 int) (int64, error) {
	defer s.observe("PruneEvents", time.Now())
	return s.next.PruneEvents(ctx, a1, a2)
}

// PruneSessions times Store.PruneSessions.
func (s *Store) PruneSessions(ctx context.Context, a1 time.Time) (int64, error) {
	defer s.observe("PruneSessions", time.Now())
	return s.next.PruneSessions(ctx, a1)
}

// PutAPIToken times Store.PutAPIToken.
func (s *Store) PutAPIToken(ctx context.Context, a1 store.APIToken) error {
	defer s.observe("PutAPIToken", time.Now())
	return s.next.PutAPIToken(ctx, a1)
}

// PutAdvisories times Store.PutAdvisories.
func (s *Store) PutAdvisories(ctx context.Context, a1 []store.AdvisoryRecord) error {
	defer s.observe("PutAdvisories", time.Now())
	return s.next.PutAdvisories(ctx, a1)
}

// CommitEvaluatedWindow times Store.CommitEvaluatedWindow.
func (s *Store) CommitEvaluatedWindow(ctx context.Context, a1 store.EvaluatedWindow) error {
	defer s.observe("CommitEvaluatedWindow", time.Now())
	return s.next.CommitEvaluatedWindow(ctx, a1)
}

// DeviceTargets times Store.DeviceTargets.
func (s *Store) DeviceTargets(ctx context.Context, a1 []string) ([]store.DeviceTarget, error) {
	defer s.observe("DeviceTargets", time.Now())
	return s.next.DeviceTargets(ctx, a1)
}

// PutAlerts times Store.PutAlerts.
func (s *Store) PutAlerts(ctx context.Context, a1 []store.AlertRecord) error {
	defer s.observe("PutAlerts", time.Now())
	return s.next.PutAlerts(ctx, a1)
}

// PutAlert times Store.PutAlert.
func (s *Store) PutAlert(ctx context.Context, a1 store.AlertRecord) error {
	defer s.observe("PutAlert", time.Now())
	return s.next.PutAlert(ctx, a1)
}

// PutBlob times Store.PutBlob.
func (s *Store) PutBlob(ctx context.Context, a1 string, a2 []uint8) error {
	defer s.observe("PutBlob", time.Now())
	return s.next.PutBlob(ctx, a1, a2)
}

// PutCertificate times Store.PutCertificate.
func (s *Store) PutCertificate(ctx context.Context, a1 store.Certificate) error {
	defer s.observe("PutCertificate", time.Now())
	return s.next.PutCertificate(ctx, a1)
}

// PutEnrollToken times Store.PutEnrollToken.
func (s *Store) PutEnrollToken(ctx context.Context, a1 store.EnrollToken) error {
	defer s.observe("PutEnrollToken", time.Now())
	return s.next.PutEnrollToken(ctx, a1)
}

// PutFindings times Store.PutFindings.
func (s *Store) PutFindings(ctx context.Context, a1 []store.FindingRecord, a2 time.Time) error {
	defer s.observe("PutFindings", time.Now())
	return s.next.PutFindings(ctx, a1, a2)
}

// PutModelInfo times Store.PutModelInfo.
func (s *Store) PutModelInfo(ctx context.Context, a1 string, a2 []uint8) error {
	defer s.observe("PutModelInfo", time.Now())
	return s.next.PutModelInfo(ctx, a1, a2)
}

// PutModelPolicy times Store.PutModelPolicy.
func (s *Store) PutModelPolicy(ctx context.Context, a1 store.ModelPolicy) error {
	defer s.observe("PutModelPolicy", time.Now())
	return s.next.PutModelPolicy(ctx, a1)
}

// PutSBOM times Store.PutSBOM.
func (s *Store) PutSBOM(ctx context.Context, a1 store.SBOMRecord) error {
	defer s.observe("PutSBOM", time.Now())
	return s.next.PutSBOM(ctx, a1)
}

// PutSuppression times Store.PutSuppression.
func (s *Store) PutSuppression(ctx context.Context, a1 store.Suppression) error {
	defer s.observe("PutSuppression", time.Now())
	return s.next.PutSuppression(ctx, a1)
}

// QueryDevices times Store.QueryDevices.
func (s *Store) QueryDevices(ctx context.Context, a1 store.DeviceQuery) ([]store.Device, string, error) {
	defer s.observe("QueryDevices", time.Now())
	return s.next.QueryDevices(ctx, a1)
}

// RehashPassword times Store.RehashPassword.
func (s *Store) RehashPassword(ctx context.Context, a1 string, a2 string, a3 string) error {
	defer s.observe("RehashPassword", time.Now())
	return s.next.RehashPassword(ctx, a1, a2, a3)
}

// RevokeAPIToken times Store.RevokeAPIToken.
func (s *Store) RevokeAPIToken(ctx context.Context, a1 string, a2 time.Time) error {
	defer s.observe("RevokeAPIToken", time.Now())
	return s.next.RevokeAPIToken(ctx, a1, a2)
}

// RevokeCertificate times Store.RevokeCertificate.
func (s *Store) RevokeCertificate(ctx context.Context, a1 string, a2 string, a3 time.Time) error {
	defer s.observe("RevokeCertificate", time.Now())
	return s.next.RevokeCertificate(ctx, a1, a2, a3)
}

// RevokeSession times Store.RevokeSession.
func (s *Store) RevokeSession(ctx context.Context, a1 string, a2 time.Time) error {
	defer s.observe("RevokeSession", time.Now())
	return s.next.RevokeSession(ctx, a1, a2)
}

// RevokeSuperseded times Store.RevokeSuperseded.
func (s *Store) RevokeSuperseded(ctx context.Context, a1 time.Time, a2 time.Time) ([]string, error) {
	defer s.observe("RevokeSuperseded", time.Now())
	return s.next.RevokeSuperseded(ctx, a1, a2)
}

// RolloutHistory times Store.RolloutHistory.
func (s *Store) RolloutHistory(ctx context.Context, a1 string) ([]store.RolloutHistory, error) {
	defer s.observe("RolloutHistory", time.Now())
	return s.next.RolloutHistory(ctx, a1)
}

// SetUserDisabled times Store.SetUserDisabled.
func (s *Store) SetUserDisabled(ctx context.Context, a1 string, a2 time.Time) error {
	defer s.observe("SetUserDisabled", time.Now())
	return s.next.SetUserDisabled(ctx, a1, a2)
}

// SetUserPassword times Store.SetUserPassword.
func (s *Store) SetUserPassword(ctx context.Context, a1 string, a2 string, a3 time.Time, a4 string) error {
	defer s.observe("SetUserPassword", time.Now())
	return s.next.SetUserPassword(ctx, a1, a2, a3, a4)
}

// SoonestExpiryByModel times Store.SoonestExpiryByModel.
func (s *Store) SoonestExpiryByModel(ctx context.Context, a1 time.Time) ([]store.ModelExpiry, error) {
	defer s.observe("SoonestExpiryByModel", time.Now())
	return s.next.SoonestExpiryByModel(ctx, a1)
}

// TouchDevice times Store.TouchDevice.
func (s *Store) TouchDevice(ctx context.Context, a1 string, a2 time.Time) error {
	defer s.observe("TouchDevice", time.Now())
	return s.next.TouchDevice(ctx, a1, a2)
}

// TouchSession times Store.TouchSession.
func (s *Store) TouchSession(ctx context.Context, a1 string, a2 time.Time) error {
	defer s.observe("TouchSession", time.Now())
	return s.next.TouchSession(ctx, a1, a2)
}

// TransitionDevice times Store.TransitionDevice.
func (s *Store) TransitionDevice(ctx context.Context, a1 store.Transition) (store.Outcome, error) {
	defer s.observe("TransitionDevice", time.Now())
	return s.next.TransitionDevice(ctx, a1)
}

// TransitionRollout times Store.TransitionRollout.
func (s *Store) TransitionRollout(ctx context.Context, a1 store.RolloutTransition) (store.Rollout, error) {
	defer s.observe("TransitionRollout", time.Now())
	return s.next.TransitionRollout(ctx, a1)
}

// UpdateDevice times Store.UpdateDevice.
func (s *Store) UpdateDevice(ctx context.Context, a1 string, a2 func(*store.Device) error) (store.Device, error) {
	defer s.observe("UpdateDevice", time.Now())
	return s.next.UpdateDevice(ctx, a1, a2)
}

// UpdateModelPolicy times Store.UpdateModelPolicy.
func (s *Store) UpdateModelPolicy(ctx context.Context, a1 string, a2 func(*store.Policy) error) (store.ModelPolicy, error) {
	defer s.observe("UpdateModelPolicy", time.Now())
	return s.next.UpdateModelPolicy(ctx, a1, a2)
}

// UpdateRolloutDevice times Store.UpdateRolloutDevice.
func (s *Store) UpdateRolloutDevice(ctx context.Context, a1 store.RolloutDeviceUpdate) (store.RolloutDevice, error) {
	defer s.observe("UpdateRolloutDevice", time.Now())
	return s.next.UpdateRolloutDevice(ctx, a1)
}

// PutPartialBatch times Store.PutPartialBatch.
func (s *Store) PutPartialBatch(ctx context.Context, a1 store.PartialBatch) error {
	defer s.observe("PutPartialBatch", time.Now())
	return s.next.PutPartialBatch(ctx, a1)
}

// CountPartialBatches times Store.CountPartialBatches.
func (s *Store) CountPartialBatches(ctx context.Context, a1 time.Time) ([]store.PartialCount, error) {
	defer s.observe("CountPartialBatches", time.Now())
	return s.next.CountPartialBatches(ctx, a1)
}

// ListPartialBatches times Store.ListPartialBatches.
func (s *Store) ListPartialBatches(ctx context.Context, a1 time.Time) ([]store.PartialBatch, error) {
	defer s.observe("ListPartialBatches", time.Now())
	return s.next.ListPartialBatches(ctx, a1)
}

// DeletePartialBatches times Store.DeletePartialBatches.
func (s *Store) DeletePartialBatches(ctx context.Context, a1 []store.PartialBatch) (int64, error) {
	defer s.observe("DeletePartialBatches", time.Now())
	return s.next.DeletePartialBatches(ctx, a1)
}

// ReportPresence times Store.ReportPresence.
func (s *Store) ReportPresence(ctx context.Context, a1 string, a2 time.Time, a3 []store.DevicePresence) error {
	defer s.observe("ReportPresence", time.Now())
	return s.next.ReportPresence(ctx, a1, a2, a3)
}

// ConnectedCounts times Store.ConnectedCounts.
func (s *Store) ConnectedCounts(ctx context.Context, a1 []string, a2 time.Time) (map[string]int, error) {
	defer s.observe("ConnectedCounts", time.Now())
	return s.next.ConnectedCounts(ctx, a1, a2)
}

// ConnectedDevices times Store.ConnectedDevices.
func (s *Store) ConnectedDevices(ctx context.Context, a1 string, a2 int, a3 time.Time) ([]string, error) {
	defer s.observe("ConnectedDevices", time.Now())
	return s.next.ConnectedDevices(ctx, a1, a2, a3)
}

// ConnectedAddresses times Store.ConnectedAddresses.
func (s *Store) ConnectedAddresses(ctx context.Context, a1 time.Time) (map[string][]string, error) {
	defer s.observe("ConnectedAddresses", time.Now())
	return s.next.ConnectedAddresses(ctx, a1)
}

// CountConnected times Store.CountConnected.
func (s *Store) CountConnected(ctx context.Context, a1 time.Time) (int, error) {
	defer s.observe("CountConnected", time.Now())
	return s.next.CountConnected(ctx, a1)
}

// ListPresence times Store.ListPresence.
func (s *Store) ListPresence(ctx context.Context, a1 string, a2 time.Time) ([]store.DevicePresence, error) {
	defer s.observe("ListPresence", time.Now())
	return s.next.ListPresence(ctx, a1, a2)
}

// ForgetNodes times Store.ForgetNodes.
func (s *Store) ForgetNodes(ctx context.Context, a1 time.Time) (int, error) {
	defer s.observe("ForgetNodes", time.Now())
	return s.next.ForgetNodes(ctx, a1)
}

// RemoveNode times Store.RemoveNode.
func (s *Store) RemoveNode(ctx context.Context, a1 string) error {
	defer s.observe("RemoveNode", time.Now())
	return s.next.RemoveNode(ctx, a1)
}
