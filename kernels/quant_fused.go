package kernels

import (
	"fmt"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/kernels/gemm8"
	"github.com/sextant-ml/sextant/tensor"
)

// quantMatMulKernel is DynamicQuantMatMul and QuantMatMul
// (graph/schema_quant.go): A [..., K] times an int8 B [K, N] with
// per-column scales BScale [N], optional Bias [N] and a fused activation.
//
// A float A is quantized on entry into scratch: per tensor to uint8 with
// DynamicQuantizeLinear's parameters computed from this run's A
// (DynamicQuantMatMul), or with the calibrated a_scale, a_zero_point and
// a_type attributes (QuantMatMul). A uint8/int8 A (QuantMatMul fed by
// another QuantMatMul's requantized output) is used as it is. Rounding on
// entry and exit is half away from zero in the positive uint8 domain (int8
// is offset by 128), cheaper than ONNX's half to even and as accurate.
//
// The epilogue turns row r, column j of the int32 accumulator into
// (acc − a_zp·Σ_k B[k][j]) · a_scale · BScale[j] + Bias[j], applies the
// activation, and writes float32 or, for a QuantMatMul with y_type uint8 or
// int8, requantizes with y_scale and y_zero_point.
//
// Where the CPU has a SIMD int8 kernel set (package gemm8: AVX-512 VNNI,
// AVX2), a constant B is packed once, when the kernel is built, into
// gemm8's layout (1 byte per weight, column sums included), and the
// quantization of A, the product and the epilogue all run on that set
// (the epilogue in one vector pass per row when the activation is none or
// ReLU). A B that is not constant is packed into scratch on every run.
// Without a SIMD set, a constant B is packed for the pure-Go SWAR product
// (quant_gemm.go, 2 bytes per weight, faster in pure Go than gemm8's
// layout) and any other B is multiplied as it is by qgemm. A bundle from
// convert carries gemm8's packing (packed_int8.go), which the SIMD path
// wraps in place; packing here is reported as a repack (Repacker).
type quantMatMulKernel struct {
	dynamic bool
	act     activation
	// Static parameters (QuantMatMul).
	aScale   float32
	aZero    int32
	aType    tensor.DType
	yType    tensor.DType
	yScale   float32
	yZero    int32
	colSums  []int32   // of a constant B, else nil
	constKxN [2]int    // constant B's shape, when colSums is set
	packed   *qPackedB // constant B packed for qgemmPacked, or nil
	// The SIMD path: ks is gemm8.Best() when that is not pure Go.
	simd bool
	ks   gemm8.Kernels
	p8   *gemm8.PackedB // constant B packed for ks, or nil
	// repacked8: p8 was packed here, not taken from a bundle (packed_int8.go)
	repacked8 bool
}

func newQuantMatMul(n *graph.Node, opset int) (Kernel, error) {
	act, err := fusedActivation(n)
	if err != nil {
		return nil, err
	}
	k := &quantMatMulKernel{
		dynamic: n.Op == "DynamicQuantMatMul",
		act:     act,
		aScale:  n.Float("a_scale", 1),
		aZero:   int32(n.Int("a_zero_point", 0)),
		aType:   tensor.DType(n.Int("a_type", int64(tensor.Uint8))),
		yType:   tensor.DType(n.Int("y_type", int64(tensor.Float32))),
		yScale:  n.Float("y_scale", 1),
		yZero:   int32(n.Int("y_zero_point", 0)),
		ks:      gemm8.Best(),
	}
	k.simd = k.ks.Name() != "purego"
	if k.dynamic {
		k.aType, k.yType = tensor.Uint8, tensor.Float32
	}
	if !quantDType(k.aType) || (k.yType != tensor.Float32 && !quantDType(k.yType)) {
		return nil, fmt.Errorf("%s: a_type %v / y_type %v: want uint8 or int8 (y_type also float32)", n.Op, k.aType, k.yType)
	}
	if k.aScale <= 0 || k.yScale <= 0 {
		return nil, fmt.Errorf("%s: scales must be positive (a_scale %g, y_scale %g)", n.Op, k.aScale, k.yScale)
	}
	if b := n.Input(1); b != nil && b.Const != nil && b.Const.DType == tensor.Int8 && len(b.Const.Shape) == 2 {
		kk, nn := b.Const.Shape[0], b.Const.Shape[1]
		k.constKxN = [2]int{kk, nn}
		switch {
		case k.simd:
			k.p8, k.repacked8 = weightPanels8(k.ks, b)
			k.colSums = k.p8.ColSums()
		default:
			k.colSums = make([]int32, nn)
			qColSums(kk, nn, tensor.Data[int8](b.Const), nn, k.colSums)
			if kk <= qPackedMaxK {
				k.packed = packQB(tensor.Data[int8](b.Const), kk, nn)
			}
		}
	}
	return k, nil
}

// quantMatMulPlan is the kernel specialized to M (A's rows, batch axes
// folded), K and N.
type quantMatMulPlan struct {
	*quantMatMulKernel
	m, n, k   int
	aFloat    bool // A is float32 and is quantized on entry
	adt       tensor.DType
	bias      bool
	qaOff     int // scratch: quantized A (aFloat)
	sumsOff   int // scratch: B's column sums (no precomputed ones)
	accOff    int // scratch: int32 accumulator (quantized output)
	rowOff    int // scratch: one float32 output row (quantized output)
	ownedSums bool
	packed    *qPackedB // B packed (constant B), else nil
	accOff64  int       // scratch: qgemmPacked's accumulators
	p8        *gemm8.PackedB
	gemmOff   int // scratch: B packed per run (SIMD, B not constant)
}

// Repacked reports whether building the kernel packed a constant B.
func (km *quantMatMulKernel) Repacked() bool { return km.packed != nil || km.repacked8 }

func (km *quantMatMulKernel) Prepare(in, out []*tensor.Tensor) (Step, error) {
	a, b, bs := in[0], in[1], in[2]
	if b.DType != tensor.Int8 || len(b.Shape) != 2 || len(a.Shape) == 0 {
		return Step{}, fmt.Errorf("%w: quantized MatMul A %v, B %v: want B int8 [K, N]", tensor.ErrShape, a, b)
	}
	p := &quantMatMulPlan{quantMatMulKernel: km, k: b.Shape[0], n: b.Shape[1]}
	if a.Shape[len(a.Shape)-1] != p.k {
		return Step{}, fmt.Errorf("%w: quantized MatMul inner dimensions %v × %v", tensor.ErrShape, a.Shape, b.Shape)
	}
	p.m = a.Shape[:len(a.Shape)-1].NumElements()
	want := append(a.Shape[:len(a.Shape)-1].Clone(), p.n)
	if err := checkOut(out, 0, want); err != nil {
		return Step{}, err
	}
	if out[0].DType != km.yType {
		return Step{}, fmt.Errorf("quantized MatMul: output type %v, want %v", out[0].DType, km.yType)
	}
	switch {
	case a.DType == tensor.Float32:
		p.aFloat, p.adt = true, km.aType
	case !km.dynamic && a.DType == km.aType:
		p.adt = a.DType
	default:
		return Step{}, fmt.Errorf("quantized MatMul: A has type %v (a_type %v)", a.DType, km.aType)
	}
	if bs.DType != tensor.Float32 || bs.Len() != p.n {
		return Step{}, fmt.Errorf("%w: BScale %v for N=%d", tensor.ErrShape, bs, p.n)
	}
	if bias := inputAt(in, 3); bias != nil {
		if bias.DType != tensor.Float32 || bias.Len() != p.n {
			return Step{}, fmt.Errorf("%w: Bias %v for N=%d", tensor.ErrShape, bias, p.n)
		}
		p.bias = true
	}
	var sl scratchLayout
	switch {
	case km.colSums == nil || km.constKxN != [2]int{p.k, p.n}:
		p.ownedSums, p.sumsOff = true, sl.take(4*p.n)
		if km.simd {
			p.gemmOff = sl.take(gemm8.GemmScratch(p.k, p.n))
		}
	case km.p8 != nil:
		p.p8 = km.p8
	case km.packed != nil:
		p.packed = km.packed
		p.accOff64 = sl.take(16 * km.packed.groups)
	}
	if p.aFloat || ((p.packed != nil || km.simd) && p.adt == tensor.Int8) {
		p.qaOff = sl.take(p.m * p.k)
	}
	if km.yType != tensor.Float32 {
		p.accOff, p.rowOff = sl.take(4*p.m*p.n), sl.take(4*p.n)
	}
	return Step{Scratch: sl.size, Run: p.run}, nil
}

func (p *quantMatMulPlan) run(in, out []*tensor.Tensor, s []byte) error {
	qa := in[0].Raw
	aScale, aZero, adt := p.aScale, p.aZero, p.adt
	// The packed product takes uint8 A: int8 q is uint8 q+128 (q ^ 0x80)
	// with zero point z+128.
	toU8 := (p.packed != nil || p.simd) && adt == tensor.Int8
	if p.aFloat {
		x := tensor.Data[float32](in[0])[:p.m*p.k]
		qa = s[p.qaOff : p.qaOff+p.m*p.k]
		if p.dynamic {
			var zp uint8
			if p.simd {
				aScale, zp = dynamicQuantParams(p.ks.MinMax(x))
			} else {
				aScale, zp = dynamicQuantParams(minMax(x))
			}
			aZero = int32(zp)
		}
		if toU8 {
			aZero, adt = aZero+128, tensor.Uint8
		}
		if p.simd {
			p.ks.Quantize(qa, x, aScale, aZero, adt == tensor.Int8)
		} else {
			quantizeTo(qa, x, aScale, aZero, adt)
		}
	} else if toU8 {
		src := qa[:p.m*p.k]
		qa = s[p.qaOff : p.qaOff+p.m*p.k]
		for i, v := range src {
			qa[i] = v ^ 0x80
		}
		aZero, adt = aZero+128, tensor.Uint8
	}
	sums := p.colSums
	if p.ownedSums {
		sums = section[int32](s, p.sumsOff, p.n)
		qColSums(p.k, p.n, tensor.Data[int8](in[1]), p.n, sums)
	}
	if p.simd {
		return p.runSIMD(in, out, s, qa, sums, aScale, aZero)
	}
	var acc []int32
	if p.yType == tensor.Float32 {
		acc = tensor.Data[int32](out[0])[:p.m*p.n] // converted in place below
	} else {
		acc = section[int32](s, p.accOff, p.m*p.n)
	}
	if p.packed != nil {
		qgemmPacked(p.m, qa, p.k, p.packed, acc, p.n, section[uint64](s, p.accOff64, 2*p.packed.groups))
	} else {
		qgemmRaw(adt, tensor.Int8, p.m, p.n, p.k, qa, p.k, in[1].Raw, p.n, acc, p.n)
	}
	bs := tensor.Data[float32](in[2])[:p.n]
	var bias []float32
	if p.bias {
		bias = tensor.Data[float32](in[3])[:p.n]
	}
	sums = sums[:p.n]
	for r := 0; r < p.m; r++ {
		ar := acc[r*p.n : (r+1)*p.n]
		var row []float32
		if p.yType == tensor.Float32 {
			row = tensor.Data[float32](out[0])[r*p.n : (r+1)*p.n]
		} else {
			row = section[float32](s, p.rowOff, p.n)
		}
		dequantRow(row, ar, sums, bs, bias, aZero, aScale)
		applyAct(p.act, row)
		if p.yType != tensor.Float32 {
			quantizeTo(out[0].Raw[r*p.n:(r+1)*p.n], row, p.yScale, p.yZero, p.yType)
		}
	}
	return nil
}

// runSIMD is run's product and epilogue on the SIMD kernel set, for a
// uint8 qa with zero point aZero and scale aScale.
func (p *quantMatMulPlan) runSIMD(in, out []*tensor.Tensor, s []byte, qa []byte, sums []int32, aScale float32, aZero int32) error {
	var acc []int32
	if p.yType == tensor.Float32 {
		acc = tensor.Data[int32](out[0])[:p.m*p.n] // converted in place below
	} else {
		acc = section[int32](s, p.accOff, p.m*p.n)
	}
	if p.p8 != nil {
		p.p8.MatMul(acc, qa, p.m, p.k, p.n)
	} else {
		b := tensor.Data[int8](in[1])
		p.ks.Gemm(acc, qa, p.m, p.k, p.n, p.k, b, p.n, p.n, s[p.gemmOff:p.gemmOff+gemm8.GemmScratch(p.k, p.n)])
	}
	bs := tensor.Data[float32](in[2])[:p.n]
	var bias []float32
	if p.bias {
		bias = tensor.Data[float32](in[3])[:p.n]
	}
	relu := p.act.kind == actRelu
	for r := 0; r < p.m; r++ {
		ar := acc[r*p.n : (r+1)*p.n]
		var row []float32
		if p.yType == tensor.Float32 {
			row = tensor.Data[float32](out[0])[r*p.n : (r+1)*p.n]
		} else {
			row = section[float32](s, p.rowOff, p.n)
		}
		p.ks.Dequantize(row, ar, sums, aZero, aScale, bs, bias, relu)
		if !relu {
			applyAct(p.act, row)
		}
		if p.yType != tensor.Float32 {
			p.ks.Quantize(out[0].Raw[r*p.n:(r+1)*p.n], row, p.yScale, p.yZero, p.yType == tensor.Int8)
		}
	}
	return nil
}

// dequantRow sets row[j] = (acc[j] − zero·sums[j]) · scale · bs[j] +
// bias[j] (bias may be nil). row may alias acc's memory.
func dequantRow(row []float32, acc, sums []int32, bs, bias []float32, zero int32, scale float32) {
	acc, sums, bs = acc[:len(row)], sums[:len(row)], bs[:len(row)]
	if bias == nil {
		for j, v := range acc {
			row[j] = float32(v-zero*sums[j]) * (scale * bs[j])
		}
		return
	}
	bias = bias[:len(row)]
	for j, v := range acc {
		row[j] = float32(v-zero*sums[j])*(scale*bs[j]) + bias[j]
	}
}

// quantizeTo quantizes x into dst (uint8, or int8 stored as bytes) with a
// scale and zero point, rounding half away from zero and saturating. A zero
// scale (an all-zero dynamic range) writes the zero point.
func quantizeTo(dst []byte, x []float32, scale float32, zero int32, dt tensor.DType) {
	dst = dst[:len(x)]
	shift, flip := float32(zero), byte(0)
	if dt == tensor.Int8 {
		shift, flip = float32(zero+128), 0x80
	}
	if scale == 0 {
		for i := range dst {
			dst[i] = byte(int32(shift)) ^ flip
		}
		return
	}
	inv := 1 / scale
	for i, v := range x {
		q := v*inv + shift + 0.5
		q = min(max(q, 0), 255)
		dst[i] = byte(int32(q)) ^ flip
	}
}
