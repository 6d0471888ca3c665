package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sextant-ml/sextant/conformance"
)

func newConformanceCmd(e *env) *cobra.Command {
	var (
		suite, run string
		asJSON     bool
		verbose    bool
	)
	cmd := &cobra.Command{
		Use:   "conformance",
		Short: "Run the ONNX backend node tests against the engine",
		Long: `Runs every ONNX backend node test under --suite (default: where Debian's
libonnx-testdata package installs them) and reports per test and per op:
passed, failed (with the worst error) or unsupported. Tolerances are the ONNX
backend runner's (rtol 1e-3, atol 1e-7). Exits non-zero when a test fails.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts := conformance.Options{}
			if run != "" {
				re, err := regexp.Compile(run)
				if err != nil {
					return fmt.Errorf("--run: %w", err)
				}
				opts.Filter = re
			}
			if !asJSON {
				opts.Progress = func(done, total int, r conformance.Result) {
					if verbose || r.Status == conformance.Failed {
						fmt.Fprintf(e.stderr, "[%d/%d] %-12s %s %s\n", done, total, r.Status, r.Name, oneLine(r.Detail))
					}
				}
			}
			rep, err := conformance.RunSuite(cmd.Context(), suite, opts)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else {
				printConformance(e, rep)
			}
			if rep.Failed > 0 {
				return &exitError{code: 1, msg: fmt.Sprintf("%d node tests failed", rep.Failed)}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&suite, "suite", conformance.DefaultSuite, "directory of ONNX node tests")
	cmd.Flags().StringVar(&run, "run", "", "only run tests whose names match this regular expression")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the full report as JSON")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "print every test as it finishes")
	return cmd
}

func printConformance(e *env, rep *conformance.Report) {
	fmt.Fprintf(e.stdout, "%-22s %7s %7s %12s\n", "op", "passed", "failed", "unsupported")
	ops := append([]conformance.OpSummary{}, rep.Ops...)
	sort.Slice(ops, func(i, j int) bool { return ops[i].Op < ops[j].Op })
	for _, o := range ops {
		fmt.Fprintf(e.stdout, "%-22s %7d %7d %12d\n", o.Op, o.Passed, o.Failed, o.Unsupported)
	}
	fmt.Fprintf(e.stdout, "\n%d passed, %d failed, %d unsupported\n", rep.Passed, rep.Failed, rep.Unsupported)
}

func oneLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}
