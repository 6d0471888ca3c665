package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"text/tabwriter"

	"github.com/sextant-ml/sextant/bench/peer"
)

// tailJSON is one model's tail-latency result (--tail): for each runtime,
// reps series of runs consecutive runs on the pinned core, and the median
// over the series of p50, p99 and p99/p50.
type tailJSON struct {
	Name    string      `json:"name"`
	Title   string      `json:"title"`
	Sextant *tailSeries `json:"sextant_f32,omitempty"`
	ORT     *tailSeries `json:"ort_f32,omitempty"`
	Skipped string      `json:"skipped,omitempty"`
}

type tailSeries struct {
	Reps          []peer.Stats `json:"reps"`
	MedianP50US   float64      `json:"median_p50_us"`
	MedianP99US   float64      `json:"median_p99_us"`
	MedianP99P50  float64      `json:"median_p99_over_p50"`
	MaxAllocsPerR float64      `json:"max_allocs_per_run"`
}

// tailBar is issue 3's bar on the tail: p99 ≤ 2× p50.
const tailBar = 2.0

// median returns the median of xs (the mean of the middle two for an even
// count).
func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// newTailSeries summarizes reps series of one runtime.
func newTailSeries(reps []peer.Stats) *tailSeries {
	t := &tailSeries{Reps: reps}
	var p50, p99, ratio []float64
	for _, s := range reps {
		p50, p99 = append(p50, s.P50US), append(p99, s.P99US)
		ratio = append(ratio, s.P99US/s.P50US)
		t.MaxAllocsPerR = max(t.MaxAllocsPerR, s.AllocsPerRun)
	}
	t.MedianP50US, t.MedianP99US, t.MedianP99P50 = median(p50), median(p99), median(ratio)
	return t
}

// measureTail times one model's tail: Sextant's reps series, then ORT's
// (each runtime alone on the core for a whole series, so neither evicts the
// other's caches mid-series, as on a device running one model).
func measureTail(m peer.Model, o options) (tailJSON, error) {
	row := tailJSON{Name: m.Name, Title: m.Title}
	data, err := m.Load(filepath.Join(o.dir, "models"))
	if err != nil {
		return row, err
	}
	ort, err := peer.NewORT(data, o.threads)
	if err != nil {
		return row, err
	}
	defer ort.Close()
	shapes := make([]peer.Shape, len(ort.Inputs))
	for i, in := range ort.Inputs {
		shapes[i] = in.Shape
	}
	sets, err := peer.MakeInputs(shapes, o.cfg.Sets)
	if err != nil {
		return row, err
	}
	if err := ort.Bind(sets); err != nil {
		return row, err
	}
	sx, err := peer.NewSextant(data, o.threads)
	var ue *peer.UnsupportedError
	switch {
	case errors.As(err, &ue):
		row.Skipped = ue.Error()
		return row, nil
	case err != nil:
		return row, err
	}
	runs := []func(int) error{
		func(i int) error { _, err := sx.Run(sets[i]); return err },
		ort.RunSet,
	}
	var out [2][]peer.Stats
	for r, f := range runs {
		for range o.tailReps {
			st, err := peer.Series(f, o.tailRuns, o.cfg.Warmup, o.cfg.Sets)
			if err != nil {
				return row, err
			}
			out[r] = append(out[r], st)
		}
	}
	row.Sextant, row.ORT = newTailSeries(out[0]), newTailSeries(out[1])
	return row, nil
}

// runTail is compare --tail: the tail-latency table instead of the
// side-by-side one.
func runTail(set []peer.Model, o options, rep *report, stdout io.Writer) ([]tailJSON, error) {
	where := fmt.Sprintf("CPU %d", rep.PinnedCPU)
	if rep.PinnedCPUs != nil {
		where = fmt.Sprintf("CPUs %v", rep.PinnedCPUs)
	}
	fmt.Fprintf(stdout, "tail         %d series of %d consecutive runs per runtime and model, each runtime alone on %s;\n"+
		"             medians over the series; bar: Sextant p99 ≤ %.0f× p50\n", o.tailReps, o.tailRuns, where, tailBar)
	var rows []tailJSON
	for _, m := range set {
		row, err := measureTail(m, o)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.Name, err)
		}
		rows = append(rows, row)
		fmt.Fprintf(os.Stderr, "compare: %s done\n", m.Name)
	}
	rep.LoadAvgEnd = loadavg()
	printTail(stdout, rows)
	fmt.Fprintf(stdout, "loadavg at end %s\n", rep.LoadAvgEnd)
	return rows, nil
}

func printTail(w io.Writer, rows []tailJSON) {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "model\tSextant p50 µs\tp99 µs\tp99/p50\tbar\tp99/p50 per series\tORT p50 µs\tp99 µs\tp99/p50\tSextant allocs/run\t")
	for _, r := range rows {
		if r.Sextant == nil {
			fmt.Fprintf(tw, "%s\t—\t—\t—\t—\t—\t—\t—\t—\t%s\n", r.Title, r.Skipped)
			continue
		}
		s, p := r.Sextant, r.ORT
		verdict := "met"
		if s.MedianP99P50 > tailBar {
			verdict = "NOT met"
		}
		per := ""
		for i, st := range s.Reps {
			if i > 0 {
				per += " "
			}
			per += fmt.Sprintf("%.2f", st.P99US/st.P50US)
		}
		fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%.2f\t%s\t%s\t%.2f\t%.2f\t%.2f\t%.2f\t\n",
			r.Title, s.MedianP50US, s.MedianP99US, s.MedianP99P50, verdict, per, p.MedianP50US, p.MedianP99US, p.MedianP99P50, s.MaxAllocsPerR)
	}
	tw.Flush()
}
