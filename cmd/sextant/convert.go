package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/engine"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/kernels"
	"github.com/sextant-ml/sextant/onnx"
)

// version is the Sextant runtime version written into bundles.
const version = "0.1.0"

// convertOptions are convert's settings, shared with demo.
type convertOptions struct {
	name, version string
	privacy       []string // NAME=private|sensitive|public
	golden        bool
	quantize      quantizeOptions
}

// convertResult summarizes a conversion.
type convertResult struct {
	ops        map[string]int
	nodesIn    int
	params     int64
	paramBytes int64
	fileBytes  int64
	arena      int64
	stats      graph.OptimizeStats
	quant      *bundle.Quantization
}

func newConvertCmd(e *env) *cobra.Command {
	var (
		out  string
		opts convertOptions
	)
	cmd := &cobra.Command{
		Use:   "convert IN.onnx -o OUT.sxm [--quantize int8|int8-dynamic|f16 [--calibrate DIR]]",
		Short: "Convert an ONNX model into an .sxm bundle",
		Long: `Imports an ONNX model, optimizes its graph (constant folding, dead code,
fusion), and writes an .sxm bundle: manifest, graph and 64-byte-aligned weights
that open without copying. Inputs are private unless --privacy says otherwise.
With --golden (default), seeded inputs and the outputs they produce are stored
for the post-install self-test. Prints the ops, parameter count, bytes and the
planned arena. --quantize int8-dynamic stores MatMul/Gemm weights as
per-channel int8 and quantizes activations at run time; --quantize int8 also
fixes activation ranges from calibration data (--calibrate DIR of .npy files
named after the inputs, --calibration-method minmax|percentile|entropy);
--quantize f16 stores float32 weights as float16.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return fmt.Errorf("-o OUT.sxm is required")
			}
			res, err := convert(cmd.Context(), args[0], out, opts)
			if err != nil {
				return err
			}
			printConvert(e, args[0], out, res)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "bundle to write")
	cmd.Flags().StringVar(&opts.name, "name", "", "model name (default: the input file's base name)")
	cmd.Flags().StringVar(&opts.version, "version", "1.0.0", "model version (semver)")
	cmd.Flags().StringArrayVar(&opts.privacy, "privacy", nil, "privacy class of an input: NAME=private|public, or NAME=sensitive:s2[:LEVEL]|time_slot:MIN|bucket:E1,E2,…|h3:RES (default private)")
	cmd.Flags().BoolVar(&opts.golden, "golden", true, "store golden inputs and outputs for the self-test")
	addQuantizeFlags(cmd, &opts.quantize, e)
	return cmd
}

func convert(ctx context.Context, in, out string, opts convertOptions) (*convertResult, error) {
	src, err := os.ReadFile(in)
	if err != nil {
		return nil, err
	}
	g, err := onnx.Decode(src)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", in, err)
	}
	res := &convertResult{nodesIn: len(g.Nodes)}
	res.stats, err = graph.Optimize(g, engine.Evaluator{}, graph.OptimizeOptions{})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", in, err)
	}
	if res.quant, err = quantizeGraph(ctx, g, opts.quantize); err != nil {
		return nil, fmt.Errorf("%s: %w", in, err)
	}
	name := opts.name
	if name == "" {
		name = strings.TrimSuffix(filepath.Base(in), filepath.Ext(in))
	}
	sum := sha256.Sum256(src)
	m := &bundle.Manifest{
		Name:      name,
		Version:   opts.version,
		Signature: bundle.SignatureOf(g),
		Provenance: bundle.Provenance{
			Source:    "sha256:" + hex.EncodeToString(sum[:]),
			CreatedAt: time.Now().UTC().Truncate(time.Second),
			Producer:  bundle.Producer{Tool: "sextant convert", Version: version},
		},
		MinRuntimeVersion: version,
		Quantization:      res.quant,
	}
	if err := applyPrivacy(m, opts.privacy); err != nil {
		return nil, err
	}
	// Compile a copy of the graph the bundle will hold, to learn the arena
	// and the golden outputs: Compile rewrites its graph.
	model, err := engine.Compile(cloneGraph(g), engine.Options{})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", in, err)
	}
	res.arena = model.ArenaBytes()
	extras := packedWeights(g)
	if opts.golden {
		gold, err := goldenSet(ctx, model, g, m)
		if err != nil {
			return nil, fmt.Errorf("golden self-test data: %w", err)
		}
		extras = append(extras, gold...)
	}
	if err := bundle.WriteFile(out, g, m, extras...); err != nil {
		return nil, err
	}
	fi, err := os.Stat(out)
	if err != nil {
		return nil, err
	}
	res.fileBytes = fi.Size()
	res.ops = map[string]int{}
	for _, n := range g.Nodes {
		res.ops[n.Op]++
	}
	for _, v := range g.Initializers {
		if v.Const != nil {
			res.params += int64(v.Const.Len())
			res.paramBytes += int64(len(v.Const.Raw))
		}
	}
	return res, nil
}

// packedWeights returns the constant GEMM weights of g pre-packed in the
// kernels' panel layout (float32), the int8 kernels' layout (the int8 B of
// QuantMatMul and DynamicQuantMatMul) or the 1-D convolution's (W with its
// bias column), so that opening the bundle needs no repacking. A weight used in both orientations is stored in both.
func packedWeights(g *graph.Graph) []bundle.Extra {
	var extras []bundle.Extra
	done := map[string]bool{}
	for _, n := range g.Nodes {
		transposed := false
		switch n.Op {
		case "QuantMatMul", "DynamicQuantMatMul":
			// int8 B [K, N] in the int8 kernels' layout, column sums included.
			if w := n.Input(1); w != nil && w.Const != nil && !done[w.Name+"\x00"+kernels.Int8PanelLayout()] {
				if t := kernels.PackWeight8(w.Const); t != nil {
					done[w.Name+"\x00"+kernels.Int8PanelLayout()] = true
					extras = append(extras, bundle.Extra{Name: w.Name, Layout: kernels.Int8PanelLayout(), Tensor: t})
				}
			}
			continue
		case "Conv", "FusedConv":
			// 1-D float32: W with the bias as one more column.
			if w := n.Input(1); w != nil && !done[w.Name+"\x00"+kernels.Conv1dLayout] {
				if t := kernels.Conv1dWeight(n); t != nil {
					done[w.Name+"\x00"+kernels.Conv1dLayout] = true
					extras = append(extras, bundle.Extra{Name: w.Name, Layout: kernels.Conv1dLayout, Tensor: t})
				}
			}
			continue
		case "MatMul", "FusedMatMul":
		case "Gemm", "FusedGemm":
			if n.Float("alpha", 1) != 1 {
				continue // α is folded into the panels at compile time
			}
			transposed = n.Int("transB", 0) != 0
		default:
			continue
		}
		w := n.Input(1)
		if w == nil || w.Const == nil {
			continue
		}
		layout := kernels.PanelLayout(transposed)
		if done[w.Name+"\x00"+layout] {
			continue
		}
		if t := kernels.PackWeight(w.Const, transposed); t != nil {
			done[w.Name+"\x00"+layout] = true
			extras = append(extras, bundle.Extra{Name: w.Name, Layout: layout, Tensor: t})
		}
	}
	return extras
}

// goldenSet runs the model on seeded inputs and records inputs and outputs
// as bundle tensors named golden/in/<input> and golden/out/<output>.
// applyPrivacy sets each input's privacy class from --privacy flags of the
// form NAME=private, NAME=public, NAME=sensitive:s2[:LEVEL] (a place as
// the centre of its S2 cell, level 12 by default), NAME=sensitive:h3:RES,
// NAME=sensitive:time_slot:MINUTES or NAME=sensitive:bucket:E1,E2,...;
// inputs not named stay private.
func applyPrivacy(m *bundle.Manifest, flags []string) error {
	type decl struct {
		class bundle.PrivacyClass
		c     *bundle.Coarsening
	}
	decls := map[string]decl{}
	for _, f := range flags {
		name, spec, ok := strings.Cut(f, "=")
		if !ok || name == "" {
			return fmt.Errorf("--privacy %q: want NAME=CLASS", f)
		}
		class, rest, _ := strings.Cut(spec, ":")
		d := decl{class: bundle.PrivacyClass(class)}
		switch d.class {
		case bundle.Private, bundle.Public:
			if rest != "" {
				return fmt.Errorf("--privacy %q: only sensitive inputs take a coarsening", f)
			}
		case bundle.Sensitive:
			kind, param, _ := strings.Cut(rest, ":")
			d.c = &bundle.Coarsening{Kind: kind}
			var err error
			switch kind {
			case bundle.CoarsenS2:
				if param != "" {
					var level int
					level, err = strconv.Atoi(param)
					d.c.Level = &level
				}
			case bundle.CoarsenH3:
				d.c.Resolution, err = strconv.Atoi(param)
			case bundle.CoarsenTimeSlot:
				d.c.Minutes, err = strconv.Atoi(param)
			case bundle.CoarsenBucket:
				for _, e := range strings.Split(param, ",") {
					v, perr := strconv.ParseFloat(e, 64)
					if perr != nil {
						err = perr
						break
					}
					d.c.Edges = append(d.c.Edges, v)
				}
			default:
				err = fmt.Errorf("unknown coarsening %q (want s2[:LEVEL], time_slot:MINUTES, bucket:EDGES or h3:RES)", kind)
			}
			if err != nil {
				return fmt.Errorf("--privacy %q: %w", f, err)
			}
		default:
			return fmt.Errorf("--privacy %q: class must be private, sensitive or public", f)
		}
		decls[name] = d
	}
	for i := range m.Signature.Inputs {
		in := &m.Signature.Inputs[i]
		in.Privacy = bundle.Private
		if d, ok := decls[in.Name]; ok {
			in.Privacy, in.Coarsening = d.class, d.c
			delete(decls, in.Name)
		}
	}
	for k := range decls {
		return fmt.Errorf("--privacy: the model has no input %q", k)
	}
	return nil
}

func goldenSet(ctx context.Context, model *engine.Model, g *graph.Graph, m *bundle.Manifest) ([]bundle.Extra, error) {
	ins, err := randomInputs(g, nil, 42)
	if err != nil {
		return nil, err
	}
	outs, err := model.NewSession().Run(ctx, ins)
	if err != nil {
		return nil, err
	}
	gold := &bundle.Golden{Tolerance: bundle.Tolerance{Abs: 1e-5, Rel: 1e-4}}
	var extras []bundle.Extra
	for i, t := range ins {
		ref := "golden/in/" + g.Inputs[i].Name
		extras = append(extras, bundle.Extra{Name: ref, Tensor: t})
		gold.Inputs = append(gold.Inputs, bundle.TensorRef{Name: g.Inputs[i].Name, Tensor: ref})
	}
	for i, t := range outs {
		name := model.OutputNames()[i]
		ref := "golden/out/" + name
		extras = append(extras, bundle.Extra{Name: ref, Tensor: t.Clone()})
		gold.Outputs = append(gold.Outputs, bundle.TensorRef{Name: name, Tensor: ref})
	}
	m.Golden = gold
	return extras, nil
}

func printConvert(e *env, in, out string, r *convertResult) {
	fmt.Fprintf(e.stdout, "%s -> %s\n", in, out)
	fmt.Fprintf(e.stdout, "graph      %s\n", r.stats)
	ops := make([]string, 0, len(r.ops))
	for op := range r.ops {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	parts := make([]string, len(ops))
	for i, op := range ops {
		parts[i] = fmt.Sprintf("%s×%d", op, r.ops[op])
	}
	fmt.Fprintf(e.stdout, "ops        %s\n", strings.Join(parts, " "))
	fmt.Fprintf(e.stdout, "parameters %d (%s)\n", r.params, humanBytes(r.paramBytes))
	fmt.Fprintf(e.stdout, "bundle     %s\n", humanBytes(r.fileBytes))
	printQuantization(e, r.quant)
	if r.arena >= 0 {
		fmt.Fprintf(e.stdout, "arena      %s planned (symbolic dims = 1)\n", humanBytes(r.arena))
	} else {
		fmt.Fprintf(e.stdout, "arena      planned at first run (input shapes depend on input values)\n")
	}
}

func humanBytes(n int64) string {
	switch {
	case n >= 10<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 10<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
