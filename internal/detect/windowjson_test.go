package detect

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

// TestDatapointJSONIsMarshal: the stored metric window is byte for byte
// what json.Marshal wrote before (the API and the console read it), for
// ordinary datapoints and for every case the fast path hands back:
// strings JSON escapes, non-finite values, zones other than UTC, nil and
// empty sets.
func TestDatapointJSONIsMarshal(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	strs := []string{"d1", "devices/d1/telemetry", "a<b>&c", `q"uote\`, "tab\t", "é", "\u2028", "\xff", "", "10.0.0.1"}
	floats := []float64{0, 1, -1, 0.5, 1e-7, 1e-6, 123456789, 1e20, 1e21, 1.5e300, math.SmallestNonzeroFloat64, 2.5e-12, math.NaN(), math.Inf(1)}
	zones := []*time.Location{time.UTC, time.Local, time.FixedZone("x", 3600), time.FixedZone("s", 30)}
	for i := range 5000 {
		dp := Datapoint{Device: strs[r.IntN(len(strs))], Window: time.Duration(r.Int64N(1e12)),
			Start: time.Unix(r.Int64N(4e9), r.Int64N(1e9)).In(zones[r.IntN(len(zones))]),
			End:   time.Unix(r.Int64N(4e9), 0).In(zones[r.IntN(len(zones))])}
		if r.IntN(8) > 0 {
			dp.Values = map[string]float64{}
			for range r.IntN(30) {
				dp.Values[[]string{MessagesSent, BytesSent, TopicCount, strs[r.IntN(len(strs))]}[r.IntN(4)]] = floats[r.IntN(len(floats)-2*min(1, r.IntN(50)))]
			}
		}
		if r.IntN(3) > 0 {
			dp.Sets = map[string][]string{}
			for range r.IntN(4) {
				var vs []string
				if r.IntN(5) > 0 {
					vs = []string{}
				}
				for range r.IntN(4) {
					vs = append(vs, strs[r.IntN(len(strs))])
				}
				dp.Sets[[]string{Topics, SourceIPs, strs[r.IntN(len(strs))]}[r.IntN(3)]] = vs
			}
		}
		checkDatapointJSON(t, i, &dp)
	}
}

func checkDatapointJSON(t *testing.T, i int, dp *Datapoint) {
	t.Helper()
	want, wantErr := json.Marshal(dp)
	got, err := appendDatapointJSON([]byte("x"), dp)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("case %d: error %v, json.Marshal's %v", i, err, wantErr)
	}
	if wantErr == nil && !bytes.Equal(got, append([]byte("x"), want...)) {
		t.Fatalf("case %d:\n got %s\nwant x%s", i, got, want)
	}
}

// TestMetricWindowsLeavesOutUnencodable: metricWindows keeps the order,
// encodes each datapoint and drops (and counts) one json.Marshal rejects.
func TestMetricWindowsLeavesOutUnencodable(t *testing.T) {
	end := time.Date(2026, 11, 25, 0, 1, 0, 0, time.UTC)
	dps := benchDatapoints("d", 5000, end, time.Minute)
	dps[1234].Values[BytesSent] = math.NaN()
	ws, bad := metricWindows(dps)
	if bad != 1 || len(ws) != len(dps)-1 {
		t.Fatalf("metricWindows: %d windows, %d bad; want %d, 1", len(ws), bad, len(dps)-1)
	}
	for i, w := range ws {
		j := i
		if i >= 1234 {
			j++
		}
		want, _ := json.Marshal(dps[j])
		if w.DeviceID != dps[j].Device || w.Window != time.Minute || !w.Start.Equal(end.Add(-time.Minute)) || !bytes.Equal(w.JSON, want) {
			t.Fatalf("window %d = %s %v %v %s; want datapoint %d", i, w.DeviceID, w.Window, w.Start, w.JSON, j)
		}
	}
}

// FuzzDatapointJSON: any device, metric, value and member is written as
// json.Marshal writes it.
func FuzzDatapointJSON(f *testing.F) {
	f.Add("d1", "messages_sent", 1.5, "devices/d1/x", int64(0))
	f.Add("<&>", "\x00", 1e-9, "\xff", int64(3600))
	f.Fuzz(func(t *testing.T, dev, metric string, v float64, member string, off int64) {
		dp := Datapoint{Device: dev, Window: time.Minute, Start: time.Unix(off*997, 0).In(time.FixedZone("z", int(off%86400))), End: time.Unix(off, 5),
			Values: map[string]float64{metric: v, MessagesSent: 2}, Sets: map[string][]string{metric: {member, dev}}}
		checkDatapointJSON(t, 0, &dp)
	})
}

// TestUnionSortedIsUnionCapped: the merge of sorted sets gives what the
// general union gives, at and around the cap.
func TestUnionSortedIsUnionCapped(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 20000 {
		set := func() []string {
			var s []string
			if r.IntN(6) > 0 {
				s = []string{}
			}
			for range r.IntN(6) {
				s = append(s, string(rune('a'+r.IntN(8))))
			}
			if r.IntN(4) > 0 {
				s = unionGeneral(nil, s, 100)
			}
			return s
		}
		a, b, limit := set(), set(), 1+r.IntN(10)
		want := unionGeneral(a, b, limit)
		if got := unionCapped(a, b, limit); fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", want) {
			t.Fatalf("case %d: unionCapped(%q, %q, %d) = %#v, want %#v", i, a, b, limit, got, want)
		}
	}
}

// unionGeneral is unionCapped as it was before its sorted fast path.
func unionGeneral(a, b []string, limit int) []string {
	seen := make(map[string]bool, len(a)+len(b))
	out := make([]string, 0, len(a)+len(b))
	for _, s := range append(append([]string{}, a...), b...) {
		if !seen[s] && len(out) < limit {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// TestMergeIntoEmptyIsMerge: a longer window's first datapoint (merged
// into an empty one by copying its table) is what the general merge
// makes of it.
func TestMergeIntoEmptyIsMerge(t *testing.T) {
	end := time.Date(2026, 11, 25, 0, 1, 0, 0, time.UTC)
	dps := benchDatapoints("d", 200, end, time.Minute)
	for i := range dps {
		for j, k := range NumericMetrics {
			if _, ok := dps[i].Values[k]; !ok && (i+j)%3 == 0 {
				dps[i].Values[k] = float64((i * j) % 4)
			}
		}
	}
	dps = append(dps, Datapoint{Device: "empty"})
	for _, dp := range dps {
		fast, general := Datapoint{Device: dp.Device}, Datapoint{Device: dp.Device, Values: map[string]float64{}}
		fast.merge(dp)
		general.merge(dp)
		a, _ := json.Marshal(fast)
		b, _ := json.Marshal(general)
		if !bytes.Equal(a, b) {
			t.Fatalf("merge into an empty datapoint:\n got %s\nwant %s", a, b)
		}
		if len(dp.Values) > 0 {
			fast.Values[MessagesSent]++
			if dp.Values[MessagesSent] == fast.Values[MessagesSent] {
				t.Fatal("the merged datapoint shares its values with the merged one")
			}
		}
	}
}
