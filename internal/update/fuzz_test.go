package update

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func seedFiles(f *testing.F, glob string) {
	files, _ := filepath.Glob(filepath.Join("testdata", glob))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func FuzzParseCustom(f *testing.F) {
	seedFiles(f, "custom-*.json")
	f.Add([]byte(`{"model":"acme-th1","version":"1.5.0","min_version":"1.4.0","notes":"x"}`))
	f.Add([]byte(`{"model":"../x","version":"1"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCustom(b)
		if err != nil {
			return
		}
		if _, err := TargetPath(c.Model, c.Version, "fw.bin"); err != nil {
			t.Fatalf("ParseCustom accepted %+v whose target path is invalid: %v", c, err)
		}
	})
}

func FuzzMetadataType(f *testing.F) {
	seedFiles(f, "*.root.json")
	f.Add([]byte(`{"signed":{"_type":"targets"},"signatures":[]}`))
	f.Add([]byte(`{"signed":null,"signatures":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		metadataType(b) // must not panic
	})
}

func FuzzParseVersionedName(f *testing.F) {
	for _, s := range []string{"root.json", "3.root.json", "12.models%2Facme-th1.json", "1.models%2F..%2Fx.json", "0.targets.json", "99999999999999999999.targets.json", "%zz.json"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		role, v, err := parseVersionedName(name)
		if err != nil {
			return
		}
		if v > 0 && versionedName(role, v) != name && versionedName(role, v) != "" {
			// Other spellings (escapes of plain letters) may parse; the
			// name Ward writes must parse back to the same role.
			if r2, v2, err := parseVersionedName(versionedName(role, v)); err != nil || r2 != role || v2 != v {
				t.Fatalf("%q → (%q, %d) does not round-trip", name, role, v)
			}
		}
		if CheckRole(role) != nil {
			t.Fatalf("%q parsed to invalid role %q", name, role)
		}
	})
}

func FuzzReleaseCheck(f *testing.F) {
	f.Add("acme-th1", "1.5.0", "1.4.0", "fw.bin")
	f.Add("acme-th1", "../x", "", "fw.bin")
	f.Add("acme-th1", "1.5.0-rc.1+b7", "v1.4", "a+b.bin")
	f.Add("a", "1.5a", "latest", "..")
	f.Fuzz(func(t *testing.T, model, version, minVersion, file string) {
		rel := Release{Model: model, Version: version, MinVersion: minVersion, File: file}
		if rel.Check() != nil {
			return
		}
		p, err := TargetPath(model, version, file)
		if err != nil || strings.Count(p, "/") != 2 || strings.Contains(p, "..") && strings.Contains("/"+p+"/", "/../") {
			t.Fatalf("Check accepted %+v with target path %q (%v)", rel, p, err)
		}
		if _, err := CompareVersions(version, version); err != nil {
			t.Fatalf("Check accepted an unorderable version %q", version)
		}
		if minVersion != "" {
			if c, err := CompareVersions(minVersion, version); err != nil || c > 0 {
				t.Fatalf("Check accepted min-version %q for %q", minVersion, version)
			}
		}
	})
}
