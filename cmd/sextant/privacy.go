package main

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sextant-ml/sextant/privacy/accountant"
	"github.com/sextant-ml/sextant/privacy/ldp"
)

// newPrivacyCmd is `sextant privacy`: privacy accounting, noise calibration
// and local-DP simulation.
func newPrivacyCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "privacy",
		Short: "Differential-privacy accounting, calibration and LDP simulation",
	}
	cmd.AddCommand(newPrivacyEpsilonCmd(e), newPrivacyNoiseCmd(e), newPrivacyLDPSimulateCmd(e))
	return cmd
}

// jsonNumber renders a float for JSON output; ±Inf (e.g. ε with no noise)
// has no JSON literal and is written as a string.
func jsonNumber(v float64) any {
	if math.IsInf(v, 1) {
		return "Infinity"
	}
	if math.IsNaN(v) {
		return "NaN"
	}
	return v
}

func writeJSON(e *env, v any) error {
	enc := json.NewEncoder(e.stdout)
	return enc.Encode(v)
}

func parseOrders(s string) ([]float64, error) {
	if s == "" {
		return nil, nil
	}
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			return nil, fmt.Errorf("privacy: order %q: %w", f, err)
		}
		out = append(out, v)
	}
	return out, nil
}

type dpsgdFlags struct {
	q, delta               float64
	steps                  int
	accountant, conversion string
	orders                 string
	interval               float64
	asJSON                 bool
}

func (f *dpsgdFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.Float64Var(&f.q, "q", 0, "Poisson sampling probability per step")
	fl.IntVar(&f.steps, "steps", 0, "number of steps (rounds)")
	fl.Float64Var(&f.delta, "delta", 1e-5, "target δ")
	fl.StringVar(&f.accountant, "accountant", "rdp", "accountant: rdp or pld")
	fl.StringVar(&f.conversion, "conversion", "improved", "RDP to (ε, δ) conversion: improved (Balle et al. 2020) or classic (Mironov 2017)")
	fl.StringVar(&f.orders, "orders", "", "comma-separated Rényi orders (default: dp_accounting's 156 orders)")
	fl.Float64Var(&f.interval, "discretization", accountant.DefaultDiscretization, "PLD loss discretization interval")
	fl.BoolVar(&f.asJSON, "json", false, "print JSON")
	_ = cmd.MarkFlagRequired("q")
	_ = cmd.MarkFlagRequired("steps")
}

func (f *dpsgdFlags) spec() (accountant.DPSGD, error) {
	kind, err := accountant.ParseKind(f.accountant)
	if err != nil {
		return accountant.DPSGD{}, err
	}
	conv, err := accountant.ParseConversion(f.conversion)
	if err != nil {
		return accountant.DPSGD{}, err
	}
	orders, err := parseOrders(f.orders)
	if err != nil {
		return accountant.DPSGD{}, err
	}
	if f.steps < 0 {
		return accountant.DPSGD{}, fmt.Errorf("privacy: --steps %d must be ≥ 0", f.steps)
	}
	return accountant.DPSGD{Q: f.q, Steps: f.steps, Delta: f.delta, Accountant: kind, Conversion: conv, Orders: orders, DiscretizationInterval: f.interval}, nil
}

func newPrivacyEpsilonCmd(e *env) *cobra.Command {
	var f dpsgdFlags
	var sigma float64
	cmd := &cobra.Command{
		Use:   "epsilon",
		Short: "ε spent by steps of the Poisson-subsampled Gaussian mechanism",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := f.spec()
			if err != nil {
				return err
			}
			eps, order, err := d.Epsilon(sigma)
			if err != nil {
				return err
			}
			if f.asJSON {
				out := map[string]any{"epsilon": jsonNumber(eps)}
				if d.Accountant == accountant.KindRDP {
					out["order"] = jsonNumber(order)
				}
				return writeJSON(e, out)
			}
			if d.Accountant == accountant.KindRDP {
				fmt.Fprintf(e.stdout, "ε = %.6g (δ = %g, RDP order %g, %s conversion)\n", eps, f.delta, order, d.Conversion)
			} else {
				fmt.Fprintf(e.stdout, "ε = %.6g (δ = %g, PLD)\n", eps, f.delta)
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().Float64Var(&sigma, "sigma", 0, "noise multiplier (noise stddev / L2 sensitivity)")
	_ = cmd.MarkFlagRequired("sigma")
	return cmd
}

func newPrivacyNoiseCmd(e *env) *cobra.Command {
	var f dpsgdFlags
	var target float64
	cmd := &cobra.Command{
		Use:   "noise",
		Short: "smallest noise multiplier meeting a target (ε, δ)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := f.spec()
			if err != nil {
				return err
			}
			sigma, err := d.NoiseMultiplier(target)
			if err != nil {
				return err
			}
			if f.asJSON {
				return writeJSON(e, map[string]any{"noise_multiplier": sigma})
			}
			fmt.Fprintf(e.stdout, "noise multiplier %.6g for ε = %g, δ = %g (%s)\n", sigma, target, f.delta, d.Accountant)
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().Float64Var(&target, "epsilon", 0, "target ε")
	_ = cmd.MarkFlagRequired("epsilon")
	return cmd
}

func newPrivacyLDPSimulateCmd(e *env) *cobra.Command {
	var (
		mech   string
		cfg    ldp.SimConfig
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "ldp-simulate",
		Short: "simulate CMS/HCMS frequency estimates: empirical mean and variance over trials",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := ldp.ParseMechanism(mech)
			if err != nil {
				return err
			}
			cfg.Mechanism = m
			res, err := ldp.Simulate(cfg)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(e, res)
			}
			fmt.Fprintf(e.stdout, "%-10s %10s %14s %14s %14s\n", "item", "true", "mean", "variance", "analytic")
			for _, it := range res.Items {
				fmt.Fprintf(e.stdout, "%-10s %10d %14.1f %14.1f %14.1f\n", it.Item, it.TrueCount, it.MeanEstimate, it.Variance, it.Analytic)
			}
			fmt.Fprintf(e.stdout, "hash %s\n", res.Hash)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&mech, "mechanism", "cms", "cms or hcms")
	fl.Float64Var(&cfg.Epsilon, "epsilon", 4, "local ε per report")
	fl.IntVar(&cfg.M, "m", 1024, "sketch width (a power of two for hcms)")
	fl.IntVar(&cfg.K, "k", 16, "number of hash functions")
	fl.IntVar(&cfg.N, "n", 100000, "number of reports")
	fl.IntVar(&cfg.Items, "items", 16, "number of distinct items")
	fl.Float64Var(&cfg.Zipf, "zipf", 0, "Zipf exponent of item frequencies (0 = uniform)")
	fl.IntVar(&cfg.Trials, "trials", 100, "independent trials")
	fl.Uint64Var(&cfg.Seed, "seed", 1, "random seed")
	fl.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
