package vuln

import (
	"fmt"
	"testing"
)

// BenchmarkMatch measures component × advisory matching: a 200-component
// firmware SBOM against the shared OSV records (94) plus 5,000 synthetic
// Go and Alpaquita records spread over 1,000 packages. It reports
// components per second and candidate pairs evaluated per second.
func BenchmarkMatch(b *testing.B) {
	db, _ := sharedDB(b)
	var recs []*Advisory
	for i := 0; i < 5000; i++ {
		pkg := fmt.Sprintf("pkg%d", i%1000)
		recs = append(recs,
			&Advisory{ID: fmt.Sprintf("GO-SYN-%d", i), Affected: []Affected{{
				Package: &OSVPackage{Ecosystem: "Go", Name: "example.com/" + pkg},
				Ranges:  []Range{{Type: "SEMVER", Events: []Event{{Introduced: "0"}, {Fixed: fmt.Sprintf("1.%d.0", i%50)}}}},
			}}},
			&Advisory{ID: fmt.Sprintf("BELL-SYN-%d", i), Affected: []Affected{{
				Package: &OSVPackage{Ecosystem: "Alpaquita:23", Name: pkg},
				Ranges:  []Range{{Type: "ECOSYSTEM", Events: []Event{{Introduced: "1.0.0-r0"}, {Fixed: fmt.Sprintf("1.%d.0-r3", i%50)}}}},
			}}})
	}
	db.add(recs, &ImportReport{})
	var comps []Component
	for i := 0; i < 100; i++ {
		comps = append(comps,
			Component{PURL: fmt.Sprintf("pkg:golang/example.com/pkg%d@v1.20.0", i*7), Version: fmt.Sprintf("v1.%d.0", i%60)},
			Component{PURL: fmt.Sprintf("pkg:apk/alpaquita/pkg%d@1.20.0-r1?distro=23", i*7), Version: fmt.Sprintf("1.%d.0-r1", i%60)})
	}
	db.Match(comps)         // build the index outside the timer
	pairs := len(comps) * 5 // each synthetic package has 5 advisories per ecosystem
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		db.Match(comps)
	}
	b.ReportMetric(float64(len(comps)*b.N)/b.Elapsed().Seconds(), "components/s")
	b.ReportMetric(float64(pairs*b.N)/b.Elapsed().Seconds(), "pairs/s")
}
