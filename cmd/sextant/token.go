package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/server"
	"github.com/sextant-ml/sextant/store"
)

// newTokenCmd is `sextant token`: admin and enrollment tokens, managed
// directly in the server's database (whoever can reach it is an operator).
func newTokenCmd(e *env) *cobra.Command {
	var dsn string
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Create, list and revoke API tokens (directly in the server's database)",
	}
	cmd.PersistentFlags().StringVar(&dsn, "db", defaultDSN(defaultData), "database: sqlite:PATH or postgres://…")

	var scope, name string
	create := &cobra.Command{
		Use:   "create --scope read|publish|rollout|enroll [--name NAME]",
		Short: "Create a token and print its secret (shown only once)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			db, err := store.Open(cmd.Context(), dsn)
			if err != nil {
				return err
			}
			defer db.Close()
			tok, secret, err := server.CreateToken(cmd.Context(), db, delivery.Scope(scope), name)
			if err != nil {
				return err
			}
			if _, err := db.AppendAudit(cmd.Context(), delivery.AuditEvent{Who: "cli", What: "token.create", Target: tok.ID}); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "id:     %s\nscope:  %s\nsecret: %s\n", tok.ID, tok.Scope, secret)
			fmt.Fprintln(e.stderr, "The secret is shown only now; the server keeps only its hash.")
			return nil
		},
	}
	create.Flags().StringVar(&scope, "scope", "", "read, publish (also reads), rollout (also reads) or enroll (device registration only)")
	create.Flags().StringVar(&name, "name", "", "a label for people, e.g. ci-publisher")
	create.MarkFlagRequired("scope")

	list := &cobra.Command{
		Use:   "list",
		Short: "List tokens (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			db, err := store.Open(cmd.Context(), dsn)
			if err != nil {
				return err
			}
			defer db.Close()
			toks, err := db.ListTokens(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSCOPE\tNAME\tCREATED\tREVOKED")
			for _, t := range toks {
				rev := ""
				if !t.RevokedAt.IsZero() {
					rev = t.RevokedAt.Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, t.Scope, t.Name, t.CreatedAt.Format(time.RFC3339), rev)
			}
			return tw.Flush()
		},
	}

	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a token",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := store.Open(cmd.Context(), dsn)
			if err != nil {
				return err
			}
			defer db.Close()
			if err := db.RevokeToken(cmd.Context(), args[0]); err != nil {
				return err
			}
			if _, err := db.AppendAudit(cmd.Context(), delivery.AuditEvent{Who: "cli", What: "token.revoke", Target: args[0]}); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "revoked %s\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}
