// Package respond carries out mitigations: quarantine, certificate
// revocation, raising a device's log level, or notification only. It acts
// automatically on alerts whose profile opted in (alert.AutoMitigate), and
// by hand when an operator asks (Mitigate). Every action is written to the
// hash-chained audit trail and to the alert's list of mitigations. A
// quarantine or revocation, with those records, is containment: its
// writes are marked store.Urgent, so a flood of routine writes cannot
// delay them.
package respond

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/wardproject/ward/internal/alert"
	"github.com/wardproject/ward/internal/store"
)

// Registry quarantines and revokes devices. *fleet.Registry implements it.
type Registry interface {
	Quarantine(ctx context.Context, id, reason string, mode store.QuarantineMode) (store.Device, error)
	Revoke(ctx context.Context, id, reason string) (store.Device, []string, error)
}

// LogLeveler raises a device's log level. *gateway.Gateway implements it.
type LogLeveler interface {
	SetVerbose(id string, on bool)
}

// Alerts records mitigations on alerts. *alert.Manager implements it.
type Alerts interface {
	Get(ctx context.Context, id string) (alert.Alert, error)
	AddMitigation(ctx context.Context, id, what string) (alert.Alert, error)
}

// Audit is the audit trail.
type Audit interface {
	AppendAudit(ctx context.Context, e store.AuditEntry) (store.AuditEntry, error)
}

// Options configure a Responder. Registry, Alerts and Audit are required.
type Options struct {
	Registry  Registry
	LogLevel  LogLeveler // nil: log-level is not available
	Alerts    Alerts
	Audit     Audit
	QueueSize int // default 1024
	Logger    *slog.Logger
	Metrics   prometheus.Registerer
	Now       func() time.Time
}

// Responder executes mitigations.
type Responder struct {
	opts    Options
	log     *slog.Logger
	queue   chan alert.Notification
	done    sync.Map // alert id -> struct{}: mitigated automatically once
	actions *prometheus.CounterVec
	dropped prometheus.Counter
}

// Actions a responder can take.
const (
	ActionNotify     = "notify"
	ActionQuarantine = "quarantine"
	// ActionQuarantineRestrict quarantines the device in restricted mode:
	// connected, but limited to its quarantine topic tree.
	ActionQuarantineRestrict = "quarantine-restrict"
	ActionRevoke             = "revoke"
	ActionLogLevel           = "log-level"
)

// containment lists the actions that contain a device: their writes are
// urgent (store.Urgent).
var containment = map[string]bool{ActionQuarantine: true, ActionQuarantineRestrict: true, ActionRevoke: true}

// ErrUnknownAction is returned for an action the responder does not know.
var ErrUnknownAction = errors.New("unknown mitigation: use notify, quarantine, quarantine-restrict, revoke or log-level")

// New returns a Responder; call Run to process automatic mitigations.
func New(opts Options) (*Responder, error) {
	if opts.Registry == nil || opts.Alerts == nil || opts.Audit == nil {
		return nil, errors.New("respond: Options.Registry, Options.Alerts and Options.Audit are required")
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 1024
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	f := promauto.With(opts.Metrics)
	return &Responder{opts: opts, log: opts.Logger.With("component", "respond"), queue: make(chan alert.Notification, opts.QueueSize),
		actions: f.NewCounterVec(prometheus.CounterOpts{Name: "ward_respond_actions_total", Help: "Mitigations carried out."}, []string{"action", "trigger", "result"}),
		dropped: f.NewCounter(prometheus.CounterOpts{Name: "ward_respond_dropped_total", Help: "Automatic mitigations dropped because the queue was full."}),
	}, nil
}

// AlertChanged implements alert.Subscriber; it never blocks.
func (r *Responder) AlertChanged(n alert.Notification) {
	if !n.Alert.AutoMitigate || (n.Change != alert.Raised && n.Change != alert.Updated) {
		return
	}
	if _, ok := r.done.Load(n.Alert.ID); ok {
		return
	}
	select {
	case r.queue <- n:
	default:
		r.dropped.Inc()
	}
}

// Run carries out queued automatic mitigations until ctx is done.
func (r *Responder) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case n := <-r.queue:
			if _, loaded := r.done.LoadOrStore(n.Alert.ID, struct{}{}); loaded {
				continue
			}
			if err := r.act(ctx, n.Alert, n.Alert.Mitigation, "auto:"+n.Alert.Rule); err != nil {
				r.log.Error("automatic mitigation failed", "alert_id", n.Alert.ID, "device_id", n.Alert.Device, "action", n.Alert.Mitigation, "err", err)
			}
		}
	}
}

// Mitigate carries out an action for an alert by hand.
func (r *Responder) Mitigate(ctx context.Context, alertID, action, actor string) (alert.Alert, error) {
	a, err := r.opts.Alerts.Get(ctx, alertID)
	if err != nil {
		return a, err
	}
	if err := r.act(ctx, a, action, actor); err != nil {
		return a, err
	}
	return r.opts.Alerts.Get(ctx, alertID)
}

func (r *Responder) act(ctx context.Context, a alert.Alert, action, actor string) error {
	trigger := "manual"
	if len(actor) > 5 && actor[:5] == "auto:" {
		trigger = "auto"
	}
	reason := fmt.Sprintf("alert %s (%s)", a.ID, a.Rule)
	if containment[action] {
		// The audit entry and the alert's record of the mitigation go
		// ahead of routine writes too, as the quarantine or revocation
		// itself does (fleet marks it).
		ctx = store.Urgent(ctx)
	}
	var err error
	switch action {
	case ActionNotify, "":
		action = ActionNotify
	case ActionQuarantine:
		_, err = r.opts.Registry.Quarantine(ctx, a.Device, reason, store.QuarantineRefuse)
	case ActionQuarantineRestrict:
		_, err = r.opts.Registry.Quarantine(ctx, a.Device, reason, store.QuarantineRestrict)
	case ActionRevoke:
		_, _, err = r.opts.Registry.Revoke(ctx, a.Device, "keyCompromise")
	case ActionLogLevel:
		if r.opts.LogLevel == nil {
			err = errors.New("log-level is not available on this server")
		} else {
			r.opts.LogLevel.SetVerbose(a.Device, true)
		}
	default:
		return fmt.Errorf("%w (got %q)", ErrUnknownAction, action)
	}
	result := "ok"
	if err != nil {
		result = "error"
	}
	r.actions.WithLabelValues(action, trigger, result).Inc()
	detail := map[string]string{"alert": a.ID, "rule": a.Rule, "result": result}
	if err != nil {
		detail["error"] = err.Error()
	}
	if _, aerr := r.opts.Audit.AppendAudit(context.WithoutCancel(ctx), store.AuditEntry{Time: r.opts.Now().UTC(), Actor: actor,
		Action: "mitigate." + action, Target: a.Device, Detail: detail}); aerr != nil {
		r.log.Error("audit mitigation", "alert_id", a.ID, "err", aerr)
	}
	if err != nil {
		return fmt.Errorf("%s device %s: %w", action, a.Device, err)
	}
	what := action
	if trigger == "auto" {
		what += " (automatic)"
	} else {
		what += " (by " + actor + ")"
	}
	if _, err := r.opts.Alerts.AddMitigation(ctx, a.ID, what); err != nil {
		return err
	}
	r.log.Warn("mitigation carried out", "alert_id", a.ID, "device_id", a.Device, "action", action, "trigger", trigger)
	return nil
}
