package main

import (
	"github.com/spf13/cobra"
)

// newFinetuneCmd is `sextant finetune`: train chosen parameters of a bundle,
// freezing the rest.
func newFinetuneCmd(e *env) *cobra.Command {
	var f trainFlags
	cmd := &cobra.Command{
		Use:   "finetune MODEL.sxm --params 'GLOB' --data FILE.parquet|DIR --labels NAME -o OUT.sxm",
		Short: "Fine-tune the parameters matching globs, freezing the rest",
		Long: `Fine-tunes a bundle: only the initializers matching --params (exact names
or globs such as 'head.*', repeatable) are trained. The memory the run needs
(activations, gradients, optimizer state) is printed before it starts, and
--memory-budget refuses a run over it. The new bundle's provenance names the
parent version and counts the training steps.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f.model = args[0]
			return runTrain(cmd.Context(), e, &f)
		},
	}
	f.register(cmd)
	cmd.Flags().StringArrayVar(&f.params, "params", nil, "trainable parameters: names or globs (repeatable)")
	_ = cmd.MarkFlagRequired("params")
	return cmd
}
