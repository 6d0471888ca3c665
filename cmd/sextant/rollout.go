package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sextant-ml/sextant/delivery/health"
	"github.com/sextant-ml/sextant/delivery/rollout"
	"github.com/sextant-ml/sextant/delivery/targeting"
)

// newRolloutCmd is `sextant rollout`: staged rollouts through the admin
// API (a rollout-scope token changes them; a read token shows them).
func newRolloutCmd(e *env) *cobra.Command {
	var api apiFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "rollout",
		Short: "Create, watch and steer staged rollouts",
		Long: `Staged rollouts on the server (delivery/rollout; docs/api.md). create starts
a rollout from a JSON spec; status shows one rollout with its history (or all
of them); advance, pause, resume, rollback and kill are the manual overrides,
each recorded with the token's ID and --reason.`,
	}
	api.register(cmd)
	cmd.PersistentFlags().BoolVar(&asJSON, "json", false, "print JSON")
	show := func(st rollout.Status) error {
		if asJSON {
			return writeJSONTo(e, st)
		}
		return printRollout(e, st)
	}

	create := &cobra.Command{
		Use:   "create SPEC.json",
		Short: "Create and start a rollout from a JSON spec (see docs/api.md)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := os.ReadFile(args[0])
			if err != nil {
				return fmt.Errorf("rollout create: %w", err)
			}
			var spec rollout.Spec
			if err := json.Unmarshal(b, &spec); err != nil {
				return fmt.Errorf("rollout create: %s: %w", args[0], err)
			}
			c, err := api.client()
			if err != nil {
				return err
			}
			st, err := c.CreateRollout(cmd.Context(), spec)
			if err != nil {
				return err
			}
			return show(st)
		},
	}

	status := &cobra.Command{
		Use:   "status [ID]",
		Short: "Show a rollout with its history, or list every rollout",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := api.client()
			if err != nil {
				return err
			}
			if len(args) == 1 {
				st, err := c.RolloutStatus(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSONTo(e, st)
				}
				if err := printRollout(e, st.Status); err != nil {
					return err
				}
				return printDrift(e, st.Drift)
			}
			all, err := c.Rollouts(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSONTo(e, all)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tMODEL\tVERSION\tCURRENT\tSTATE\tSTAGE\tSHARE")
			for _, st := range all {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", st.Spec.ID, st.Spec.Model, st.Spec.Version,
					st.Spec.Current, st.State, st.Stage, percent(st.Share))
			}
			return tw.Flush()
		},
	}
	cmd.AddCommand(create, status)

	for _, a := range []struct{ name, short string }{
		{"advance", "Move to the next stage now, whatever the gates say"},
		{"pause", "Hold a baking rollout at its stage"},
		{"resume", "Let a paused rollout advance again"},
		{"rollback", "Send every device back to the current version"},
		{"kill", "Stop the rollout for good; every device runs the current version"},
	} {
		var reason string
		sub := &cobra.Command{
			Use:   a.name + " ID [--reason TEXT]",
			Short: a.short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := api.client()
				if err != nil {
					return err
				}
				st, err := c.RolloutAct(cmd.Context(), args[0], a.name, reason)
				if err != nil {
					return err
				}
				return show(st)
			},
		}
		sub.Flags().StringVar(&reason, "reason", "", "why, recorded with the transition")
		cmd.AddCommand(sub)
	}
	return cmd
}

func writeJSONTo(e *env, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.stdout, "%s\n", b)
	return err
}

// percent renders a share in basis points of targeting.Buckets.
func percent(share uint32) string {
	return fmt.Sprintf("%.2f%%", 100*float64(share)/float64(targeting.Buckets))
}

func printRollout(e *env, st rollout.Status) error {
	fmt.Fprintf(e.stdout, "rollout %s: %s %s (current %s)\n", st.Spec.ID, st.Spec.Model, st.Spec.Version, st.Spec.Current)
	fmt.Fprintf(e.stdout, "state %s, stage %d of %d, share %s\n", st.State, st.Stage+1, len(st.Spec.Stages), percent(st.Share))
	for _, g := range st.LastGates {
		fmt.Fprintf(e.stdout, "gate %s: %s [%g, %g] max %g %s\n", g.Metric, g.Verdict, g.Low, g.High, g.MaxRegression, g.Reason)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AT\tFROM\tTO\tSTAGE\tACTOR\tREASON")
	for _, r := range st.History {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", r.At.Format(time.RFC3339), r.From, r.To, r.Stage+1, r.Actor, strings.TrimSpace(r.Reason))
	}
	return tw.Flush()
}

// printDrift prints a rollout's input drift (nothing when not measured).
func printDrift(e *env, d *health.DriftReport) error {
	if d == nil {
		return nil
	}
	if d.Reason != "" {
		_, err := fmt.Fprintf(e.stdout, "drift: %s\n", d.Reason)
		return err
	}
	for _, f := range d.Features {
		mark := ""
		if f.Current.Alarm || f.Candidate.Alarm {
			mark = "  ALARM"
		}
		if _, err := fmt.Fprintf(e.stdout, "drift %s: PSI current %.3f, candidate %.3f (threshold %g)%s\n",
			f.Feature, f.Current.PSI, f.Candidate.PSI, d.Threshold, mark); err != nil {
			return err
		}
	}
	return nil
}
