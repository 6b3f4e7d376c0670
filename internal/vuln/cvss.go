package vuln

import (
	"fmt"
	"math"
	"strings"
)

// Severity is how bad an advisory is, from the best source the record
// offers.
type Severity struct {
	// Score is the CVSS v3.x base score computed from Vector, 0–10. It is
	// 0 when no CVSS v3 vector was available; Rating may still be set.
	Score float64 `json:"score,omitempty"`
	// Rating is the qualitative rating: "CRITICAL", "HIGH", "MEDIUM",
	// "LOW", "NONE", or "" when the record gives no severity at all.
	Rating string `json:"rating,omitempty"`
	// Vector is the CVSS vector the score came from, if any.
	Vector string `json:"vector,omitempty"`
	// Source says where the severity came from: "CVSS_V3",
	// "database_specific", "Ubuntu", or "CVSS_V4" (vector kept, rating from
	// another source or none: Ward does not compute v4 scores).
	Source string `json:"source,omitempty"`
}

// Weight is the number Prioritise multiplies by exposed devices: the CVSS
// score when known, otherwise the middle of the rating's CVSS band
// (CRITICAL 9.5, HIGH 8, MEDIUM 5.5, LOW 2, NONE 0), and 5 when the record
// says nothing, so that an unrated vulnerability is neither ignored nor
// ranked above a rated high one.
func (s Severity) Weight() float64 {
	if s.Score > 0 {
		return s.Score
	}
	switch s.Rating {
	case "CRITICAL":
		return 9.5
	case "HIGH":
		return 8
	case "MEDIUM":
		return 5.5
	case "LOW":
		return 2
	case "NONE":
		return 0
	}
	return 5
}

// cvssRating maps a CVSS v3 score to its qualitative rating (CVSS v3.1
// specification §5).
func cvssRating(score float64) string {
	switch {
	case score == 0:
		return "NONE"
	case score < 4:
		return "LOW"
	case score < 7:
		return "MEDIUM"
	case score < 9:
		return "HIGH"
	}
	return "CRITICAL"
}

var cvss3Weights = map[string]map[string]float64{
	"AV": {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2},
	"AC": {"L": 0.77, "H": 0.44},
	"PR": {"N": 0.85, "L": 0.62, "H": 0.27}, // L and H change when S:C
	"UI": {"N": 0.85, "R": 0.62},
	"S":  {"U": 0, "C": 0},
	"C":  {"H": 0.56, "L": 0.22, "N": 0},
	"I":  {"H": 0.56, "L": 0.22, "N": 0},
	"A":  {"H": 0.56, "L": 0.22, "N": 0},
}

// Temporal and environmental metrics allowed after the base metrics, with
// their values (CVSS v3.1 specification §2.4, §4).
var cvss3Other = map[string]string{
	"E": "XUPFH", "RL": "XOTWU", "RC": "XURC", "CR": "XLMH", "IR": "XLMH", "AR": "XLMH",
	"MAV": "XNALP", "MAC": "XLH", "MPR": "XNLH", "MUI": "XNR", "MS": "XUC", "MC": "XNLH", "MI": "XNLH", "MA": "XNLH",
}

// CVSS3BaseScore computes the base score of a CVSS v3.0 or v3.1 vector
// string ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H" → 9.8) with the
// formulas of the CVSS v3.1 specification §7.1 and its Roundup (§Appendix
// A); v3.0 vectors use v3.0's simpler round-up. Temporal and environmental
// metrics are checked but do not change the base score.
func CVSS3BaseScore(vector string) (float64, error) {
	prefix, rest, ok := strings.Cut(vector, "/")
	if !ok || (prefix != "CVSS:3.0" && prefix != "CVSS:3.1") {
		return 0, fmt.Errorf("CVSS vector %q: want prefix CVSS:3.0/ or CVSS:3.1/", vector)
	}
	m := make(map[string]string, 8)
	for _, part := range strings.Split(rest, "/") {
		k, v, ok := strings.Cut(part, ":")
		if !ok || v == "" {
			return 0, fmt.Errorf("CVSS vector %q: malformed metric %q", vector, part)
		}
		if _, dup := m[k]; dup {
			return 0, fmt.Errorf("CVSS vector %q: metric %s given twice", vector, k)
		}
		if w, base := cvss3Weights[k]; base {
			if _, ok := w[v]; !ok {
				return 0, fmt.Errorf("CVSS vector %q: invalid value %s:%s", vector, k, v)
			}
		} else if vals, other := cvss3Other[k]; other {
			if len(v) != 1 || !strings.Contains(vals, v) {
				return 0, fmt.Errorf("CVSS vector %q: invalid value %s:%s", vector, k, v)
			}
		} else {
			return 0, fmt.Errorf("CVSS vector %q: unknown metric %s", vector, k)
		}
		m[k] = v
	}
	for _, k := range []string{"AV", "AC", "PR", "UI", "S", "C", "I", "A"} {
		if _, ok := m[k]; !ok {
			return 0, fmt.Errorf("CVSS vector %q: base metric %s missing", vector, k)
		}
	}
	changed := m["S"] == "C"
	pr := cvss3Weights["PR"][m["PR"]]
	if changed {
		switch m["PR"] {
		case "L":
			pr = 0.68
		case "H":
			pr = 0.5
		}
	}
	iss := 1 - (1-cvss3Weights["C"][m["C"]])*(1-cvss3Weights["I"][m["I"]])*(1-cvss3Weights["A"][m["A"]])
	var impact float64
	if changed {
		impact = 7.52*(iss-0.029) - 3.25*math.Pow(iss-0.02, 15)
	} else {
		impact = 6.42 * iss
	}
	expl := 8.22 * cvss3Weights["AV"][m["AV"]] * cvss3Weights["AC"][m["AC"]] * pr * cvss3Weights["UI"][m["UI"]]
	if impact <= 0 {
		return 0, nil
	}
	round := roundup31
	if prefix == "CVSS:3.0" {
		round = func(x float64) float64 { return math.Ceil(x*10) / 10 }
	}
	if changed {
		return round(math.Min(1.08*(impact+expl), 10)), nil
	}
	return round(math.Min(impact+expl, 10)), nil
}

// roundup31 is CVSS v3.1 Appendix A Roundup, which avoids floating-point
// artefacts such as 4.000000000000001 rounding up to 4.1.
func roundup31(x float64) float64 {
	i := int64(math.Round(x * 100000))
	if i%10000 == 0 {
		return float64(i) / 100000
	}
	return float64(i/10000+1) / 10
}
