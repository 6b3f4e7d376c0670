package store

import "context"

type urgentKey struct{}

// Urgent marks ctx as carrying containment: revoking, retiring or
// quarantining a device, by an operator or by an automated response, with
// what goes with it (the audit entry, the CRL re-signed after a
// revocation). Each backend gives urgent work a path that routine work
// cannot block, so an attacker's flood of enrollments, events or audit
// entries cannot delay the operator's revocation: SQLite, with one
// writer, serves the writes of an urgent context before the routine ones
// waiting for it; PostgreSQL serves every call of an urgent context from a
// small pool of its own (postgres.Options.UrgentConns) that routine work
// never holds. Urgent work still waits for the row and table locks that
// routine transactions in progress hold, which are short.
//
// Mark only containment: urgent work that floods (anything a device or an
// unauthenticated client can trigger) would take the reserved path from
// the operator.
func Urgent(ctx context.Context) context.Context {
	return context.WithValue(ctx, urgentKey{}, true)
}

// IsUrgent reports whether ctx was marked by Urgent.
func IsUrgent(ctx context.Context) bool {
	v, _ := ctx.Value(urgentKey{}).(bool)
	return v
}
