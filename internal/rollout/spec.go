package rollout

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/wardproject/ward/internal/alert"
	"github.com/wardproject/ward/internal/update"
)

// ErrBadSpec is wrapped by every error about a rollout's parameters.
var ErrBadSpec = errors.New("invalid rollout")

// Spec is what an operator asks for. Its JSON field names are the API's.
type Spec struct {
	Model   string `json:"model"`
	Version string `json:"version"`
	// Waves are cumulative percentages, ascending, the last 100: "1%,10%,50%,100%".
	Waves []float64 `json:"waves"`
	// MaxFailure is the share of a wave, in percent, that may fail.
	MaxFailure float64 `json:"max_failure"`
	// HaltOnAlerts is the alert severity that halts the rollout (low,
	// medium, high, critical; "" or "none": alerts do not).
	HaltOnAlerts string `json:"halt_on_alerts,omitempty"`
	// Soak is how long a wave's devices must stay healthy after its last
	// install (Go duration, "10m"; "": DefaultSoak).
	Soak string `json:"soak,omitempty"`
}

// DefaultSoak is the soak time when a Spec names none.
const DefaultSoak = 10 * time.Minute

// maxWaves bounds the number of waves.
const maxWaves = 100

// check validates the spec and returns its soak time.
func (s *Spec) check() (time.Duration, error) {
	bad := func(format string, args ...any) (time.Duration, error) {
		return 0, fmt.Errorf("%w: %s", ErrBadSpec, fmt.Sprintf(format, args...))
	}
	if _, err := update.TargetPath(s.Model, s.Version, "x"); err != nil {
		return bad("%v", err)
	}
	if len(s.Waves) == 0 || len(s.Waves) > maxWaves {
		return bad("waves: give 1 to %d cumulative percentages, such as 1%%,10%%,50%%,100%%", maxWaves)
	}
	prev := 0.0
	for _, w := range s.Waves {
		if math.IsNaN(w) || w <= prev || w > 100 {
			return bad("waves %s: each percentage must be above the previous one and at most 100%%", FormatWaves(s.Waves))
		}
		prev = w
	}
	if prev != 100 {
		return bad("waves %s: the last wave must be 100%%", FormatWaves(s.Waves))
	}
	if math.IsNaN(s.MaxFailure) || s.MaxFailure < 0 || s.MaxFailure >= 100 {
		return bad("max-failure %v%%: must be at least 0%% and below 100%%", s.MaxFailure)
	}
	switch h := strings.ToLower(s.HaltOnAlerts); h {
	case "", "none":
		s.HaltOnAlerts = ""
	default:
		if !alert.Severity(h).Valid() {
			return bad("halt-on-alerts %q: use low, medium, high, critical or none", s.HaltOnAlerts)
		}
		s.HaltOnAlerts = h
	}
	soak := DefaultSoak
	if s.Soak != "" {
		d, err := time.ParseDuration(s.Soak)
		if err != nil || d < 0 || d > 30*24*time.Hour {
			return bad("soak %q: a duration such as 10m, between 0 and 720h", s.Soak)
		}
		soak = d
	}
	return soak, nil
}

// ParsePercent parses "2%" or "2" (percent) or "0.5%".
func ParsePercent(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s), "%"), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%w: %q is not a percentage (such as 2%%)", ErrBadSpec, s)
	}
	return v, nil
}

// ParseWaves parses a comma-separated list of cumulative percentages:
// "1%,10%,50%,100%".
func ParseWaves(s string) ([]float64, error) {
	var out []float64
	for p := range strings.SplitSeq(s, ",") {
		v, err := ParsePercent(p)
		if err != nil {
			return nil, fmt.Errorf("waves: %w", err)
		}
		out = append(out, v)
	}
	return out, nil
}

// FormatWaves renders waves as ParseWaves reads them.
func FormatWaves(ws []float64) string {
	parts := make([]string, len(ws))
	for i, w := range ws {
		parts[i] = strconv.FormatFloat(w, 'f', -1, 64) + "%"
	}
	return strings.Join(parts, ",")
}

// assignWaves orders ids by SHA-256(rolloutID "/" id) and returns each
// id's wave: wave k ends at ceil(waves[k] % of n), at least one past the
// previous wave's end while devices remain.
func assignWaves(rolloutID string, ids []string, waves []float64) map[string]int {
	type keyed struct {
		id  string
		key [32]byte
	}
	ks := make([]keyed, len(ids))
	for i, id := range ids {
		ks[i] = keyed{id, sha256.Sum256([]byte(rolloutID + "/" + id))}
	}
	sort.Slice(ks, func(i, j int) bool {
		if c := strings.Compare(string(ks[i].key[:]), string(ks[j].key[:])); c != 0 {
			return c < 0
		}
		return ks[i].id < ks[j].id
	})
	out := make(map[string]int, len(ids))
	n := len(ks)
	start := 0
	for w, pct := range waves {
		end := int(math.Ceil(pct*float64(n)/100 - 1e-9)) // 1e-9: no rounding up of 10.000000001
		if end <= start && start < n {
			end = start + 1
		}
		end = min(end, n)
		if w == len(waves)-1 {
			end = n
		}
		for _, k := range ks[start:end] {
			out[k.id] = w
		}
		start = end
	}
	return out
}
