package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// TestRNNPackedWeightsMatchUnpacked runs GRU (both reset variants) and LSTM,
// bidirectional, once with W and R as constants (packed for the SIMD GEMM
// when the node is built) and once as plain inputs, and requires the same
// outputs.
func TestRNNPackedWeightsMatchUnpacked(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	randT := func(shape ...int) *tensor.Tensor {
		x := tensor.New(tensor.Float32, shape...)
		for i := range tensor.Data[float32](x) {
			tensor.Data[float32](x)[i] = rng.Float32()*2 - 1
		}
		return x
	}
	const seq, batch, in, h, dirs = 4, 3, 5, 7, 2
	for _, c := range []struct {
		op    string
		gates int
		lbr   int64
	}{{"GRU", 3, 0}, {"GRU", 3, 1}, {"LSTM", 4, 0}} {
		x, w, r, b := randT(seq, batch, in), randT(dirs, c.gates*h, in), randT(dirs, c.gates*h, h), randT(dirs, 2*c.gates*h)
		run := func(constant bool) []*tensor.Tensor {
			attrs := map[string]*graph.Attr{
				"hidden_size": {Kind: graph.AttrInt, Int: h},
				"direction":   {Kind: graph.AttrString, String: "bidirectional"},
			}
			if c.op == "GRU" {
				attrs["linear_before_reset"] = &graph.Attr{Kind: graph.AttrInt, Int: c.lbr}
			}
			wv, rv := &graph.Value{Name: "W"}, &graph.Value{Name: "R"}
			if constant {
				wv.Const, rv.Const = w, r
			}
			n := &graph.Node{Op: c.op, Attrs: attrs,
				Inputs:  []*graph.Value{{Name: "X"}, wv, rv, {Name: "B"}},
				Outputs: []*graph.Value{{Name: "Y"}, {Name: "Y_h"}}}
			k, err := New(n, 14)
			if err != nil {
				t.Fatal(err)
			}
			rk := k.(*rnnKernel)
			if constant != (rk.pw[0] != nil) {
				t.Fatalf("%s: packed weights = %v with constant = %v", c.op, rk.pw[0] != nil, constant)
			}
			outs := []*tensor.Tensor{tensor.New(tensor.Float32, seq, dirs, batch, h), tensor.New(tensor.Float32, dirs, batch, h)}
			ins := []*tensor.Tensor{x, w, r, b}
			st, err := k.Prepare(ins, outs)
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Run(ins, outs, tensor.AlignedBytes(st.Scratch)); err != nil {
				t.Fatal(err)
			}
			return outs
		}
		packed, plain := run(true), run(false)
		for o := range packed {
			p, q := tensor.Data[float32](packed[o]), tensor.Data[float32](plain[o])
			for i := range p {
				if math.Abs(float64(p[i]-q[i])) > 1e-5 {
					t.Fatalf("%s lbr=%d output %d element %d: packed %v, plain %v", c.op, c.lbr, o, i, p[i], q[i])
				}
			}
		}
	}
}
