package main

import (
	"fmt"
	"html/template"
	"math"
	"os"
	"slices"
	"strings"
)

// writeStoryHTML writes the demo's report for people: the same numbers as
// report.json, with SVG plots drawn here (no script, no external asset).
func writeStoryHTML(path string, r *demoReport) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := storyTmpl.Execute(f, r); err != nil {
		return err
	}
	return f.Close()
}

var storyTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"pct":         func(x float64) string { return fmt.Sprintf("%.1f%%", 100*x) },
	"f3":          func(x float64) string { return fmt.Sprintf("%.3f", x) },
	"f1":          func(x float64) string { return fmt.Sprintf("%.1f", x) },
	"f2":          func(x float64) string { return fmt.Sprintf("%.2f", x) },
	"bytes":       humanBytes,
	"heap":        func(x uint64) int64 { return int64(x) },
	"accPlot":     accPlot,
	"latPlot":     latPlot,
	"mixPlot":     mixPlot,
	"sources":     sourcesText,
	"mixText":     mixText,
	"gapPlot":     gapPlot,
	"epsPlot":     epsPlot,
	"rolloutPlot": rolloutPlot,
	"safeHTML":    func(s string) template.HTML { return template.HTML(s) },
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sextant demo report</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:960px;padding:1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.2em;width:100%}th,td{padding:.25em .5em;border-bottom:1px solid #ddd;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}h2{margin-top:1.6em;border-bottom:2px solid #2a6;padding-bottom:.2em}
svg{max-width:100%;height:auto}.note{color:#555;font-size:.9em}
</style></head><body>
<h1>Sextant demo</h1>
<p>{{.Devices}} simulated phones, {{.Weeks}} weeks of synthetic mobility on OpenStreetMap geography (© OpenStreetMap contributors, ODbL 1.0), seed {{.Seed}}{{if .Fast}}, fast mode{{end}}; started {{.Started}}, {{f1 .Seconds}} s. Every number below was measured in this run, except the phases' time budgets: those are the targets set for an otherwise idle 2-core machine.</p>

<h2>Phases</h2>
<table><thead><tr><th>phase</th><th class="n">seconds</th><th class="n">budget</th><th>what happened</th></tr></thead><tbody>
{{range .Phases}}<tr><td>{{.Name}}</td><td class="n">{{f1 .Seconds}}</td><td class="n">{{if .BudgetSeconds}}{{f1 .BudgetSeconds}}{{if gt .Seconds .BudgetSeconds}} (over){{end}}{{end}}</td><td>{{.Summary}}</td></tr>{{end}}
</tbody></table>

{{if .Quality}}<h2>Next destination (on device, private inputs)</h2>
{{safeHTML (accPlot .Quality)}}
<table><thead><tr><th>version</th><th class="n">examples</th><th class="n">Acc@1</th><th class="n">Markov Acc@1</th><th class="n">Acc@5</th><th class="n">MRR</th><th class="n">mean user Acc@1</th><th class="n">mean Π<sub>max</sub></th></tr></thead><tbody>
{{range .Quality}}<tr><td>{{.Label}} v{{.Version}}</td><td class="n">{{.Examples}}</td><td class="n">{{f3 .Acc1}}</td><td class="n">{{f3 .MarkovAcc1}}</td><td class="n">{{f3 .Acc5}}</td><td class="n">{{f3 .MRR}}</td><td class="n">{{f3 .MeanUserAcc1}}</td><td class="n">{{f3 .PiMax}}</td></tr>{{end}}
</tbody></table>
<p class="note">Held-out last week of {{with index .Quality 0}}{{or .Scored "every user"}}{{end}}. Π<sub>max</sub> is each user's predictability (Lempel-Ziv entropy and Fano's inequality, Song et al. 2010) on exactly the sequence scored: an upper bound on Acc@1 for long sequences.{{with index .Quality 0}}{{if gt .MeanUserAcc1 .PiMax}} Here the measured mean user Acc@1 exceeds the bound: one held-out week is too short a sequence for the Lempel-Ziv estimate, which then overstates the entropy (and the bound sees only the place sequence, not the time of week the model uses), so read it as indicative only.{{end}}{{end}}</p>{{end}}

{{if .ETA}}<h2>ETA correction (hybrid)</h2>
{{safeHTML (gapPlot .ETA)}}
<table><thead><tr><th>model</th><th class="n">MAE (s)</th><th class="n">free-flow MAE (s)</th><th class="n">noise floor MAE (s)</th><th class="n">gap closed</th></tr></thead><tbody>
{{range .ETA}}<tr><td>{{.Label}}</td><td class="n">{{f1 .MAE}}</td><td class="n">{{f1 .FreeFlowMAE}}</td><td class="n">{{f1 .FloorMAE}}</td><td class="n">{{pct .GapClosed}}</td></tr>{{end}}
</tbody></table>
<p class="note">Held-out trips of {{with index .ETA 0}}{{or .Scored "every user"}}{{end}}.</p>{{end}}

{{if .Privacy}}<h2>Privacy cost</h2>
<table><thead><tr><th>version</th><th>source</th><th class="n">ε</th><th class="n">δ</th></tr></thead><tbody>
{{range .Privacy}}<tr><td>{{.Version}}</td><td>{{.Source}}</td><td class="n">{{f2 .Epsilon}}</td><td class="n">{{.Delta}}</td></tr>{{end}}
</tbody></table>{{end}}

{{if .FL}}<h2>Federated rounds (v2)</h2>
{{safeHTML (epsPlot .FL)}}
<table><thead><tr><th class="n">round</th><th class="n">phones joined</th><th class="n">reports</th><th class="n">dropped</th><th class="n">ε so far</th><th class="n">δ</th></tr></thead><tbody>
{{range .FL}}<tr><td class="n">{{.Round}}</td><td class="n">{{.Joined}}</td><td class="n">{{.Reports}}</td><td class="n">{{.Dropped}}</td><td class="n">{{f2 .Epsilon}}</td><td class="n">{{.Delta}}</td></tr>{{end}}
</tbody></table>
<p class="note">Committed rounds only: each phone's update was clipped, summed through secure aggregation, and the sum noised (DP-FedAvg); ε is the accountant's total after the round.</p>{{end}}

{{if .Bundles}}<h2>Bundles</h2>
<table><thead><tr><th>model</th><th>version</th><th class="n">size</th><th>runs on</th></tr></thead><tbody>
{{range .Bundles}}<tr><td>{{.Model}}</td><td>{{.Version}}</td><td class="n">{{bytes .Bytes}}</td><td>{{.Where}}</td></tr>{{end}}
</tbody></table>{{end}}

{{if .Fleet}}<h2>Serving on the fleet</h2>
<table><thead><tr><th>version</th><th class="n">requests</th><th>answered by</th><th class="n">failed</th><th class="n">Acc@1 / MAE</th><th class="n">device p50 / p95 (ms)</th><th class="n">server p50 / p95 (ms)</th></tr></thead><tbody>
{{range .Fleet}}<tr><td>{{.Label}}</td><td class="n">{{.Requests}}</td><td>{{sources .Sources}}</td><td class="n">{{.Failures}}</td><td class="n">{{if .Acc1}}{{f3 .Acc1}}{{else}}{{f1 .MAE}} s{{end}}</td><td class="n">{{f2 .DeviceP50}} / {{f2 .DeviceP95}}</td><td class="n">{{if .ServerLatencies}}{{f2 .ServerP50}} / {{f2 .ServerP95}}{{else}}–{{end}}</td></tr>{{end}}
</tbody></table>
{{range .Fleet}}{{safeHTML (latPlot .)}}{{end}}
<p class="note">Device latency is the host's measured compute time scaled by the device class's speed factor (a model, not a phone measurement); server latency is the measured round trip on loopback.</p>{{end}}

{{range .Rollouts}}<h2>Rollout {{.ID}}: v{{.Candidate}} over v{{.Current}} — {{.Final}}</h2>
{{safeHTML (rolloutPlot .)}}
<table><thead><tr><th class="n">day</th><th>state</th><th class="n">share</th><th>phones by version</th><th>gates (regression, always-valid interval)</th></tr></thead><tbody>
{{range .Days}}<tr><td class="n">{{.Day}}</td><td>{{.State}}</td><td class="n">{{f1 .Share}}%</td><td>{{mixText .Mix}}</td><td>{{range .Gates}}{{.Metric}}: {{.Verdict}}{{if not .Reason}} ({{f3 .Regression}} in [{{f3 .Low}}, {{f3 .High}}], tolerance {{f3 .MaxRegression}}){{end}}<br>{{end}}</td></tr>{{end}}
</tbody></table>
<p>Transitions: {{range .History}}day {{f1 .At}} → {{.To}} ({{.Actor}}: {{.Reason}}); {{end}} phones at the end: {{mixText .EndMix}}.</p>
{{with .AB}}<p>A/B test at {{f1 .Share}}% (the health phones reported for day {{.Day}}, served under that stage, only): {{.Metric}} v{{.Treatment}} {{f3 .TreatmentMean}} vs v{{.Control}} {{f3 .ControlMean}}{{if .Adjustment}} (raw means); adjusted by {{.Adjustment}} (changes v{{.Treatment}} {{f3 .TreatmentChange}}, v{{.Control}} {{f3 .ControlChange}}){{end}}; effect {{f3 .Effect}} [{{f3 .Low}}, {{f3 .High}}] (always valid [{{f3 .SeqLow}}, {{f3 .SeqHigh}}]), p {{f3 .P}}; SRM χ² {{f2 .SRMChi2}}, p {{f3 .SRMP}} ({{.ControlDevices}} vs {{.TreatmentDevices}} phones assigned; about {{printf "%.0f" .ControlReporting}} and {{printf "%.0f" .TreatmentReporting}} reported, a DP count).</p>{{end}}
<p class="note">Gates read device health reports released through central differential privacy (the noise widens the intervals); a stage advances only when every gate passes, holds while any is inconclusive, and rolls back when one fails.</p>{{end}}

{{if .Mix}}<h2>Fleet version mix</h2>{{safeHTML (mixPlot .Mix)}}{{end}}

<p class="note">Peak Go heap {{bytes (heap .PeakHeapBytes)}} (server and every device share the process); device state on disk {{bytes .DiskBytes}}.</p>
</body></html>
`))

func sourcesText(m map[string]int) string {
	var parts []string
	for _, k := range []string{"device", "server", "cache"} {
		if m[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
		}
	}
	return strings.Join(parts, ", ")
}

// hbars draws labelled horizontal bars of values in [0, max].
func hbars(title string, labels []string, values []float64, colors []string, maxV float64, format func(float64) string) string {
	const w, left, row = 640, 230, 24
	h := 30 + row*len(values)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg role="img" aria-label="%s" viewBox="0 0 %d %d" width="%d"><title>%s</title>`, template.HTMLEscapeString(title), w, h, w, template.HTMLEscapeString(title))
	fmt.Fprintf(&b, `<text x="0" y="16" font-size="13" font-weight="bold">%s</text>`, template.HTMLEscapeString(title))
	for i, v := range values {
		y := 26 + row*i
		bw := 0.0
		if maxV > 0 {
			bw = math.Max(0, math.Min(1, v/maxV)) * float64(w-left-70)
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="12" text-anchor="end">%s</text>`, left-6, y+14, template.HTMLEscapeString(labels[i]))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`, left, y+2, bw, row-6, colors[i%len(colors)])
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="12">%s</text>`, float64(left)+bw+4, y+14, format(v))
	}
	b.WriteString(`</svg>`)
	return b.String()
}

func accPlot(qs []demoQuality) string {
	var labels []string
	var vals []float64
	var colors []string
	if len(qs) > 0 {
		labels = append(labels, "first-order Markov", "predictability bound Π_max")
		vals = append(vals, qs[0].MarkovAcc1, qs[0].PiMax)
		colors = append(colors, "#999", "#c84")
	}
	for _, q := range qs {
		labels = append(labels, q.Label+" v"+q.Version)
		vals = append(vals, q.Acc1)
		colors = append(colors, "#2a6")
	}
	return hbars("Next destination Acc@1 on the held-out week", labels, vals, colors, 1, func(x float64) string { return fmt.Sprintf("%.3f", x) })
}

func gapPlot(es []demoETA) string {
	var labels []string
	var vals []float64
	for _, e := range es {
		labels = append(labels, "ETA "+e.Label)
		vals = append(vals, e.GapClosed)
	}
	return hbars("Share of the free-flow → noise-floor MAE gap closed", labels, vals, []string{"#36c"}, 1, func(x float64) string { return fmt.Sprintf("%.0f%%", 100*x) })
}

// latPlot draws the latency histograms (log-spaced bins) of device and
// server answers of one served version.
func latPlot(s demoServe) string {
	if len(s.DeviceLatencies)+len(s.ServerLatencies) == 0 {
		return ""
	}
	const bins, w, h, left, bottom = 30, 640, 170, 40, 30
	const right = 40
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, xs := range [][]float64{s.DeviceLatencies, s.ServerLatencies} {
		for _, x := range xs {
			if x > 0 {
				lo, hi = math.Min(lo, x), math.Max(hi, x)
			}
		}
	}
	if !(hi > lo) {
		hi = lo * 10
	}
	llo, lhi := math.Log10(lo), math.Log10(hi)
	count := func(xs []float64) ([]int, int) {
		c := make([]int, bins)
		top := 0
		for _, x := range xs {
			if x <= 0 {
				continue
			}
			i := int(float64(bins) * (math.Log10(x) - llo) / (lhi - llo + 1e-12))
			i = min(max(i, 0), bins-1)
			c[i]++
			top = max(top, c[i])
		}
		return c, top
	}
	dc, dt := count(s.DeviceLatencies)
	sc, st := count(s.ServerLatencies)
	top := max(dt, st, 1)
	title := "Latency of " + s.Label + " (ms, log scale): device green, server blue"
	var b strings.Builder
	fmt.Fprintf(&b, `<svg role="img" aria-label="%s" viewBox="0 0 %d %d" width="%d"><title>%s</title>`, template.HTMLEscapeString(title), w, h, w, template.HTMLEscapeString(title))
	fmt.Fprintf(&b, `<text x="0" y="14" font-size="13" font-weight="bold">%s</text>`, template.HTMLEscapeString(title))
	bw := float64(w-left-right) / bins
	plotH := float64(h - bottom - 22)
	for _, series := range []struct {
		c     []int
		color string
	}{{dc, "#2a6"}, {sc, "#36c"}} {
		for i, n := range series.c {
			if n == 0 {
				continue
			}
			bh := plotH * float64(n) / float64(top)
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" fill-opacity="0.7"/>`,
				float64(left)+float64(i)*bw, float64(h-bottom)-bh, bw-1, bh, series.color)
		}
	}
	for _, t := range []float64{0, 0.5, 1} {
		x := float64(left) + t*float64(w-left-right)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="11" text-anchor="middle">%.3g</text>`, x, h-10, math.Pow(10, llo+t*(lhi-llo)))
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// mixPlot draws each snapshot of the fleet's version mix as a stacked bar.
func mixPlot(mix []demoMix) string {
	const w, left, row = 640, 230, 26
	palette := []string{"#2a6", "#36c", "#c84", "#a3a", "#999"}
	color := map[string]string{}
	h := 30 + row*len(mix)
	var b strings.Builder
	title := "Installed versions across the fleet"
	fmt.Fprintf(&b, `<svg role="img" aria-label="%s" viewBox="0 0 %d %d" width="%d"><title>%s</title>`, title, w, h, w, title)
	fmt.Fprintf(&b, `<text x="0" y="16" font-size="13" font-weight="bold">%s</text>`, title)
	for i, m := range mix {
		y := 26 + row*i
		total := 0
		var vs []string
		for v, n := range m.Versions {
			total += n
			vs = append(vs, v)
		}
		slices.Sort(vs)
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="12" text-anchor="end">%s: %s</text>`, left-6, y+15,
			template.HTMLEscapeString(m.Model), template.HTMLEscapeString(m.At))
		x := float64(left)
		for _, v := range vs {
			if color[v] == "" {
				color[v] = palette[len(color)%len(palette)]
			}
			bw := float64(w-left-10) * float64(m.Versions[v]) / float64(max(total, 1))
			fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"><title>v%s: %d devices</title></rect>`, x, y+2, bw, row-6, color[v],
				template.HTMLEscapeString(v), m.Versions[v])
			if bw > 60 {
				fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="11" fill="#fff">v%s %d</text>`, x+4, y+15, template.HTMLEscapeString(v), m.Versions[v])
			}
			x += bw
		}
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// epsPlot draws the privacy cost after each committed federated round.
func epsPlot(rs []demoRound) string {
	var labels []string
	var vals []float64
	top := 0.0
	for _, r := range rs {
		labels = append(labels, fmt.Sprintf("after round %d", r.Round))
		vals = append(vals, r.Epsilon)
		top = math.Max(top, r.Epsilon)
	}
	return hbars("Federated ε over rounds (DP-FedAvg accountant)", labels, vals, []string{"#a3a"}, top*1.15, func(x float64) string { return fmt.Sprintf("ε %.2f", x) })
}

// rolloutPlot draws a rollout's candidate share through its simulated
// days: the share it started at, then the one the controller set at the
// end of each day, ending in its final state.
func rolloutPlot(ro demoRollout) string {
	if len(ro.Days) == 0 {
		return ""
	}
	const w, h, left, right, top, bottom = 640, 180, 40, 150, 24, 30
	title := fmt.Sprintf("Rollout %s: candidate share by day (%s)", ro.ID, ro.Final)
	x := func(day float64) float64 { return left + day*float64(w-left-right)/float64(len(ro.Days)) }
	y := func(share float64) float64 { return top + (100-share)*float64(h-top-bottom)/100 }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg role="img" aria-label="%s" viewBox="0 0 %d %d" width="%d"><title>%s</title>`, template.HTMLEscapeString(title), w, h, w, template.HTMLEscapeString(title))
	fmt.Fprintf(&b, `<text x="0" y="14" font-size="13" font-weight="bold">%s</text>`, template.HTMLEscapeString(title))
	for _, s := range []float64{0, 50, 100} {
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%d" y="%.1f" font-size="11" text-anchor="end">%.0f%%</text>`,
			left, w-right, y(s), y(s), left-4, y(s)+4, s)
	}
	prev := 0.0
	if len(ro.History) > 0 {
		prev = ro.History[0].Share
	}
	pts := []string{fmt.Sprintf("%.1f,%.1f", x(0), y(prev))}
	for i, d := range ro.Days {
		pts = append(pts, fmt.Sprintf("%.1f,%.1f %.1f,%.1f", x(float64(i)), y(prev), x(float64(i+1)), y(prev)))
		prev = d.Share
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(float64(i+1)), y(d.Share)))
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="11" text-anchor="middle">%d</text>`, x(float64(i+1)), h-12, d.Day)
	}
	color := "#2a6"
	if strings.HasPrefix(ro.Final, "rolled-back") {
		color = "#c33"
	}
	fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`, color, strings.Join(pts, " "))
	last := ro.Days[len(ro.Days)-1]
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="12" fill="%s">%s at %.0f%%</text>`, x(float64(len(ro.Days)))+6, y(last.Share)+4, color,
		template.HTMLEscapeString(last.State), last.Share)
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" text-anchor="end">day</text>`, left-4, h-12)
	b.WriteString(`</svg>`)
	return b.String()
}
