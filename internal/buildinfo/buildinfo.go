// Package buildinfo says which Ward this is: the release version and,
// from the Go build information, the source revision and the Go toolchain.
// `ward version`, the API's /api/v1/info, the CLI's and the webhooks'
// User-Agent all read it here, so they never disagree.
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// Version is Ward's release version. Release builds set it with
// -ldflags "-X github.com/wardproject/ward/internal/buildinfo.Version=1.2.3".
var Version = "0.1.0-dev"

// Info is what `ward version` prints and /api/v1/info carries.
type Info struct {
	Version  string `json:"version"`
	Revision string `json:"revision,omitempty"` // VCS commit the binary was built from
	Modified bool   `json:"modified,omitempty"` // built from a tree with uncommitted changes
	Go       string `json:"go"`
}

// Read returns this binary's build information.
func Read() Info {
	in := Info{Version: Version, Go: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				in.Revision = s.Value
			case "vcs.modified":
				in.Modified = s.Value == "true"
			}
		}
	}
	return in
}

// String is the one-line form: "0.1.0-dev (3f2a9c1e0b7d, modified; go1.26.8)".
func (in Info) String() string {
	s := in.Version + " ("
	if in.Revision != "" {
		rev := in.Revision
		if len(rev) > 12 {
			rev = rev[:12]
		}
		s += rev
		if in.Modified {
			s += ", modified"
		}
		s += "; "
	}
	return s + in.Go + ")"
}

// UserAgent is the User-Agent of Ward's HTTP clients: "ward/<version>".
func UserAgent() string { return "ward/" + Version }
