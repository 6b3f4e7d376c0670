package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/wardproject/ward/internal/pki"
	"github.com/wardproject/ward/internal/update"
)

// StateFile is the name of the agent's firmware state in its directory:
// the installed version, kept so that rollback refusal survives restarts.
const StateFile = "update-state.json"

// maxStateFile bounds the state file read at start.
const maxStateFile = 4096

// State is what the agent remembers between runs.
type State struct {
	Model   string    `json:"model"`
	Version string    `json:"version"` // the installed firmware version
	Rollout string    `json:"rollout,omitempty"`
	At      time.Time `json:"at"` // when it was installed (or first recorded)
}

// ParseState decodes a state file strictly: unknown fields, a version
// that cannot be ordered (update.CompareVersions) or trailing data are
// errors, so a corrupt file stops the agent instead of resetting its
// rollback floor.
func ParseState(b []byte) (State, error) {
	if len(b) > maxStateFile {
		return State{}, fmt.Errorf("update state: %d bytes, more than the %d allowed", len(b), maxStateFile)
	}
	var s State
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return State{}, fmt.Errorf("update state: %w", err)
	}
	if dec.More() {
		return State{}, errors.New("update state: trailing data after the JSON object")
	}
	if err := update.CheckModel(s.Model); err != nil {
		return State{}, fmt.Errorf("update state: %w", err)
	}
	if _, err := update.CompareVersions(s.Version, s.Version); err != nil {
		return State{}, fmt.Errorf("update state: %w", err)
	}
	return s, nil
}

// LoadState reads DIR/update-state.json. A missing file is (State{},
// false, nil): the caller starts from --firmware-version.
func LoadState(dir string) (State, bool, error) {
	p := filepath.Join(dir, StateFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return State{}, false, nil
	}
	if err != nil {
		return State{}, false, fmt.Errorf("read %s: %w", p, err)
	}
	s, err := ParseState(b)
	if err != nil {
		return State{}, false, fmt.Errorf("%s: %w (fix or remove it, then restart with --firmware-version)", p, err)
	}
	return s, true, nil
}

// SaveState writes the state atomically (temp file, fsync, rename), 0600.
func SaveState(dir string, s State) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	p := filepath.Join(dir, StateFile)
	if err := pki.WriteSecretFile(p, append(b, '\n')); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}
