package rollout

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/wardproject/ward/internal/alert"
	"github.com/wardproject/ward/internal/gwevent"
	"github.com/wardproject/ward/internal/pki"
	"github.com/wardproject/ward/internal/update"
)

// The rollout engine's messages on a cluster's bus (see cluster.go).
//
// An input goes on the work queue InputsQueue from the node that saw it:
// a gateway node's observation of a device (connected, subscribed to its
// order topic, a status report on its own status topic) or any node's
// alert change. The device ID in it is the one the gateway admitted the
// session with (the verified certificate), never anything the device
// wrote: the report's payload travels as opaque bytes beside it.
//
// An order goes on the fan-out subject OrdersSubject from the engine that
// orders; every gateway node publishes it to the device's order topic, so
// that it reaches the device on whichever node holds its session.
//
// Both are JSON objects; DecodeInput and DecodeOrder trust nothing and
// refuse, with an error wrapping ErrBadMessage, an unknown kind, a bad
// device ID, a missing part, an oversized payload or trailing data.

// Bus names of the rollout engine's traffic.
const (
	// InputsQueue carries inputs to the engine of the "rollouts" leader,
	// consumed by the group InputsGroup.
	InputsQueue = "rollout.inputs"
	InputsGroup = "rollouts"
	// OrdersSubject fans orders out to every gateway node.
	OrdersSubject = "rollout.orders"
)

// Input kinds.
const (
	InputConnected  = "connected"  // the device opened a session
	InputSubscribed = "subscribed" // the device subscribed to its order topic
	InputStatus     = "status"     // a report on the device's own status topic
	InputAlert      = "alert"      // an alert raised or updated on any node
)

// maxInputBytes bounds an encoded input: a status payload is at most
// 4 KiB (update.ParseStatus), an alert a few KiB of evidence.
const maxInputBytes = 64 << 10

// ErrBadMessage means a bus message of the rollout engine was refused.
var ErrBadMessage = errors.New("bad rollout bus message")

// Input is one message on InputsQueue.
type Input struct {
	Kind string `json:"kind"`
	// Device is the gateway-verified identity of the session (every kind
	// but alert).
	Device string `json:"device,omitempty"`
	// Payload is the device's status report, as published (status only).
	Payload []byte `json:"payload,omitempty"`
	// Alert is the alert change (alert only).
	Alert *alert.Notification `json:"alert,omitempty"`
}

// inputOf returns the input an observation the engine keeps becomes (ok
// false: none).
func inputOf(o gwevent.Event) (Input, bool) {
	o, ok := wanted(o)
	if !ok {
		return Input{}, false
	}
	switch o.Kind {
	case gwevent.Connected:
		return Input{Kind: InputConnected, Device: o.Device}, true
	case gwevent.Subscribed:
		return Input{Kind: InputSubscribed, Device: o.Device}, true
	default:
		return Input{Kind: InputStatus, Device: o.Device, Payload: o.Payload}, true
	}
}

// event returns the observation an input of a device stands for, as the
// local gateway would have given it.
func (in Input) event() gwevent.Event {
	switch in.Kind {
	case InputConnected:
		return gwevent.Event{Kind: gwevent.Connected, Device: in.Device}
	case InputSubscribed:
		return gwevent.Event{Kind: gwevent.Subscribed, Device: in.Device, Topic: update.OrderTopic(in.Device)}
	default:
		return gwevent.Event{Kind: gwevent.Published, Device: in.Device, Topic: update.StatusTopic(in.Device), Payload: in.Payload}
	}
}

// DecodeInput decodes and checks one message of InputsQueue.
func DecodeInput(b []byte) (Input, error) {
	var in Input
	if err := decodeWire(b, &in); err != nil {
		return Input{}, err
	}
	switch in.Kind {
	case InputConnected, InputSubscribed, InputStatus:
		if err := pki.CheckDeviceID(in.Device); err != nil {
			return Input{}, fmt.Errorf("%w: %s input: %w", ErrBadMessage, in.Kind, err)
		}
		if in.Alert != nil || (in.Kind != InputStatus && len(in.Payload) > 0) {
			return Input{}, fmt.Errorf("%w: %s input with a payload or an alert", ErrBadMessage, in.Kind)
		}
		if in.Kind == InputStatus && len(in.Payload) == 0 {
			return Input{}, fmt.Errorf("%w: status input without its report", ErrBadMessage)
		}
	case InputAlert:
		if in.Alert == nil || in.Device != "" || len(in.Payload) > 0 {
			return Input{}, fmt.Errorf("%w: an alert input holds the alert and nothing else", ErrBadMessage)
		}
		a := in.Alert.Alert
		if err := pki.CheckDeviceID(a.Device); err != nil {
			return Input{}, fmt.Errorf("%w: alert %s: %w", ErrBadMessage, a.ID, err)
		}
		if !a.Severity.Valid() || (in.Alert.Change != alert.Raised && in.Alert.Change != alert.Updated) {
			return Input{}, fmt.Errorf("%w: alert %s: severity %q, change %q: want a valid severity, raised or updated", ErrBadMessage, a.ID, a.Severity, in.Alert.Change)
		}
	default:
		return Input{}, fmt.Errorf("%w: unknown input kind %q", ErrBadMessage, in.Kind)
	}
	return in, nil
}

// OrderMessage is one message on OrdersSubject: the order for the device,
// as the device receives it.
type OrderMessage struct {
	Device string          `json:"device"`
	Order  json.RawMessage `json:"order"`
}

// DecodeOrder decodes and checks one message of OrdersSubject.
func DecodeOrder(b []byte) (OrderMessage, error) {
	var m OrderMessage
	if err := decodeWire(b, &m); err != nil {
		return OrderMessage{}, err
	}
	if err := pki.CheckDeviceID(m.Device); err != nil {
		return OrderMessage{}, fmt.Errorf("%w: order: %w", ErrBadMessage, err)
	}
	if _, err := update.ParseOrder(m.Order); err != nil {
		return OrderMessage{}, fmt.Errorf("%w: order for %s: %w", ErrBadMessage, m.Device, err)
	}
	return m, nil
}

// decodeWire decodes one bounded JSON object with nothing after it.
func decodeWire(b []byte, v any) error {
	if len(b) > maxInputBytes {
		return fmt.Errorf("%w: %d bytes, more than %d", ErrBadMessage, len(b), maxInputBytes)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %w", ErrBadMessage, err)
	}
	return nil
}
