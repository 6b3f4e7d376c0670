package vuln

import (
	"strings"
	"testing"
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
