package bus

import (
	"fmt"
	"strings"
)

// MaxSubjectLen bounds subjects, patterns and queue names, in bytes.
const MaxSubjectLen = 256

// MaxGroupLen bounds consumer group names, in bytes.
const MaxGroupLen = 64

// ValidateSubject checks a subject for Publish or a queue name for Enqueue
// and Consume: dot-separated, non-empty tokens of printable characters
// without spaces, at most MaxSubjectLen bytes, and no wildcard characters
// ("*", ">"). The error wraps ErrInvalidSubject.
func ValidateSubject(subject string) error {
	return validate(subject, false)
}

// ValidatePattern checks a Subscribe pattern: like ValidateSubject, but a
// token may be the wildcard "*" (exactly one token) and the last token may
// be ">" (one or more tokens). The error wraps ErrInvalidSubject.
func ValidatePattern(pattern string) error {
	return validate(pattern, true)
}

func validate(s string, wildcards bool) error {
	if s == "" {
		return fmt.Errorf("%w: empty subject", ErrInvalidSubject)
	}
	if len(s) > MaxSubjectLen {
		return fmt.Errorf("%w: %d bytes, more than %d", ErrInvalidSubject, len(s), MaxSubjectLen)
	}
	tokens := strings.Split(s, ".")
	for i, tok := range tokens {
		if tok == "" {
			return fmt.Errorf("%w: %q: empty token at position %d (leading, trailing or double dot)", ErrInvalidSubject, s, i+1)
		}
		for _, r := range tok {
			if r <= ' ' || r == 0x7f {
				return fmt.Errorf("%w: %q: space or control character in token %q", ErrInvalidSubject, s, tok)
			}
		}
		if !strings.ContainsAny(tok, "*>") {
			continue
		}
		if !wildcards {
			return fmt.Errorf("%w: %q: wildcard in token %q (wildcards are only allowed in Subscribe patterns)", ErrInvalidSubject, s, tok)
		}
		switch {
		case tok == "*":
		case tok == ">" && i == len(tokens)-1:
		case tok == ">":
			return fmt.Errorf("%w: %q: \">\" must be the last token", ErrInvalidSubject, s)
		default:
			return fmt.Errorf("%w: %q: wildcard mixed with other characters in token %q", ErrInvalidSubject, s, tok)
		}
	}
	return nil
}

// ValidateGroup checks a consumer group name: 1 to MaxGroupLen bytes of
// ASCII letters, digits, "-" and "_". The error wraps ErrInvalidGroup.
func ValidateGroup(group string) error {
	if group == "" || len(group) > MaxGroupLen {
		return fmt.Errorf("%w: %q: must be 1 to %d bytes", ErrInvalidGroup, group, MaxGroupLen)
	}
	for _, r := range group {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_'
		if !ok {
			return fmt.Errorf("%w: %q: only letters, digits, '-' and '_' are allowed", ErrInvalidGroup, group)
		}
	}
	return nil
}

// CheckPayload returns an error wrapping ErrPayloadTooLarge when data is
// longer than max bytes.
func CheckPayload(data []byte, max int) error {
	if len(data) > max {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrPayloadTooLarge, len(data), max)
	}
	return nil
}
