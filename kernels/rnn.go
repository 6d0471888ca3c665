package kernels

import (
	"fmt"
	"unsafe"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/kernels/gemm"
	"github.com/sextant-ml/sextant/tensor"
)

// rnnKernel is RNN, GRU and LSTM, forward, reverse or bidirectional,
// following the equations of ONNX Operators.md (RNN-14, GRU-14, LSTM-14):
//
//	RNN: Ht = f(Xt·Wiᵀ + Ht₋₁·Riᵀ + Wbi + Rbi)
//	GRU (gates z, r, h):
//	  zt = f(Xt·Wzᵀ + Ht₋₁·Rzᵀ + Wbz + Rbz)
//	  rt = f(Xt·Wrᵀ + Ht₋₁·Rrᵀ + Wbr + Rbr)
//	  ht = g(Xt·Whᵀ + (rt ⊙ Ht₋₁)·Rhᵀ + Rbh + Wbh)      linear_before_reset = 0
//	  ht = g(Xt·Whᵀ + rt ⊙ (Ht₋₁·Rhᵀ + Rbh) + Wbh)      linear_before_reset ≠ 0
//	  Ht = (1 − zt) ⊙ ht + zt ⊙ Ht₋₁
//	LSTM (gates i, o, f, c; peepholes P = [Pi, Po, Pf]):
//	  it = f(Xt·Wiᵀ + Ht₋₁·Riᵀ + Pi ⊙ Ct₋₁ + Wbi + Rbi)
//	  ft = f(Xt·Wfᵀ + Ht₋₁·Rfᵀ + Pf ⊙ Ct₋₁ + Wbf + Rbf)
//	  ct = g(Xt·Wcᵀ + Ht₋₁·Rcᵀ + Wbc + Rbc)
//	  Ct = ft ⊙ Ct₋₁ + it ⊙ ct
//	  ot = f(Xt·Woᵀ + Ht₋₁·Roᵀ + Po ⊙ Ct + Wbo + Rbo)
//	  Ht = ot ⊙ h(Ct)
//
// The input projections of all time steps are one matrix product into
// scratch; each step then multiplies the hidden state by R. sequence_lens
// may differ per batch entry: an entry's steps past its length leave its
// state unchanged and write zeros to Y, and the reverse direction starts at
// its last valid step.
type rnnKernel struct {
	lstm        bool
	simple      bool // RNN
	hidden      int
	dirs        int
	reverse     bool // direction "reverse" (single direction)
	layout      int
	lbr         bool // GRU linear_before_reset
	inputForget bool // LSTM input_forget: ft = 1 − it
	clip        float64
	acts        [2][3]activation // per direction: f, g (, h)
	// Constant float32 weights packed for the SIMD GEMM, per direction: W
	// (all gates), R (all gates), and for GRU without linear_before_reset R
	// split into its z/r rows and its h rows. nil when W or R is not
	// constant.
	pw, pr, prZR, prH [2]*gemm.PackedB
}

func newRNN(n *graph.Node, opset int) (Kernel, error) {
	k := &rnnKernel{lstm: n.Op == "LSTM", simple: n.Op == "RNN", hidden: int(n.Int("hidden_size", 0)), layout: int(n.Int("layout", 0))}
	if k.hidden <= 0 {
		return nil, fmt.Errorf("%s: hidden_size must be positive", n.Op)
	}
	if k.layout != 0 && k.layout != 1 {
		return nil, fmt.Errorf("%s: invalid layout %d", n.Op, k.layout)
	}
	var err error
	if k.dirs, err = graph.RNNDirections(n); err != nil {
		return nil, err
	}
	k.reverse = n.Str("direction", "forward") == "reverse"
	k.lbr = n.Int("linear_before_reset", 0) != 0
	k.inputForget = n.Int("input_forget", 0) != 0
	if n.HasAttr("clip") {
		k.clip = float64(n.Float("clip", 0))
		if k.clip <= 0 {
			return nil, fmt.Errorf("%s: clip must be positive", n.Op)
		}
	}
	names := []string{"Sigmoid", "Tanh", "Tanh"}
	nact := 2
	switch {
	case k.lstm:
		nact = 3
	case k.simple:
		names, nact = []string{"Tanh"}, 1
	}
	given, _ := n.Strs("activations")
	alphas, _ := n.Floats("activation_alpha")
	betas, _ := n.Floats("activation_beta")
	if len(given) != 0 && len(given) != nact && len(given) != nact*k.dirs {
		return nil, fmt.Errorf("%s: %d activations, want %d per direction", n.Op, len(given), nact)
	}
	for d := 0; d < k.dirs; d++ {
		for i := 0; i < nact; i++ {
			name, pos := names[i], -1
			if len(given) > 0 {
				pos = (d*nact + i) % len(given)
				name = given[pos]
			}
			var a, b float64
			hasA, hasB := pos >= 0 && pos < len(alphas), pos >= 0 && pos < len(betas)
			if hasA {
				a = float64(alphas[pos])
			}
			if hasB {
				b = float64(betas[pos])
			}
			act, err := newActivation(name, a, b, hasA, hasB)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", n.Op, err)
			}
			k.acts[d][i] = act
		}
	}
	k.packWeights(n)
	return k, nil
}

// packWeights packs constant float32 W and R for the SIMD GEMM.
func (k *rnnKernel) packWeights(n *graph.Node) {
	w, r := n.Input(1), n.Input(2)
	if w == nil || r == nil || w.Const == nil || r.Const == nil || w.Const.DType != tensor.Float32 || r.Const.DType != tensor.Float32 ||
		len(w.Const.Shape) != 3 || len(r.Const.Shape) != 3 || w.Const.Shape[0] != k.dirs || r.Const.Shape[0] != k.dirs {
		return
	}
	gates := 3
	switch {
	case k.lstm:
		gates = 4
	case k.simple:
		gates = 1
	}
	h, gh, in := k.hidden, gates*k.hidden, w.Const.Shape[2]
	if w.Const.Shape[1] != gh || r.Const.Shape[1] != gh || r.Const.Shape[2] != h {
		return // Prepare reports the shape error
	}
	ks := gemm.Best()
	wd, rd := tensor.Data[float32](w.Const), tensor.Data[float32](r.Const)
	for d := 0; d < k.dirs; d++ {
		k.pw[d] = ks.PackB(wd[d*gh*in:(d+1)*gh*in], in, gh, true)
		rdd := rd[d*gh*h : (d+1)*gh*h]
		k.pr[d] = ks.PackB(rdd, h, gh, true)
		if !k.lstm && !k.simple && !k.lbr {
			k.prZR[d] = ks.PackB(rdd[:2*h*h], h, 2*h, true)
			k.prH[d] = ks.PackB(rdd[2*h*h:], h, h, true)
		}
	}
}

// rnnMatMul computes c = a·bᵀ for a (rows×k, row stride lda) and b (n×k),
// writing rows of c with stride ldc, through packed float32 weights when
// pk is set (T is then float32), or the SIMD GEMM with scratch gs when the
// weights are float32 but not constants (a training plan's), else a loop.
func rnnMatMul[T floatElem](pk *gemm.PackedB, rows, n, k int, a []T, lda int, b []T, c []T, ldc int, gs []float32) {
	if pk != nil {
		pk.MatMul(asFloat32(c), asFloat32(a), rows, lda, ldc, nil, gemm.None, 0)
		return
	}
	if gs != nil { // float32 weights that are not constants (training)
		gemm.Best().Gemm(asFloat32(c), asFloat32(a), asFloat32(b), rows, k, n, lda, k, ldc, false, true, nil, gemm.None, 0, gs)
		return
	}
	gemmGo(false, true, rows, n, k, 1, a, lda, b, k, 0, c, ldc)
}

// rnnInputBias returns the per-column bias of the input projections: Wb + Rb
// for every gate but GRU's h gate under linear_before_reset, which takes Wbh
// alone (its Rbh is added inside rt ⊙ (…)). It is written to dst.
func rnnInputBias[T floatElem](p *rnnPlan, wb, rb, dst []T) []T {
	lbrH := p.gates * p.hidden
	if p.lbr && !p.lstm && !p.simple {
		lbrH = 2 * p.hidden
	}
	for j := range dst {
		dst[j] = wb[j]
		if j < lbrH {
			dst[j] += rb[j]
		}
	}
	return dst
}

// asFloat32 reinterprets a []T known to be []float32.
func asFloat32[T floatElem](x []T) []float32 {
	if len(x) == 0 {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&x[0])), len(x))
}

type rnnPlan struct {
	*rnnKernel
	seq, batch, input                     int
	gates                                 int // 3 (GRU) or 4 (LSTM)
	xprojOff, hprojOff, hOff, cOff, rhOff int
	// gOff is the float32 cells' gate scratch ((gates+1)·hidden), biasOff
	// the input-projection bias (gates·hidden).
	gOff, biasOff int
	f32           bool // float32: the vector cells of vecmath_rnn.go
	// gemmOff/gemmLen: float32 GEMM scratch for weights that are not
	// constants (so were not packed at compile time), 0 otherwise.
	gemmOff, gemmLen int
}

func (k *rnnKernel) Prepare(in, out []*tensor.Tensor) (Step, error) {
	x := in[0]
	p := &rnnPlan{rnnKernel: k, gates: 3}
	switch {
	case k.lstm:
		p.gates = 4
	case k.simple:
		p.gates = 1
	}
	if len(x.Shape) != 3 {
		return Step{}, fmt.Errorf("%w: RNN input %v", tensor.ErrShape, x)
	}
	p.seq, p.batch, p.input = x.Shape[0], x.Shape[1], x.Shape[2]
	if k.layout == 1 {
		p.seq, p.batch = p.batch, p.seq
	}
	gh, h := p.gates*k.hidden, k.hidden
	check := func(i int, t *tensor.Tensor, want tensor.Shape) error {
		if t == nil {
			return nil
		}
		if t.DType != x.DType && i != 4 || !t.Shape.Equal(want) {
			return fmt.Errorf("%w: RNN input %d is %v, want %v%v", tensor.ErrShape, i, t, x.DType, want)
		}
		return nil
	}
	state := tensor.Shape{k.dirs, p.batch, h}
	if k.layout == 1 {
		state = tensor.Shape{p.batch, k.dirs, h}
	}
	wants := []tensor.Shape{
		1: {k.dirs, gh, p.input}, 2: {k.dirs, gh, h}, 3: {k.dirs, 2 * gh}, 4: {p.batch},
		5: state, 6: state, 7: {k.dirs, 3 * h},
	}
	for i := 1; i < len(in) && i < len(wants); i++ {
		if err := check(i, in[i], wants[i]); err != nil {
			return Step{}, err
		}
	}
	if sl := inputAt(in, 4); sl != nil && sl.DType != tensor.Int32 && sl.DType != tensor.Int64 {
		return Step{}, fmt.Errorf("RNN sequence_lens must be int32, got %v", sl.DType)
	}
	y := tensor.Shape{p.seq, k.dirs, p.batch, h}
	if k.layout == 1 {
		y = tensor.Shape{p.batch, p.seq, k.dirs, h}
	}
	for i, want := range []tensor.Shape{y, state, state} {
		if err := checkOut(out, i, want); err != nil {
			return Step{}, err
		}
	}
	sz := x.DType.Size()
	var sl scratchLayout
	p.xprojOff = sl.take(p.seq * p.batch * gh * sz)
	p.hprojOff = sl.take(p.batch * gh * sz)
	p.hOff = sl.take(p.batch * h * sz)
	p.cOff = sl.take(p.batch * h * sz)
	p.rhOff = sl.take(p.batch * h * sz)
	p.gOff = sl.take((gh + h) * sz)
	p.biasOff = sl.take(gh * sz)
	p.f32 = x.DType == tensor.Float32
	if p.f32 && k.pw[0] == nil {
		p.gemmLen = max(gemm.ScratchSize(p.seq*p.batch, p.input, gh), gemm.ScratchSize(p.batch, h, gh)) + 16
		p.gemmOff = sl.take(p.gemmLen * 4)
	}
	step := Step{Scratch: sl.size}
	switch x.DType {
	case tensor.Float32:
		step.Run = func(in, out []*tensor.Tensor, s []byte) error { return rnnRun[float32](p, in, out, s) }
	case tensor.Float64:
		step.Run = func(in, out []*tensor.Tensor, s []byte) error { return rnnRun[float64](p, in, out, s) }
	default:
		return Step{}, unsupportedDType("RNN", x.DType)
	}
	return step, nil
}

// rnnSeqLen returns batch entry b's sequence length.
func rnnSeqLen(sl *tensor.Tensor, b, seq int) int {
	if sl == nil {
		return seq
	}
	if sl.DType == tensor.Int64 {
		return int(tensor.Data[int64](sl)[b])
	}
	return int(tensor.Data[int32](sl)[b])
}

func rnnRun[T floatElem](p *rnnPlan, in, out []*tensor.Tensor, scratch []byte) error {
	h, gh, batch, seq := p.hidden, p.gates*p.hidden, p.batch, p.seq
	seqLens := inputAt(in, 4)
	for b := 0; b < batch; b++ {
		if l := rnnSeqLen(seqLens, b, seq); l < 0 || l > seq {
			return fmt.Errorf("RNN: sequence_lens[%d] = %d outside [0, %d]", b, l, seq)
		}
	}
	x, w, r := tensor.Data[T](in[0]), tensor.Data[T](in[1]), tensor.Data[T](in[2])
	var bias, initH, initC, peep, y, yh, yc []T
	if t := inputAt(in, 3); t != nil {
		bias = tensor.Data[T](t)
	}
	if t := inputAt(in, 5); t != nil {
		initH = tensor.Data[T](t)
	}
	if t := inputAt(in, 6); t != nil && p.lstm {
		initC = tensor.Data[T](t)
	}
	if t := inputAt(in, 7); t != nil && p.lstm {
		peep = tensor.Data[T](t)
	}
	if len(out) > 0 && out[0] != nil {
		y = tensor.Data[T](out[0])
		clear(y)
	}
	if len(out) > 1 && out[1] != nil {
		yh = tensor.Data[T](out[1])
	}
	if len(out) > 2 && out[2] != nil && p.lstm {
		yc = tensor.Data[T](out[2])
	}
	xproj := section[T](scratch, p.xprojOff, seq*batch*gh)
	hproj := section[T](scratch, p.hprojOff, batch*gh)
	hs := section[T](scratch, p.hOff, batch*h)
	cs := section[T](scratch, p.cOff, batch*h)
	rh := section[T](scratch, p.rhOff, batch*h)
	var g, gs []float32
	if p.f32 {
		g = asFloat32(section[T](scratch, p.gOff, gh+h))
	}
	if p.gemmLen > 0 {
		gs = section[float32](scratch, p.gemmOff, p.gemmLen)
	}
	// stateAt is the offset of (direction d, batch b) in Y_h, Y_c and the
	// initial states.
	stateAt := func(d, b int) int {
		if p.layout == 1 {
			return (b*p.dirs + d) * h
		}
		return (d*batch + b) * h
	}
	for d := 0; d < p.dirs; d++ {
		reverse := d == 1 || p.reverse
		wd := w[d*gh*p.input : (d+1)*gh*p.input]
		rd := r[d*gh*h : (d+1)*gh*h]
		// Input projections of every (t, b) row, plus the biases that add
		// to them (fused into the packed GEMM's epilogue when there is one).
		if pk := p.pw[d]; pk != nil && bias != nil {
			wb, rb := bias[d*2*gh:d*2*gh+gh], bias[d*2*gh+gh:(d+1)*2*gh]
			b := asFloat32(rnnInputBias(p, wb, rb, section[T](scratch, p.biasOff, gh)))
			pk.MatMul(asFloat32(xproj), asFloat32(x), seq*batch, p.input, gh, b, gemm.None, 0)
		} else {
			rnnMatMul(p.pw[d], seq*batch, gh, p.input, x, p.input, wd, xproj, gh, gs)
		}
		if bias != nil && p.pw[d] == nil {
			wb, rb := bias[d*2*gh:d*2*gh+gh], bias[d*2*gh+gh:(d+1)*2*gh]
			for row := 0; row < seq*batch; row++ {
				xr := xproj[row*gh : (row+1)*gh]
				for j := range xr {
					xr[j] += wb[j]
					if !(p.lbr && !p.lstm && !p.simple && j >= 2*h) {
						xr[j] += rb[j]
					}
				}
			}
		}
		for b := 0; b < batch; b++ {
			o := stateAt(d, b)
			if initH != nil {
				copy(hs[b*h:(b+1)*h], initH[o:o+h])
			} else {
				clear(hs[b*h : (b+1)*h])
			}
			if initC != nil {
				copy(cs[b*h:(b+1)*h], initC[o:o+h])
			} else {
				clear(cs[b*h : (b+1)*h])
			}
		}
		acts := &p.acts[d]
		for s := 0; s < seq; s++ {
			if p.lstm || p.simple || p.lbr {
				rnnMatMul(p.pr[d], batch, gh, h, hs, h, rd, hproj, gh, gs)
			} else {
				rnnMatMul(p.prZR[d], batch, 2*h, h, hs, h, rd, hproj, gh, gs)
			}
			if !p.lstm && !p.simple && !p.lbr {
				// rt ⊙ Ht₋₁ for every active entry, then its product with Rh.
				for b := 0; b < batch; b++ {
					t, ok := rnnTime(seqLens, b, s, seq, reverse)
					if !ok {
						continue
					}
					xr := xproj[rnnRow(p, t, b)*gh:][:gh]
					hr := hproj[b*gh:][:gh]
					if p.f32 {
						gruReset32(p, acts, asFloat32(xr), asFloat32(hr), asFloat32(hs[b*h:(b+1)*h]), asFloat32(rh[b*h:(b+1)*h]), g)
						continue
					}
					for j := 0; j < h; j++ {
						rt := rnnAct(acts[0], float64(xr[h+j]+hr[h+j]), p.clip)
						rh[b*h+j] = T(rt) * hs[b*h+j]
					}
				}
				rnnMatMul(p.prH[d], batch, h, h, rh, h, rd[2*h*h:], hproj[2*h:], gh, gs)
			}
			for b := 0; b < batch; b++ {
				t, ok := rnnTime(seqLens, b, s, seq, reverse)
				if !ok {
					continue
				}
				xr := xproj[rnnRow(p, t, b)*gh:][:gh]
				hr := hproj[b*gh:][:gh]
				hb := hs[b*h : (b+1)*h]
				switch {
				case p.f32 && p.simple:
					rnnCell32(p, acts, asFloat32(xr), asFloat32(hr), asFloat32(hb))
				case p.f32 && p.lstm:
					var pf []float32
					if peep != nil {
						pf = asFloat32(peep)
					}
					lstmCell32(p, acts, asFloat32(xr), asFloat32(hr), asFloat32(hb), asFloat32(cs[b*h:(b+1)*h]), pf, g, d)
				case p.f32:
					var bf []float32
					if bias != nil {
						bf = asFloat32(bias)
					}
					gruCell32(p, acts, asFloat32(xr), asFloat32(hr), asFloat32(hb), bf, g, d)
				case p.simple:
					for j := range hb {
						hb[j] = T(rnnAct(acts[0], float64(xr[j]+hr[j]), p.clip))
					}
				case p.lstm:
					lstmCell(p, acts, xr, hr, hb, cs[b*h:(b+1)*h], peep, d)
				default:
					gruCell(p, acts, xr, hr, hb, bias, d)
				}
				if y != nil {
					var off int
					if p.layout == 1 {
						off = ((b*seq+t)*p.dirs + d) * h
					} else {
						off = ((t*p.dirs+d)*batch + b) * h
					}
					copy(y[off:off+h], hb)
				}
			}
		}
		for b := 0; b < batch; b++ {
			o := stateAt(d, b)
			if yh != nil {
				copy(yh[o:o+h], hs[b*h:(b+1)*h])
			}
			if yc != nil {
				copy(yc[o:o+h], cs[b*h:(b+1)*h])
			}
		}
	}
	return nil
}

// rnnTime maps step s to batch entry b's time index, false when the entry's
// sequence has ended.
func rnnTime(seqLens *tensor.Tensor, b, s, seq int, reverse bool) (int, bool) {
	l := rnnSeqLen(seqLens, b, seq)
	if s >= l {
		return 0, false
	}
	if reverse {
		return l - 1 - s, true
	}
	return s, true
}

// rnnRow is the row of X (and of the input projections) for time t, entry b.
func rnnRow(p *rnnPlan, t, b int) int {
	if p.layout == 1 {
		return b*p.seq + t
	}
	return t*p.batch + b
}

// rnnAct clips a gate's input to [−clip, clip] (when clip > 0) and applies
// the activation.
func rnnAct(a activation, v, clip float64) float64 {
	if clip > 0 {
		v = max(-clip, min(clip, v))
	}
	return a.eval(v)
}

func lstmCell[T floatElem](p *rnnPlan, acts *[3]activation, xr, hr, hb, cb, peep []T, d int) {
	h := p.hidden
	var pi, po, pf []T
	if peep != nil {
		pd := peep[d*3*h : (d+1)*3*h]
		pi, po, pf = pd[:h], pd[h:2*h], pd[2*h:]
	}
	for j := 0; j < h; j++ {
		c := float64(cb[j])
		gi := float64(xr[j] + hr[j])
		gf := float64(xr[2*h+j] + hr[2*h+j])
		if peep != nil {
			gi += float64(pi[j]) * c
			gf += float64(pf[j]) * c
		}
		it := rnnAct(acts[0], gi, p.clip)
		ft := rnnAct(acts[0], gf, p.clip)
		if p.inputForget {
			ft = 1 - it
		}
		ct := rnnAct(acts[1], float64(xr[3*h+j]+hr[3*h+j]), p.clip)
		c = ft*c + it*ct
		gout := float64(xr[h+j] + hr[h+j])
		if peep != nil {
			gout += float64(po[j]) * c
		}
		ot := rnnAct(acts[0], gout, p.clip)
		cb[j] = T(c)
		hb[j] = T(ot * acts[2].eval(c))
	}
}

func gruCell[T floatElem](p *rnnPlan, acts *[3]activation, xr, hr, hb, bias []T, d int) {
	h := p.hidden
	var rbh []T
	if p.lbr && bias != nil {
		gh := 3 * h
		rbh = bias[d*2*gh+gh+2*h : d*2*gh+gh+3*h]
	}
	for j := 0; j < h; j++ {
		zt := rnnAct(acts[0], float64(xr[j]+hr[j]), p.clip)
		var pre float64
		if p.lbr {
			rt := rnnAct(acts[0], float64(xr[h+j]+hr[h+j]), p.clip)
			lin := float64(hr[2*h+j])
			if rbh != nil {
				lin += float64(rbh[j])
			}
			pre = float64(xr[2*h+j]) + rt*lin
		} else {
			pre = float64(xr[2*h+j] + hr[2*h+j]) // hr holds (rt ⊙ Ht₋₁)·Rhᵀ
		}
		ht := rnnAct(acts[1], pre, p.clip)
		hb[j] = T((1-zt)*ht + zt*float64(hb[j]))
	}
}
