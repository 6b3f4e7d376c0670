package store

import "context"

type urgentKey struct{}

// Urgent marks ctx as carrying containment: revoking, retiring or
// quarantining a device, by an operator or by an automated response. A
// backend with a single writer (SQLite) serves the writes of an urgent
// context before the routine ones waiting for it, so an attacker's flood
// of enrollments, events or audit entries cannot delay the operator's
// revocation; backends with a pool of writers (PostgreSQL) ignore it.
func Urgent(ctx context.Context) context.Context {
	return context.WithValue(ctx, urgentKey{}, true)
}

// IsUrgent reports whether ctx was marked by Urgent.
func IsUrgent(ctx context.Context) bool {
	v, _ := ctx.Value(urgentKey{}).(bool)
	return v
}
