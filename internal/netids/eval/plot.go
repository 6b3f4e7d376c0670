package eval

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// maxPlotPoints bounds the points drawn per series; longer series are
// thinned, keeping each bucket's largest score so spikes stay visible.
const maxPlotPoints = 20000

// PlotROC writes the ROC curve to path (PNG) with a log-scaled FPR axis, so
// the low-FPR region where alarms live is readable.
func PlotROC(path, title string, curve []Point, m Metrics) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s\nAUC %.4f  EER %.4f  TPR@FPR≤0.1%% %.3f  TPR@FPR≤1%% %.3f", title, m.AUC, m.EER, m.TPR001, m.TPR01)
	p.X.Label.Text = "false-positive rate (log scale)"
	p.Y.Label.Text = "true-positive rate"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	floor := 1e-5
	pts := make(plotter.XYs, 0, len(curve))
	step := max(1, len(curve)/maxPlotPoints)
	for i, c := range curve {
		if i%step != 0 && i != len(curve)-1 {
			continue
		}
		pts = append(pts, plotter.XY{X: math.Max(c.FPR, floor), Y: c.TPR})
	}
	l, err := plotter.NewLine(pts)
	if err != nil {
		return fmt.Errorf("plot ROC: %w", err)
	}
	l.Color = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	l.Width = vg.Points(2)
	p.Add(l, plotter.NewGrid())
	for _, x := range []float64{0.001, 0.01} {
		v, _ := plotter.NewLine(plotter.XYs{{X: x, Y: 0}, {X: x, Y: 1}})
		v.Dashes = []vg.Length{vg.Points(4), vg.Points(4)}
		v.Color = color.Gray{Y: 0x80}
		p.Add(v)
	}
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = floor, 1, 0, 1.02
	if err := p.Save(8*vg.Inch, 6*vg.Inch, path); err != nil {
		return fmt.Errorf("plot ROC: %w", err)
	}
	return nil
}

// PlotScores writes the score of every packet over packet number to path
// (PNG, log-scaled scores): benign and malicious packets in two colours
// (label -1: unlabelled, drawn as benign), the alert threshold as a line.
func PlotScores(path, title string, scores []float64, labels []int8, first int, threshold float64) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "packet number"
	p.Y.Label.Text = "anomaly score (log scale)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	var benign, bad plotter.XYs
	step := max(1, len(scores)/maxPlotPoints)
	lo := math.Inf(1)
	for i := 0; i < len(scores); i += step {
		// keep the largest score of the bucket per class
		bi, mi := -1.0, -1.0
		for j := i; j < min(i+step, len(scores)); j++ {
			s := scores[j]
			if s <= 0 {
				continue
			}
			lo = math.Min(lo, s)
			if j < len(labels) && labels[j] == 1 {
				mi = math.Max(mi, s)
			} else {
				bi = math.Max(bi, s)
			}
		}
		x := float64(first + i + 1)
		if bi > 0 {
			benign = append(benign, plotter.XY{X: x, Y: bi})
		}
		if mi > 0 {
			bad = append(bad, plotter.XY{X: x, Y: mi})
		}
	}
	add := func(xy plotter.XYs, c color.Color, name string) error {
		if len(xy) == 0 {
			return nil
		}
		sc, err := plotter.NewScatter(xy)
		if err != nil {
			return err
		}
		sc.GlyphStyle.Color = c
		sc.GlyphStyle.Radius = vg.Points(1)
		sc.GlyphStyle.Shape = draw.CircleGlyph{}
		p.Add(sc)
		p.Legend.Add(name, sc)
		return nil
	}
	if err := add(benign, color.RGBA{G: 0x80, B: 0x30, A: 0xff}, "benign"); err != nil {
		return fmt.Errorf("plot scores: %w", err)
	}
	if err := add(bad, color.RGBA{R: 0xd0, A: 0xff}, "malicious"); err != nil {
		return fmt.Errorf("plot scores: %w", err)
	}
	if threshold > 0 && len(scores) > 0 {
		l, err := plotter.NewLine(plotter.XYs{{X: float64(first + 1), Y: threshold}, {X: float64(first + len(scores)), Y: threshold}})
		if err == nil {
			l.Color = color.Black
			l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
			p.Add(l)
			p.Legend.Add(fmt.Sprintf("alert threshold %.3g", threshold), l)
		}
		lo = math.Min(lo, threshold)
	}
	if !math.IsInf(lo, 1) {
		p.Y.Min = lo / 2
	}
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	if err := p.Save(10*vg.Inch, 5*vg.Inch, path); err != nil {
		return fmt.Errorf("plot scores: %w", err)
	}
	return nil
}
