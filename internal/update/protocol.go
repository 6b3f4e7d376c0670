package update

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"
	"unicode/utf8"
)

// The MQTT update protocol between Ward and a device. Its topics and JSON
// field names are a contract: any MQTT client that speaks this JSON can be
// a device (ward agent is one).
//
//	devices/<id>/update/cmd     Ward → device: an Order
//	devices/<id>/update/status  device → Ward: a Status for each step

// OrderTopic is the topic on which Ward sends a device its update orders.
func OrderTopic(deviceID string) string { return "devices/" + deviceID + "/update/cmd" }

// StatusTopic is the topic on which a device reports an update's progress.
func StatusTopic(deviceID string) string { return "devices/" + deviceID + "/update/status" }

// maxProtocolMessage bounds an Order or Status payload; maxReason bounds a
// status's reason.
const (
	maxProtocolMessage = 4096
	maxReason          = 1024
)

// rolloutIDRe is what a rollout ID may be: it travels in topics' payloads
// and in logs, so it is kept plain.
var rolloutIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Order tells a device to install one firmware version of its model, as
// part of a rollout.
type Order struct {
	Rollout string `json:"rollout"`
	Model   string `json:"model"`
	Version string `json:"version"`
}

// Check validates the fields.
func (o Order) Check() error {
	if !rolloutIDRe.MatchString(o.Rollout) {
		return fmt.Errorf("update order: rollout %q: use 1-64 letters, digits, '.', '_' or '-'", o.Rollout)
	}
	if _, err := TargetPath(o.Model, o.Version, "x"); err != nil {
		return fmt.Errorf("update order: %w", err)
	}
	return nil
}

// ParseOrder decodes and validates an order. Unknown fields are ignored
// (a newer server may add some); a missing or malformed field, a payload
// over 4 KiB or trailing data is an error.
func ParseOrder(b []byte) (Order, error) {
	var o Order
	if err := decodeMessage(b, &o); err != nil {
		return Order{}, fmt.Errorf("update order: %w", err)
	}
	if err := o.Check(); err != nil {
		return Order{}, err
	}
	return o, nil
}

// State is where a device's update stands.
type State string

// The states a device reports, in the order they happen; failed may
// follow any of the others.
const (
	StateDownloading State = "downloading"
	StateVerified    State = "verified"
	StateInstalling  State = "installing"
	StateInstalled   State = "installed"
	StateFailed      State = "failed"
)

// Valid reports whether s is one of the protocol's states.
func (s State) Valid() bool {
	switch s {
	case StateDownloading, StateVerified, StateInstalling, StateInstalled, StateFailed:
		return true
	}
	return false
}

// Status is a device's report of an update's progress. Reason says why
// it failed (or, on success, anything worth knowing); At is when the
// device reached State, in RFC 3339 on the wire.
type Status struct {
	Rollout string    `json:"rollout"`
	Version string    `json:"version"`
	State   State     `json:"state"`
	Reason  string    `json:"reason"`
	At      time.Time `json:"at"`
}

// Check validates the fields.
func (s Status) Check() error {
	if !rolloutIDRe.MatchString(s.Rollout) {
		return fmt.Errorf("update status: rollout %q: use 1-64 letters, digits, '.', '_' or '-'", s.Rollout)
	}
	if !versionRe.MatchString(s.Version) {
		return fmt.Errorf("update status: version %q: use 1-64 letters, digits, '.', '+', '_' or '-'", s.Version)
	}
	if !s.State.Valid() {
		return fmt.Errorf("update status: state %q: want downloading, verified, installing, installed or failed", s.State)
	}
	if len(s.Reason) > maxReason || !utf8.ValidString(s.Reason) {
		return fmt.Errorf("update status: reason: at most %d bytes of UTF-8", maxReason)
	}
	if s.At.IsZero() {
		return errors.New("update status: at: the time is required (RFC 3339)")
	}
	return nil
}

// ParseStatus decodes and validates a status report. Unknown fields are
// ignored; a missing or malformed field, a payload over 4 KiB or trailing
// data is an error. A device's clock may be wrong: the caller decides
// whether to trust At.
func ParseStatus(b []byte) (Status, error) {
	var s Status
	if err := decodeMessage(b, &s); err != nil {
		return Status{}, fmt.Errorf("update status: %w", err)
	}
	if err := s.Check(); err != nil {
		return Status{}, err
	}
	return s, nil
}

// decodeMessage decodes one bounded JSON object.
func decodeMessage(b []byte, v any) error {
	if len(b) > maxProtocolMessage {
		return fmt.Errorf("%d bytes, more than the %d allowed", len(b), maxProtocolMessage)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return errors.New("empty payload, want a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}
