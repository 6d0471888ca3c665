package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// rnnCase is one GRU or LSTM configuration; the reference below follows the
// equations of ONNX Operators.md (GRU-14, LSTM-14, "Equations"), one batch
// entry and one time step at a time, in float64.
type rnnCase struct {
	lstm, simple     bool
	dirs             int
	reverse          bool
	layout           int
	seq, batch, in   int
	hidden           int
	bias, init, peep bool
	lbr              bool
	clip             float64
	lens             []int32
}

func sig(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// rnnRef returns Y [seq, dirs, batch, H], Y_h and Y_c [dirs, batch, H]
// (layout 0) for X [seq, batch, in].
func rnnRef(c rnnCase, x, w, r, b, h0, c0, p []float64) (y, yh, yc []float64) {
	H, G := c.hidden, 3
	switch {
	case c.lstm:
		G = 4
	case c.simple:
		G = 1
	}
	y = make([]float64, c.seq*c.dirs*c.batch*H)
	yh = make([]float64, c.dirs*c.batch*H)
	yc = make([]float64, c.dirs*c.batch*H)
	clip := func(v float64) float64 {
		if c.clip > 0 {
			return math.Max(-c.clip, math.Min(c.clip, v))
		}
		return v
	}
	// proj returns row g·H+j of M (rows × cols) times vector v.
	proj := func(m []float64, cols, row int, v []float64) float64 {
		s := 0.0
		for k := 0; k < cols; k++ {
			s += m[row*cols+k] * v[k]
		}
		return s
	}
	for d := 0; d < c.dirs; d++ {
		wd, rd := w[d*G*H*c.in:], r[d*G*H*H:]
		wb, rb := make([]float64, G*H), make([]float64, G*H)
		if b != nil {
			copy(wb, b[d*2*G*H:])
			copy(rb, b[d*2*G*H+G*H:])
		}
		for bi := 0; bi < c.batch; bi++ {
			hs, cs := make([]float64, H), make([]float64, H)
			if h0 != nil {
				copy(hs, h0[(d*c.batch+bi)*H:])
			}
			if c0 != nil {
				copy(cs, c0[(d*c.batch+bi)*H:])
			}
			l := c.seq
			if c.lens != nil {
				l = int(c.lens[bi])
			}
			for s := 0; s < l; s++ {
				t := s
				if d == 1 || c.reverse {
					t = l - 1 - s
				}
				xt := x[(t*c.batch+bi)*c.in : (t*c.batch+bi+1)*c.in]
				nh, nc := make([]float64, H), make([]float64, H)
				for j := 0; j < H; j++ {
					gate := func(g int) float64 { return proj(wd, c.in, g*H+j, xt) + wb[g*H+j] }
					rec := func(g int, v []float64) float64 { return proj(rd, H, g*H+j, v) + rb[g*H+j] }
					if c.simple {
						nh[j] = math.Tanh(clip(gate(0) + rec(0, hs)))
						continue
					}
					if c.lstm { // gates i, o, f, c
						var pi, po, pf float64
						if p != nil {
							pi, po, pf = p[d*3*H+j], p[d*3*H+H+j], p[d*3*H+2*H+j]
						}
						it := sig(clip(gate(0) + rec(0, hs) + pi*cs[j]))
						ft := sig(clip(gate(2) + rec(2, hs) + pf*cs[j]))
						ct := math.Tanh(clip(gate(3) + rec(3, hs)))
						nc[j] = ft*cs[j] + it*ct
						ot := sig(clip(gate(1) + rec(1, hs) + po*nc[j]))
						nh[j] = ot * math.Tanh(nc[j])
						continue
					}
					// GRU gates z, r, h.
					zt := sig(clip(gate(0) + rec(0, hs)))
					var ht float64
					if c.lbr {
						rt := sig(clip(gate(1) + rec(1, hs)))
						ht = math.Tanh(clip(gate(2) + rt*rec(2, hs)))
					} else {
						rh := make([]float64, H)
						for k := range rh {
							rh[k] = sig(clip(proj(wd, c.in, H+k, xt)+wb[H+k]+proj(rd, H, H+k, hs)+rb[H+k])) * hs[k]
						}
						ht = math.Tanh(clip(gate(2) + rec(2, rh)))
					}
					nh[j] = (1-zt)*ht + zt*hs[j]
				}
				hs, cs = nh, nc
				copy(y[((t*c.dirs+d)*c.batch+bi)*H:], hs)
			}
			copy(yh[(d*c.batch+bi)*H:], hs)
			copy(yc[(d*c.batch+bi)*H:], cs)
		}
	}
	return y, yh, yc
}

// toLayout1 permutes axes (a0, a1, rest) of a row-major array to (a1, a0,
// rest), or with three leading axes moves the third first:
// perm3 [s, d, b, h] → [b, s, d, h].
func swap01(v []float64, a0, a1, rest int) []float64 {
	out := make([]float64, len(v))
	for i := 0; i < a0; i++ {
		for j := 0; j < a1; j++ {
			copy(out[(j*a0+i)*rest:(j*a0+i+1)*rest], v[(i*a1+j)*rest:(i*a1+j+1)*rest])
		}
	}
	return out
}

func TestRNN(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	var cases []rnnCase
	cases = append(cases,
		rnnCase{simple: true, dirs: 1, seq: 4, batch: 3, in: 5, hidden: 6, bias: true},
		rnnCase{simple: true, dirs: 2, layout: 1, seq: 4, batch: 3, in: 5, hidden: 6, init: true, clip: 0.5, lens: []int32{4, 1, 2}},
	)
	for _, lstm := range []bool{false, true} {
		cases = append(cases,
			rnnCase{lstm: lstm, dirs: 1, seq: 4, batch: 3, in: 5, hidden: 6},
			rnnCase{lstm: lstm, dirs: 1, seq: 4, batch: 3, in: 5, hidden: 6, bias: true, init: true, peep: lstm},
			rnnCase{lstm: lstm, dirs: 1, reverse: true, seq: 5, batch: 2, in: 3, hidden: 4, bias: true, lbr: !lstm},
			rnnCase{lstm: lstm, dirs: 2, seq: 3, batch: 2, in: 4, hidden: 5, bias: true, init: true, peep: lstm, clip: 0.7},
			rnnCase{lstm: lstm, dirs: 2, layout: 1, seq: 4, batch: 3, in: 2, hidden: 3, bias: true, init: true, lbr: !lstm},
			rnnCase{lstm: lstm, dirs: 2, seq: 5, batch: 3, in: 3, hidden: 4, bias: true, lens: []int32{5, 2, 3}},
			rnnCase{lstm: lstm, dirs: 1, layout: 1, seq: 5, batch: 3, in: 3, hidden: 4, bias: true, init: true, lens: []int32{1, 5, 3}},
		)
	}
	for _, c := range cases {
		name := fmt.Sprintf("%+v", c)
		G, op := 3, "GRU"
		switch {
		case c.lstm:
			G, op = 4, "LSTM"
		case c.simple:
			G, op = 1, "RNN"
		}
		H := c.hidden
		x := randT(rng, c.seq, c.batch, c.in)
		w, r := randT(rng, c.dirs, G*H, c.in), randT(rng, c.dirs, G*H, H)
		var b, h0, c0, p, lens *tensor.Tensor
		if c.bias {
			b = randT(rng, c.dirs, 2*G*H)
		}
		if c.init {
			h0, c0 = randT(rng, c.dirs, c.batch, H), randT(rng, c.dirs, c.batch, H)
		}
		if c.peep {
			p = randT(rng, c.dirs, 3*H)
		}
		if c.lens != nil {
			lens = tensor.From(c.lens, len(c.lens))
		}
		vals := func(t *tensor.Tensor) []float64 {
			if t == nil {
				return nil
			}
			return f64s(t)
		}
		y, yh, yc := rnnRef(c, f64s(x), f64s(w), f64s(r), vals(b), vals(h0), vals(c0), vals(p))
		xin, h0in, c0in := x, h0, c0
		yShape, sShape := tensor.Shape{c.seq, c.dirs, c.batch, H}, tensor.Shape{c.dirs, c.batch, H}
		if c.layout == 1 {
			xin = tensor.From(f32s(swap01(f64s(x), c.seq, c.batch, c.in)), c.batch, c.seq, c.in)
			if c.init {
				h0in = tensor.From(f32s(swap01(f64s(h0), c.dirs, c.batch, H)), c.batch, c.dirs, H)
				c0in = tensor.From(f32s(swap01(f64s(c0), c.dirs, c.batch, H)), c.batch, c.dirs, H)
			}
			// [s, d, b, h] → [b, s, d, h]: swap (s·d) with b.
			y = swap01(y, c.seq*c.dirs, c.batch, H)
			yh, yc = swap01(yh, c.dirs, c.batch, H), swap01(yc, c.dirs, c.batch, H)
			yShape, sShape = tensor.Shape{c.batch, c.seq, c.dirs, H}, tensor.Shape{c.batch, c.dirs, H}
		}
		attrs := map[string]*graph.Attr{"hidden_size": attrInt(int64(H)), "layout": attrInt(int64(c.layout))}
		switch {
		case c.dirs == 2:
			attrs["direction"] = attrStr("bidirectional")
		case c.reverse:
			attrs["direction"] = attrStr("reverse")
		}
		if c.lbr && !c.simple {
			attrs["linear_before_reset"] = attrInt(1)
		}
		if c.clip > 0 {
			attrs["clip"] = attrFloat(float32(c.clip))
		}
		ins := []*tensor.Tensor{xin, w, r, b, lens, h0in}
		nout := 2
		if c.lstm {
			ins = append(ins, c0in, p)
			nout = 3
		}
		for len(ins) > 3 && ins[len(ins)-1] == nil {
			ins = ins[:len(ins)-1]
		}
		got := runOp(t, op, 14, attrs, nout, ins...)
		assertClose(t, name+" Y", got[0], y, yShape, 1e-5, 1e-4)
		assertClose(t, name+" Y_h", got[1], yh, sShape, 1e-5, 1e-4)
		if c.lstm {
			assertClose(t, name+" Y_c", got[2], yc, sShape, 1e-5, 1e-4)
		}
	}
}

func TestRNNOptionalOutputsAndBadLengths(t *testing.T) {
	rng := rand.New(rand.NewPCG(33, 34))
	x, w, r := randT(rng, 3, 2, 4), randT(rng, 1, 12, 4), randT(rng, 1, 12, 3)
	attrs := map[string]*graph.Attr{"hidden_size": attrInt(3)}
	// Only Y_h requested (Y unnamed), as the ONNX tests do.
	run := prepareNode(t, "LSTM", 14, attrs, []bool{false, true}, x, w, r)
	run.run(t)
	y, yh, _ := rnnRef(rnnCase{lstm: true, dirs: 1, seq: 3, batch: 2, in: 4, hidden: 3}, f64s(x), f64s(w), f64s(r), nil, nil, nil, nil)
	_ = y
	assertClose(t, "Y_h", run.out[1], yh, tensor.Shape{1, 2, 3}, 1e-5, 1e-4)
	// A sequence length beyond the input's is a run-time error.
	run = prepareNode(t, "LSTM", 14, attrs, []bool{true, true}, x, w, r, nil, tensor.From([]int32{3, 4}, 2))
	if err := run.step.Run(run.in, run.out, run.buf); err == nil {
		t.Fatal("Run accepted sequence_lens above the sequence length")
	}
}

func f32s(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}
