package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sextant-ml/sextant/delivery/experiment"
)

// newExperimentCmd is `sextant experiment`: the statistics of A/B
// experiments. Its JSON input and output are a stable interface (checks
// and scripts use them): see analyzeInput and analyzeOutput.
func newExperimentCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "experiment",
		Short: "Analyze A/B experiments: effects with confidence intervals, sample-ratio mismatch",
	}
	cmd.AddCommand(newExperimentAnalyzeCmd(e), newExperimentSRMCmd(e))
	return cmd
}

// analyzeInput is the file `experiment analyze --input` reads.
type analyzeInput struct {
	// Metric is "mean" or "proportion" (for proportions, sum counts
	// successes).
	Metric   string  `json:"metric"`
	Relative bool    `json:"relative"`
	Alpha    float64 `json:"alpha"`
	// Sequential is null for a fixed-horizon test, or {"tuning": N*}.
	Sequential *experiment.Sequential `json:"sequential"`
	Control    *experiment.Summary    `json:"control"`
	Treatment  *experiment.Summary    `json:"treatment"`
}

// analyzeOutput is what `experiment analyze --json` prints.
type analyzeOutput struct {
	Effect float64 `json:"effect"`
	CILow  float64 `json:"ci_low"`
	CIHigh float64 `json:"ci_high"`
	SE     float64 `json:"se"`
	PValue float64 `json:"p_value"`
	DF     float64 `json:"df"`
}

func newExperimentAnalyzeCmd(e *env) *cobra.Command {
	var input string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "analyze",
		Short: "Compare treatment with control (Welch's t, delta method, optional always-valid sequential intervals)",
		Long: `Compare treatment with control from each arm's sufficient statistics.

The input file (or - for standard input) is JSON:

  {"metric": "mean" | "proportion", "relative": false, "alpha": 0.05,
   "sequential": null | {"tuning": 5000},
   "control":   {"n": 3407, "sum": 1396.87, "sum_squares": 52377.9767},
   "treatment": {"n": 3461, "sum": 2422.7,  "sum_squares": 134698.29}}

For proportions "sum" is the number of successes. "relative" reports the
lift (treatment − control)/control with a delta-method interval;
"sequential" makes the interval and p-value valid however often one looks
(asymptotic confidence sequences, Waudby-Smith et al.; N* defaults to 5000).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			in, err := readAnalyzeInput(input)
			if err != nil {
				return err
			}
			metric, err := experiment.ParseMetric(in.Metric)
			if err != nil {
				return err
			}
			r, err := experiment.Analyze(metric, *in.Control, *in.Treatment,
				experiment.Options{Relative: in.Relative, Alpha: in.Alpha, Sequential: in.Sequential})
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(e, analyzeOutput{r.Effect, r.CILow, r.CIHigh, r.SE, r.PValue, r.DF})
			}
			alpha := in.Alpha
			if alpha == 0 {
				alpha = experiment.DefaultAlpha
			}
			kind := "difference"
			if in.Relative {
				kind = "relative lift"
			}
			mode := "fixed-horizon"
			if in.Sequential != nil {
				mode = "sequential (always valid)"
			}
			fmt.Fprintf(e.stdout, "%s: %.6g\n%.0f%% interval, %s: [%.6g, %.6g]\nstandard error: %.6g\np-value: %.4g\nWelch df: %.1f\n",
				kind, r.Effect, 100*(1-alpha), mode, r.CILow, r.CIHigh, r.SE, r.PValue, r.DF)
			return nil
		},
	}
	cmd.Flags().StringVar(&input, "input", "", "JSON input file (- for standard input)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	_ = cmd.MarkFlagRequired("input")
	return cmd
}

func readAnalyzeInput(path string) (*analyzeInput, error) {
	var r io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("experiment: %w", err)
		}
		defer f.Close()
		r = f
	}
	var in analyzeInput
	dec := json.NewDecoder(io.LimitReader(r, 1<<20))
	if err := dec.Decode(&in); err != nil {
		return nil, fmt.Errorf("experiment: reading %s: %w", path, err)
	}
	if in.Control == nil || in.Treatment == nil {
		return nil, fmt.Errorf("experiment: %s needs both \"control\" and \"treatment\"", path)
	}
	return &in, nil
}

func newExperimentSRMCmd(e *env) *cobra.Command {
	var counts, weights string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "srm",
		Short: "Sample-ratio mismatch: χ² test of arm sizes against the configured split",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := parseExperimentFloats("counts", counts)
			if err != nil {
				return err
			}
			var w []float64
			if weights != "" {
				if w, err = parseExperimentFloats("weights", weights); err != nil {
					return err
				}
			}
			r, err := experiment.SRM(c, w)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(e, map[string]float64{"chi2": r.Chi2, "p_value": r.PValue})
			}
			verdict := "no mismatch"
			if r.Alert {
				verdict = fmt.Sprintf("MISMATCH (p < %g): do not trust this experiment's results until it is explained", experiment.SRMAlertP)
			}
			fmt.Fprintf(e.stdout, "χ² = %.6g on %d df, p = %.4g: %s\n", r.Chi2, r.DF, r.PValue, verdict)
			return nil
		},
	}
	cmd.Flags().StringVar(&counts, "counts", "", "comma-separated units per arm, e.g. 50000,49000")
	cmd.Flags().StringVar(&weights, "weights", "", "comma-separated configured split (default equal), e.g. 0.5,0.5")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	_ = cmd.MarkFlagRequired("counts")
	return cmd
}

func parseExperimentFloats(name, s string) ([]float64, error) {
	var out []float64
	for f := range strings.SplitSeq(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			return nil, fmt.Errorf("experiment: --%s %q: %w", name, f, err)
		}
		out = append(out, v)
	}
	return out, nil
}
