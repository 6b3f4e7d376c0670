package update

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// maxNotes bounds a release's notes in targets metadata.
const maxNotes = 4096

// Custom is the "custom" object of a firmware target: what a device needs
// to decide whether to install it. Its JSON field names are a contract.
type Custom struct {
	Model      string `json:"model"`
	Version    string `json:"version"`
	MinVersion string `json:"min_version,omitempty"` // anti-rollback: the device must run at least this
	Notes      string `json:"notes,omitempty"`
	// Published is when Ward published the firmware (set by Publish;
	// zero for targets added otherwise). The audit dates the model's
	// latest firmware with it.
	Published time.Time `json:"published,omitzero"`
}

// Check validates the fields.
func (c Custom) Check() error {
	if _, err := TargetPath(c.Model, c.Version, "x"); err != nil {
		return err
	}
	if c.MinVersion != "" && !versionRe.MatchString(c.MinVersion) {
		return fmt.Errorf("min_version %q: use 1-64 letters, digits, '.', '+', '_' or '-'", c.MinVersion)
	}
	if len(c.Notes) > maxNotes || !utf8.ValidString(c.Notes) {
		return fmt.Errorf("notes: at most %d bytes of UTF-8", maxNotes)
	}
	return nil
}

// ParseCustom decodes and validates a target's custom object. Unknown
// fields are ignored (other tools may add theirs); a missing model or
// version, a wrong type or trailing data is an error.
func ParseCustom(raw []byte) (Custom, error) {
	var c Custom
	if len(bytes.TrimSpace(raw)) == 0 {
		return c, errors.New("target has no custom fields (model, version)")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&c); err != nil {
		return Custom{}, fmt.Errorf("target custom fields: %w", err)
	}
	if dec.More() {
		return Custom{}, errors.New("target custom fields: trailing data after the object")
	}
	if err := c.Check(); err != nil {
		return Custom{}, fmt.Errorf("target custom fields: %w", err)
	}
	return c, nil
}
