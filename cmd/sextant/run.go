package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sextant-ml/sextant/engine"
	"github.com/sextant-ml/sextant/tensor"
)

func newRunCmd(e *env) *cobra.Command {
	var (
		inputs  []string
		outDir  string
		threads int
	)
	cmd := &cobra.Command{
		Use:   "run FILE(.sxm|.onnx) --input NAME=FILE.npy ... --output-dir DIR",
		Short: "Run a model once on inputs from .npy files",
		Long: `Runs the model once and writes each output as DIR/NAME.npy (NumPy format,
C order, little-endian), named after the graph's outputs.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if outDir == "" {
				return fmt.Errorf("--output-dir is required")
			}
			lm, err := loadModel(args[0], engine.Options{Threads: threads})
			if err != nil {
				return err
			}
			defer lm.close()
			feeds := map[string]*tensor.Tensor{}
			for _, in := range inputs {
				name, file, ok := strings.Cut(in, "=")
				if !ok || name == "" || file == "" {
					return fmt.Errorf("--input %q: want NAME=FILE.npy", in)
				}
				t, err := tensor.ReadNPYFile(file)
				if err != nil {
					return fmt.Errorf("--input %s: %w", name, err)
				}
				feeds[name] = t
			}
			s := lm.model.NewSession()
			outs, err := s.RunNamed(cmd.Context(), feeds)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(outDir, 0o755); err != nil {
				return err
			}
			for _, name := range lm.model.OutputNames() {
				p := filepath.Join(outDir, safeFileName(name)+".npy")
				if err := tensor.WriteNPYFile(p, outs[name]); err != nil {
					return fmt.Errorf("output %s: %w", name, err)
				}
				fmt.Fprintf(e.stdout, "%s %v -> %s\n", name, outs[name], p)
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&inputs, "input", nil, "NAME=FILE.npy, once per model input")
	cmd.Flags().StringVar(&outDir, "output-dir", "", "directory for the output .npy files")
	cmd.Flags().IntVar(&threads, "threads", 1, "threads one large op may use (intra-op parallelism)")
	return cmd
}

// safeFileName keeps an output name usable as a file name (ONNX names may
// hold slashes or colons).
func safeFileName(name string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '/', '\\', ':', 0:
			return '_'
		}
		return r
	}, name)
}
