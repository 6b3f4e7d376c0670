package vuln

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	packageurl "github.com/package-url/packageurl-go"

	"github.com/wardproject/ward/internal/vuln/version"
)

// Finding is one advisory that affects one component.
type Finding struct {
	AdvisoryID string `json:"id"`
	// Aliases are the record's aliases and upstream IDs (CVE, GHSA…).
	Aliases []string `json:"aliases,omitempty"`
	Summary string   `json:"summary,omitempty"`
	// Package is the package name as the advisory writes it; Ecosystem the
	// advisory's ecosystem, e.g. "Alpaquita:23".
	Package   string `json:"package"`
	Ecosystem string `json:"ecosystem"`
	// Component identifies the SBOM component: its purl and its Ref.
	PURL         string `json:"purl,omitempty"`
	ComponentRef string `json:"component_ref,omitempty"`
	// Installed is the version compared (the source package's version when
	// the advisory names the source package).
	Installed string `json:"installed"`
	// Fixed is the first fixed version after Installed, "" when the
	// advisory knows no fix.
	Fixed    string   `json:"fixed,omitempty"`
	Severity Severity `json:"severity"`
	// KEV is true when the advisory is, through its ID, aliases or
	// upstream, a CVE in CISA's KEV catalogue (see the package doc).
	KEV             bool   `json:"kev"`
	KEVCVE          string `json:"kev_cve,omitempty"`
	KEVDateAdded    string `json:"kev_date_added,omitempty"` // YYYY-MM-DD
	KEVDueDate      string `json:"kev_due_date,omitempty"`   // YYYY-MM-DD
	KnownRansomware bool   `json:"known_ransomware,omitempty"`
	// RelatedKEV lists KEV CVEs the advisory names only as "related":
	// context for the reader, not a KEV flag.
	RelatedKEV []string `json:"related_kev,omitempty"`
	// Approximate is true when the decision used the generic fallback
	// ordering because Ward has no ordering for the ecosystem.
	Approximate bool `json:"approximate,omitempty"`
}

// Undecided is a component and an advisory for its package where Ward
// could not tell whether the installed version is affected. Reason says
// why (no release in the purl, a GIT range without a commit, a version the
// ordering cannot parse); the other fields identify the pair.
type Undecided struct {
	AdvisoryID   string `json:"id"`
	PURL         string `json:"purl"`
	ComponentRef string `json:"component_ref,omitempty"`
	Installed    string `json:"installed"`
	Reason       string `json:"reason"`
}

// Unmatched is a component Ward could not look up at all, identified by
// its name, version, purl and ref, with the Reason (CPE only, no purl,
// unsupported purl type, no version).
type Unmatched struct {
	Name         string `json:"name"`
	Version      string `json:"version,omitempty"`
	PURL         string `json:"purl,omitempty"`
	ComponentRef string `json:"component_ref,omitempty"`
	Reason       string `json:"reason"`
}

// Result is the outcome of matching a list of components.
type Result struct {
	Components int `json:"components"` // components given
	LookedUp   int `json:"looked_up"`  // components with a usable purl and version
	Affected   int `json:"affected"`   // components with at least one finding
	// Findings, Undecided and Unmatched are in component order, then by
	// advisory ID.
	Findings  []Finding   `json:"findings"`
	Undecided []Undecided `json:"undecided"`
	Unmatched []Unmatched `json:"unmatched"`
}

// index is the advisories arranged for lookup.
type index struct {
	pkgs map[string][]*entry // base ecosystem + "\x00" + normalised name
	git  map[string][]*entry // normalised repository URL
}

type entry struct {
	adv      *Advisory
	aff      *Affected
	base     string
	release  string
	scheme   *version.Scheme // ECOSYSTEM ordering, also for versions lists
	ranges   []prange
	versions []string
}

type evKind int

const (
	evIntroduced evKind = iota
	evLastAffected
	evFixed
	evLimit
)

type pevent struct {
	kind evKind
	raw  string
	v    version.Version // nil for "0" introduced, "*" limit and GIT
}

type prange struct {
	typ    string
	scheme *version.Scheme
	repo   string
	events []pevent // sorted, limits excluded
	limits []pevent
	err    error // an event version does not parse
}

func buildIndex(advs map[string]*Advisory) *index {
	ix := &index{pkgs: map[string][]*entry{}, git: map[string][]*entry{}}
	ids := make([]string, 0, len(advs))
	for id := range advs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		a := advs[id]
		if a.IsWithdrawn() {
			continue
		}
		for i := range a.Affected {
			aff := &a.Affected[i]
			e := &entry{adv: a, aff: aff, versions: aff.Versions}
			eco := ""
			if aff.Package != nil {
				eco = aff.Package.Ecosystem
				e.base, e.release = osvRelease(eco)
			}
			e.scheme = version.ForEcosystem(eco)
			repos := map[string]bool{}
			for _, r := range aff.Ranges {
				pr := prange{typ: r.Type, repo: normRepo(r.Repo)}
				switch r.Type {
				case "SEMVER":
					pr.scheme = version.SemVerScheme
					if e.base == "Go" {
						pr.scheme = version.GoScheme
					}
				case "ECOSYSTEM":
					pr.scheme = e.scheme
				case "GIT":
					if pr.repo != "" {
						repos[pr.repo] = true
					}
				}
				pr.err = pr.load(r.Events)
				e.ranges = append(e.ranges, pr)
			}
			if aff.Package != nil {
				key := e.base + "\x00" + normName(e.base, aff.Package.Name)
				ix.pkgs[key] = append(ix.pkgs[key], e)
			}
			for repo := range repos {
				ix.git[repo] = append(ix.git[repo], e)
			}
		}
	}
	return ix
}

// load parses and sorts a range's events as OSV's evaluation requires:
// by version, with "0" first and, at equal versions, introduced before
// last_affected before fixed.
func (pr *prange) load(events []Event) error {
	for _, ev := range events {
		var pe pevent
		switch {
		case ev.Introduced != "":
			pe = pevent{kind: evIntroduced, raw: ev.Introduced}
		case ev.Fixed != "":
			pe = pevent{kind: evFixed, raw: ev.Fixed}
		case ev.LastAffected != "":
			pe = pevent{kind: evLastAffected, raw: ev.LastAffected}
		case ev.Limit != "":
			pe = pevent{kind: evLimit, raw: ev.Limit}
		default:
			continue
		}
		if pr.scheme != nil && !(pe.kind == evIntroduced && pe.raw == "0") && !(pe.kind == evLimit && pe.raw == "*") {
			v, err := pr.scheme.Parse(pe.raw)
			if err != nil {
				return err
			}
			pe.v = v
		}
		if pe.kind == evLimit {
			pr.limits = append(pr.limits, pe)
		} else {
			pr.events = append(pr.events, pe)
		}
	}
	if pr.scheme == nil {
		return nil
	}
	sort.SliceStable(pr.events, func(i, j int) bool {
		a, b := pr.events[i], pr.events[j]
		switch {
		case a.v == nil && b.v == nil:
			return a.kind < b.kind
		case a.v == nil:
			return true
		case b.v == nil:
			return false
		}
		if c := version.Compare(a.v, b.v); c != 0 {
			return c < 0
		}
		return a.kind < b.kind
	})
	return nil
}

// affects evaluates OSV's algorithm for one range
// (https://ossf.github.io/osv-schema/#evaluation): walking the sorted
// events, introduced ("0", or ≤ v) sets affected, fixed ≤ v clears it,
// last_affected < v clears it; and if the range has limit events, v must
// be below one of them. It returns the first fixed version above v.
func (pr *prange) affects(v version.Version) (affected bool, fixed string) {
	for _, ev := range pr.events {
		switch ev.kind {
		case evIntroduced:
			if ev.v == nil || version.Compare(v, ev.v) >= 0 {
				affected = true
			}
		case evFixed:
			if version.Compare(v, ev.v) >= 0 {
				affected = false
			} else if fixed == "" && affected {
				fixed = ev.raw
			}
		case evLastAffected:
			if version.Compare(v, ev.v) > 0 {
				affected = false
			}
		}
	}
	if affected && len(pr.limits) > 0 {
		below := false
		for _, l := range pr.limits {
			if l.v == nil || version.Compare(v, l.v) < 0 {
				below = true
			}
		}
		affected = below
	}
	if !affected {
		fixed = ""
	}
	return affected, fixed
}

type status int

const (
	notAffected status = iota
	undecided
	affectedStatus
)

type verdict struct {
	st      status
	fixed   string
	approx  bool
	reason  string
	version string // the installed version compared
}

// evaluate decides one affected entry for one installed version and commit.
func (e *entry) evaluate(installed, commit string) verdict {
	best := verdict{version: installed}
	unknown := func(format string, args ...any) {
		if best.st == notAffected {
			best.st, best.reason = undecided, fmt.Sprintf(format, args...)
		}
	}
	hit := func(fixed string, approx bool) {
		if best.st != affectedStatus || (best.fixed == "" && fixed != "") {
			best.st, best.fixed, best.approx, best.reason = affectedStatus, fixed, approx, ""
		}
	}
	parsed := map[*version.Scheme]version.Version{}
	parse := func(s *version.Scheme) (version.Version, error) {
		if v, ok := parsed[s]; ok {
			return v, nil
		}
		v, err := s.Parse(installed)
		if err == nil {
			parsed[s] = v
		}
		return v, err
	}
	for i := range e.ranges {
		pr := &e.ranges[i]
		switch pr.typ {
		case "GIT":
			if commit == "" {
				unknown("GIT range in %s: the component gives no commit, and Ward does not map versions to commits", pr.repo)
				continue
			}
			gitVerdict(pr, commit, hit, unknown)
		case "SEMVER", "ECOSYSTEM":
			if pr.err != nil {
				unknown("the advisory's %s range has a version Ward cannot order: %v", pr.typ, pr.err)
				continue
			}
			v, err := parse(pr.scheme)
			if err != nil {
				unknown("installed version cannot be ordered against this %s range: %v", pr.typ, err)
				continue
			}
			if aff, fixed := pr.affects(v); aff {
				hit(fixed, pr.scheme.Approximate)
			}
		default:
			unknown("unknown range type %q", pr.typ)
		}
	}
	if best.st != affectedStatus && len(e.versions) > 0 {
		v, err := parse(e.scheme)
		for _, listed := range e.versions {
			if listed == installed {
				hit("", false)
				break
			}
			if err == nil {
				if lv, lerr := e.scheme.Parse(listed); lerr == nil && version.Compare(v, lv) == 0 {
					hit("", e.scheme.Approximate)
					break
				}
			}
		}
		if best.st == affectedStatus {
			// A range may still know the fix for a listed version.
			for i := range e.ranges {
				pr := &e.ranges[i]
				if pr.typ == "GIT" || pr.err != nil {
					continue
				}
				if v, err := parse(pr.scheme); err == nil {
					if _, fixed := pr.affects(v); fixed != "" {
						best.fixed = fixed
						break
					}
				}
			}
		}
	}
	if len(e.ranges) == 0 && len(e.versions) == 0 {
		unknown("the advisory lists neither ranges nor versions for this package")
	}
	return best
}

// gitVerdict decides a GIT range from the commit alone: the commit is
// affected when it is an introduced or last_affected event of the range,
// and not affected when it is a fixed or limit event. Anything else needs
// the repository's history, which Ward does not have offline.
func gitVerdict(pr *prange, commit string, hit func(string, bool), unknown func(string, ...any)) {
	for _, ev := range pr.limits {
		if ev.raw == commit {
			return
		}
	}
	for _, ev := range pr.events {
		if ev.raw != commit {
			continue
		}
		switch ev.kind {
		case evIntroduced, evLastAffected:
			hit("", false)
		}
		return
	}
	unknown("GIT range in %s: commit %s is not one of the range's events; placing it needs the repository history", pr.repo, commit)
}

var embeddedCVE = regexp.MustCompile(`CVE-[0-9]{4}-[0-9]{4,}$`)

// identityCVEs are the CVEs an advisory is: its own ID if a CVE, the CVE
// its ID is derived from (UBUNTU-CVE-…, BELL-CVE-…), its aliases and its
// upstream IDs.
func identityCVEs(a *Advisory) []string {
	var out []string
	seen := map[string]bool{}
	addCVE := func(id string) {
		if strings.HasPrefix(id, "CVE-") && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	addCVE(embeddedCVE.FindString(a.ID))
	for _, s := range a.Aliases {
		addCVE(s)
	}
	for _, s := range a.Upstream {
		addCVE(s)
	}
	return out
}

// Match looks every component up in the advisories and decides, for each
// advisory of its package, whether the installed version is affected. See
// the package documentation for the rules.
func (db *DB) Match(components []Component) *Result {
	ix, kev := db.snapshot()
	res := &Result{Components: len(components), Findings: []Finding{}, Undecided: []Undecided{}, Unmatched: []Unmatched{}}
	for i := range components {
		c := &components[i]
		unmatched := func(reason string) {
			res.Unmatched = append(res.Unmatched, Unmatched{Name: c.Name, Version: c.Version, PURL: c.PURL, ComponentRef: c.Ref, Reason: reason})
		}
		if c.PURL == "" {
			if len(c.CPEs) > 0 {
				unmatched("CPE only: Ward matches by purl and does not guess packages from CPEs; add a purl")
			} else {
				unmatched("no purl")
			}
			continue
		}
		pu, err := packageurl.FromString(c.PURL)
		if err != nil {
			unmatched(fmt.Sprintf("invalid purl: %v", err))
			continue
		}
		id := identify(pu)
		installed := c.Version
		if installed == "" {
			installed = pu.Version
		}
		if ep := pu.Qualifiers.Map()["epoch"]; ep != "" && ep != "0" && !strings.Contains(installed, ":") && installed != "" {
			installed = ep + ":" + installed
		}
		commit := c.Commit
		if commit == "" && isCommit(pu.Version) {
			commit = pu.Version
		}
		repo := normRepo(c.VCS)
		if repo == "" {
			repo = id.repo
		}
		if id.base == "" && ix.git[repo] == nil {
			unmatched(fmt.Sprintf("purl type %q has no OSV ecosystem", pu.Type))
			continue
		}
		if installed == "" && commit == "" {
			unmatched("no version")
			continue
		}
		res.LookedUp++
		type cand struct {
			e         *entry
			installed string
		}
		var cands []cand
		if id.base != "" {
			for _, e := range ix.pkgs[id.base+"\x00"+normName(id.base, id.name)] {
				cands = append(cands, cand{e, installed})
			}
			src := c.SourceName
			if src == "" {
				src = id.srcName
			}
			if src != "" && normName(id.base, src) != normName(id.base, id.name) {
				sv := c.SourceVersion
				if sv == "" {
					sv = id.srcVersion
				}
				if sv == "" {
					sv = installed
				}
				for _, e := range ix.pkgs[id.base+"\x00"+normName(id.base, src)] {
					cands = append(cands, cand{e, sv})
				}
			}
		}
		if repo != "" {
			for _, e := range ix.git[repo] {
				cands = append(cands, cand{e, installed})
			}
		}
		// Decide per advisory: affected if any of its entries says so.
		type agg struct {
			v verdict
			e *entry
		}
		byAdv := map[string]*agg{}
		var order []string
		for _, cd := range cands {
			e := cd.e
			var v verdict
			switch {
			case e.release != "" && id.release == "" && id.distroRequired:
				v = verdict{st: undecided, version: cd.installed, reason: fmt.Sprintf("advisory is for %s but the purl has no distro qualifier to tell the release", e.aff.Package.Ecosystem)}
			case e.release != "" && e.release != id.release:
				continue
			default:
				v = e.evaluate(cd.installed, commit)
			}
			a, ok := byAdv[e.adv.ID]
			if !ok {
				a = &agg{v: v, e: e}
				byAdv[e.adv.ID] = a
				order = append(order, e.adv.ID)
			} else if v.st > a.v.st {
				a.v, a.e = v, e
			}
		}
		sort.Strings(order)
		hit := false
		for _, advID := range order {
			a := byAdv[advID]
			switch a.v.st {
			case affectedStatus:
				hit = true
				res.Findings = append(res.Findings, newFinding(a.e, a.v, c, kev))
			case undecided:
				res.Undecided = append(res.Undecided, Undecided{AdvisoryID: advID, PURL: c.PURL, ComponentRef: c.Ref, Installed: a.v.version, Reason: a.v.reason})
			}
		}
		if hit {
			res.Affected++
		}
	}
	return res
}

func newFinding(e *entry, v verdict, c *Component, kev map[string]KEVEntry) Finding {
	a := e.adv
	f := Finding{
		AdvisoryID:   a.ID,
		Summary:      a.Summary,
		PURL:         c.PURL,
		ComponentRef: c.Ref,
		Installed:    v.version,
		Fixed:        v.fixed,
		Severity:     severityOf(a, e.aff),
		Approximate:  v.approx,
	}
	f.Aliases = append(append([]string(nil), a.Aliases...), a.Upstream...)
	if e.aff.Package != nil {
		f.Package, f.Ecosystem = e.aff.Package.Name, e.aff.Package.Ecosystem
	} else if len(e.ranges) > 0 {
		f.Package, f.Ecosystem = e.ranges[0].repo, "GIT"
	}
	for _, cve := range identityCVEs(a) {
		k, ok := kev[cve]
		if !ok {
			continue
		}
		if !f.KEV || k.DateAdded < f.KEVDateAdded {
			f.KEV, f.KEVCVE, f.KEVDateAdded, f.KEVDueDate = true, cve, k.DateAdded, k.DueDate
			f.KnownRansomware = k.KnownRansomware()
		}
	}
	ident := map[string]bool{}
	for _, cve := range identityCVEs(a) {
		ident[cve] = true
	}
	for _, r := range a.Related {
		if _, ok := kev[r]; ok && !ident[r] {
			f.RelatedKEV = append(f.RelatedKEV, r)
		}
	}
	return f
}

// snapshot returns the index (building it if advisories changed) and the
// KEV map. Both are read-only once returned.
func (db *DB) snapshot() (*index, map[string]KEVEntry) {
	db.mu.RLock()
	ix, kev := db.idx, db.kev
	db.mu.RUnlock()
	if ix != nil {
		return ix, kev
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.idx == nil {
		db.idx = buildIndex(db.advisories)
	}
	return db.idx, db.kev
}
