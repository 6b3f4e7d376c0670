package vuln

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func addSeeds(f *testing.F, pattern string) {
	files, _ := filepath.Glob(pattern)
	for _, p := range files {
		if data, err := os.ReadFile(p); err == nil && len(data) < 64<<10 {
			f.Add(data)
		}
	}
}

// FuzzParseSBOM: any input either parses or fails with an error; parsed
// components have a path, and a parsed document parses again identically.
func FuzzParseSBOM(f *testing.F) {
	addSeeds(f, "testdata/sbom/*.json")
	f.Add([]byte(`{"bomFormat":"CycloneDX","specVersion":"1.4","components":[{"type":"library","name":"a","purl":"pkg:npm/a@1"}]}`))
	f.Add([]byte(`{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","packages":[{"SPDXID":"SPDXRef-a","name":"a"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSBOM("fuzz", bytes.NewReader(data), 1<<20)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		for _, c := range s.Components {
			if c.Path == "" {
				t.Fatalf("component %+v has no path", c)
			}
		}
		again, err := ParseSBOM("fuzz", bytes.NewReader(data), 1<<20)
		if err != nil || len(again.Components) != len(s.Components) {
			t.Fatalf("second parse differs: %v", err)
		}
		db, _ := New(Options{})
		db.Match(s.Components)
	})
}

// FuzzParseOSV: any input parses or fails; a parsed record can be indexed
// and matched without panicking.
func FuzzParseOSV(f *testing.F) {
	f.Add([]byte(`{"id":"GO-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"Go","name":"m"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.2.3"}]}],"versions":["1.0.0"]}]}`))
	f.Add([]byte(`{"id":"A-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"Alpine:v3.18","name":"m"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"1.0_rc1-r0"},{"last_affected":"1.2-r3"},{"limit":"*"}]}]}]}`))
	f.Add([]byte(`{"id":"P-1","modified":"2024-01-01T00:00:00Z","affected":[{"ranges":[{"type":"GIT","repo":"https://github.com/x/y","events":[{"introduced":"0"}]}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := ParseOSV("fuzz.json", data)
		if err != nil {
			return
		}
		db, _ := New(Options{})
		db.add([]*Advisory{a}, &ImportReport{})
		comps := []Component{
			{PURL: "pkg:golang/m@v1.0.0", Version: "v1.0.0"},
			{PURL: "pkg:apk/alpine/m@1.1-r0?distro=3.18", Version: "1.1-r0"},
			{PURL: "pkg:github/x/y@0123456789abcdef0123456789abcdef01234567", Commit: "0123456789abcdef0123456789abcdef01234567"},
		}
		db.Match(comps)
		for _, aff := range a.Affected {
			severityOf(a, &aff)
		}
	})
}

// FuzzCVSS: CVSS3BaseScore and CVSS4BaseScore never panic (nor does
// go-cvss under CVSS4BaseScore's recover), fail with a message, and score
// within 0–10 in tenths; a v4.0 score is that of the vector's base
// metrics alone.
func FuzzCVSS(f *testing.F) {
	f.Add("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")
	f.Add("CVSS:3.0/AV:P/AC:H/PR:H/UI:R/S:C/C:L/I:N/A:N/E:X")
	f.Add("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N")
	f.Add("CVSS:4.0/AV:P/AC:H/AT:P/PR:H/UI:A/VC:L/VI:N/VA:N/SC:N/SI:N/SA:N/E:U")
	f.Add("CVSS:4.0/AV:L/AC:L/AT:N/PR:L/UI:P/VC:N/VI:H/VA:H/SC:N/SI:L/SA:L/E:P/CR:H/IR:M/AR:H/MAV:A/MAT:P/MPR:N/MVI:H/MVA:N/MSI:H/MSA:N/S:N/V:C/U:Amber")
	f.Add("CVSS:4.0/AV:N/AC:L/AT:N/PR:L/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N/E:P/CR:X/IR:M/AR:X/MAV:N/MAC:H/MAT:X/MPR:L/MUI:X/MVC:L/MVI:N/MVA:H/MSC:L/MSI:S/MSA:S")
	f.Add("CVSS:4.0/AV:N/AC:L")
	f.Fuzz(func(t *testing.T, v string) {
		inTenths := func(s float64) bool { return s >= 0 && s <= 10 && math.Abs(s*10-math.Round(s*10)) < 1e-9 }
		if s, err := CVSS3BaseScore(v); err == nil && !inTenths(s) {
			t.Fatalf("CVSS3BaseScore(%q) = %v", v, s)
		}
		s, err := CVSS4BaseScore(v)
		if err != nil {
			if msg := err.Error(); msg == "" || strings.Contains(msg, "internal error") {
				t.Fatalf("CVSS4BaseScore(%q): %v", v, err)
			}
			return
		}
		if !inTenths(s) {
			t.Fatalf("CVSS4BaseScore(%q) = %v", v, s)
		}
		parts := strings.Split(v, "/")
		if len(parts) < 12 {
			t.Fatalf("CVSS4BaseScore(%q) accepted a vector without all base metrics", v)
		}
		if b, err := CVSS4BaseScore(strings.Join(parts[:12], "/")); err != nil || b != s {
			t.Fatalf("CVSS4BaseScore(%q) = %v, its base metrics alone %v, %v", v, s, b, err)
		}
	})
}

// FuzzParseKEV: never panics.
func FuzzParseKEV(f *testing.F) {
	f.Add([]byte(miniKEV))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = ParseKEV("fuzz", bytes.NewReader(data), 1<<20)
	})
}
