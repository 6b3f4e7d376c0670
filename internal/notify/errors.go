package notify

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrShutdown is the error recorded in a dead letter for a notification
// still queued (or still being retried) when the drain deadline of Run
// passed.
var ErrShutdown = errors.New("notify: shut down before delivery")

// ConfigError is one problem in a sink's configuration or Options. Kind
// names the sink type ("webhook", "syslog", "mqtt", "dispatcher"), Name the
// configured sink name when known, Key the configuration key (the YAML
// name, e.g. "min_severity"), and Problem and Hint what is wrong and what
// to do about it.
type ConfigError struct {
	Kind    string
	Name    string
	Key     string
	Problem string
	Hint    string
}

// Error implements error.
func (e *ConfigError) Error() string {
	var b strings.Builder
	b.WriteString("notify: ")
	b.WriteString(e.Kind)
	if e.Name != "" {
		fmt.Fprintf(&b, " sink %q", e.Name)
	}
	if e.Key != "" {
		b.WriteString(": ")
		b.WriteString(e.Key)
	}
	b.WriteString(": ")
	b.WriteString(e.Problem)
	if e.Hint != "" {
		b.WriteString(" (")
		b.WriteString(e.Hint)
		b.WriteString(")")
	}
	return b.String()
}

// StatusError is a webhook receiver's answer other than 2xx. RetryAfter
// is the delay the receiver asked for with Retry-After (429 or 503), zero
// when it gave none.
type StatusError struct {
	Code       int
	RetryAfter time.Duration
	// Body is the start of the response body, for the log.
	Body string
}

// Error implements error.
func (e *StatusError) Error() string {
	if e.Body == "" {
		return fmt.Sprintf("receiver answered HTTP %d", e.Code)
	}
	return fmt.Sprintf("receiver answered HTTP %d: %q", e.Code, e.Body)
}

// Permanent reports whether retrying cannot help: every status except
// 408, 429 and 5xx.
func (e *StatusError) Permanent() bool {
	return !(e.Code == 408 || e.Code == 429 || e.Code >= 500)
}

// Delay returns the Retry-After delay.
func (e *StatusError) Delay() time.Duration { return e.RetryAfter }

// permanentError marks an error that retrying will not fix.
type permanentError struct{ err error }

// Error implements error.
func (e *permanentError) Error() string { return e.err.Error() }

// Unwrap returns the wrapped error.
func (e *permanentError) Unwrap() error { return e.err }

// Permanent reports that retrying cannot help.
func (e *permanentError) Permanent() bool { return true }

// Permanent wraps err so that the Dispatcher does not retry it and writes
// the dead letter at once. A Sink returns it for failures that a retry
// cannot fix (a notification that cannot be encoded, a refused request).
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// isPermanent reports whether any error in err's tree says retrying cannot
// help (it has a Permanent() bool method returning true).
func isPermanent(err error) bool {
	var p interface{ Permanent() bool }
	return errors.As(err, &p) && p.Permanent()
}

// retryDelay returns the delay an error in err's tree asks for (a
// Delay() time.Duration method), or zero.
func retryDelay(err error) time.Duration {
	var d interface{ Delay() time.Duration }
	if errors.As(err, &d) {
		return d.Delay()
	}
	return 0
}
