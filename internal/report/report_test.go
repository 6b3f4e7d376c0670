package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/wardproject/ward/internal/audit"
	"github.com/wardproject/ward/internal/wardtest"
)

func render(t testing.TB, format, standard string) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Render(&b, format, fixtureReport(t, standard)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestRenderGolden(t *testing.T) {
	for _, format := range Formats {
		t.Run(format, func(t *testing.T) {
			ext := map[string]string{"html": "html", "json": "json", "sarif": "sarif", "csv": "csv"}[format]
			wardtest.Golden(t, "testdata/report."+ext+".golden", render(t, format, audit.StandardCRA))
		})
	}
	t.Run("json-etsi", func(t *testing.T) {
		wardtest.Golden(t, "testdata/report-etsi.json.golden", render(t, "json", audit.StandardETSI))
	})
}

func TestRenderUnknownFormat(t *testing.T) {
	if err := Render(&bytes.Buffer{}, "pdf", Report{}); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("err = %v, want ErrUnknownFormat", err)
	}
}

// TestRenderEmpty: a report with nothing in it renders in every format,
// and the JSON has arrays, not nulls.
func TestRenderEmpty(t *testing.T) {
	for _, format := range Formats {
		var b bytes.Buffer
		if err := Render(&b, format, Report{}); err != nil {
			t.Errorf("%s: %v", format, err)
		}
		if format == "json" && bytes.Contains(b.Bytes(), []byte("null")) {
			t.Errorf("empty JSON report has null:\n%s", b.String())
		}
	}
}

// TestJSONSchema checks the JSON report against docs/report-schema.json:
// every property the schema requires is present, with the JSON type the
// schema gives, recursively (objects, arrays, $ref to $defs).
func TestJSONSchema(t *testing.T) {
	raw, err := os.ReadFile("../../docs/report-schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatalf("docs/report-schema.json: %v", err)
	}
	if schema["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema = %v, want draft 2020-12", schema["$schema"])
	}
	for _, std := range []string{audit.StandardCRA, audit.StandardETSI, audit.StandardNIST} {
		var doc any
		if err := json.Unmarshal(render(t, "json", std), &doc); err != nil {
			t.Fatal(err)
		}
		for _, e := range validate(schema, schema, doc, "$") {
			t.Errorf("%s: %s", std, e)
		}
	}
	var empty bytes.Buffer
	Render(&empty, "json", Report{})
	var doc any
	json.Unmarshal(empty.Bytes(), &doc)
	for _, e := range validate(schema, schema, doc, "$") {
		t.Errorf("empty report: %s", e)
	}
}

// validate is the subset of JSON Schema the report schema uses: type,
// required, properties, additionalProperties (false), items, $ref, enum,
// const, minimum and maximum.
func validate(root, s map[string]any, v any, path string) []string {
	if ref, ok := s["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/$defs/")
		def, ok := root["$defs"].(map[string]any)[name].(map[string]any)
		if !ok {
			return []string{path + ": unresolved $ref " + ref}
		}
		return validate(root, def, v, path)
	}
	var errs []string
	if t, ok := s["type"]; ok {
		var types []string
		switch t := t.(type) {
		case string:
			types = []string{t}
		case []any:
			for _, x := range t {
				types = append(types, x.(string))
			}
		}
		if !slices.Contains(types, jsonType(v)) && !(jsonType(v) == "integer" && slices.Contains(types, "number")) {
			return []string{path + ": type " + jsonType(v) + ", schema wants " + strings.Join(types, "|")}
		}
	}
	if enum, ok := s["enum"].([]any); ok && !slices.Contains(enum, v) {
		errs = append(errs, path+": value not in enum")
	}
	if c, ok := s["const"]; ok && c != v {
		errs = append(errs, path+": value is not the const")
	}
	if n, ok := v.(float64); ok {
		if m, ok := s["minimum"].(float64); ok && n < m {
			errs = append(errs, path+": below minimum")
		}
		if m, ok := s["maximum"].(float64); ok && n > m {
			errs = append(errs, path+": above maximum")
		}
	}
	switch v := v.(type) {
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		req, _ := s["required"].([]any)
		for _, r := range req {
			if _, ok := v[r.(string)]; !ok {
				errs = append(errs, path+": missing required "+r.(string))
			}
		}
		for k, x := range v {
			if ps, ok := props[k].(map[string]any); ok {
				errs = append(errs, validate(root, ps, x, path+"."+k)...)
			} else if ap, ok := s["additionalProperties"]; ok {
				switch ap := ap.(type) {
				case bool:
					if !ap {
						errs = append(errs, path+": property "+k+" not in the schema")
					}
				case map[string]any:
					errs = append(errs, validate(root, ap, x, path+"."+k)...)
				}
			}
		}
	case []any:
		if items, ok := s["items"].(map[string]any); ok {
			for i, x := range v {
				errs = append(errs, validate(root, items, x, path+"["+itoa(i)+"]")...)
			}
		}
	}
	return errs
}

func jsonType(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		if v == float64(int64(v)) {
			return "integer"
		}
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "unknown"
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestCSV(t *testing.T) {
	rows, err := csv.NewReader(bytes.NewReader(render(t, "csv", audit.StandardCRA))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	r := fixtureReport(t, audit.StandardCRA)
	if len(rows) != len(r.Findings)+1 {
		t.Fatalf("%d rows, want header + %d", len(rows), len(r.Findings))
	}
	if !slices.Equal(rows[0], csvHeader) {
		t.Errorf("header = %v", rows[0])
	}
	for _, row := range rows[1:] {
		for _, c := range row {
			if c != "" && strings.ContainsRune("=+-@", rune(c[0])) {
				t.Errorf("cell %q could run as a spreadsheet formula", c)
			}
		}
	}
}

func TestSARIF(t *testing.T) {
	var log struct {
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name  string `json:"name"`
					Rules []struct {
						ID, HelpURI string
						Properties  struct{ Tags []string } `json:"properties"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID    string `json:"ruleId"`
				RuleIndex int    `json:"ruleIndex"`
				Level     string `json:"level"`
				Locations []struct {
					LogicalLocations []struct{ FullyQualifiedName string } `json:"logicalLocations"`
				} `json:"locations"`
				Suppressions []any `json:"suppressions"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(render(t, "sarif", audit.StandardCRA), &log); err != nil {
		t.Fatal(err)
	}
	if log.Version != "2.1.0" || len(log.Runs) != 1 || log.Runs[0].Tool.Driver.Name != "Ward" {
		t.Fatalf("bad SARIF envelope: version %s, %d runs", log.Version, len(log.Runs))
	}
	run := log.Runs[0]
	if len(run.Tool.Driver.Rules) != len(audit.Checks()) {
		t.Errorf("%d rules, want one per check (%d)", len(run.Tool.Driver.Rules), len(audit.Checks()))
	}
	suppressed := 0
	for _, r := range run.Results {
		rule := run.Tool.Driver.Rules[r.RuleIndex]
		if rule.ID != r.RuleID || rule.HelpURI == "" || len(rule.Properties.Tags) < 3 {
			t.Errorf("result %s: rule %+v", r.RuleID, rule)
		}
		if len(r.Locations) != 1 || len(r.Locations[0].LogicalLocations) == 0 {
			t.Errorf("result %s has no logical locations", r.RuleID)
		}
		suppressed += len(r.Suppressions)
	}
	if suppressed != 1 {
		t.Errorf("%d suppressions, want 1", suppressed)
	}
}

func TestHTMLEscapes(t *testing.T) {
	out := string(render(t, "html", audit.StandardCRA))
	if strings.Contains(out, "<script>alert(1)</script>") {
		t.Error("evidence was not escaped")
	}
	for _, bad := range []string{`src="http`, `href="http`, `<link `, `@import`, `url(http`} {
		if strings.Contains(out, bad) {
			t.Errorf("HTML report references an external resource (%s)", bad)
		}
	}
}

func TestBuildExposure(t *testing.T) {
	ex := fixtureReport(t, audit.StandardCRA).Exposure
	if len(ex.Vulnerabilities) == 0 || !ex.Vulnerabilities[0].KEV {
		t.Fatalf("first vulnerability is not the KEV one: %+v", ex.Vulnerabilities)
	}
	if got := ex.Vulnerabilities[0].Devices; got != 2 {
		t.Errorf("KEV devices = %d, want 2 (duplicates within a device count once)", got)
	}
	if len(ex.ActivelyExploited) != 1 || ex.ActivelyExploited[0].KEVCVE != "CVE-2023-4911" {
		t.Errorf("actively exploited = %+v", ex.ActivelyExploited)
	}
	if ex.Devices[0].DeviceID != "cam-01" || ex.Devices[0].KEV != 1 || ex.Devices[0].Total != 3 {
		t.Errorf("first device = %+v", ex.Devices[0])
	}
	ids := []string{}
	for _, v := range ex.Vulnerabilities {
		ids = append(ids, v.AdvisoryID)
	}
	want := []string{"ALPINE-CVE-2023-4911", "GHSA-7rjr-3q55-vv33", "OSV-2024-1", "OSV-2025-77"}
	if !slices.Equal(ids, want) {
		t.Errorf("priority order = %v, want %v", ids, want)
	}
}
