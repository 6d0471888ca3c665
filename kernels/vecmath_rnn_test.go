package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// TestRNNFloat32CellsMatchFloat64 runs RNN, GRU and LSTM configurations in
// float32 (the vector cells of vecmath_rnn.go, weights packed) and in
// float64 (the per-element cells of rnn.go) on the same values and requires
// the same outputs: every attribute the float32 cells branch on (clip,
// linear_before_reset, peepholes, input_forget, sequence_lens, directions,
// layout, activations with and without a vector kernel) is covered.
func TestRNNFloat32CellsMatchFloat64(t *testing.T) {
	type cfg struct {
		op          string
		dir         string
		layout      int64
		lbr, forget bool
		peep, init  bool
		clip        float32
		lens        []int32
		acts        []string
		alphas      []float32
	}
	cases := []cfg{
		{op: "GRU"}, {op: "GRU", lbr: true}, {op: "GRU", dir: "bidirectional", clip: 0.8, init: true},
		{op: "GRU", lbr: true, dir: "reverse", lens: []int32{5, 2, 4}},
		{op: "GRU", layout: 1, acts: []string{"HardSigmoid", "Relu"}},
		{op: "GRU", lbr: true, acts: []string{"Sigmoid", "LeakyRelu"}, alphas: []float32{0, 0.3}},
		{op: "LSTM"}, {op: "LSTM", peep: true, init: true}, {op: "LSTM", forget: true, clip: 0.5},
		{op: "LSTM", dir: "bidirectional", peep: true, lens: []int32{3, 5, 1}, layout: 1},
		{op: "LSTM", acts: []string{"Sigmoid", "Tanh", "Relu"}},
		{op: "LSTM", acts: []string{"HardSigmoid", "Softsign", "Elu"}, peep: true},
		{op: "RNN"}, {op: "RNN", dir: "bidirectional", clip: 0.6, acts: []string{"Relu", "Sigmoid"}},
	}
	const seq, batch, in, h = 5, 3, 4, 19 // h not a multiple of any vector width
	rng := rand.New(rand.NewPCG(7, 8))
	for _, c := range cases {
		t.Run(fmt.Sprintf("%+v", c), func(t *testing.T) {
			gates := map[string]int{"RNN": 1, "GRU": 3, "LSTM": 4}[c.op]
			dirs := 1
			if c.dir == "bidirectional" {
				dirs = 2
			}
			attrs := map[string]*graph.Attr{"hidden_size": attrInt(h), "layout": attrInt(c.layout)}
			if c.dir != "" {
				attrs["direction"] = attrStr(c.dir)
			}
			if c.lbr {
				attrs["linear_before_reset"] = attrInt(1)
			}
			if c.forget {
				attrs["input_forget"] = attrInt(1)
			}
			if c.clip > 0 {
				attrs["clip"] = attrFloat(c.clip)
			}
			if c.acts != nil {
				attrs["activations"] = attrStrs(c.acts...)
			}
			if c.alphas != nil {
				attrs["activation_alpha"] = &graph.Attr{Kind: graph.AttrFloats, Floats: c.alphas}
			}
			xs := tensor.Shape{seq, batch, in}
			ss := tensor.Shape{dirs, batch, h}
			if c.layout == 1 {
				xs, ss = tensor.Shape{batch, seq, in}, tensor.Shape{batch, dirs, h}
			}
			ins := []*tensor.Tensor{randT(rng, xs...), randT(rng, dirs, gates*h, in), randT(rng, dirs, gates*h, h),
				randT(rng, dirs, 2*gates*h), nil, nil}
			if c.lens != nil {
				ins[4] = tensor.From(c.lens, batch)
			}
			if c.init {
				ins[5] = randT(rng, ss...)
			}
			nout := 2
			if c.op == "LSTM" {
				nout = 3
				var c0, p *tensor.Tensor
				if c.init {
					c0 = randT(rng, ss...)
				}
				if c.peep {
					p = randT(rng, dirs, 3*h)
				}
				ins = append(ins, c0, p)
			}
			for len(ins) > 3 && ins[len(ins)-1] == nil {
				ins = ins[:len(ins)-1]
			}
			ins64 := make([]*tensor.Tensor, len(ins))
			for i, x := range ins {
				if x != nil && x.DType == tensor.Float32 {
					ins64[i] = tensor.From(f64s(x), x.Shape...)
				} else {
					ins64[i] = x
				}
			}
			got := runOp(t, c.op, 14, attrs, nout, ins...)
			want := runOp(t, c.op, 14, attrs, nout, ins64...)
			for o := range got {
				assertClose(t, fmt.Sprintf("output %d", o), got[o], f64s(want[o]), want[o].Shape, 3e-6, 3e-6)
			}
		})
	}
}

// benchRNN times one RNN node the size of the bench/compare models: input
// 32, hidden 128, 20 steps, batch 1, weights constant (packed).
func benchRNN(b *testing.B, op string, gates int, attrs map[string]*graph.Attr) {
	rng := rand.New(rand.NewPCG(43, 44))
	attrs["hidden_size"] = attrInt(128)
	r := prepareNode(b, op, 14, attrs, []bool{true, true},
		randT(rng, 20, 1, 32), randT(rng, 1, gates*128, 32), randT(rng, 1, gates*128, 128), randT(rng, 1, 2*gates*128))
	b.ReportAllocs()
	for b.Loop() {
		r.run(b)
	}
}

func BenchmarkGRUCell(b *testing.B) {
	benchRNN(b, "GRU", 3, map[string]*graph.Attr{"linear_before_reset": attrInt(1)})
}

func BenchmarkLSTMCell(b *testing.B) { benchRNN(b, "LSTM", 4, map[string]*graph.Attr{}) }
