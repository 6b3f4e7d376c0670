package vuln

import (
	"os"
	"strings"
	"testing"

	"github.com/wardproject/ward/internal/wardtest"
)

const miniKEV = `{"catalogVersion":"2025.08.25","dateReleased":"2025-08-25T17:04:19.9796Z","count":2,"vulnerabilities":[
{"cveID":"CVE-2023-4911","vendorProject":"GNU","product":"GNU C Library","vulnerabilityName":"Looney Tunables",
 "dateAdded":"2023-11-21","shortDescription":"x","requiredAction":"patch","dueDate":"2023-12-12","knownRansomwareCampaignUse":"Unknown","notes":"","cwes":["CWE-122"]},
{"cveID":"CVE-2023-44487","vendorProject":"IETF","product":"HTTP/2","vulnerabilityName":"Rapid Reset",
 "dateAdded":"2023-10-10","shortDescription":"x","requiredAction":"patch","dueDate":"2023-10-31","knownRansomwareCampaignUse":"Known","notes":""}]}`

func TestParseSharedKEV(t *testing.T) {
	path := wardtest.SharedData(t, "vuln/kev/known_exploited_vulnerabilities.json")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cat, err := ParseKEV("kev.json", f, 0)
	if err != nil {
		t.Fatal(err)
	}
	if cat.CatalogVersion != "2025.08.25" || cat.Count != 1404 || len(cat.Vulnerabilities) != 1404 {
		t.Fatalf("catalogue %s with count %d and %d entries, want 2025.08.25, 1404, 1404", cat.CatalogVersion, cat.Count, len(cat.Vulnerabilities))
	}
	if cat.Vulnerabilities[0].CVEID != "CVE-2025-48384" {
		t.Errorf("first entry %s, want CVE-2025-48384", cat.Vulnerabilities[0].CVEID)
	}
}

func TestParseKEVErrors(t *testing.T) {
	entry := `{"cveID":"CVE-2023-4911","vendorProject":"v","product":"p","vulnerabilityName":"n","dateAdded":"2023-11-21","shortDescription":"s","requiredAction":"a","dueDate":"2023-12-12"}`
	tests := []struct{ name, doc, want string }{
		{"ok", miniKEV, ""},
		{"truncated", miniKEV[:200], "unexpected end of JSON input"},
		{"no-version", `{"dateReleased":"2025-08-25T17:04:19Z","count":0,"vulnerabilities":[]}`, "catalogVersion: missing"},
		{"bad-date", `{"catalogVersion":"x","dateReleased":"yesterday","count":0,"vulnerabilities":[]}`, "dateReleased: want a date-time"},
		{"count-float", `{"catalogVersion":"x","dateReleased":"2025-08-25T17:04:19Z","count":1.5,"vulnerabilities":[]}`, "count: want an integer"},
		{"no-vulns", `{"catalogVersion":"x","dateReleased":"2025-08-25T17:04:19Z","count":0}`, "vulnerabilities: missing"},
		{"bad-cve", `{"catalogVersion":"x","dateReleased":"2025-08-25T17:04:19Z","count":1,"vulnerabilities":[` + strings.Replace(entry, "CVE-2023-4911", "CVE-23-1", 1) + `]}`, "vulnerabilities[0].cveID: want CVE-YYYY-NNNN"},
		{"missing-due", `{"catalogVersion":"x","dateReleased":"2025-08-25T17:04:19Z","count":1,"vulnerabilities":[` + strings.Replace(entry, `,"dueDate":"2023-12-12"`, "", 1) + `]}`, "vulnerabilities[0].dueDate: missing"},
		{"bad-added", `{"catalogVersion":"x","dateReleased":"2025-08-25T17:04:19Z","count":1,"vulnerabilities":[` + strings.Replace(entry, "2023-11-21", "21/11/2023", 1) + `]}`, "vulnerabilities[0].dateAdded: want a date"},
		{"bad-cwe", `{"catalogVersion":"x","dateReleased":"2025-08-25T17:04:19Z","count":1,"vulnerabilities":[` + strings.Replace(entry, `"dueDate"`, `"cwes":["122"],"dueDate"`, 1) + `]}`, "vulnerabilities[0].cwes[0]: want CWE-N"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseKEV("kev.json", strings.NewReader(tt.doc), 0)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}
