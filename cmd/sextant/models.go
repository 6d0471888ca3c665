package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// newModelsCmd is `sextant models`: the registry through the admin API.
func newModelsCmd(e *env) *cobra.Command {
	var api apiFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "models",
		Short: "List and show registered models and set their current version",
	}
	api.register(cmd)
	cmd.PersistentFlags().BoolVar(&asJSON, "json", false, "print JSON")
	printJSON := func(v any) error {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(e.stdout, "%s\n", b)
		return err
	}

	list := &cobra.Command{
		Use:   "list",
		Short: "List models with their latest and current versions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := api.client()
			if err != nil {
				return err
			}
			ms, err := c.ListModels(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(ms)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tLATEST\tCURRENT\tCREATED")
			for _, m := range ms {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", m.Name, m.Latest, m.Current, m.CreatedAt.Format(time.RFC3339))
			}
			return tw.Flush()
		},
	}

	show := &cobra.Command{
		Use:   "show NAME [VERSION]",
		Short: "Show a model's versions, or one version with its artifacts and lineage",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := api.client()
			if err != nil {
				return err
			}
			if len(args) == 2 {
				v, err := c.Version(cmd.Context(), args[0], args[1])
				if err != nil {
					return err
				}
				lin, err := c.Lineage(cmd.Context(), args[0], args[1])
				if err != nil {
					return err
				}
				return printJSON(map[string]any{"version": v.Version, "artifacts": v.Artifacts, "signed": v.Signed, "lineage": lin})
			}
			m, err := c.Model(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(m)
			}
			fmt.Fprintf(e.stdout, "%s: latest %s, current %s\n", m.Model.Name, orDash(m.Model.Latest), orDash(m.Model.Current))
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "VERSION\tPARENT\tSHA256\tBYTES\tPUBLISHED\tBY\tε\tNOTES")
			for _, v := range m.Versions {
				eps := "-"
				if p := v.Lineage.Privacy; p != nil {
					eps = fmt.Sprintf("%g", p.Epsilon)
				}
				fmt.Fprintf(tw, "%s\t%s\t%.12s\t%d\t%s\t%s\t%s\t%s\n", v.Version, orDash(v.Parent), v.SHA256, v.Length,
					v.PublishedAt.Format(time.RFC3339), v.PublishedBy, eps, v.Notes)
			}
			return tw.Flush()
		},
	}

	setCurrent := &cobra.Command{
		Use:   "set-current NAME VERSION",
		Short: "Make a published, signed version the one devices are assigned (rollout scope)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := api.client()
			if err != nil {
				return err
			}
			m, err := c.SetCurrent(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s: current %s\n", m.Name, m.Current)
			return nil
		},
	}
	cmd.AddCommand(list, show, setCurrent)
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
