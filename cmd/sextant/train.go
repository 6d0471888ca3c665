package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/dataset"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
	"github.com/sextant-ml/sextant/train"
	"github.com/sextant-ml/sextant/train/arch"
)

// trainFlags are the flags `sextant train` and `sextant finetune` share.
type trainFlags struct {
	data, labels, out      string
	epochs, batch, steps   int
	lr, momentum, wd       float64
	optimizer, loss        string
	clipNorm               float64
	dpNoise, dpClip, delta float64
	dpUser                 string // the user-id column: user-level DP
	dpMaxPerUser           int
	seed                   uint64
	name, version          string
	memBudget              int64
	streamAbove            int64 // read a table by user above this size
	noProgress             bool
	params                 []string // finetune: trainable globs
	archName, model, input string
	hidden                 []int
}

func (f *trainFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.data, "data", "", "training data: a .parquet file or a directory of .npy files, columns named after the model's inputs")
	fl.StringVar(&f.labels, "labels", "label", "the column holding the labels (classification) or targets (regression)")
	fl.StringVarP(&f.out, "output", "o", "", "the .sxm bundle to write")
	fl.IntVar(&f.epochs, "epochs", 1, "passes over the data")
	fl.IntVar(&f.steps, "steps", 0, "training steps to take (overrides --epochs when positive)")
	fl.IntVar(&f.batch, "batch", 32, "batch size (with DP: the expected size of the Poisson-sampled batch)")
	fl.Float64Var(&f.lr, "lr", 0.01, "learning rate")
	fl.StringVar(&f.optimizer, "optimizer", "sgd", "sgd, adam or adamw")
	fl.Float64Var(&f.momentum, "momentum", 0, "SGD momentum")
	fl.Float64Var(&f.wd, "weight-decay", 0, "weight decay (L2 for sgd and adam, decoupled for adamw)")
	fl.StringVar(&f.loss, "loss", "ce", "ce (softmax cross-entropy on integer labels), mse or huber")
	fl.Float64Var(&f.clipNorm, "clip-norm", 0, "clip the gradients' global L2 norm (not with DP)")
	fl.Float64Var(&f.dpNoise, "dp-noise", 0, "DP-SGD noise multiplier σ (enables DP-SGD with --dp-clip)")
	fl.Float64Var(&f.dpClip, "dp-clip", 0, "DP-SGD per-example clipping norm C")
	fl.Float64Var(&f.delta, "delta", 1e-5, "DP δ at which ε is reported")
	fl.StringVar(&f.dpUser, "dp-user-column", "", "user-level DP-SGD: the column of user ids; users are Poisson-sampled (--batch users per step expected), each user's contribution clipped to --dp-clip, and (ε, δ) is per user")
	fl.IntVar(&f.dpMaxPerUser, "dp-max-per-user", 16, "user-level DP-SGD: most examples a sampled user contributes to one step (a random subset; 0: all)")
	fl.Uint64Var(&f.seed, "seed", 1, "seed for weight initialization and data order (DP noise and sampling always use the OS CSPRNG)")
	fl.StringVar(&f.name, "name", "", "model name (default: the parent's, or the architecture's)")
	fl.StringVar(&f.version, "version", "", "model version (default: 0.1.0, or the parent's with the patch number bumped)")
	fl.Int64Var(&f.memBudget, "memory-budget", 0, "refuse a run needing more bytes than this (0: no limit)")
	fl.Int64Var(&f.streamAbove, "stream-above", 512<<20, "user-level DP-SGD on a Parquet table grouped by the user column: a table whose columns would take more than this many bytes in memory is read a sampled user at a time instead of whole")
	fl.BoolVar(&f.noProgress, "no-progress", false, "no progress bar")
	_ = cmd.MarkFlagRequired("data")
	_ = cmd.MarkFlagRequired("output")
}

// newTrainCmd is `sextant train`: train a built-in architecture from
// scratch or continue training a bundle.
func newTrainCmd(e *env) *cobra.Command {
	var f trainFlags
	cmd := &cobra.Command{
		Use:   "train (--arch NAME | --model FILE.sxm) --data FILE.parquet|DIR --labels NAME -o OUT.sxm",
		Short: "Train a model on device data (optionally with DP-SGD)",
		Long: `Trains with Sextant's own engine and writes the result as an .sxm bundle.
Built-in architectures: ` + strings.Join(arch.Names(), ", ") + `.
With --dp-noise and --dp-clip, batches are Poisson-sampled at rate batch/N,
each example's gradient is clipped to --dp-clip and Gaussian noise is added;
the (ε, δ) spent is recorded in the bundle's provenance. With
--dp-user-column the privacy unit is the user: users are Poisson-sampled at
rate batch/users, a sampled user's examples (at most --dp-max-per-user) are
clipped and averaged so the user moves the sum by at most --dp-clip, an
epoch is users/batch steps, and the recorded (ε, δ) is user-level.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (f.archName == "") == (f.model == "") {
				return errors.New("train: give exactly one of --arch and --model")
			}
			return runTrain(cmd.Context(), e, &f)
		},
	}
	f.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.archName, "arch", "", "built-in architecture: "+strings.Join(arch.Names(), ", "))
	fl.StringVar(&f.model, "model", "", "an .sxm bundle to continue training (all parameters)")
	fl.StringVar(&f.input, "input", "", "the feature column a built-in architecture reads (default: the only non-label column, or x)")
	fl.IntSliceVar(&f.hidden, "hidden", nil, "hidden layer widths of a built-in architecture, e.g. 256,256")
	return cmd
}

// runTrain trains per f and writes the bundle.
func runTrain(ctx context.Context, e *env, f *trainFlags) error {
	td, err := openTrainData(f)
	if err != nil {
		return err
	}
	defer td.close()
	data := td.head
	var (
		g      *graph.Graph
		parent *bundle.Manifest
		output string
	)
	if f.model != "" {
		b, err := bundle.Open(f.model)
		if err != nil {
			return err
		}
		defer b.Close()
		g, parent = b.Graph, b.Manifest
	} else {
		m, err := buildArch(f, data, td.labels)
		if err != nil {
			return err
		}
		g, output = m.Graph, m.Output
	}
	if err := graph.Infer(g, nil); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	loss, err := parseLoss(f.loss, output)
	if err != nil {
		return err
	}
	opt, err := parseOptimizer(f)
	if err != nil {
		return err
	}
	if td.rows < 1 {
		return fmt.Errorf("train: %s has no examples", f.data)
	}
	batch := min(f.batch, td.rows)
	if batch < 1 || f.epochs < 1 || f.steps < 0 {
		return fmt.Errorf("train: --batch %d and --epochs %d must be positive (and --steps %d not negative)", f.batch, f.epochs, f.steps)
	}
	cfg := train.TrainConfig{Params: f.params, Loss: loss, Optimizer: opt, ClipNorm: f.clipNorm, MemoryBudget: f.memBudget, Dims: batchDims(g, batch)}
	dp := f.dpNoise > 0 || f.dpClip > 0
	if dp && !(f.dpNoise > 0 && f.dpClip > 0) {
		return fmt.Errorf("train: DP-SGD needs both --dp-noise and --dp-clip (got %v and %v)", f.dpNoise, f.dpClip)
	}
	if f.dpUser != "" && !dp {
		return fmt.Errorf("train: --dp-user-column needs --dp-noise and --dp-clip")
	}
	var (
		userIDs  []int64
		userRows []int // rows each user contributes to a step
	)
	units := td.rows // the records the sampling rate is over
	switch {
	case td.groups != nil:
		units = len(td.groups.Keys)
		for i := range td.groups.Keys {
			lo, hi := td.groups.Range(i)
			userRows = append(userRows, int(hi-lo))
		}
	case f.dpUser != "":
		ids, err := data.As(f.dpUser, tensor.Int64, []int{})
		if err != nil {
			return fmt.Errorf("train: --dp-user-column: %w", err)
		}
		userIDs = tensor.Data[int64](ids)
		at := map[int64]int{}
		for _, u := range userIDs {
			k, ok := at[u]
			if !ok {
				k = len(userRows)
				at[u] = k
				userRows = append(userRows, 0)
			}
			userRows[k]++
		}
		units = len(userRows)
	}
	if f.dpUser != "" {
		batch = min(f.batch, units)
		for i, r := range userRows {
			if f.dpMaxPerUser > 0 {
				userRows[i] = min(r, f.dpMaxPerUser)
			}
		}
	}
	if dp {
		q := float64(batch) / float64(units)
		cfg.DP = &train.DP{NoiseMultiplier: f.dpNoise, ClipNorm: f.dpClip, SampleRate: q, ExpectedBatch: float64(batch), Delta: f.delta, PerUser: f.dpUser != ""}
	}
	tr, err := train.New(g, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "memory: %v\n", tr.Memory())
	var cols []*tensor.Tensor
	if td.all != nil {
		if cols, err = trainColumns(g, tr, data, f.labels); err != nil {
			return err
		}
	}
	r := rand.New(rand.NewPCG(f.seed, 0x5eed))
	steps := f.epochs * ((units + batch - 1) / batch)
	if f.steps > 0 {
		steps = f.steps
	}
	bar := newProgress(e.stderr, steps, !f.noProgress)
	var next func() ([]*tensor.Tensor, int, error)
	if dp {
		dt := tensor.Float32
		if p, ok := tr.Param(tr.ParamNames()[0]); ok {
			dt = p.DType
		}
		// Batches padded to about a standard deviation of their row
		// count take a few sizes, each an engine plan and arena.
		bucket := 0
		if userRows != nil {
			bucket = train.PaddingBucket(userRows, cfg.DP.SampleRate)
		}
		switch {
		case td.groups != nil:
			src := &parquetUsers{td: td, cols: trainerColumns(tr, f.labels), conv: func(d *dataset.Dataset) ([]*tensor.Tensor, error) { return trainColumns(g, tr, d, f.labels) }}
			ub, err := train.NewUserStreamBatcher(src, cfg.DP.SampleRate, f.dpMaxPerUser, bucket, dt, nil)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "data: %d users' rows read from %s as they are sampled; batches padded to multiples of %d rows\n",
				units, f.data, ub.Bucket())
			next = ub.Next
		case userIDs != nil:
			ub, err := train.NewUserPoissonBatcher(cols, userIDs, cfg.DP.SampleRate, f.dpMaxPerUser, bucket, dt, nil)
			if err != nil {
				return err
			}
			next = func() ([]*tensor.Tensor, int, error) {
				b, n := ub.Next()
				return b, n, nil
			}
		default:
			pb, err := train.NewPoissonBatcher(cols, cfg.DP.SampleRate, 0, dt, nil)
			if err != nil {
				return err
			}
			next = func() ([]*tensor.Tensor, int, error) {
				b, n := pb.Next()
				return b, n, nil
			}
		}
	} else {
		sb, err := train.NewShuffleBatcher(cols, batch, r)
		if err != nil {
			return err
		}
		next = func() ([]*tensor.Tensor, int, error) {
			b, _ := sb.Next()
			return b, b[0].Shape[0], nil
		}
	}
	var last float64
	for s := 0; s < steps; s++ {
		b, n, err := next()
		if err != nil {
			return fmt.Errorf("train: step %d: %w", s+1, err)
		}
		loss, err := tr.Step(ctx, b)
		if err != nil {
			return err
		}
		last = loss
		bar.step(n, loss, func() string { return epsilonNote(tr) })
	}
	bar.finish(func() string { return epsilonNote(tr) })
	snap, err := dataSnapshot(f.data)
	if err != nil {
		return err
	}
	ck := train.Checkpoint{Parent: parent, Name: f.name, Version: f.version, DataSnapshot: snap}
	if ck.Name == "" && parent == nil {
		ck.Name = f.archName
	}
	if ck.Version == "" {
		ck.Version = nextVersion(parent)
	}
	if err := tr.Checkpoint(f.out, ck); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "trained %d steps, last loss %.6g", tr.Steps(), last)
	if note := epsilonNote(tr); note != "" {
		fmt.Fprintf(e.stdout, ", %s", note)
	}
	fmt.Fprintf(e.stdout, "; wrote %s\n", f.out)
	return nil
}

// buildArch builds --arch from the data's columns (their types and
// per-example shapes) and the whole labels column (nil: data's).
func buildArch(f *trainFlags, data *dataset.Dataset, labels *tensor.Tensor) (*arch.Model, error) {
	build, ok := arch.Registry[f.archName]
	if !ok {
		return nil, fmt.Errorf("train: unknown architecture %q (have %s)", f.archName, strings.Join(arch.Names(), ", "))
	}
	spec := arch.Spec{Columns: map[string]arch.Column{}, Input: f.input, Hidden: f.hidden, Rand: rand.New(rand.NewPCG(f.seed, 0xa7c4))}
	for _, n := range data.Columns() {
		if n == f.labels {
			continue
		}
		c, _ := data.Column(n)
		spec.Columns[n] = arch.Column{DType: c.DType, Shape: append([]int(nil), c.Shape[1:]...)}
	}
	lab, ok := data.Column(f.labels)
	if !ok {
		return nil, fmt.Errorf("train: no label column %q in %s (have %v)", f.labels, f.data, data.Columns())
	}
	if labels != nil {
		lab = labels
	}
	if f.loss == "ce" {
		ids, err := lab.Int64s()
		if err != nil {
			return nil, fmt.Errorf("train: labels %q: %w", f.labels, err)
		}
		for _, v := range ids {
			if v < 0 {
				return nil, fmt.Errorf("train: negative label %d", v)
			}
			spec.Outputs = max(spec.Outputs, int(v)+1)
		}
	} else {
		spec.Outputs = max(1, lab.Len()/max(lab.Shape[0], 1))
	}
	return build(spec)
}

func parseLoss(name, output string) (train.Loss, error) {
	switch name {
	case "ce":
		return train.SoftmaxCrossEntropy{Output: output}, nil
	case "mse":
		return train.MSE{Output: output}, nil
	case "huber":
		return train.Huber{Output: output}, nil
	}
	return nil, fmt.Errorf("train: unknown loss %q (want ce, mse or huber)", name)
}

func parseOptimizer(f *trainFlags) (train.Optimizer, error) {
	switch f.optimizer {
	case "sgd":
		return train.SGD{LR: f.lr, Momentum: f.momentum, WeightDecay: f.wd}, nil
	case "adam":
		return train.Adam{LR: f.lr, WeightDecay: f.wd}, nil
	case "adamw":
		return train.Adam{LR: f.lr, WeightDecay: f.wd, Decoupled: true}, nil
	}
	return nil, fmt.Errorf("train: unknown optimizer %q (want sgd, adam or adamw)", f.optimizer)
}

// batchDims binds each symbolic leading dimension of g's inputs to batch,
// so the memory report is known before the first step.
func batchDims(g *graph.Graph, batch int) map[string]int {
	dims := map[string]int{}
	for _, v := range g.Inputs {
		if v.Const == nil && v.Type.Known && len(v.Type.Shape) > 0 && v.Type.Shape[0].Sym != "" {
			dims[v.Type.Shape[0].Sym] = batch
		}
	}
	return dims
}

// trainColumns lines up the data with the trainer's inputs (DataNames,
// without DP's mask): each model input from the column of its name, the
// target from the labels column, converted to the input's dtype and checked
// against its per-example shape.
func trainColumns(g *graph.Graph, tr *train.Trainer, data *dataset.Dataset, labels string) ([]*tensor.Tensor, error) {
	types := map[string]graph.Type{}
	for _, v := range g.Inputs {
		types[v.Name] = v.Type
	}
	var out []*tensor.Tensor
	for _, name := range tr.DataNames() {
		switch name {
		case "dp_mask":
			continue
		case "labels":
			t, err := data.As(labels, tensor.Int64, []int{})
			if err != nil {
				return nil, err
			}
			out = append(out, t)
			continue
		case "target":
			t, ok := data.Column(labels)
			if !ok {
				return nil, fmt.Errorf("train: no target column %q", labels)
			}
			var dt tensor.DType = tensor.Float32
			if p, ok := tr.Param(tr.ParamNames()[0]); ok {
				dt = p.DType
			}
			shape := append([]int(nil), t.Shape[1:]...)
			if len(shape) == 0 {
				shape = []int{1}
			}
			c, err := data.As(labels, dt, shape)
			if err != nil {
				return nil, err
			}
			out = append(out, c)
			continue
		}
		ty, ok := types[name]
		if !ok || !ty.Known {
			return nil, fmt.Errorf("train: model input %q has no known type", name)
		}
		shape := make([]int, 0, len(ty.Shape))
		for _, d := range ty.Shape[1:] {
			if d.IsFixed() {
				shape = append(shape, int(d.Size))
			} else {
				shape = append(shape, -1)
			}
		}
		t, err := data.As(name, ty.DType, shape)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

func epsilonNote(tr *train.Trainer) string {
	p, err := tr.Privacy()
	if err != nil || p == nil {
		return ""
	}
	return fmt.Sprintf("ε %.4g (δ %g)", p.Epsilon, p.Delta)
}

// dataSnapshot is the SHA-256 of the data file, or of a directory's files
// (names and contents, in name order).
func dataSnapshot(path string) (string, error) {
	h := sha256.New()
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	var files []string
	if st.IsDir() {
		err := filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				files = append(files, p)
			}
			return err
		})
		if err != nil {
			return "", err
		}
		sort.Strings(files)
	} else {
		files = []string{path}
	}
	for _, p := range files {
		rel, _ := filepath.Rel(path, p)
		fmt.Fprintf(h, "%s\x00", filepath.ToSlash(rel))
		f, err := os.Open(p)
		if err != nil {
			return "", err
		}
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", err
		}
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// nextVersion is 0.1.0 for a new model, else the parent's with the patch
// number bumped (pre-release and build metadata dropped).
func nextVersion(parent *bundle.Manifest) string {
	if parent == nil {
		return "0.1.0"
	}
	v := parent.Version
	if i := strings.IndexAny(v, "-+"); i >= 0 {
		v = v[:i]
	}
	parts := strings.Split(v, ".")
	if len(parts) == 3 {
		if p, err := strconv.Atoi(parts[2]); err == nil {
			return fmt.Sprintf("%s.%s.%d", parts[0], parts[1], p+1)
		}
	}
	return "0.1.0"
}
