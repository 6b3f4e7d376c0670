package leader

import (
	"errors"
	"fmt"
	"regexp"
)

// ErrInvalidName is returned by Lead for a job name that is not a short
// lower-case word ([a-z][a-z0-9_-]{0,62}): names are metric labels and
// part of the lock key, so they must be a fixed, known set.
var ErrInvalidName = errors.New("invalid leader job name")

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)

func checkName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%w %q: use [a-z][a-z0-9_-]*, at most 63 bytes", ErrInvalidName, name)
	}
	return nil
}
