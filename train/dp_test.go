package train

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

func randTensor64(r *rand.Rand, scale float64, shape ...int) *tensor.Tensor {
	t := tensor.New(tensor.Float64, shape...)
	for i := range tensor.Data[float64](t) {
		tensor.Data[float64](t)[i] = scale * r.NormFloat64()
	}
	return t
}

// dpMLP exercises the Gemm, LayerNormalization, MatMul, Add and Mul norm
// rules.
func dpMLP(r *rand.Rand) *graph.Graph {
	b := graph.NewBuilder("dp-mlp", 17)
	b.Input("x", tensor.Float64, "batch", 6)
	b.Initializer("w1", randTensor64(r, 0.5, 8, 6))
	b.Initializer("b1", randTensor64(r, 0.1, 8))
	b.Initializer("ln_s", randTensor64(r, 1, 8))
	b.Initializer("ln_b", randTensor64(r, 0.1, 8))
	b.Initializer("w2", randTensor64(r, 0.5, 8, 4))
	b.Initializer("b2", randTensor64(r, 0.1, 4))
	b.Initializer("s2", randTensor64(r, 1, 4))
	h := b.Op("Gemm", map[string]*graph.Attr{"transB": graph.IntAttr(1)}, "x", "w1", "b1")
	h = b.Op("LayerNormalization", nil, h, "ln_s", "ln_b")
	h = b.Op("Relu", nil, h)
	h = b.Op("Add", nil, b.Op("MatMul", nil, h, "w2"), "b2")
	b.Node("Mul", []string{h, "s2"}, []string{"logits"}, nil)
	b.Output("logits")
	return b.Graph()
}

// dpSeq exercises Gather (with repeated ids in an example) and a sequence
// MatMul, whose norm is the ghost norm when T(E+H) ≤ E·H and the
// materialized one otherwise.
func dpSeq(r *rand.Rand, e, h int) *graph.Graph {
	b := graph.NewBuilder("dp-seq", 17)
	b.Input("ids", tensor.Int64, "batch", 6)
	b.Initializer("emb", randTensor64(r, 1, 5, e))
	b.Initializer("w", randTensor64(r, 0.5, e, h))
	b.Initializer("bh", randTensor64(r, 0.1, h))
	b.Initializer("head", randTensor64(r, 0.5, 3, h))
	b.Initializer("hb", randTensor64(r, 0.1, 3))
	x := b.Op("Gather", nil, "emb", "ids")
	y := b.Op("Tanh", nil, b.Op("Add", nil, b.Op("MatMul", nil, x, "w"), "bh"))
	m := b.Op("ReduceMean", map[string]*graph.Attr{"axes": graph.IntsAttr(1), "keepdims": graph.IntAttr(0)}, y)
	b.Node("Gemm", []string{m, "head", "hb"}, []string{"logits"}, map[string]*graph.Attr{"transB": graph.IntAttr(1)})
	b.Output("logits")
	return b.Graph()
}

func snapshot(tr *Trainer) map[string][]float64 {
	m := map[string][]float64{}
	for _, n := range tr.ParamNames() {
		p, _ := tr.Param(n)
		v := make([]float64, p.Len())
		for i := range v {
			v[i] = p.Float64At(i)
		}
		m[n] = v
	}
	return m
}

// delta returns after − before per parameter and its global L2 norm.
func delta(before, after map[string][]float64) (map[string][]float64, float64) {
	d := map[string][]float64{}
	var ss float64
	for k, b := range before {
		v := make([]float64, len(b))
		for i := range b {
			v[i] = after[k][i] - b[i]
			ss += v[i] * v[i]
		}
		d[k] = v
	}
	return d, math.Sqrt(ss)
}

// exampleGradients is, for each of the first n examples of (x, y), the
// parameter change of one plain SGD step (LR 1) of g on that example alone
// (its negated gradient) and the change's norm.
func exampleGradients(t *testing.T, g *graph.Graph, x, y *tensor.Tensor, n int) ([]map[string][]float64, []float64) {
	t.Helper()
	var grads []map[string][]float64
	var norms []float64
	for i := 0; i < n; i++ {
		plain, err := New(g, TrainConfig{Loss: SoftmaxCrossEntropy{}, Optimizer: SGD{LR: 1}})
		if err != nil {
			t.Fatal(err)
		}
		before := snapshot(plain)
		if _, err := plain.Step(context.Background(), []*tensor.Tensor{rowsOf(x, i), rowsOf(y, i)}); err != nil {
			t.Fatal(err)
		}
		d, norm := delta(before, snapshot(plain))
		grads, norms = append(grads, d), append(norms, norm)
	}
	return grads, norms
}

// rowsOf copies rows idx of t.
func rowsOf(t *tensor.Tensor, idx ...int) *tensor.Tensor {
	out := tensor.New(t.DType, append(tensor.Shape{len(idx)}, t.Shape[1:]...)...)
	copyRows(out, t, idx)
	return out
}

// TestDPClippedSumMatchesPerExample checks the DP gradient against brute
// force: each example's gradient from a plain one-example step, clipped to
// C, summed. With σ = 0, SGD at rate 1 and ExpectedBatch 1, a DP step moves
// the parameters by exactly −Σᵢ cᵢ·gᵢ. The batch holds an outlier example
// (features ×1000) whose contribution alone must have norm C.
func TestDPClippedSumMatchesPerExample(t *testing.T) {
	const n, clip = 5, 0.5
	for _, c := range []struct {
		name  string
		model func(r *rand.Rand) *graph.Graph
		data  func(r *rand.Rand) *tensor.Tensor
		tol   float64 // relative, for float32 models
	}{
		{"mlp", dpMLP, func(r *rand.Rand) *tensor.Tensor {
			x := randTensor64(r, 1, n, 6)
			for j := 0; j < 6; j++ {
				tensor.Data[float64](x)[2*6+j] *= 1000 // the outlier
			}
			return x
		}, 0},
		{"seq-materialized", func(r *rand.Rand) *graph.Graph { return dpSeq(r, 4, 6) }, seqIDs, 0},
		{"seq-ghost", func(r *rand.Rand) *graph.Graph { return dpSeq(r, 16, 16) }, seqIDs, 0},
		// float32: the GRU's per-example gradients are materialized.
		{"gru-materialized", func(r *rand.Rand) *graph.Graph { return dpGRU(r, 4, 5) }, seqIDs, 2e-4},
		{"gru-ghost", func(r *rand.Rand) *graph.Graph { return dpGRU(r, 8, 8) }, seqIDs, 2e-4},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(7, 8))
			g := c.model(r)
			x := c.data(r)
			y := tensor.From([]int64{0, 1, 2, 1, 0}, n)
			ctx := context.Background()
			want := map[string][]float64{}
			grads, norms := exampleGradients(t, g, x, y, n)
			for i, d := range grads {
				f := min(1, clip/(norms[i]+1e-6))
				for k, v := range d {
					if want[k] == nil {
						want[k] = make([]float64, len(v))
					}
					for j := range v {
						want[k][j] += f * v[j]
					}
				}
			}
			if c.name == "mlp" && !(norms[2] > 5*clip) {
				t.Fatalf("the outlier's gradient norm %v is not far above C = %v", norms[2], clip)
			}
			dp := &DP{ClipNorm: clip, SampleRate: 0.5, ExpectedBatch: 1, Delta: 1e-5}
			tr, err := New(g, TrainConfig{Loss: SoftmaxCrossEntropy{}, Optimizer: SGD{LR: 1}, DP: dp})
			if err != nil {
				t.Fatal(err)
			}
			before := snapshot(tr)
			dt := tensor.Float64
			if c.tol > 0 {
				dt = tensor.Float32
			}
			mask := tensor.New(dt, n)
			for i := 0; i < n; i++ {
				setFloat(mask, i, 1)
			}
			if _, err := tr.Step(ctx, []*tensor.Tensor{x, y, mask}); err != nil {
				t.Fatal(err)
			}
			got, _ := delta(before, snapshot(tr))
			for k, w := range want {
				for j := range w {
					if math.Abs(got[k][j]-w[j]) > 1e-9+max(1e-7, c.tol)*(math.Abs(w[j])+1e-3) {
						t.Fatalf("%s[%d]: DP step %v, per-example reference %v", k, j, got[k][j], w[j])
					}
				}
			}
			// Each example alone (the others masked out) moves the
			// parameters by at most C, and the outlier by exactly C.
			for i := 0; i < n; i++ {
				tr, err := New(g, TrainConfig{Loss: SoftmaxCrossEntropy{}, Optimizer: SGD{LR: 1}, DP: dp})
				if err != nil {
					t.Fatal(err)
				}
				before := snapshot(tr)
				m := tensor.New(dt, n)
				setFloat(m, i, 1)
				if _, err := tr.Step(ctx, []*tensor.Tensor{x, y, m}); err != nil {
					t.Fatal(err)
				}
				_, norm := delta(before, snapshot(tr))
				if norm > clip*(1+1e-9+c.tol) || math.Abs(norm-min(norms[i], clip)) > max(1e-6, c.tol)*clip {
					t.Errorf("example %d alone moves the parameters by %v; its gradient norm is %v, C = %v", i, norm, norms[i], clip)
				}
			}
		})
	}
}

func seqIDs(r *rand.Rand) *tensor.Tensor {
	ids := tensor.New(tensor.Int64, n5, 6)
	for i := range tensor.Data[int64](ids) {
		tensor.Data[int64](ids)[i] = int64(r.IntN(5)) // 6 ids from 5: repeats
	}
	tensor.Data[int64](ids)[1] = -1 // the same row as 4, written negatively
	tensor.Data[int64](ids)[2] = 4
	return ids
}

const n5 = 5

// dpGRU is an embedding + GRU classifier in float32 (torch's GRU:
// linear_before_reset), weights at torch's initialization scale. Over 6
// steps the per-example norms are materialized for (e, h) = (4, 5) and
// ghost norms for (8, 8).
func dpGRU(r *rand.Rand, e, h int) *graph.Graph {
	rt := func(scale float64, s ...int) *tensor.Tensor {
		t := tensor.New(tensor.Float32, s...)
		for i := range tensor.Data[float32](t) {
			tensor.Data[float32](t)[i] = float32(scale * r.NormFloat64())
		}
		return t
	}
	b := graph.NewBuilder("dp-gru", 17)
	b.Input("ids", tensor.Int64, "batch", 6)
	b.Initializer("emb", rt(1, 5, e))
	b.Initializer("gru_w", rt(0.4, 1, 3*h, e))
	b.Initializer("gru_r", rt(0.4, 1, 3*h, h))
	b.Initializer("gru_b", rt(0.2, 1, 6*h))
	b.Initializer("fc_w", rt(0.4, 3, h))
	b.Initializer("fc_b", rt(0.1, 3))
	x := b.Op("Transpose", map[string]*graph.Attr{"perm": graph.IntsAttr(1, 0, 2)}, b.Op("Gather", nil, "emb", "ids"))
	b.Node("GRU", []string{x, "gru_w", "gru_r", "gru_b"}, []string{"y", "hn"},
		map[string]*graph.Attr{"hidden_size": graph.IntAttr(int64(h)), "linear_before_reset": graph.IntAttr(1)})
	// Both outputs feed the head, so Y and Y_h both carry gradients.
	last := b.Op("Squeeze", nil, "hn", b.Constant(tensor.From([]int64{0}, 1)))
	mean := b.Op("ReduceMean", map[string]*graph.Attr{"axes": graph.IntsAttr(0, 1), "keepdims": graph.IntAttr(0)}, "y")
	feat := b.Op("Add", nil, last, mean)
	b.Node("Gemm", []string{feat, "fc_w", "fc_b"}, []string{"logits"}, map[string]*graph.Attr{"transB": graph.IntAttr(1)})
	b.Output("logits")
	return b.Graph()
}
