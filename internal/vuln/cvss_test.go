package vuln

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"

	cvss30 "github.com/pandatix/go-cvss/30"
	cvss31 "github.com/pandatix/go-cvss/31"
)

// Base scores as published by NVD for these vectors and by the CVSS v3.1
// specification's examples.
func TestCVSS3BaseScore(t *testing.T) {
	tests := []struct {
		vector string
		want   float64
		err    string
	}{
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8, ""},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0, ""}, // log4shell
		{"CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8, ""},  // CVE-2023-4911
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5, ""},
		{"CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N", 5.9, ""},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1, ""},
		{"CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:L/I:L/A:N", 6.4, ""},
		{"CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:N/I:N/A:N", 0.0, ""},
		{"CVSS:3.1/AV:L/AC:H/PR:N/UI:N/S:U/C:L/I:N/A:N", 2.9, ""},
		{"CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8, ""},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:P/RL:O", 9.8, ""}, // temporal ignored
		{"CVSS:3.1/AV:N/AC:L", 0, "base metric PR missing"},
		{"CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 0, "given twice"},
		{"CVSS:3.1/AV:Q/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 0, "invalid value AV:Q"},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/XX:Y", 0, "unknown metric XX"},
		{"CVSS:2.0/AV:N", 0, "want prefix"},
		{"AV:N/AC:L/Au:N/C:P/I:P/A:P", 0, "want prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.vector, func(t *testing.T) {
			got, err := CVSS3BaseScore(tt.vector)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("CVSS3BaseScore = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestRoundup31(t *testing.T) {
	// CVSS v3.1 Appendix A: 4.000000000000001 must round up to 4.0, not 4.1.
	if got := roundup31(4.000000000000001); got != 4.0 {
		t.Fatalf("roundup31(4.000000000000001) = %v", got)
	}
	if got := roundup31(4.02); got != 4.1 {
		t.Fatalf("roundup31(4.02) = %v", got)
	}
}

// TestCVSS3MatchesGoCVSS checks the hand-written v3 calculator against
// github.com/pandatix/go-cvss over every CVSS v3.0 and v3.1 base vector
// (2,592 each).
func TestCVSS3MatchesGoCVSS(t *testing.T) {
	n := 0
	for _, av := range "NALP" {
		for _, ac := range "LH" {
			for _, pr := range "NLH" {
				for _, ui := range "NR" {
					for _, s := range "UC" {
						for _, c := range "HLN" {
							for _, i := range "HLN" {
								for _, a := range "HLN" {
									base := fmt.Sprintf("/AV:%c/AC:%c/PR:%c/UI:%c/S:%c/C:%c/I:%c/A:%c", av, ac, pr, ui, s, c, i, a)
									v30, err := cvss30.ParseVector("CVSS:3.0" + base)
									if err != nil {
										t.Fatal(err)
									}
									v31, err := cvss31.ParseVector("CVSS:3.1" + base)
									if err != nil {
										t.Fatal(err)
									}
									for _, tt := range []struct {
										vector string
										want   float64
									}{{"CVSS:3.0" + base, v30.BaseScore()}, {"CVSS:3.1" + base, v31.BaseScore()}} {
										n++
										if got, err := CVSS3BaseScore(tt.vector); err != nil || got != tt.want {
											t.Errorf("CVSS3BaseScore(%s) = %v, %v; go-cvss %v", tt.vector, got, err, tt.want)
										}
									}
								}
							}
						}
					}
				}
			}
		}
	}
	if n != 2*2592 {
		t.Fatalf("checked %d vectors", n)
	}
}

// Scores from FIRST's reference calculator (cvss40.js, see
// testdata/cvss4-base-scores.txt), several of them also in go-cvss's own
// tests and the CVSS v4.0 examples.
func TestCVSS4BaseScore(t *testing.T) {
	tests := []struct {
		vector string
		want   float64
		rating string
		err    string
	}{
		{"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 9.3, "CRITICAL", ""},
		{"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H", 10.0, "CRITICAL", ""},
		{"CVSS:4.0/AV:N/AC:L/AT:N/PR:L/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 8.7, "HIGH", ""},
		{"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:H/SI:H/SA:H", 7.9, "HIGH", ""},
		{"CVSS:4.0/AV:N/AC:H/AT:N/PR:H/UI:N/VC:N/VI:N/VA:H/SC:H/SI:H/SA:H", 7.2, "HIGH", ""},
		{"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:N/VA:N/SC:N/SI:N/SA:N", 6.9, "MEDIUM", ""},
		{"CVSS:4.0/AV:A/AC:L/AT:P/PR:N/UI:N/VC:H/VI:L/VA:L/SC:N/SI:N/SA:N", 6.1, "MEDIUM", ""},
		{"CVSS:4.0/AV:L/AC:L/AT:N/PR:L/UI:P/VC:N/VI:H/VA:H/SC:N/SI:L/SA:L", 5.2, "MEDIUM", ""},
		{"CVSS:4.0/AV:L/AC:L/AT:N/PR:N/UI:P/VC:L/VI:L/VA:L/SC:N/SI:N/SA:N", 4.8, "MEDIUM", ""},
		{"CVSS:4.0/AV:P/AC:H/AT:P/PR:H/UI:A/VC:L/VI:N/VA:N/SC:N/SI:N/SA:N", 1.0, "LOW", ""},
		{"CVSS:4.0/AV:P/AC:H/AT:P/PR:H/UI:A/VC:N/VI:N/VA:N/SC:L/SI:N/SA:N", 1.0, "LOW", ""},
		{"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N", 0.0, "NONE", ""},
		// Threat and environmental metrics are checked but ignored: the
		// calculator gives the first 9.1 (CVSS-BT), the second 5.8 and the
		// third 4.7 (CVSS-BTE); their base scores are these.
		{"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/E:U", 10.0, "CRITICAL", ""},
		{"CVSS:4.0/AV:N/AC:H/AT:N/PR:H/UI:N/VC:N/VI:N/VA:H/SC:H/SI:H/SA:H/CR:L/IR:L/AR:L", 7.2, "HIGH", ""},
		{"CVSS:4.0/AV:L/AC:L/AT:N/PR:L/UI:P/VC:N/VI:H/VA:H/SC:N/SI:L/SA:L/E:P/CR:H/IR:M/AR:H/MAV:A/MAT:P/MPR:N/MVI:H/MVA:N/MSI:H/MSA:N/S:N/V:C/U:Amber", 5.2, "MEDIUM", ""},
		// go-cvss's rounding: FIRST's calculator says 8.6
		// (pandatix/go-cvss#292).
		{"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:P/VC:H/VI:L/VA:N/SC:H/SI:H/SA:H", 8.5, "HIGH", ""},

		{"CVSS:4.0/AV:N/AC:L", 0, "", "base metric missing"},
		{"CVSS:4.0", 0, "", "want prefix CVSS:4.0/"},
		{"CVSS:4.0/", 0, "", `malformed metric ""`},
		{"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/", 0, "", `malformed metric ""`},
		{"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E", 0, "", `malformed metric "E"`},
		{"CVSS:4.0/AV:Q/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 0, "", "invalid value AV:Q"},
		{"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:Q", 0, "", "invalid value E:Q"},
		{"CVSS:4.0/AC:L/AV:N/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 0, "", "metric AC unknown, repeated or out of order"},
		{"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SI:N", 0, "", "metric SI unknown, repeated or out of order"},
		{"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:P/E:P", 0, "", "metric E unknown, repeated or out of order"},
		{"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/XX:Y", 0, "", "metric XX unknown"},
		{"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N" + strings.Repeat("/S:N", 30), 0, "", "41 metrics, CVSS v4.0 has 32"},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 0, "", "want prefix CVSS:4.0/"},
		{"cvss:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 0, "", "want prefix CVSS:4.0/"},
	}
	for _, tt := range tests {
		t.Run(tt.vector, func(t *testing.T) {
			got, err := CVSS4BaseScore(tt.vector)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("CVSS4BaseScore = %v, %v; want %v", got, err, tt.want)
			}
			if r := cvssRating(got); r != tt.rating {
				t.Fatalf("rating %s, want %s", r, tt.rating)
			}
		})
	}
}

// TestCVSS4BaseScoreReference checks CVSS4BaseScore against FIRST's
// calculator on a sample of base vectors and on every base vector where
// go-cvss is known to round differently (testdata/cvss4-base-scores.txt).
func TestCVSS4BaseScoreReference(t *testing.T) {
	data, err := os.ReadFile("testdata/cvss4-base-scores.txt")
	if err != nil {
		t.Fatal(err)
	}
	n, known := 0, 0
	for i, line := range strings.Split(string(data), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 || len(f) > 3 {
			t.Fatalf("line %d: %q", i+1, line)
		}
		official, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		want := official
		if len(f) == 3 {
			lib, ok := strings.CutPrefix(f[2], "go-cvss=")
			if want, err = strconv.ParseFloat(lib, 64); !ok || err != nil {
				t.Fatalf("line %d: %q", i+1, f[2])
			}
			if math.Abs(official-want-0.1) > 1e-9 || cvssRating(want) != cvssRating(official) {
				t.Fatalf("line %d: known difference %v vs %v is not a 0.1 rounding within one rating", i+1, want, official)
			}
			known++
		}
		n++
		got, err := CVSS4BaseScore(f[0])
		switch {
		case err != nil:
			t.Errorf("%s: %v", f[0], err)
		case got == official && got != want:
			t.Errorf("%s = %v, FIRST's value: go-cvss's rounding is fixed, drop go-cvss=%v from the testdata line", f[0], got, want)
		case got != want:
			t.Errorf("%s = %v, want %v (FIRST %v)", f[0], got, want, official)
		}
	}
	if n < 900 || known != 450 {
		t.Fatalf("read %d vectors, %d known differences", n, known)
	}
}

// TestSeverityOf checks which of an advisory's severities wins.
func TestSeverityOf(t *testing.T) {
	const (
		v3  = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"                    // 9.8
		v4  = "CVSS:4.0/AV:L/AC:L/AT:N/PR:N/UI:P/VC:L/VI:L/VA:L/SC:N/SI:N/SA:N" // 4.8
		v4b = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N" // 9.3
		v40 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N" // 0
		bad = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N"
	)
	sev := func(typ, score string) OSVSeverity { return OSVSeverity{Type: typ, Score: score} }
	ghsa := map[string]any{"severity": "MODERATE"}
	tests := []struct {
		name     string
		record   []OSVSeverity
		affected []OSVSeverity
		ds       map[string]any
		want     Severity
	}{
		{"v3 only", []OSVSeverity{sev("CVSS_V3", v3)}, nil, nil,
			Severity{Score: 9.8, Rating: "CRITICAL", Vector: v3, Source: "CVSS_V3"}},
		{"v4 only", []OSVSeverity{sev("CVSS_V4", v4)}, nil, ghsa,
			Severity{Score: 4.8, Rating: "MEDIUM", Vector: v4, Source: "CVSS_V4"}},
		{"v3 and v4: v3 wins", []OSVSeverity{sev("CVSS_V4", v4b), sev("CVSS_V3", v3)}, nil, nil,
			Severity{Score: 9.8, Rating: "CRITICAL", Vector: v3, Source: "CVSS_V3"}},
		{"record v3 beats affected v4", []OSVSeverity{sev("CVSS_V3", v3)}, []OSVSeverity{sev("CVSS_V4", v4)}, nil,
			Severity{Score: 9.8, Rating: "CRITICAL", Vector: v3, Source: "CVSS_V3"}},
		{"affected v4 beats record v4", []OSVSeverity{sev("CVSS_V4", v4b)}, []OSVSeverity{sev("CVSS_V4", v4)}, nil,
			Severity{Score: 4.8, Rating: "MEDIUM", Vector: v4, Source: "CVSS_V4"}},
		{"invalid v3 falls to v4", []OSVSeverity{sev("CVSS_V3", "CVSS:3.1/AV:N"), sev("CVSS_V4", v4)}, nil, nil,
			Severity{Score: 4.8, Rating: "MEDIUM", Vector: v4, Source: "CVSS_V4"}},
		{"invalid v4 skipped for a valid one", []OSVSeverity{sev("CVSS_V4", v4b)}, []OSVSeverity{sev("CVSS_V4", bad)}, nil,
			Severity{Score: 9.3, Rating: "CRITICAL", Vector: v4b, Source: "CVSS_V4"}},
		{"invalid v4 keeps vector, rating from database", []OSVSeverity{sev("CVSS_V4", bad)}, nil, ghsa,
			Severity{Rating: "MEDIUM", Vector: bad, Source: "CVSS_V4"}},
		{"invalid v4 keeps vector, Ubuntu rating", []OSVSeverity{sev("CVSS_V4", bad), sev("Ubuntu", "high")}, nil, nil,
			Severity{Rating: "HIGH", Vector: bad, Source: "CVSS_V4"}},
		{"invalid v4 alone", []OSVSeverity{sev("CVSS_V4", bad)}, nil, nil,
			Severity{Vector: bad, Source: "CVSS_V4"}},
		{"v4 no impact", []OSVSeverity{sev("CVSS_V4", v40)}, nil, ghsa,
			Severity{Rating: "NONE", Vector: v40, Source: "CVSS_V4"}},
		{"database only", nil, nil, ghsa, Severity{Rating: "MEDIUM", Source: "database_specific"}},
		{"nothing", nil, nil, nil, Severity{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &Advisory{Severity: tt.record, DatabaseSpecific: tt.ds}
			got := severityOf(a, &Affected{Severity: tt.affected})
			if got != tt.want {
				t.Fatalf("severityOf = %+v, want %+v", got, tt.want)
			}
		})
	}
}
