package update

import (
	"errors"
	"fmt"
)

// ErrNotInitialized is returned by operations on a directory that holds no
// root.json yet.
var ErrNotInitialized = errors.New("the TUF repository is not initialised (run ward update init, or ward update keys init --dir DIR offline)")

// ErrExists is returned by Init on a repository that already has a root.
var ErrExists = errors.New("the TUF repository already has a root")

// A MissingKeyError says that signing role's metadata needs more keys than
// this process holds, and what to run where the keys are.
type MissingKeyError struct {
	Role string // "root", "targets", "snapshot", "timestamp" or "models/<model>"
	Have int    // keys held for the role
	Need int    // the role's threshold
}

func (e *MissingKeyError) Error() string {
	return fmt.Sprintf("sign %s metadata: this machine holds %d of the %d %s keys the threshold needs; %s",
		e.Role, e.Have, e.Need, e.Role, hintFor(e.Role))
}

func hintFor(role string) string {
	switch role {
	case "snapshot", "timestamp":
		return "the server's online keys belong in <data-dir>/tuf-keys (ward update init creates them)"
	default:
		return "run this where the " + role + " keys are kept offline, or add their signatures there with: ward update sign --dir DIR METADATA"
	}
}
