package api

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/wardproject/ward/internal/store"
)

// A device list cursor (the after parameter of GET /api/v1/devices) is
// the last device ID of the previous page, base64url-encoded without
// padding: opaque to clients, safe in a URL and in a Link header, and
// free to change form later.

// encodeCursor returns the cursor of the page after device id.
func encodeCursor(id string) string { return base64.RawURLEncoding.EncodeToString([]byte(id)) }

// errCursor is the reason every malformed cursor is refused with.
var errCursor = errors.New("after is not a cursor this server returned (use the Link header's next URL)")

// decodeCursor parses an after parameter into the device ID it names. It
// accepts only what encodeCursor produces for an ID of at most
// store.MaxDeviceQueryText bytes of printable UTF-8.
func decodeCursor(s string) (string, error) {
	if len(s) > base64.RawURLEncoding.EncodedLen(store.MaxDeviceQueryText) {
		return "", fmt.Errorf("%w: too long", errCursor)
	}
	// The decoder skips CR and LF: refuse every byte outside the
	// alphabet first, so that one ID has exactly one cursor.
	if i := strings.IndexFunc(s, func(r rune) bool {
		return !('A' <= r && r <= 'Z' || 'a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '-' || r == '_')
	}); i >= 0 {
		return "", fmt.Errorf("%w: unexpected character at %d", errCursor, i)
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return "", fmt.Errorf("%w: %w", errCursor, err)
	}
	if len(b) == 0 || !utf8.Valid(b) {
		return "", errCursor
	}
	for _, r := range string(b) {
		if r < 0x20 || r == 0x7f {
			return "", errCursor
		}
	}
	return string(b), nil
}
