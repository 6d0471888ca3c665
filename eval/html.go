package eval

import (
	"fmt"
	"io"
	"math"
	"strings"
)

const pageStyle = `body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:70em}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right;font-size:13px}
th{background:#f4f4f4}td.l,th.l{text-align:left}.pass{color:#1a7f37;font-weight:bold}.fail{color:#c62828;font-weight:bold}
.skip{color:#888}.legend span{margin-right:1.5em}figure{display:inline-block;margin:0.5em 1em 1em 0}figcaption{font-size:13px}`

// WriteHTML writes the report as one self-contained HTML page: the verdict
// and gates, a plot per metric (every slice, the candidate and the
// baseline with their intervals), the metrics table, the reliability
// diagram and a latency histogram per device profile. The page is
// well-formed XML (XHTML syntax) and draws everything as inline SVG.
func (r *Report) WriteHTML(w io.Writer) error {
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>")
	fmt.Fprintf(&b, "<title>eval: %s</title><style>%s</style></head><body>", esc(r.Model.Name), pageStyle)
	fmt.Fprintf(&b, "<h1>%s %s</h1>", esc(r.Model.Name), esc(r.Model.Version))
	b.WriteString("<p>")
	fmt.Fprintf(&b, "Data <code>%s</code> (%s, %d examples), task %s, labels <code>%s</code>", esc(r.Data.Path), esc(r.Data.Format), r.Data.Examples, esc(string(r.Task)), esc(r.Labels))
	if r.Scores != "" {
		fmt.Fprintf(&b, ", scores read as %s", esc(string(r.Scores)))
	}
	b.WriteString(".<br/>")
	if r.Baseline != nil {
		fmt.Fprintf(&b, "Baseline: %s %s (%s). ", esc(r.Baseline.Name), esc(r.Baseline.Version), esc(r.Baseline.Kind))
	}
	fmt.Fprintf(&b, "Intervals: paired percentile bootstrap over examples, B = %d, %g%% confidence, seed %d (Efron &amp; Tibshirani 1993, ch. 13).</p>",
		r.Bootstrap.Replicates, 100*r.Bootstrap.Confidence, r.Bootstrap.Seed)

	if len(r.Gates) > 0 {
		verdict, class := "PASS", "pass"
		if !r.Pass {
			verdict, class = "FAIL", "fail"
		}
		fmt.Fprintf(&b, `<h2>Gates: <span class="%s">%s</span></h2>`, class, verdict)
		b.WriteString(`<table class="gates"><tr><th class="l">gate</th><th class="l">slice</th><th>n</th><th>result</th><th class="l">reason</th></tr>`)
		for _, g := range r.Gates {
			res, cls := "PASS", "pass"
			switch {
			case g.Skipped:
				res, cls = "skip", "skip"
			case !g.Pass:
				res, cls = "FAIL", "fail"
			}
			fmt.Fprintf(&b, `<tr><td class="l">%s</td><td class="l">%s</td><td>%d</td><td class="%s">%s</td><td class="l">%s</td></tr>`,
				esc(g.Gate), esc(g.Slice), g.Examples, cls, res, esc(g.Reason))
		}
		b.WriteString("</table>")
	}

	b.WriteString(`<h2>Metrics per slice</h2><p class="legend">`)
	fmt.Fprintf(&b, `<span style="color:%s">● candidate (%s)</span>`, candColor, esc(r.Model.Name))
	if r.Baseline != nil {
		fmt.Fprintf(&b, `<span style="color:%s">○ baseline (%s)</span>`, baseColor, esc(r.Baseline.Name))
	}
	b.WriteString("bars: confidence intervals</p>")
	for _, m := range r.Metrics {
		dir := "higher is better"
		if !m.HigherIsBetter {
			dir = "lower is better"
		}
		fmt.Fprintf(&b, "<figure>%s<figcaption>%s (%s)</figcaption></figure>", metricPlot(r, m), esc(m.Name), dir)
	}
	r.metricsTable(&b)

	if r.Calibration != nil {
		b.WriteString("<h2>Calibration</h2>")
		fmt.Fprintf(&b, "<figure>%s<figcaption>Reliability diagram: accuracy against mean confidence in %d equal-width bins (the bins of ECE); dashed: perfect calibration; strip: the candidate's examples per bin.</figcaption></figure>",
			reliabilityPlot(r.Calibration), r.ECEBins)
	}
	if rc := r.RiskCoverage; rc != nil && len(rc.Points) > 0 {
		b.WriteString("<h2>Selective prediction</h2>")
		fmt.Fprintf(&b, "<figure>%s<figcaption>Risk–coverage: the error rate among the answers kept against the fraction kept, as the confidence threshold falls (AURC %s). A cascade that escalates below a threshold keeps that coverage on device.</figcaption></figure>",
			riskCoveragePlot(rc), numG(rc.AURC))
		b.WriteString(`<table class="risk-coverage"><tr><th>threshold</th><th>coverage</th><th>risk</th></tr>`)
		for i, p := range rc.Points {
			if i%5 == 4 || i == len(rc.Points)-1 {
				fmt.Fprintf(&b, "<tr><td>%s</td><td>%s</td><td>%s</td></tr>", num(p.Threshold, 4), num(p.Coverage, 3), num(p.Risk, 4))
			}
		}
		b.WriteString("</table>")
	}
	if len(r.Profiles) > 0 {
		b.WriteString("<h2>Device profiles</h2>")
		b.WriteString(`<table><tr><th class="l">profile</th><th>cores</th><th>p50 µs</th><th>p95 µs</th><th>device p95 µs</th><th>budget µs</th><th>arena B</th><th>budget B</th><th>weights B</th><th>CPU µs</th><th>energy J</th><th class="l">status</th></tr>`)
		for _, p := range r.Profiles {
			status, cls := "within budgets", "pass"
			if p.Error != "" || !p.WithinBudget {
				status, cls = strings.Join(p.Violations, "; "), "fail"
				if p.Error != "" {
					status = p.Error
				}
			}
			fmt.Fprintf(&b, `<tr><td class="l">%s</td><td>%d</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%d</td><td>%d</td><td>%d</td><td>%s</td><td>%s</td><td class="l %s">%s</td></tr>`,
				esc(p.Profile), p.Cores, num(p.Latency.P50, 1), num(p.Latency.P95, 1), num(p.DeviceP95, 1), num(p.LatencyBudget, 0),
				p.ArenaBytes, p.ArenaBudget, p.WeightBytes, num(p.CPUPerInference, 1), numG(p.Energy), cls, esc(status))
		}
		b.WriteString("</table>")
		for i := range r.Profiles {
			fmt.Fprintf(&b, "<figure>%s<figcaption>%s: latency of %d single-example inferences; device estimate = × %g.</figcaption></figure>",
				latencyPlot(&r.Profiles[i]), esc(r.Profiles[i].Profile), r.Profiles[i].Iterations, r.Profiles[i].SpeedFactor)
		}
	}
	b.WriteString("</body></html>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func (r *Report) metricsTable(b *strings.Builder) {
	b.WriteString(`<table class="metrics"><tr><th class="l">slice</th><th>n</th><th class="l">metric</th><th>candidate</th><th>CI</th>`)
	if r.Baseline != nil {
		b.WriteString(`<th>baseline</th><th>CI</th><th>diff</th><th>diff CI</th>`)
	}
	b.WriteString("</tr>")
	for _, s := range r.Slices {
		for _, m := range r.Metrics {
			e := s.Metrics[m.Name]
			fmt.Fprintf(b, `<tr><td class="l">%s</td><td>%d</td><td class="l">%s</td><td>%s</td><td>%s</td>`,
				esc(s.Key), s.Examples, esc(m.Name), fmtMetric(e.Candidate), fmtCI(e.CandidateCI))
			if e.Baseline != nil {
				fmt.Fprintf(b, `<td>%s</td><td>%s</td><td>%s</td><td>%s</td>`, fmtMetric(*e.Baseline), fmtCI(*e.BaselineCI), fmtSigned(*e.Diff), fmtCI(*e.DiffCI))
			}
			b.WriteString("</tr>")
		}
	}
	b.WriteString("</table>")
}

func num(x Num, prec int) string {
	if math.IsNaN(float64(x)) {
		return "–"
	}
	return fmt.Sprintf("%.*f", prec, float64(x))
}

func numG(x Num) string {
	if math.IsNaN(float64(x)) {
		return "–"
	}
	return fmt.Sprintf("%.3g", float64(x))
}
