package eval

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// The report's plots are drawn here as inline SVG, well-formed XML, with no
// script and no external resource.

const (
	candColor = "#1f77b4"
	baseColor = "#d62728"
)

// axis maps data values [lo, hi] to pixels [p0, p1].
type axis struct{ lo, hi, p0, p1 float64 }

func (a axis) at(x float64) float64 {
	if a.hi == a.lo {
		return (a.p0 + a.p1) / 2
	}
	return a.p0 + (x-a.lo)/(a.hi-a.lo)*(a.p1-a.p0)
}

// niceRange widens [lo, hi] a little and to round numbers for ticks.
func niceRange(lo, hi float64) (float64, float64, float64) {
	if math.IsNaN(lo) || math.IsNaN(hi) || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		return 0, 1, 0.25
	}
	if hi <= lo {
		lo, hi = lo-0.5, hi+0.5
	}
	span := hi - lo
	step := math.Pow(10, math.Floor(math.Log10(span/4)))
	for span/step > 6 {
		step *= 2
	}
	return math.Floor(lo/step) * step, math.Ceil(hi/step) * step, step
}

func esc(s string) string { return html.EscapeString(s) }

func f1(x float64) string { return fmt.Sprintf("%.1f", x) }

// xTicks draws a horizontal axis with ticks at y.
func xTicks(b *strings.Builder, a axis, step, y float64) {
	fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#888"/>`, f1(a.p0), f1(y), f1(a.p1), f1(y))
	for t := a.lo; t <= a.hi+step/2; t += step {
		x := a.at(t)
		fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#888"/>`, f1(x), f1(y), f1(x), f1(y+4))
		fmt.Fprintf(b, `<text x="%s" y="%s" font-size="10" text-anchor="middle">%s</text>`, f1(x), f1(y+15), esc(fmtTick(t)))
	}
}

func fmtTick(t float64) string {
	if math.Abs(t) < 1e-12 {
		return "0"
	}
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.4f", t), "0"), ".")
}

// metricPlot draws one metric per slice: the candidate's value with its
// interval, and the baseline's (hollow) when there is one.
func metricPlot(r *Report, m MetricInfo) string {
	lo, hi := math.Inf(1), math.Inf(-1)
	see := func(xs ...Num) {
		for _, x := range xs {
			if f := float64(x); !math.IsNaN(f) && !math.IsInf(f, 0) {
				lo, hi = math.Min(lo, f), math.Max(hi, f)
			}
		}
	}
	for _, s := range r.Slices {
		e := s.Metrics[m.Name]
		see(e.Candidate, e.CandidateCI.Lo, e.CandidateCI.Hi)
		if e.Baseline != nil {
			see(*e.Baseline, e.BaselineCI.Lo, e.BaselineCI.Hi)
		}
	}
	lo, hi, step := niceRange(lo, hi)
	const left, width, row = 190.0, 640.0, 22.0
	h := row*float64(len(r.Slices)) + 40
	a := axis{lo, hi, left, width - 20}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="metric" width="%s" height="%s" viewBox="0 0 %s %s">`, f1(width), f1(h), f1(width), f1(h))
	fmt.Fprintf(&b, `<title>%s per slice</title>`, esc(m.Name))
	for i, s := range r.Slices {
		y := 15 + row*float64(i)
		e := s.Metrics[m.Name]
		fmt.Fprintf(&b, `<text x="%s" y="%s" font-size="11" text-anchor="end">%s (n=%d)</text>`, f1(left-8), f1(y+4), esc(s.Key), s.Examples)
		bar(&b, a, y-3, e.CandidateCI, e.Candidate, candColor, true)
		if e.Baseline != nil {
			bar(&b, a, y+4, *e.BaselineCI, *e.Baseline, baseColor, false)
		}
	}
	xTicks(&b, a, step, h-25)
	b.WriteString(`</svg>`)
	return b.String()
}

// bar draws an interval and a point at height y.
func bar(b *strings.Builder, a axis, y float64, iv Interval, x Num, color string, filled bool) {
	if l, h := float64(iv.Lo), float64(iv.Hi); !math.IsNaN(l) && !math.IsNaN(h) {
		fmt.Fprintf(b, `<line class="ci" x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="2"/>`, f1(a.at(l)), f1(y), f1(a.at(h)), f1(y), color)
	}
	if f := float64(x); !math.IsNaN(f) {
		fill := color
		if !filled {
			fill = "white"
		}
		fmt.Fprintf(b, `<circle cx="%s" cy="%s" r="4" fill="%s" stroke="%s"/>`, f1(a.at(f)), f1(y), fill, color)
	}
}

// reliabilityPlot draws the reliability diagram: accuracy against mean
// confidence per bin, the diagonal of perfect calibration, and the bins'
// example counts as a strip below.
func reliabilityPlot(c *Calibration) string {
	const size, pad = 320.0, 40.0
	ax := axis{0, 1, pad, size - 10}
	ay := axis{0, 1, size - pad, 10}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="reliability" width="%s" height="%s" viewBox="0 0 %s %s">`, f1(size), f1(size+50), f1(size), f1(size+50))
	b.WriteString(`<title>Reliability diagram</title>`)
	fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#aaa" stroke-dasharray="4 3"/>`, f1(ax.at(0)), f1(ay.at(0)), f1(ax.at(1)), f1(ay.at(1)))
	xTicks(&b, ax, 0.25, ay.at(0))
	for t := 0.0; t <= 1.0001; t += 0.25 {
		fmt.Fprintf(&b, `<text x="%s" y="%s" font-size="10" text-anchor="end">%s</text>`, f1(pad-6), f1(ay.at(t)+3), fmtTick(t))
	}
	fmt.Fprintf(&b, `<text x="%s" y="%s" font-size="11" text-anchor="middle">confidence</text>`, f1(size/2), f1(size-8))
	fmt.Fprintf(&b, `<text x="12" y="%s" font-size="11" transform="rotate(-90 12 %s)" text-anchor="middle">accuracy</text>`, f1(size/2), f1(size/2))
	curve := func(bins []Bin, color string) {
		var pts []string
		for _, bn := range bins {
			if bn.Count == 0 {
				continue
			}
			x, y := ax.at(float64(bn.Confidence)), ay.at(float64(bn.Accuracy))
			pts = append(pts, f1(x)+","+f1(y))
			fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="3" fill="%s"/>`, f1(x), f1(y), color)
		}
		if len(pts) > 1 {
			fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s"/>`, strings.Join(pts, " "), color)
		}
	}
	curve(c.Candidate, candColor)
	if c.Baseline != nil {
		curve(c.Baseline, baseColor)
	}
	// counts strip
	maxN := 1
	for _, bn := range c.Candidate {
		maxN = max(maxN, bn.Count)
	}
	for _, bn := range c.Candidate {
		hgt := 30 * float64(bn.Count) / float64(maxN)
		fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" fill="%s" opacity="0.5"/>`,
			f1(ax.at(bn.Lo)), f1(size+40-hgt), f1(ax.at(bn.Hi)-ax.at(bn.Lo)-1), f1(hgt), candColor)
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// latencyPlot draws a latency histogram.
func latencyPlot(p *ProfileResult) string {
	const width, height, pad = 480.0, 200.0, 35.0
	h := p.Histogram
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="latency" width="%s" height="%s" viewBox="0 0 %s %s">`, f1(width), f1(height), f1(width), f1(height))
	fmt.Fprintf(&b, `<title>Latency histogram, %s</title>`, esc(p.Profile))
	if len(h.Counts) == 0 {
		b.WriteString(`<text x="10" y="20" font-size="12">not measured</text></svg>`)
		return b.String()
	}
	lo, hi, step := niceRange(h.Edges[0], h.Edges[len(h.Edges)-1])
	ax := axis{lo, hi, pad, width - 10}
	maxN := 1
	for _, c := range h.Counts {
		maxN = max(maxN, c)
	}
	ay := axis{0, float64(maxN), height - pad, 10}
	for i, c := range h.Counts {
		x0, x1 := ax.at(h.Edges[i]), ax.at(h.Edges[i+1])
		fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" fill="%s"/>`, f1(x0), f1(ay.at(float64(c))), f1(math.Max(x1-x0-1, 0.5)), f1(ay.at(0)-ay.at(float64(c))), candColor)
	}
	if p95 := float64(p.Latency.P95); !math.IsNaN(p95) {
		x := ax.at(p95)
		fmt.Fprintf(&b, `<line x1="%s" y1="10" x2="%s" y2="%s" stroke="%s" stroke-dasharray="3 2"/>`, f1(x), f1(x), f1(height-pad), baseColor)
		fmt.Fprintf(&b, `<text x="%s" y="20" font-size="10">p95</text>`, f1(x+3))
	}
	xTicks(&b, ax, step, height-pad)
	fmt.Fprintf(&b, `<text x="%s" y="%s" font-size="11" text-anchor="middle">µs per inference (this machine)</text>`, f1(width/2), f1(height-3))
	b.WriteString(`</svg>`)
	return b.String()
}
