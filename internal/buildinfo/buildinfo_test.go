package buildinfo

import (
	"runtime"
	"testing"
)

func TestInfoString(t *testing.T) {
	for _, tc := range []struct {
		in   Info
		want string
	}{
		{Info{Version: "1.2.3", Go: "go1.26.8"}, "1.2.3 (go1.26.8)"},
		{Info{Version: "1.2.3", Revision: "3f2a9c1e0b7d55aa", Go: "go1.26.8"}, "1.2.3 (3f2a9c1e0b7d; go1.26.8)"},
		{Info{Version: "1.2.3", Revision: "3f2a9c1", Modified: true, Go: "go1.26.8"}, "1.2.3 (3f2a9c1, modified; go1.26.8)"},
	} {
		if got := tc.in.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.in, got, tc.want)
		}
	}
	if in := Read(); in.Version != Version || in.Go != runtime.Version() {
		t.Errorf("Read() = %+v", in)
	}
	if UserAgent() != "ward/"+Version {
		t.Errorf("UserAgent() = %q", UserAgent())
	}
}
