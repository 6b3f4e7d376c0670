package vuln

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/wardproject/ward/internal/wardtest"
)

// describeSBOM renders a parse result (or its error) for golden files.
// With full false only the first three components are listed, with counts
// per ecosystem, so that the shared data is not copied into the repository.
func describeSBOM(s *SBOM, err error, full bool) []byte {
	var b bytes.Buffer
	if err != nil {
		fmt.Fprintf(&b, "error: %v\n", err)
		var de *DocumentError
		if errors.As(err, &de) {
			for _, p := range de.Problems {
				fmt.Fprintf(&b, "  %s\n", p)
			}
		}
		return b.Bytes()
	}
	fmt.Fprintf(&b, "format: %s %s\ncomponents: %d\n", s.Format, s.SpecVersion, len(s.Components))
	if s.Subject != nil {
		fmt.Fprintf(&b, "subject: %s %s\n", s.Subject.Name, s.Subject.Version)
	}
	if !full {
		per := map[string]int{}
		for _, c := range s.Components {
			per[c.Ecosystem]++
		}
		keys := make([]string, 0, len(per))
		for k := range per {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "ecosystem %q: %d\n", k, per[k])
		}
	}
	for i, c := range s.Components {
		if !full && i == 3 {
			fmt.Fprintf(&b, "...\n")
			break
		}
		fmt.Fprintf(&b, "%s\t%s\t%s\t%s\t%s", c.Path, c.Name, c.Version, c.Ecosystem, c.PURL)
		if c.SourceName != "" {
			fmt.Fprintf(&b, "\tsrc=%s@%s", c.SourceName, c.SourceVersion)
		}
		if len(c.CPEs) > 0 {
			fmt.Fprintf(&b, "\tcpe=%s", strings.Join(c.CPEs, ","))
		}
		if c.Commit != "" {
			fmt.Fprintf(&b, "\tcommit=%s", c.Commit)
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func parseFile(t testing.TB, path string) (*SBOM, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return ParseSBOM(filepath.Base(path), f, 0)
}

// TestParseSharedSBOMs parses each real SBOM (and malformed variant) in the
// shared data and compares components or error messages with golden files.
func TestParseSharedSBOMs(t *testing.T) {
	dir := wardtest.SharedData(t, "vuln/sbom")
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no SBOMs in %s: %v", dir, err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			s, err := parseFile(t, f)
			if strings.HasPrefix(name, "malformed-") {
				if err == nil {
					t.Fatal("malformed SBOM parsed without error")
				}
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("error %v is not ErrInvalid", err)
				}
			} else if err != nil {
				t.Fatalf("parse: %v", err)
			}
			wardtest.Golden(t, "testdata/sbom/shared-"+name+".golden", describeSBOM(s, err, false))
		})
	}
}

// TestParseSBOMFixtures covers hand-written documents, valid and broken.
func TestParseSBOMFixtures(t *testing.T) {
	tests := []struct {
		file    string
		wantErr error // nil: parses
	}{
		{"gateway-fw.cdx.json", nil},
		{"ubuntu-host.spdx.json", nil},
		{"bad-purl.cdx.json", ErrInvalid},
		{"bad-types.spdx.json", ErrInvalid},
		{"cdx13.cdx.json", ErrInvalid},
		{"number-version.cdx.json", ErrInvalid},
		{"not-an-sbom.json", ErrUnknownFormat},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			s, err := parseFile(t, "testdata/sbom/"+tt.file)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ParseSBOM error = %v, want %v", err, tt.wantErr)
			}
			wardtest.Golden(t, "testdata/sbom/"+strings.TrimSuffix(tt.file, ".json")+".golden", describeSBOM(s, err, true))
		})
	}
}

func TestParseSBOMLimit(t *testing.T) {
	data, err := os.ReadFile("testdata/sbom/gateway-fw.cdx.json")
	if err != nil {
		t.Fatal(err)
	}
	_, err = ParseSBOM("gw", bytes.NewReader(data), int64(len(data)-1))
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	if _, err := ParseSBOM("gw", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("at the limit: %v", err)
	}
	if _, err := ParseSBOM("empty", strings.NewReader("  "), 0); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty: err = %v", err)
	}
	deep := strings.Repeat(`{"type":"library","name":"x","components":[`, 70) + strings.Repeat("]}", 70)
	doc := `{"bomFormat":"CycloneDX","specVersion":"1.5","components":[` + deep + `]}`
	if _, err := ParseSBOM("deep", strings.NewReader(doc), 0); err == nil || !strings.Contains(err.Error(), "nested more than 64 deep") {
		t.Fatalf("deep nesting: err = %v", err)
	}
}
