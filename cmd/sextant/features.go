package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sextant-ml/sextant/features/tables"
)

// newDataFeaturesCmd is `sextant data features`: a mobility data set's
// model inputs for the flagship models.
func newDataFeaturesCmd(e *env) *cobra.Command {
	var (
		kind, in, out, newDays string
		cfg                    tables.Config
	)
	cmd := &cobra.Command{
		Use:   "features --kind next-destination|eta --in DIR -o OUT",
		Short: "Turn a generated mobility data set into training and test tables for the flagship models",
		Long: `Reads the Parquet files of sextant data generate and writes OUT/train.parquet
and OUT/test.parquet, columns named after the model inputs, computed by the
device-side feature package. The last --holdout-weeks weeks form the test
split. Next destination drops examples whose next place is not among the K
candidates and reports the coverage; --donors keeps only that fraction of
users (a fixed hash of the id) in the training split. --cold-start-candidates
fills the slots a short history leaves empty with public places of the city
(features.City). --new-users makes a fraction of users new: their history
starts --new-user-days days before the test split (7, or a range such as
1-7, each new user's days drawn uniformly from it by a hash of the id; rows
carry new_user and new_user_days). OUT/coverage.parquet counts each user's
held-out examples, written and dropped. --workers goroutines compute chunks of users in
parallel (default: all cores); the output files are the same bytes
whatever their number.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if in == "" || out == "" {
				return fmt.Errorf("data features: --in and -o are required")
			}
			var err error
			if cfg.NewUserDaysMin, cfg.NewUserDays, err = dayRange(newDays); err != nil {
				return fmt.Errorf("data features: --new-user-days: %w", err)
			}
			var st tables.Stats
			switch kind {
			case "next-destination":
				st, err = tables.NextDestination(in, out, cfg)
			case "eta":
				st, err = tables.ETA(in, out, cfg)
			default:
				return fmt.Errorf("data features: --kind %q: want next-destination or eta", kind)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s: %d users; train %d examples, test %d examples", kind, st.Users, st.Train, st.Test)
			if kind == "next-destination" {
				fmt.Fprintf(e.stdout, "; dropped (next place not a candidate) train %d, test %d; test coverage %.4f",
					st.UncoveredTrain, st.UncoveredTest, st.Coverage())
				if cfg.NewUsers > 0 {
					fmt.Fprintf(e.stdout, " (new users %.4f)", st.CoverageNew())
				}
			}
			fmt.Fprintf(e.stdout, " → %s\n", out)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&kind, "kind", "next-destination", "next-destination or eta")
	fl.StringVar(&in, "in", "", "directory of sextant data generate")
	fl.StringVarP(&out, "output", "o", "", "output directory")
	fl.IntVar(&cfg.HoldoutWeeks, "holdout-weeks", 2, "final weeks held out as the test split")
	fl.Float64Var(&cfg.Donors, "donors", 1, "fraction of users in the training split (next destination)")
	fl.Float64Var(&cfg.NewUsers, "new-users", 0, "fraction of users who are new: their history starts --new-user-days before the test split, and features see nothing earlier (next destination)")
	fl.StringVar(&newDays, "new-user-days", "7", "days of history a new user has at the test split: N, or a range LO-HI drawn per user")
	fl.BoolVar(&cfg.ColdStart, "cold-start-candidates", false, "fill the candidate slots a user's own places leave empty with public city places (places.parquet) near the current place (next destination; a model must be served with the spec it was trained on)")
	fl.IntVar(&cfg.Workers, "workers", 0, "goroutines computing chunks of users (default: all cores; the output does not depend on it)")
	fl.IntVar(&cfg.ChunkRows, "chunk-rows", 0, "input rows per chunk of users, a row group of each split (default 32768)")
	_ = fl.MarkHidden("chunk-rows")
	fl.StringVar(&cfg.ColdStartPrior, "cold-start-prior", "relevance", "public popularity prior of cold-start candidates: relevance (places.parquet's map attribute) or uniform")
	return cmd
}

// dayRange parses "N" (lo 0: every new user has N days) or "LO-HI".
func dayRange(s string) (lo, hi int, err error) {
	a, b, isRange := strings.Cut(s, "-")
	if hi, err = strconv.Atoi(strings.TrimSpace(b)); !isRange {
		hi, err = strconv.Atoi(strings.TrimSpace(a))
	} else if err == nil {
		lo, err = strconv.Atoi(strings.TrimSpace(a))
	}
	switch {
	case err != nil:
		return 0, 0, fmt.Errorf("%q: want N or LO-HI days", s)
	case hi < 1 || (isRange && (lo < 1 || lo > hi)):
		return 0, 0, fmt.Errorf("%q: want whole days ≥ 1, LO ≤ HI", s)
	}
	return lo, hi, nil
}
