package bus

import "errors"

var (
	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("bus closed")
	// ErrInvalidSubject means a subject, pattern or queue name was refused;
	// the wrapping error says which and why.
	ErrInvalidSubject = errors.New("invalid subject")
	// ErrInvalidGroup means a consumer group name was refused.
	ErrInvalidGroup = errors.New("invalid group name")
	// ErrPayloadTooLarge means a payload exceeded Options.MaxPayload.
	ErrPayloadTooLarge = errors.New("payload too large")
	// ErrQueueFull means a work queue is at capacity; the caller may retry
	// later or drop the message and count it.
	ErrQueueFull = errors.New("queue full")
)

// RejectReason maps err to the bounded reason label of
// ward_bus_rejected_total.
func RejectReason(err error) string {
	switch {
	case errors.Is(err, ErrInvalidSubject):
		return "invalid_subject"
	case errors.Is(err, ErrInvalidGroup):
		return "invalid_group"
	case errors.Is(err, ErrPayloadTooLarge):
		return "payload_too_large"
	case errors.Is(err, ErrQueueFull):
		return "queue_full"
	case errors.Is(err, ErrClosed):
		return "closed"
	default:
		return "error"
	}
}
