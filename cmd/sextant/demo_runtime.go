package main

import (
	"context"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/engine"
	"github.com/sextant-ml/sextant/models"
	"github.com/sextant-ml/sextant/tensor"
)

// demoTolerance is how close Sextant's outputs must be to PyTorch's.
const demoTolerance = 1e-5

func newDemoRuntimeCmd(e *env) *cobra.Command {
	var (
		dir   string
		iters int
		fleet int
		seed  uint64
	)
	cmd := &cobra.Command{
		Use:   "runtime",
		Short: "The runtime alone, end to end on the models the repository ships",
		Long: `For each shipped PyTorch-exported model: convert the ONNX file into an .sxm
bundle, inspect and verify it, run it on PyTorch's inputs and compare with
PyTorch's outputs, and benchmark it. With --fleet, then simulate a fleet of
that many devices installing a signed v1 and converging on a v2.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				d, err := os.MkdirTemp("", "sextant-demo-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(d)
				dir = d
			} else if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "Sextant runtime demo — %d shipped models, work dir %s\n", len(models.Demo), dir)
			worstAllocs := 0.0
			for _, sm := range models.Demo {
				allocs, err := demoModel(cmd.Context(), e, dir, sm, iters)
				if err != nil {
					return fmt.Errorf("%s: %w", sm.Name, err)
				}
				worstAllocs = max(worstAllocs, allocs)
			}
			allocNote := "with zero heap allocations per inference"
			if worstAllocs >= 0.005 {
				// The count is process-wide, so the Go runtime's own
				// background work shows up in short runs.
				allocNote = fmt.Sprintf("with at most %.2f heap allocations per inference (process-wide count)", worstAllocs)
			}
			fmt.Fprintf(e.stdout, "\nAll %d models converted, verified, matched PyTorch within %g and ran %s.\n", len(models.Demo), demoTolerance, allocNote)
			if fleet > 0 {
				return demoFleet(cmd.Context(), e, fleet, seed)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "keep the bundles and outputs in this directory (default: a temporary one, removed)")
	cmd.Flags().IntVar(&iters, "iterations", 2000, "benchmark iterations per model")
	cmd.Flags().IntVar(&fleet, "fleet", 0, "after the runtime tour, simulate a fleet of this many devices (real SDK instances against an in-process server)")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "seed of the simulated fleet")
	return cmd
}

// demoModel runs one shipped model through the tour and returns the heap
// allocations per inference it measured.
func demoModel(ctx context.Context, e *env, dir string, sm models.Shipped, iters int) (float64, error) {
	w := e.stdout
	fmt.Fprintf(w, "\n== %s: %s\n", sm.Name, sm.Description)
	onnxPath := filepath.Join(dir, sm.Name+".onnx")
	src, err := fs.ReadFile(models.Torch, "torch/"+sm.Name+".onnx")
	if err != nil {
		return 0, err
	}
	if err := os.WriteFile(onnxPath, src, 0o644); err != nil {
		return 0, err
	}

	// 1. Convert.
	sxm := filepath.Join(dir, sm.Name+".sxm")
	res, err := convert(ctx, onnxPath, sxm, convertOptions{name: sm.Name, version: "1.0.0", golden: true})
	if err != nil {
		return 0, err
	}
	fmt.Fprintf(w, "1 convert  %s (%d B ONNX) -> %s: %s; %d parameters; bundle %s; arena %s\n",
		filepath.Base(onnxPath), len(src), filepath.Base(sxm), res.stats, res.params, humanBytes(res.fileBytes), humanBytes(res.arena))

	// 2. Inspect and verify.
	t0 := time.Now()
	if err := bundle.VerifyFile(sxm); err != nil {
		return 0, err
	}
	verify := time.Since(t0)
	b, err := bundle.Open(sxm)
	if err != nil {
		return 0, err
	}
	defer b.Close()
	var ins []string
	for _, in := range b.Manifest.Signature.Inputs {
		ins = append(ins, fmt.Sprintf("%s %s%v (%s)", in.Name, in.DType, in.Shape, in.Privacy))
	}
	fmt.Fprintf(w, "2 inspect  %s v%s, inputs: %s; ops: %s; SHA-256 verified in %s\n",
		b.Manifest.Name, b.Manifest.Version, strings.Join(ins, ", "), strings.Join(b.Manifest.Ops, " "), verify.Round(time.Microsecond))

	// 3. Run on PyTorch's inputs; compare with PyTorch's outputs.
	lm, err := loadModel(sxm, engine.Options{})
	if err != nil {
		return 0, err
	}
	defer lm.close()
	feeds := map[string]*tensor.Tensor{}
	for _, name := range lm.model.InputNames() {
		t, err := embeddedNPY(sm.Name, name)
		if err != nil {
			return 0, err
		}
		feeds[name] = t
	}
	s := lm.model.NewSession()
	outs, err := s.RunNamed(ctx, feeds)
	if err != nil {
		return 0, err
	}
	worst := 0.0
	for name, got := range outs {
		want, err := embeddedNPY(sm.Name, name)
		if err != nil {
			return 0, err
		}
		d, err := maxAbsDiff(got, want)
		if err != nil {
			return 0, fmt.Errorf("output %s: %w", name, err)
		}
		worst = math.Max(worst, d)
	}
	if worst > demoTolerance {
		return 0, fmt.Errorf("outputs differ from PyTorch's by %g, more than %g", worst, demoTolerance)
	}
	fmt.Fprintf(w, "3 run      %d outputs on PyTorch's inputs; max |Sextant − PyTorch| = %.2g (tolerance %g)\n", len(outs), worst, demoTolerance)

	// 4. Benchmark.
	in := make([]*tensor.Tensor, 0, len(feeds))
	for _, name := range lm.model.InputNames() {
		in = append(in, feeds[name])
	}
	lat := make([]time.Duration, iters)
	for i := 0; i < 100; i++ {
		if _, err := s.Run(ctx, in); err != nil {
			return 0, err
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.Mallocs
	for i := range lat {
		t := time.Now()
		if _, err := s.Run(ctx, in); err != nil {
			return 0, err
		}
		lat[i] = time.Since(t)
	}
	runtime.ReadMemStats(&ms)
	allocs := float64(ms.Mallocs-before) / float64(iters)
	mean, p50, _, p99 := latencyStats(lat)
	fmt.Fprintf(w, "4 bench    %d runs: mean %.2f µs, p50 %.2f µs, p99 %.2f µs; %.2f allocations per run; arena %d B\n",
		iters, mean, p50, p99, allocs, s.ArenaBytes())
	return allocs, nil
}

func embeddedNPY(model, name string) (*tensor.Tensor, error) {
	f, err := models.Torch.Open(path.Join("torch", model, name+".npy"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return tensor.ReadNPY(f)
}

// maxAbsDiff is the largest elementwise |a − b| of two tensors of one shape.
func maxAbsDiff(a, b *tensor.Tensor) (float64, error) {
	if !a.Shape.Equal(b.Shape) {
		return 0, fmt.Errorf("shape %v, want %v", a.Shape, b.Shape)
	}
	d := 0.0
	for i := 0; i < a.Len(); i++ {
		d = math.Max(d, math.Abs(a.Float64At(i)-b.Float64At(i)))
	}
	return d, nil
}
