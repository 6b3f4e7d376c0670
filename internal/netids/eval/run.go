package eval

import (
	"context"

	"github.com/wardproject/ward/internal/netids"
)

// Run is the outcome of running a sensor over a labelled capture.
type Run struct {
	Summary netids.Summary
	// Metrics and Curve are the per-packet figures of the scored packets.
	Metrics Metrics
	Curve   []Point
	// Scores and Labels of the scored packets, in order; First is the
	// index of the first scored packet.
	Scores []float64
	Labels []int8
	First  int
	Report Report
}

// Capture runs s over src (netids.Run), keeps what the evaluation needs of
// every packet and evaluates the scores against labels (indexed by packet
// position from 0; packets beyond them are unlabelled). each, if set, is
// called after each packet (for a progress bar).
func Capture(ctx context.Context, src netids.Source, s *netids.Sensor, labels []int8, each func(f *netids.Frame)) (Run, error) {
	var out Run
	out.First = -1
	var recs []Record
	sum, err := netids.Run(ctx, src, s, func(f *netids.Frame, res netids.Result) error {
		if each != nil {
			each(f)
		}
		idx := int(f.Number - 1)
		l := int8(-1)
		if idx < len(labels) {
			l = labels[idx]
		}
		recs = append(recs, Record{Label: l, Learning: res.Learning, Time: res.Time, Src: res.Src, Dst: res.Dst,
			Conn: res.Conn, HasConn: res.HasConn, Score: res.Score, Raw: res.Raw, Rule: res.Evidence[netids.TermRule]})
		if res.Learning || !res.Decoded {
			return nil
		}
		if out.First < 0 {
			out.First = idx
		}
		out.Scores = append(out.Scores, res.Score)
		out.Labels = append(out.Labels, l)
		return nil
	})
	out.Summary = sum
	if err != nil {
		return out, err
	}
	// One class only (an all-benign capture): the per-packet and
	// per-connection metrics stay zero, the per-host figures still count.
	m, curve, _ := Compute(out.Scores, out.Labels, sum.Threshold)
	out.Metrics, out.Curve = m, curve
	var inc []Incident
	for _, in := range s.Incidents() {
		inc = append(inc, Incident{Host: in.Host, First: in.First})
	}
	out.Report = Evaluate(recs, inc, sum.Threshold)
	return out, nil
}
