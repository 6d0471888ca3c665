package eval

import (
	"fmt"
	"io"
	"math"
	"text/tabwriter"
)

// WriteText writes the report as readable tables: metrics per slice, the
// device profiles, and the gates.
func (r *Report) WriteText(w io.Writer) error {
	base := ""
	if r.Baseline != nil {
		base = " vs " + r.Baseline.Name
	}
	fmt.Fprintf(w, "%s %s%s on %s (%d examples, %s)\n", r.Model.Name, r.Model.Version, base, r.Data.Path, r.Data.Examples, r.Task)
	fmt.Fprintf(w, "intervals: paired percentile bootstrap, B=%d, %g%% confidence, seed %d\n\n",
		r.Bootstrap.Replicates, 100*r.Bootstrap.Confidence, r.Bootstrap.Seed)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if r.Baseline != nil {
		fmt.Fprintln(tw, "slice\tn\tmetric\tcandidate\tCI\tbaseline\tdiff\tdiff CI\t")
	} else {
		fmt.Fprintln(tw, "slice\tn\tmetric\tcandidate\tCI\t")
	}
	for _, s := range r.Slices {
		for _, m := range r.Metrics {
			e := s.Metrics[m.Name]
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t", s.Key, s.Examples, m.Name, fmtMetric(e.Candidate), fmtCI(e.CandidateCI))
			if e.Baseline != nil {
				fmt.Fprintf(tw, "%s\t%s\t%s\t", fmtMetric(*e.Baseline), fmtSigned(*e.Diff), fmtCI(*e.DiffCI))
			}
			fmt.Fprintln(tw)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Profiles) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "profile\tp50 µs\tp95 µs\tdevice p95 µs\tbudget µs\tarena B\tbudget B\tenergy J\tstatus\t")
		for _, p := range r.Profiles {
			status := "ok"
			if p.Error != "" {
				status = p.Error
			} else if !p.WithinBudget {
				status = fmt.Sprint(p.Violations)
			}
			fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%.1f\t%.0f\t%d\t%d\t%.3g\t%s\t\n", p.Profile, float64(p.Latency.P50), float64(p.Latency.P95),
				float64(p.DeviceP95), float64(p.LatencyBudget), p.ArenaBytes, p.ArenaBudget, float64(p.Energy), status)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(r.Gates) > 0 {
		fmt.Fprintln(w)
		if err := r.WriteGates(w); err != nil {
			return err
		}
	}
	return nil
}

// WriteGates writes the gate results as a table and the verdict.
func (r *Report) WriteGates(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "gate\tslice\tn\tresult\treason\t")
	failed := 0
	for _, g := range r.Gates {
		res := "PASS"
		switch {
		case g.Skipped:
			res = "skip"
		case !g.Pass:
			res = "FAIL"
			failed++
		}
		n := ""
		if g.Examples > 0 {
			n = fmt.Sprint(g.Examples)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", g.Gate, g.Slice, n, res, g.Reason)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if failed > 0 {
		_, err := fmt.Fprintf(w, "%d of %d gate checks failed\n", failed, len(r.Gates))
		return err
	}
	_, err := fmt.Fprintf(w, "all %d gate checks passed\n", len(r.Gates))
	return err
}

func fmtMetric(x Num) string {
	if math.IsNaN(float64(x)) {
		return "–"
	}
	return fmt.Sprintf("%.4f", float64(x))
}

func fmtSigned(x Num) string {
	if math.IsNaN(float64(x)) {
		return "–"
	}
	return fmt.Sprintf("%+.4f", float64(x))
}

func fmtCI(iv Interval) string {
	return "[" + fmtMetric(iv.Lo) + ", " + fmtMetric(iv.Hi) + "]"
}
