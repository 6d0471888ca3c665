package console

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strings"
)

// The charts are inline SVG built here: well-formed, no script, each with
// role="img", a <title> and a <desc> that states the numbers drawn, so a
// screen reader gets what the picture shows.

// Palette for series, in order; chosen to stay distinct for the common
// forms of colour blindness (Okabe–Ito).
var palette = []string{"#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000"}

const (
	chartW      = 640.0
	marginLeft  = 56.0
	marginRight = 16.0
	marginTop   = 28.0
)

func esc(s string) string { return html.EscapeString(s) }

func px(x float64) string { return fmt.Sprintf("%.1f", x) }

// scale maps [lo, hi] to [p0, p1].
type scale struct{ lo, hi, p0, p1 float64 }

func (s scale) at(v float64) float64 {
	if s.hi == s.lo {
		return (s.p0 + s.p1) / 2
	}
	return s.p0 + (v-s.lo)/(s.hi-s.lo)*(s.p1-s.p0)
}

// nice widens [lo, hi] to round ends and returns a tick step.
func nice(lo, hi float64) (float64, float64, float64) {
	if math.IsNaN(lo) || math.IsNaN(hi) || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		return 0, 1, 0.25
	}
	if hi <= lo {
		if lo == 0 {
			return 0, 1, 0.25
		}
		lo, hi = math.Min(0, lo-math.Abs(lo)/2), hi+math.Abs(hi)/2
	}
	step := math.Pow(10, math.Floor(math.Log10((hi-lo)/4)))
	for (hi-lo)/step > 6 {
		step *= 2
	}
	return math.Floor(lo/step) * step, math.Ceil(hi/step) * step, step
}

// open starts an SVG of height h with its accessible title and
// description.
func open(b *strings.Builder, id, title, desc string, h float64) {
	fmt.Fprintf(b, `<svg class="chart" viewBox="0 0 %s %s" role="img" aria-labelledby="%s-t %s-d" xmlns="http://www.w3.org/2000/svg">`,
		px(chartW), px(h), esc(id), esc(id))
	fmt.Fprintf(b, `<title id="%s-t">%s</title><desc id="%s-d">%s</desc>`, esc(id), esc(title), esc(id), esc(desc))
	fmt.Fprintf(b, `<text x="%s" y="16" class="ct">%s</text>`, px(marginLeft), esc(title))
}

// Bar is one labelled value of a bar chart; Series splits it in stacked
// parts (then Value is ignored).
type Bar struct {
	Label string
	Value float64
}

// BarChart draws horizontal bars, one per item, labelled with its value
// formatted by Num.
func BarChart(id, title, unit string, bars []Bar) template.HTML {
	if len(bars) == 0 {
		return ""
	}
	const row = 26.0
	h := marginTop + row*float64(len(bars)) + 24
	var desc []string
	hi := 0.0
	for _, bar := range bars {
		hi = math.Max(hi, bar.Value)
		desc = append(desc, bar.Label+": "+Num(bar.Value)+unit)
	}
	_, top, step := nice(0, hi)
	if integral(bars) { // counts: no fractional ticks
		step = math.Max(1, math.Round(step))
		top = math.Ceil(top/step) * step
	}
	left := 150.0
	x := scale{0, top, left, chartW - marginRight - 60}
	var b strings.Builder
	open(&b, id, title, strings.Join(desc, "; "), h)
	for i := 0; ; i++ {
		t := float64(i) * step
		if t > top+step/2 {
			break
		}
		fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" class="grid"/>`, px(x.at(t)), px(marginTop-4), px(x.at(t)), px(h-20))
		fmt.Fprintf(&b, `<text x="%s" y="%s" class="tick" text-anchor="middle">%s</text>`, px(x.at(t)), px(h-6), esc(Num(t)))
	}
	for i, bar := range bars {
		y := marginTop + row*float64(i)
		fmt.Fprintf(&b, `<text x="%s" y="%s" class="lbl" text-anchor="end">%s</text>`, px(left-6), px(y+15), esc(bar.Label))
		w := x.at(math.Max(bar.Value, 0)) - left
		fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="18" fill="%s"><title>%s</title></rect>`,
			px(left), px(y+2), px(w), palette[i%len(palette)], esc(bar.Label+": "+Num(bar.Value)+unit))
		fmt.Fprintf(&b, `<text x="%s" y="%s" class="val">%s</text>`, px(left+w+4), px(y+15), esc(Num(bar.Value)+unit))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func integral(bars []Bar) bool {
	for _, b := range bars {
		if b.Value != math.Trunc(b.Value) {
			return false
		}
	}
	return true
}

// Point is one (x, y) of a series; Label, when set, names it in the
// description and its tooltip.
type Point struct {
	X, Y  float64
	Label string
}

// Series is a named line.
type Series struct {
	Name   string
	Points []Point
	// Step draws the line as a step function (value holds until the next
	// point), for shares that jump at transitions.
	Step bool
	// Marks colours individual points (e.g. a rollback in red); by index.
	Marks map[int]string
}

// LineChart draws series against a shared x axis; xLabel names the x
// axis and xFmt formats its ticks (nil: Num).
func LineChart(id, title, xLabel, yLabel string, xFmt func(float64) string, series []Series) template.HTML {
	if xFmt == nil {
		xFmt = Num
	}
	xlo, xhi, ylo, yhi := math.Inf(1), math.Inf(-1), 0.0, math.Inf(-1)
	n := 0
	integral := true
	for _, s := range series {
		for _, p := range s.Points {
			integral = integral && p.X == math.Trunc(p.X)
			xlo, xhi = math.Min(xlo, p.X), math.Max(xhi, p.X)
			ylo, yhi = math.Min(ylo, p.Y), math.Max(yhi, p.Y)
			n++
		}
	}
	if n == 0 {
		return ""
	}
	if xlo == xhi {
		xlo, xhi = xlo-1, xhi+1
	}
	ylo, yhi, ystep := nice(ylo, yhi)
	const h = 260.0
	bottom := h - 40
	legendW := 0.0
	if len(series) > 1 {
		legendW = 110
	}
	x := scale{xlo, xhi, marginLeft, chartW - marginRight - legendW}
	y := scale{ylo, yhi, bottom, marginTop + 6}
	var desc []string
	for _, s := range series {
		var ps []string
		for _, p := range s.Points {
			l := p.Label
			if l == "" {
				l = xFmt(p.X)
			}
			ps = append(ps, l+" → "+Num(p.Y))
		}
		desc = append(desc, s.Name+": "+strings.Join(ps, ", "))
	}
	var b strings.Builder
	open(&b, id, title, strings.Join(desc, "; "), h)
	for i := 0; ; i++ {
		t := ylo + float64(i)*ystep
		if t > yhi+ystep/2 {
			break
		}
		fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" class="grid"/>`, px(x.p0), px(y.at(t)), px(x.p1), px(y.at(t)))
		fmt.Fprintf(&b, `<text x="%s" y="%s" class="tick" text-anchor="end">%s</text>`, px(x.p0-4), px(y.at(t)+3), esc(Num(t)))
	}
	fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" class="axis"/>`, px(x.p0), px(bottom), px(x.p1), px(bottom))
	xl, xh, xstep := nice(xlo, xhi)
	if integral { // rounds, attempts: no fractional ticks
		xstep = math.Max(1, math.Round(xstep))
		xl = math.Floor(xl)
	}
	for i := 0; ; i++ {
		t := xl + float64(i)*xstep
		if t > xh+xstep/2 {
			break
		}
		if t < xlo-xstep/1e6 || t > xhi+xstep/1e6 {
			continue
		}
		fmt.Fprintf(&b, `<text x="%s" y="%s" class="tick" text-anchor="middle">%s</text>`, px(x.at(t)), px(bottom+14), esc(xFmt(t)))
	}
	fmt.Fprintf(&b, `<text x="%s" y="%s" class="tick" text-anchor="middle">%s</text>`, px((x.p0+x.p1)/2), px(h-6), esc(xLabel))
	fmt.Fprintf(&b, `<text x="12" y="%s" class="tick" transform="rotate(-90 12 %s)" text-anchor="middle">%s</text>`,
		px((y.p0+y.p1)/2), px((y.p0+y.p1)/2), esc(yLabel))
	for i, s := range series {
		col := palette[i%len(palette)]
		var d strings.Builder
		for j, p := range s.Points {
			cmd := "L"
			if j == 0 {
				cmd = "M"
			} else if s.Step {
				fmt.Fprintf(&d, "L%s %s ", px(x.at(p.X)), px(y.at(s.Points[j-1].Y)))
			}
			fmt.Fprintf(&d, "%s%s %s ", cmd, px(x.at(p.X)), px(y.at(p.Y)))
		}
		fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="%s" stroke-width="2"/>`, strings.TrimSpace(d.String()), col)
		for j, p := range s.Points {
			c := col
			if m, ok := s.Marks[j]; ok {
				c = m
			}
			l := p.Label
			if l == "" {
				l = xFmt(p.X)
			}
			fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="4" fill="%s"><title>%s</title></circle>`,
				px(x.at(p.X)), px(y.at(p.Y)), c, esc(s.Name+" — "+l+": "+Num(p.Y)))
		}
		if legendW > 0 {
			ly := marginTop + 8 + 18*float64(i)
			fmt.Fprintf(&b, `<rect x="%s" y="%s" width="12" height="12" fill="%s"/><text x="%s" y="%s" class="lbl">%s</text>`,
				px(chartW-legendW+4), px(ly-10), col, px(chartW-legendW+20), px(ly), esc(s.Name))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// Interval is an estimate with its interval and the limit it is judged
// against.
type Interval struct {
	Label               string
	Estimate, Low, High float64
	Limit               float64
	// Verdict colours it: "pass", "fail" or anything else (neutral).
	Verdict string
}

// IntervalChart draws each interval as a bar with its estimate, beside a
// dashed line at its limit (gate regressions against their tolerance).
func IntervalChart(id, title string, iv []Interval) template.HTML {
	if len(iv) == 0 {
		return ""
	}
	lo, hi := 0.0, 0.0
	var desc []string
	for _, v := range iv {
		lo = math.Min(lo, math.Min(v.Low, v.Limit))
		hi = math.Max(hi, math.Max(v.High, v.Limit))
		desc = append(desc, fmt.Sprintf("%s: %s in [%s, %s], limit %s, %s", v.Label, Num(v.Estimate), Num(v.Low), Num(v.High), Num(v.Limit), v.Verdict))
	}
	lo, hi, step := nice(lo, hi)
	const row = 34.0
	h := marginTop + row*float64(len(iv)) + 24
	left := 150.0
	x := scale{lo, hi, left, chartW - marginRight}
	var b strings.Builder
	open(&b, id, title, strings.Join(desc, "; "), h)
	for i := 0; ; i++ {
		t := lo + float64(i)*step
		if t > hi+step/2 {
			break
		}
		fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" class="grid"/>`, px(x.at(t)), px(marginTop-4), px(x.at(t)), px(h-20))
		fmt.Fprintf(&b, `<text x="%s" y="%s" class="tick" text-anchor="middle">%s</text>`, px(x.at(t)), px(h-6), esc(Num(t)))
	}
	for i, v := range iv {
		y := marginTop + row*float64(i) + 14
		col := "#777777"
		switch v.Verdict {
		case "pass":
			col = "#009e73"
		case "fail":
			col = "#d55e00"
		}
		fmt.Fprintf(&b, `<text x="%s" y="%s" class="lbl" text-anchor="end">%s</text>`, px(left-6), px(y+4), esc(v.Label))
		fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="6" stroke-linecap="round"/>`,
			px(x.at(v.Low)), px(y), px(x.at(v.High)), px(y), col)
		fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="5" fill="#fff" stroke="%s" stroke-width="2"/>`, px(x.at(v.Estimate)), px(y), col)
		fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" class="limit"><title>limit %s</title></line>`,
			px(x.at(v.Limit)), px(y-12), px(x.at(v.Limit)), px(y+12), esc(Num(v.Limit)))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// Num formats a number as every page shows it: integers as integers, the
// rest with at most 4 significant digits (%.4g), and no "-0". Tests
// compare pages with the admin API's JSON through it.
func Num(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "∞"
	case math.IsInf(v, -1):
		return "−∞"
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		if v == 0 {
			return "0"
		}
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.4g", v)
}
