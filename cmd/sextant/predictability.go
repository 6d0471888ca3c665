package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sextant-ml/sextant/eval"
)

// newPredictabilityCmd is `sextant predictability`: each user's Π_max on
// the examples of a data set, and a model's accuracy beside it.
func newPredictabilityCmd(e *env) *cobra.Command {
	var (
		data, model, users, seq, labels, output string
		asJSON, perUser                         bool
		batch, chunk                            int
	)
	cmd := &cobra.Command{
		Use:   "predictability --data D.parquet [--model M.sxm]",
		Short: "Upper bound of next-place accuracy per user (Lempel-Ziv entropy and Fano's inequality)",
		Long: `Computes each user's predictability Π_max (Song, Qu, Blumm and Barabási,
Science 2010) on exactly the examples of the data set: the sequence of a
user is the --sequence column (the next place's id) of their rows, in order;
its Lempel-Ziv entropy rate and number of distinct places give Π_max by
Fano's inequality. With --model it also scores the examples and reports the
mean over users of the model's Acc@1 and its ratio to the mean Π_max (the
next-destination bar asks for at least 0.85). A Parquet table is read
--chunk-rows rows at a time; when it is grouped by user (as sextant data
features writes it) each user's sequence is let go once scored.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if data == "" {
				return fmt.Errorf("predictability needs --data")
			}
			// Read a chunk of rows at a time; a user's sequence is let go
			// once their bound is computed (eval.PredictabilityOfSource).
			src, err := eval.OpenSource(data)
			if err != nil {
				return err
			}
			defer src.Close()
			var p eval.Predictor
			if model != "" {
				m, err := openEvalModel(model)
				if err != nil {
					return err
				}
				defer m.close()
				head, err := src.Head(1)
				if err != nil {
					return err
				}
				if p, err = eval.NewModelPredictor(m.info.Name, m.model, head, output); err != nil {
					return err
				}
			}
			s, err := eval.PredictabilityOfSource(cmd.Context(), src, p, eval.PredictabilityConfig{User: users, Sequence: seq, Labels: labels, BatchSize: batch, ChunkRows: chunk})
			if err != nil {
				return err
			}
			if asJSON {
				if !perUser {
					s.PerUser = nil
				}
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(s)
			}
			fmt.Fprintf(e.stdout, "users %d, examples %d; mean Π_max %.4f (median %.4f, %d users clamped at 1/N), mean LZ entropy %.3f bits\n",
				s.Users, s.Examples, s.MeanPiMax, s.MedianPi, s.Clamped, s.MeanEntropy)
			if s.MeanAcc1 != nil {
				fmt.Fprintf(e.stdout, "mean per-user Acc@1 %.4f = %.3f × mean Π_max (bar: ≥ 0.85)\n", *s.MeanAcc1, *s.Ratio)
			}
			if perUser {
				fmt.Fprintln(e.stdout, "user\tlength\tdistinct\tentropy\tpi_max\tacc@1")
				for _, p := range s.PerUser {
					acc := "-"
					if p.Acc1 != nil {
						acc = fmt.Sprintf("%.4f", *p.Acc1)
					}
					fmt.Fprintf(e.stdout, "%d\t%d\t%d\t%.4f\t%.4f\t%s\n", p.User, p.Length, p.Distinct, p.Entropy, p.PiMax, acc)
				}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&data, "data", "", "data set: a .parquet file or a directory of .npy files")
	fl.StringVar(&model, "model", "", "a ranking model to compare (.sxm or .onnx)")
	fl.StringVar(&users, "user", "user_id", "the user column")
	fl.StringVar(&seq, "sequence", "next_place", "the column whose per-user sequence is scored")
	fl.StringVar(&labels, "labels", "label", "label column (with --model)")
	fl.StringVar(&output, "output", "", "the model output holding the scores (default: the first)")
	fl.BoolVar(&asJSON, "json", false, "print JSON")
	fl.BoolVar(&perUser, "per-user", false, "list every user")
	fl.IntVar(&batch, "batch", 256, "examples per model run")
	fl.IntVar(&chunk, "chunk-rows", 0, "rows read at a time, rounded up to whole batches (default 2048)")
	return cmd
}
