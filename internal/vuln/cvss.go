package vuln

import (
	"errors"
	"fmt"
	"math"
	"strings"

	cvss40 "github.com/pandatix/go-cvss/40"
)

// Severity is how bad an advisory is, from the best source the record
// offers.
//
// Precedence: a valid CVSS v3.x vector wins over a CVSS v4.0 one, so an
// advisory that carries both keeps the v3 score it had before Ward scored
// v4 and stays comparable with the many advisories that only carry v3;
// v4 and v3 scores of one vulnerability differ (often by a point or more),
// so switching would reorder rankings without new information. A v4.0
// vector is scored only when the record has no valid v3 vector. Source
// says which one Score came from.
type Severity struct {
	// Score is the CVSS base score computed from Vector, 0–10: CVSS v3.x
	// when Source is "CVSS_V3", CVSS v4.0 (CVSS-B, base metrics only) when
	// Source is "CVSS_V4". It is 0 when no valid CVSS v3 or v4 vector was
	// available (Rating may still be set) and when the base score is 0.0
	// (Rating is then "NONE").
	Score float64 `json:"score,omitempty"`
	// Rating is the qualitative rating: "CRITICAL", "HIGH", "MEDIUM",
	// "LOW", "NONE", or "" when the record gives no severity at all. When
	// Score was computed, Rating is Score's band (the same for v3.x and
	// v4.0; see cvssRating).
	Rating string `json:"rating,omitempty"`
	// Vector is the CVSS vector the score came from, if any.
	Vector string `json:"vector,omitempty"`
	// Source says where the severity came from: "CVSS_V3" or "CVSS_V4"
	// (Score and Rating computed from Vector), "database_specific" or
	// "Ubuntu" (Rating only). "CVSS_V4" with Score 0 and a rating other
	// than "NONE" means the v4 vector could not be scored (malformed or
	// partial): Vector is kept and Rating comes from database_specific or
	// Ubuntu, or is "".
	Source string `json:"source,omitempty"`
}

// Weight is the number Prioritise multiplies by exposed devices: the CVSS
// score (v3.x or v4.0, see Source) when known, otherwise the middle of the rating's CVSS band
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

// cvssRating maps a CVSS v3.x or v4.0 score to its qualitative rating:
// None 0.0, Low 0.1–3.9, Medium 4.0–6.9, High 7.0–8.9, Critical 9.0–10.0
// (CVSS v3.1 specification §5; the v4.0 specification §6 keeps the same
// scale).
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

// cvss4NonBase are the CVSS v4.0 threat and environmental metrics, which
// change the score of a vector but not its base score (CVSS v4.0
// specification §1.3, §4, §5). Supplemental metrics never change a score.
var cvss4NonBase = [...]string{"E", "CR", "IR", "AR", "MAV", "MAC", "MAT", "MPR", "MUI", "MVC", "MVI", "MVA", "MSC", "MSI", "MSA"}

// cvss4Metrics is how many metrics CVSS v4.0 defines: 11 base, 1 threat,
// 14 environmental and 6 supplemental.
const cvss4Metrics = 11 + 1 + 14 + 6

// CVSS4BaseScore computes the CVSS-B base score of a CVSS v4.0 vector
// string ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"
// → 9.3) with FIRST's MacroVector scoring: the vector's MacroVector (EQ1–
// EQ6) is looked up in the specification's table and interpolated towards
// the next lower MacroVectors by severity distance (CVSS v4.0
// specification §8). Scoring is done by github.com/pandatix/go-cvss.
//
// The vector must be well formed as the specification requires: the
// CVSS:4.0 prefix, all eleven base metrics, then any threat,
// environmental and supplemental metrics, each at most once and in the
// specification's order. Threat and environmental metrics are checked
// but, as for CVSS3BaseScore, do not change the result: it is the base
// score, as if E, CR/IR/AR and the modified metrics were X.
//
// The result can be 0.1 below FIRST's calculator for vectors whose
// unrounded score lands on a .x5 tie (450 of the 104,976 base vectors,
// none changing the rating): go-cvss rounds without the calculator's
// floating-point epsilon (pandatix/go-cvss#292).
func CVSS4BaseScore(vector string) (score float64, err error) {
	defer func() {
		// go-cvss panics on internal inconsistencies; advisory feeds are
		// untrusted input, so turn any such panic into an error.
		if r := recover(); r != nil {
			score, err = 0, fmt.Errorf("CVSS vector %q: internal error scoring CVSS v4.0: %v", vector, r)
		}
	}()
	if !strings.HasPrefix(vector, "CVSS:4.0/") {
		return 0, fmt.Errorf("CVSS vector %q: want prefix CVSS:4.0/", vector)
	}
	parts := strings.Split(vector, "/")
	if len(parts) > 1+cvss4Metrics {
		return 0, fmt.Errorf("CVSS vector %q: %d metrics, CVSS v4.0 has %d", vector, len(parts)-1, cvss4Metrics)
	}
	c, err := cvss40.ParseVector(vector)
	if err != nil {
		return 0, cvss4Error(vector, parts, err)
	}
	for _, m := range cvss4NonBase {
		if err := c.Set(m, "X"); err != nil {
			return 0, fmt.Errorf("CVSS vector %q: %w", vector, err)
		}
	}
	return math.Max(0, math.Min(10, c.Score())), nil
}

// cvss4Error turns a go-cvss parse error into one that names the offending
// metric: it parses ever longer prefixes of the vector until one fails for
// a reason other than missing base metrics; the last metric of that prefix
// is the culprit. parts is the vector split at "/", at most
// 1+cvss4Metrics long, so this is cheap.
func cvss4Error(vector string, parts []string, err error) error {
	for i := 2; i <= len(parts); i++ {
		_, perr := cvss40.ParseVector(strings.Join(parts[:i], "/"))
		if perr == nil || errors.Is(perr, cvss40.ErrTooShortVector) {
			continue
		}
		part := parts[i-1]
		k, v, ok := strings.Cut(part, ":")
		var unknown *cvss40.ErrInvalidMetric
		switch {
		case !ok || k == "" || v == "":
			return fmt.Errorf("CVSS vector %q: malformed metric %q", vector, part)
		case errors.As(perr, &unknown):
			return fmt.Errorf("CVSS vector %q: unknown metric %s", vector, unknown.Abv)
		case errors.Is(perr, cvss40.ErrInvalidMetricValue):
			return fmt.Errorf("CVSS vector %q: invalid value %s", vector, part)
		case errors.Is(perr, cvss40.ErrInvalidMetricOrder):
			return fmt.Errorf("CVSS vector %q: metric %s unknown, repeated or out of order (CVSS v4.0 fixes the metric order)", vector, k)
		}
		return fmt.Errorf("CVSS vector %q: metric %s: %w", vector, part, perr)
	}
	if errors.Is(err, cvss40.ErrTooShortVector) {
		return fmt.Errorf("CVSS vector %q: base metric missing (want all of AV, AC, AT, PR, UI, VC, VI, VA, SC, SI, SA)", vector)
	}
	return fmt.Errorf("CVSS vector %q: %w", vector, err)
}
