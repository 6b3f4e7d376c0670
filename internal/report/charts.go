package report

import (
	"fmt"
	"html"
	"html/template"
	"strings"

	"github.com/wardproject/ward/internal/audit"
)

// Colours shared by the charts and the CSS.
var sevColour = map[audit.Severity]string{
	audit.Critical: "#7f1d1d", audit.High: "#dc2626", audit.Medium: "#f59e0b", audit.Low: "#2563eb", audit.Info: "#6b7280",
}

const (
	passColour = "#16a34a"
	failColour = "#dc2626"
	naColour   = "#d1d5db"
)

// svg builds one chart. Only numbers and html.EscapeString'd labels go
// into the markup, so it is safe to mark as template.HTML.
type svg struct{ b strings.Builder }

func (s *svg) f(format string, args ...any) { fmt.Fprintf(&s.b, format, args...) }

func esc(s string) string { return html.EscapeString(s) }

// severityChart is a bar chart of open findings by severity.
func severityChart(c SeverityCounts) template.HTML {
	bars := []struct {
		sev audit.Severity
		n   int
	}{{audit.Critical, c.Critical}, {audit.High, c.High}, {audit.Medium, c.Medium}, {audit.Low, c.Low}, {audit.Info, c.Info}}
	top := 1
	for _, b := range bars {
		top = max(top, b.n)
	}
	const w, h, base, bw = 380, 190, 160, 52
	var s svg
	s.f(`<svg viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-labelledby="sev-title"><title id="sev-title">Open findings by severity</title>`, w, h, w, h)
	s.f(`<line x1="10" y1="%d" x2="%d" y2="%d" stroke="#9ca3af"/>`, base, w-10, base)
	for i, b := range bars {
		x := 20 + i*(bw+20)
		bh := b.n * 130 / top
		if b.n > 0 && bh < 2 {
			bh = 2
		}
		s.f(`<rect x="%d" y="%d" width="%d" height="%d" fill="%s" rx="2"><title>%s: %d</title></rect>`, x, base-bh, bw, bh, sevColour[b.sev], esc(string(b.sev)), b.n)
		s.f(`<text x="%d" y="%d" text-anchor="middle" class="v">%d</text>`, x+bw/2, base-bh-5, b.n)
		s.f(`<text x="%d" y="%d" text-anchor="middle" class="l">%s</text>`, x+bw/2, base+18, esc(string(b.sev)))
	}
	s.f(`</svg>`)
	return template.HTML(s.b.String())
}

// provisionChart is a stacked horizontal bar per provision group: pass,
// fail, not assessed.
func provisionChart(sc audit.Scorecard) template.HTML {
	std, _ := audit.LookupStandard(sc.Standard)
	type row struct {
		label            string
		pass, fail, none int
	}
	var rows []row
	at := map[string]int{}
	for _, g := range std.Groups {
		at[g.Ref] = len(rows)
		label := g.Ref // CRA: "Annex I Part II"; ETSI: "5.3 Keep software updated"
		if len(g.Ref) <= 4 && g.Title != "" {
			label = g.Ref + " " + g.Title
		}
		rows = append(rows, row{label: label})
	}
	for _, p := range sc.Provisions {
		i, ok := at[p.Group]
		if !ok {
			at[p.Group] = len(rows)
			i = len(rows)
			rows = append(rows, row{label: p.Group})
		}
		switch p.Status {
		case audit.Pass:
			rows[i].pass++
		case audit.Fail:
			rows[i].fail++
		default:
			rows[i].none++
		}
	}
	const w, lw, bw, rh = 620, 300, 280, 22
	h := len(rows)*rh + 34
	var s svg
	s.f(`<svg viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-labelledby="prov-title"><title id="prov-title">Provisions by status and group</title>`, w, h, w, h)
	most := 1
	for _, r := range rows {
		most = max(most, r.pass+r.fail+r.none)
	}
	for i, r := range rows {
		y := 4 + i*rh
		label := r.label
		if len([]rune(label)) > 44 {
			label = string([]rune(label)[:43]) + "…"
		}
		s.f(`<text x="%d" y="%d" text-anchor="end" class="l">%s</text>`, lw-8, y+14, esc(label))
		x := lw
		for _, seg := range []struct {
			n      int
			colour string
			what   string
		}{{r.pass, passColour, "pass"}, {r.fail, failColour, "fail"}, {r.none, naColour, "not assessed"}} {
			if seg.n == 0 {
				continue
			}
			sw := seg.n * bw / most
			s.f(`<rect x="%d" y="%d" width="%d" height="%d" fill="%s"><title>%s: %d %s</title></rect>`, x, y+2, sw, rh-6, seg.colour, esc(r.label), seg.n, seg.what)
			if sw >= 14 {
				fg := "#fff"
				if seg.colour == naColour {
					fg = "#374151"
				}
				s.f(`<text x="%d" y="%d" text-anchor="middle" class="s" style="fill:%s">%d</text>`, x+sw/2, y+14, fg, seg.n)
			}
			x += sw
		}
	}
	ly := len(rows)*rh + 20
	for i, l := range []struct{ c, t string }{{passColour, "pass"}, {failColour, "fail"}, {naColour, "not assessed"}} {
		s.f(`<rect x="%d" y="%d" width="12" height="12" fill="%s"/><text x="%d" y="%d" class="l">%s</text>`, lw+i*95, ly-10, l.c, lw+i*95+16, ly, l.t)
	}
	s.f(`</svg>`)
	return template.HTML(s.b.String())
}

// trendChart is a line chart of open findings by severity over time.
func trendChart(points []TrendPoint) template.HTML {
	if len(points) < 2 {
		return template.HTML(`<p class="muted">Not enough history for a trend yet (the chart needs two audit runs).</p>`)
	}
	const w, h, left, right, top, bottom = 620, 220, 40, 110, 10, 30
	pw, ph := w-left-right, h-top-bottom
	maxY := 1
	for _, p := range points {
		maxY = max(maxY, p.Critical, p.High, p.Medium, p.Low)
	}
	t0, t1 := points[0].At, points[len(points)-1].At
	span := t1.Sub(t0).Seconds()
	if span <= 0 {
		span = 1
	}
	xOf := func(i int) float64 { return left + points[i].At.Sub(t0).Seconds()/span*float64(pw) }
	yOf := func(v int) float64 { return top + float64(ph) - float64(v)/float64(maxY)*float64(ph) }
	var s svg
	s.f(`<svg viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-labelledby="trend-title"><title id="trend-title">Open findings over time</title>`, w, h, w, h)
	for _, v := range []int{0, maxY / 2, maxY} {
		s.f(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e5e7eb"/><text x="%d" y="%.1f" text-anchor="end" class="s">%d</text>`, left, yOf(v), left+pw, yOf(v), left-6, yOf(v)+4, v)
	}
	s.f(`<text x="%d" y="%d" class="s">%s</text>`, left, h-8, esc(t0.UTC().Format("2006-01-02")))
	s.f(`<text x="%d" y="%d" text-anchor="end" class="s">%s</text>`, left+pw, h-8, esc(t1.UTC().Format("2006-01-02")))
	series := []struct {
		sev audit.Severity
		v   func(TrendPoint) int
	}{{audit.Critical, func(p TrendPoint) int { return p.Critical }}, {audit.High, func(p TrendPoint) int { return p.High }},
		{audit.Medium, func(p TrendPoint) int { return p.Medium }}, {audit.Low, func(p TrendPoint) int { return p.Low }}}
	for k, sr := range series {
		var pts []string
		for i, p := range points {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", xOf(i), yOf(sr.v(p))))
		}
		s.f(`<polyline fill="none" stroke="%s" stroke-width="2.5" points="%s"/>`, sevColour[sr.sev], strings.Join(pts, " "))
		last := points[len(points)-1]
		s.f(`<rect x="%d" y="%d" width="12" height="12" fill="%s"/><text x="%d" y="%d" class="l">%s (%d)</text>`,
			left+pw+14, top+k*20, sevColour[sr.sev], left+pw+30, top+k*20+11, esc(string(sr.sev)), sr.v(last))
	}
	s.f(`</svg>`)
	return template.HTML(s.b.String())
}
