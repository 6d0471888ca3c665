package main

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/fl/flsim"
)

// newFLCmd is `sextant fl`: federated learning.
func newFLCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "fl", Short: "Federated learning with secure aggregation and differential privacy"}
	cmd.AddCommand(newFLSimulateCmd(e))
	return cmd
}

func newFLSimulateCmd(e *env) *cobra.Command {
	var (
		taskPath        string
		devices, rounds int
		dropout         float64
		seed            uint64
		stateDir        string
		asJSON, noProg  bool
		out             string
		noPersonalize   bool
		noEval          bool
	)
	cmd := &cobra.Command{
		Use:   "simulate --task FILE.yaml --devices N --rounds R",
		Short: "Run a federated task's rounds with N in-process devices through the real protocol",
		Long: `Runs a federated task (docs/fl.md describes the YAML) with N simulated
devices in one process: each device flips its own coin to join a round, trains
the task's model on its own data (the MLP on synthetic non-IID data, or with
model.arch next-destination the flagship ranker on its user's rows of a
sextant data features table), and takes part in secure
aggregation with the coordinator through the in-memory transport; joined
devices drop out with probability --dropout. After each round the global model
is scored on held-out devices. Reports rounds/s, bytes per client, server
compute per round, accuracy per round and the (ε, δ) spent. In the
next-destination mode, model.init starts from a bundle (the DP-SGD prior of a
donor cohort), the rows are also ranked (Acc@5, MRR, log-loss) before and after
each round, and --out writes the final global model as a bundle whose
provenance records the rounds and the combined (ε, δ).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			src, err := os.ReadFile(taskPath)
			if err != nil {
				return err
			}
			var spec flsim.Spec
			dec := yaml.NewDecoder(bytes.NewReader(src))
			if err := dec.Decode(&spec); err != nil {
				return fmt.Errorf("fl simulate: %s: %w", taskPath, err)
			}
			dir := stateDir
			if dir == "" {
				if dir, err = os.MkdirTemp("", "sextant-fl-*"); err != nil {
					return err
				}
				defer os.RemoveAll(dir)
			} else if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			bar := newProgress(e.stderr, rounds, !noProg)
			rep, err := flsim.Run(cmd.Context(), flsim.Config{Spec: spec, Devices: devices, Rounds: rounds, Dropout: dropout, Seed: seed, Dir: dir,
				Out: out, NoPersonalize: noPersonalize, NoEval: noEval,
				Progress: func(r flsim.RoundReport) {
					bar.step(r.Reports*max(spec.Data.Examples, 50), r.TrainLoss, func() string {
						return fmt.Sprintf("acc %.3f  ε %.3g", r.Accuracy, r.Epsilon)
					})
				}})
			if rep != nil && rep.Rounds > 0 {
				last := rep.PerRound[rep.Rounds-1]
				bar.finish(func() string { return fmt.Sprintf("acc %.3f  ε %.3g", last.Accuracy, last.Epsilon) })
			}
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(e, rep)
			}
			w := e.stdout
			fmt.Fprintf(w, "task %s: %d devices, %d parameters, secure aggregation %v, DP %s\n", rep.Task, rep.Devices, rep.Parameters, rep.SecAgg, rep.Mode)
			if s := rep.Initial; s != nil {
				fmt.Fprintf(w, "before round 1 on %d held-out rows: Acc@1 %.4f, Acc@5 %.4f, MRR %.4f, log-loss %.4f\n", s.N, s.Acc1, s.Acc5, s.MRR, s.LogLoss)
			}
			fmt.Fprintf(w, "%5s %9s %8s %8s %9s %10s %12s %10s %8s\n", "round", "committed", "reports", "dropped", "accuracy", "train loss", "bytes/client", "server s", "ε")
			for _, r := range rep.PerRound {
				fmt.Fprintf(w, "%5d %9v %8d %8d %9.3f %10.4f %12.0f %10.3f %8.3g", r.Round, r.Committed, r.Reports, r.Dropped, r.Accuracy, r.TrainLoss, r.BytesPerClient, r.ServerSeconds, r.Epsilon)
				if rep.Initial != nil {
					fmt.Fprintf(w, "  Acc@5 %.4f  MRR %.4f  log-loss %.4f", r.Acc5, r.MRR, r.LogLoss)
				}
				fmt.Fprintln(w)
			}
			fmt.Fprintf(w, "%d of %d rounds committed, %.3g rounds/s, %.0f bytes per client, %.3f s server compute per round, accuracy %.3f, (ε, δ) = (%.3g, %.3g)\n",
				rep.Committed, rep.Rounds, rep.RoundsPerS, rep.BytesPerClient, rep.ServerSecondsPerRnd, rep.Accuracy, rep.Epsilon, rep.Delta)
			if rep.Out != "" {
				fmt.Fprintf(w, "wrote %s; privacy: prior %s, model %s\n", rep.Out, costString(rep.Prior), costString(rep.Model))
			}
			if p := rep.Personalization; p != nil {
				fmt.Fprintf(w, "Acc@1 on %d users' held-out weeks (fine-tuned: %v; local-only: %v from initial weights)\n", p.Users, p.Params, p.LocalParams)
				fmt.Fprintf(w, "%-22s %6s %8s %8s %10s %10s %8s  %s\n", "slice", "users", "examples", "global", "fine-tuned", "local-only", "markov", "fine-tuned − local-only [95% CI over users]")
				type row struct {
					name string
					a    flsim.SliceAcc
				}
				rows := []row{{"all", p.All}, {fmt.Sprintf("≤ %d days of history", p.NewUserDays), p.New}}
				for _, d := range p.NewByDays {
					rows = append(rows, row{"  " + daysString(d.Days), d.SliceAcc})
				}
				for _, s := range append(rows, row{"longer history", p.Other}) {
					fmt.Fprintf(w, "%-22s %6d %8d %8.4f %10.4f %10.4f %8.4f  %+.4f", s.name, s.a.Users, s.a.Examples, s.a.Global, s.a.FineTuned, s.a.LocalOnly, s.a.Markov, s.a.FineTuned-s.a.LocalOnly)
					if ci := s.a.GapCI; ci != nil {
						fmt.Fprintf(w, " [%+.4f, %+.4f]", float64(ci.Lo), float64(ci.Hi))
					}
					fmt.Fprintln(w)
				}
				if p.Untrained > 0 {
					fmt.Fprintf(w, "not scored: %d users with held-out rows but no training row", p.Untrained)
					if len(p.UntrainedByDays) > 0 {
						var parts []string
						for _, d := range slices.Sorted(maps.Keys(p.UntrainedByDays)) {
							parts = append(parts, fmt.Sprintf("%d with %s", p.UntrainedByDays[d], daysString(d)))
						}
						fmt.Fprintf(w, "; new users among them: %s", strings.Join(parts, ", "))
					}
					fmt.Fprintln(w)
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&taskPath, "task", "", "the task file (YAML; see docs/fl.md)")
	f.IntVar(&devices, "devices", 1000, "simulated population")
	f.IntVar(&rounds, "rounds", 10, "round attempts to run")
	f.Float64Var(&dropout, "dropout", 0, "probability that a joined device drops out of its round")
	f.Uint64Var(&seed, "seed", 1, "seed of every random choice")
	f.StringVar(&stateDir, "state-dir", "", "keep the coordinator's state and privacy ledger here (default: a temporary directory)")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	f.BoolVar(&noProg, "no-progress", false, "no progress bar")
	f.StringVarP(&out, "out", "o", "", "next-destination mode with model.init: write the final global model to this .sxm")
	f.BoolVar(&noEval, "no-eval", false, "do not score the held-out rows (per round, before the first, or by personalization): e.g. when they are a benchmark's test weeks")
	f.BoolVar(&noPersonalize, "no-personalize", false, "next-destination mode: skip the final fine-tuning and local-only comparison")
	cmd.MarkFlagRequired("task")
	return cmd
}

// costString prints a recorded privacy cost, or says there is none.
func costString(c *bundle.PrivacyCost) string {
	if c == nil {
		return "no DP guarantee"
	}
	return fmt.Sprintf("(ε %.4g, δ %.3g) [%s]", c.Epsilon, c.Delta, c.Accountant)
}

// daysString is "1 day" or "N days".
func daysString(n int) string {
	if n == 1 {
		return "1 day"
	}
	return fmt.Sprintf("%d days", n)
}
