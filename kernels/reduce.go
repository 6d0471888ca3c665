package kernels

import (
	"fmt"
	"math"
	"slices"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// reduceKernel is the ONNX reductions (ReduceSum, ReduceMean, ReduceMax, …).
// Axes come from the axes attribute, or from the second input where the
// opset makes it one (graph.ReduceAxesIsInput); keepdims and
// noop_with_empty_axes follow ONNX Operators.md (ReduceSum-13).
//
// A reduction is planned as passes over [outer, r, inner] views: adjacent
// axes that are both kept or both reduced are merged, and each run of
// reduced axes is folded away by one pass, last run first. Every reduction
// here decomposes so: an elementwise map on the first pass (|x|, x², eᕽ), an
// associative combine (sum, max, min, product) on every pass, and a final
// map (divide by the count, sqrt, log).
type reduceKernel struct {
	node  *graph.Node
	opset int
	keep  bool
	pre   reduceMap
	comb  reduceComb
	post  reducePost
}

type reduceMap uint8

const (
	mapNone reduceMap = iota
	mapAbs
	mapSquare
	mapExp
)

type reduceComb uint8

const (
	combSum reduceComb = iota
	combMax
	combMin
	combProd
)

type reducePost uint8

const (
	postNone reducePost = iota
	postMean
	postSqrt
	postLog
)

func newReduce(n *graph.Node, opset int) (Kernel, error) {
	k := &reduceKernel{node: n, opset: opset, keep: n.Int("keepdims", 1) != 0}
	switch n.Op {
	case "ReduceSum":
	case "ReduceMean":
		k.post = postMean
	case "ReduceMax":
		k.comb = combMax
	case "ReduceMin":
		k.comb = combMin
	case "ReduceProd":
		k.comb = combProd
	case "ReduceSumSquare":
		k.pre = mapSquare
	case "ReduceL1":
		k.pre = mapAbs
	case "ReduceL2":
		k.pre, k.post = mapSquare, postSqrt
	case "ReduceLogSum":
		k.post = postLog
	case "ReduceLogSumExp":
		k.pre, k.post = mapExp, postLog
	default:
		return nil, fmt.Errorf("unknown reduction %s", n.Op)
	}
	return k, nil
}

// reducePass folds the middle axis of an [outer, r, inner] view.
type reducePass struct{ outer, r, inner int }

type reducePlan struct {
	passes   []reducePass
	bufElems int     // elements of each of the two scratch buffers
	bufOff   [2]int  // their byte offsets
	count    float64 // elements reduced into each output
	total    int     // output elements
	// identity is the combine's identity, for empty reductions (identityInt
	// for integer types).
	identity    float64
	identityInt int64
	intType     bool
	empty       bool // a reduced axis has size 0
	pre         reduceMap
	comb        reduceComb
	post        reducePost
}

func (k *reduceKernel) Prepare(in, out []*tensor.Tensor) (Step, error) {
	x := in[0]
	var axesIn []int64
	if a := inputAt(in, 1); a != nil && graph.ReduceAxesIsInput(k.node.Op, k.opset) {
		v, err := a.Int64s()
		if err != nil {
			return Step{}, fmt.Errorf("%s axes: %w", k.node.Op, err)
		}
		axesIn = v
	}
	axes, noop, err := graph.ReduceAxes(k.node, k.opset, len(x.Shape), axesIn)
	if err != nil {
		return Step{}, fmt.Errorf("%s: %w", k.node.Op, err)
	}
	var want tensor.Shape
	for i, d := range x.Shape {
		switch {
		case noop || !slices.Contains(axes, i):
			want = append(want, d)
		case k.keep:
			want = append(want, 1)
		}
	}
	if want == nil {
		want = tensor.Shape{}
	}
	if err := checkOut(out, 0, want); err != nil {
		return Step{}, err
	}
	p := &reducePlan{pre: k.pre, comb: k.comb, post: k.post, total: want.NumElements(), count: 1}
	// Merge the axes into alternating kept/reduced runs; size-1 axes do
	// not change the layout and are dropped.
	type run struct {
		n   int
		red bool
	}
	var runs []run
	for i, d := range x.Shape {
		red := !noop && slices.Contains(axes, i)
		if red {
			p.count *= float64(d)
			if d == 0 {
				p.empty = true
			}
		}
		if d == 1 {
			continue
		}
		if len(runs) > 0 && runs[len(runs)-1].red == red {
			runs[len(runs)-1].n *= d
			continue
		}
		runs = append(runs, run{d, red})
	}
	for {
		j := -1
		for i := len(runs) - 1; i >= 0; i-- {
			if runs[i].red {
				j = i
				break
			}
		}
		if j < 0 {
			break
		}
		ps := reducePass{outer: 1, r: runs[j].n, inner: 1}
		for _, r := range runs[:j] {
			ps.outer *= r.n
		}
		for _, r := range runs[j+1:] {
			ps.inner *= r.n
		}
		p.passes = append(p.passes, ps)
		runs = append(runs[:j], runs[j+1:]...)
		if j > 0 && j < len(runs) && !runs[j-1].red && !runs[j].red {
			runs[j-1].n *= runs[j].n
			runs = append(runs[:j], runs[j+1:]...)
		}
	}
	if len(p.passes) == 0 {
		p.passes = []reducePass{{outer: p.total, r: 1, inner: 1}}
	}
	// Intermediate results of all passes but the last live in scratch.
	for _, ps := range p.passes[:len(p.passes)-1] {
		p.bufElems = max(p.bufElems, ps.outer*ps.inner)
	}
	switch x.DType {
	case tensor.Float32, tensor.Float64, tensor.Int32, tensor.Int64:
	default:
		return Step{}, unsupportedDType(k.node.Op, x.DType)
	}
	if k.pre == mapExp || k.post == postSqrt || k.post == postLog {
		if !x.DType.IsFloat() {
			return Step{}, unsupportedDType(k.node.Op, x.DType)
		}
	}
	p.identity, p.identityInt = reduceIdentity(k.comb, x.DType)
	p.intType = x.DType.IsInt()
	var sl scratchLayout
	p.bufOff[0] = sl.take(p.bufElems * x.DType.Size())
	p.bufOff[1] = sl.take(p.bufElems * x.DType.Size())
	step := Step{Scratch: sl.size}
	switch x.DType {
	case tensor.Float32:
		step.Run = func(in, out []*tensor.Tensor, s []byte) error { reduceRun[float32](p, in[0], out[0], s); return nil }
	case tensor.Float64:
		step.Run = func(in, out []*tensor.Tensor, s []byte) error { reduceRun[float64](p, in[0], out[0], s); return nil }
	case tensor.Int32:
		step.Run = func(in, out []*tensor.Tensor, s []byte) error { reduceRun[int32](p, in[0], out[0], s); return nil }
	case tensor.Int64:
		step.Run = func(in, out []*tensor.Tensor, s []byte) error { reduceRun[int64](p, in[0], out[0], s); return nil }
	}
	return step, nil
}

// reduceIdentity is the result of combining no elements, as a float and as
// an integer.
func reduceIdentity(c reduceComb, dt tensor.DType) (float64, int64) {
	switch c {
	case combProd:
		return 1, 1
	case combMax:
		if dt == tensor.Int32 {
			return 0, math.MinInt32
		}
		return math.Inf(-1), math.MinInt64
	case combMin:
		if dt == tensor.Int32 {
			return 0, math.MaxInt32
		}
		return math.Inf(1), math.MaxInt64
	}
	return 0, 0
}

func reduceRun[T gemmNum](p *reducePlan, x, y *tensor.Tensor, scratch []byte) {
	dst := tensor.Data[T](y)[:p.total]
	if p.empty {
		id := T(p.identityInt)
		if !p.intType {
			id = T(p.identity)
		}
		for i := range dst {
			dst[i] = id
		}
		reducePostRun(p, dst)
		return
	}
	src := tensor.Data[T](x)
	for i, ps := range p.passes {
		var d []T
		if i == len(p.passes)-1 {
			d = dst
		} else {
			d = section[T](scratch, p.bufOff[i%2], ps.outer*ps.inner)
		}
		pre := mapNone
		if i == 0 {
			pre = p.pre
		}
		reducePassRun(ps, pre, p.comb, src, d)
		src = d
	}
	reducePostRun(p, dst)
}

func reduceMapv[T gemmNum](m reduceMap, v T) T {
	switch m {
	case mapAbs:
		if v < 0 {
			return -v
		}
	case mapSquare:
		return v * v
	case mapExp:
		return T(math.Exp(float64(v)))
	}
	return v
}

func reduceCombine[T gemmNum](c reduceComb, a, b T) T {
	switch c {
	case combMax:
		if b > a || b != b { // NaN propagates
			return b
		}
		return a
	case combMin:
		if b < a || b != b {
			return b
		}
		return a
	case combProd:
		return a * b
	}
	return a + b
}

func reducePassRun[T gemmNum](ps reducePass, pre reduceMap, comb reduceComb, src, dst []T) {
	in := ps.inner
	for o := 0; o < ps.outer; o++ {
		s := src[o*ps.r*in : (o+1)*ps.r*in]
		if in == 1 {
			acc := reduceMapv(pre, s[0])
			if pre == mapNone && comb == combSum {
				for _, v := range s[1:] {
					acc += v
				}
			} else {
				for _, v := range s[1:] {
					acc = reduceCombine(comb, acc, reduceMapv(pre, v))
				}
			}
			dst[o] = acc
			continue
		}
		d := dst[o*in : (o+1)*in]
		for i, v := range s[:in] {
			d[i] = reduceMapv(pre, v)
		}
		for j := 1; j < ps.r; j++ {
			row := s[j*in : (j+1)*in]
			if pre == mapNone && comb == combSum {
				for i, v := range row {
					d[i] += v
				}
				continue
			}
			for i, v := range row {
				d[i] = reduceCombine(comb, d[i], reduceMapv(pre, v))
			}
		}
	}
}

func reducePostRun[T gemmNum](p *reducePlan, y []T) {
	switch p.post {
	case postMean:
		for i, v := range y {
			y[i] = T(float64(v) / p.count)
		}
	case postSqrt:
		for i, v := range y {
			y[i] = T(math.Sqrt(float64(v)))
		}
	case postLog:
		for i, v := range y {
			y[i] = T(math.Log(float64(v)))
		}
	}
}
