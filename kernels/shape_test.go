package kernels

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// shPrepared is a data-movement node prepared for fixed inputs.
type shPrepared struct {
	step    Step
	in, out []*tensor.Tensor
}

// shPrepare infers a node's outputs as the engine does (every input's value
// known), allocates them and prepares the kernel. unused lists outputs the
// node leaves unnamed.
func shPrepare(op string, opset int, attrs map[string]*graph.Attr, nout int, unused []int, in ...*tensor.Tensor) (*shPrepared, error) {
	n := &graph.Node{Op: op, Attrs: attrs}
	ops := make([]graph.Operand, len(in))
	for i, t := range in {
		n.Inputs = append(n.Inputs, nil)
		if t != nil {
			n.Inputs[i] = &graph.Value{Name: fmt.Sprint("in", i)}
			ops[i] = graph.Operand{Present: true, Type: graph.ShapeOf(t.DType, t.Shape), Const: t}
		}
	}
	for i := range nout {
		n.Outputs = append(n.Outputs, &graph.Value{Name: fmt.Sprint("out", i)})
	}
	for _, u := range unused {
		n.Outputs[u] = nil
	}
	types, err := graph.InferNode(n, opset, ops)
	if err != nil {
		return nil, err
	}
	out := make([]*tensor.Tensor, nout)
	for i, ty := range types {
		if n.Outputs[i] == nil {
			continue
		}
		s, ok := ty.Concrete()
		if !ok {
			return nil, fmt.Errorf("output %d not concrete: %v", i, ty)
		}
		out[i] = tensor.New(ty.DType, s...)
	}
	k, err := New(n, opset)
	if err != nil {
		return nil, err
	}
	step, err := k.Prepare(in, out)
	if err != nil {
		return nil, err
	}
	return &shPrepared{step: step, in: in, out: out}, nil
}

// poison fills outputs with garbage so that a kernel that skips an element
// is caught.
func (p *shPrepared) poison() {
	for _, o := range p.out {
		if o == nil {
			continue
		}
		for i := range o.Raw {
			o.Raw[i] = 0xA5
		}
		for i := range o.Strs {
			o.Strs[i] = "poison"
		}
	}
}

// shExec prepares and runs a node, checks that Run does not allocate, and
// returns its outputs.
func shExec(t *testing.T, op string, opset int, attrs map[string]*graph.Attr, nout int, in ...*tensor.Tensor) []*tensor.Tensor {
	t.Helper()
	p, err := shPrepare(op, opset, attrs, nout, nil, in...)
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
	p.poison()
	if err := p.step.Run(p.in, p.out, make([]byte, p.step.Scratch)); err != nil {
		t.Fatalf("%s: run: %v", op, err)
	}
	scratch := make([]byte, p.step.Scratch)
	allocs := testing.AllocsPerRun(20, func() {
		if err := p.step.Run(p.in, p.out, scratch); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%s: Run allocates %v times", op, allocs)
	}
	return p.out
}

// shRandom makes a tensor of random contents: random bytes, or random
// short strings.
func shRandom(rng *rand.Rand, dt tensor.DType, shape ...int) *tensor.Tensor {
	t := tensor.New(dt, shape...)
	for i := range t.Strs {
		t.Strs[i] = fmt.Sprint("s", rng.IntN(1000))
	}
	for i := range t.Raw {
		t.Raw[i] = byte(rng.Uint32())
	}
	return t
}

// shCheckMap asserts that out element o equals in element src(o) for every
// o, comparing bytes (or strings), so it holds for every dtype.
func shCheckMap(t *testing.T, what string, out, in *tensor.Tensor, src func(o []int) int) {
	t.Helper()
	es := in.DType.Size()
	idx := make([]int, out.Rank())
	for o := 0; o < out.Len(); o++ {
		r := o
		for d := out.Rank() - 1; d >= 0; d-- {
			idx[d] = r % out.Shape[d]
			r /= out.Shape[d]
		}
		i := src(idx)
		if in.DType == tensor.String {
			if out.Strs[o] != in.Strs[i] {
				t.Fatalf("%s: element %v is %q, want %q", what, idx, out.Strs[o], in.Strs[i])
			}
			continue
		}
		if !bytes.Equal(out.Raw[o*es:(o+1)*es], in.Raw[i*es:(i+1)*es]) {
			t.Fatalf("%s: element %v differs from source element %d", what, idx, i)
		}
	}
}

// shOffset is the row-major offset of idx in shape.
func shOffset(shape tensor.Shape, idx []int) int {
	off := 0
	for d, n := range shape {
		off = off*n + idx[d]
	}
	return off
}

// shDTypes are the element types the tests cycle through: every size, and
// strings.
var shDTypes = []tensor.DType{tensor.Float32, tensor.Uint8, tensor.Float16, tensor.Int64, tensor.String, tensor.Bool, tensor.Int32, tensor.Float64}

func ints(v ...int64) *tensor.Tensor { return tensor.From(v, len(v)) }

func TestTransposeAllPermutations(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var perms [][]int
	var permute func(p []int, used []bool)
	permute = func(p []int, used []bool) {
		if len(p) == 4 {
			perms = append(perms, append([]int{}, p...))
			return
		}
		for a := range 4 {
			if !used[a] {
				used[a] = true
				permute(append(p, a), used)
				used[a] = false
			}
		}
	}
	permute(nil, make([]bool, 4))
	for i, perm := range perms {
		dt := shDTypes[i%len(shDTypes)]
		x := shRandom(rng, dt, 2, 3, 4, 5)
		p64 := make([]int64, 4)
		for j, p := range perm {
			p64[j] = int64(p)
		}
		out := shExec(t, "Transpose", 13, map[string]*graph.Attr{"perm": graph.IntsAttr(p64...)}, 1, x)[0]
		shCheckMap(t, fmt.Sprint("perm ", perm, " ", dt), out, x, func(o []int) int {
			src := make([]int, 4)
			for j, p := range perm {
				src[p] = o[j]
			}
			return shOffset(x.Shape, src)
		})
	}
	// Swapping the inner axes of larger tensors takes the tiled path, with
	// edge tiles.
	for i, dt := range shDTypes {
		x := shRandom(rng, dt, 3, 20+i, 33)
		out := shExec(t, "Transpose", 13, map[string]*graph.Attr{"perm": graph.IntsAttr(0, 2, 1)}, 1, x)[0]
		shCheckMap(t, fmt.Sprint("tiled ", dt), out, x, func(o []int) int {
			return shOffset(x.Shape, []int{o[0], o[2], o[1]})
		})
	}
	// Default perm reverses; sizes of 1 and 0 merge away; the larger ones
	// take the tiled path.
	for _, shape := range []tensor.Shape{{3, 1, 4}, {1, 1}, {2, 0, 3}, {}, {7}, {37, 20}, {3, 17, 40}, {9, 8, 1, 8}} {
		x := shRandom(rng, shDTypes[len(shape)%len(shDTypes)], shape...)
		out := shExec(t, "Transpose", 13, nil, 1, x)[0]
		shCheckMap(t, fmt.Sprint("default ", shape), out, x, func(o []int) int {
			src := make([]int, len(o))
			for j := range o {
				src[len(o)-1-j] = o[j]
			}
			return shOffset(x.Shape, src)
		})
	}
}

func TestStridedCopyUsesBlocks(t *testing.T) {
	// [T,B,F] -> [B,T,F] keeps the innermost axis: runs of F contiguous
	// elements, copied whole.
	p, err := newStridedCopy(tensor.Float32, tensor.Shape{4, 3, 8}, []int{8, 32, 1}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if p.run != 8 || p.step != 1 || len(p.dims) != 2 {
		t.Errorf("plan run %d step %d dims %v, want a run of 8 at step 1 under 2 axes", p.run, p.step, p.dims)
	}
	// A contiguous identity walk merges into one run.
	p, _ = newStridedCopy(tensor.Float32, tensor.Shape{4, 3, 8}, []int{24, 8, 1}, 0)
	if p.run != 96 || len(p.dims) != 0 {
		t.Errorf("identity walk: run %d dims %v, want one run of 96", p.run, p.dims)
	}
	// Swapping the two inner axes of [4, 32, 16] is tiled.
	p, _ = newStridedCopy(tensor.Float32, tensor.Shape{4, 16, 32}, []int{512, 1, 16}, 0)
	if p.rows != 16 || p.run != 32 || p.step != 16 {
		t.Errorf("inner swap: rows %d run %d step %d, want tiles of a 16×32 block at step 16", p.rows, p.run, p.step)
	}
}

// naiveSliceIndex enumerates Python slice semantics for one axis.
func naiveSliceIndex(dim, start, end, step int) []int {
	clamp := func(v, lo, hi int) int { return min(max(v, lo), hi) }
	if start < 0 {
		start += dim
	}
	if end < 0 {
		end += dim
	}
	var idx []int
	if step > 0 {
		for i := clamp(start, 0, dim); i < clamp(end, 0, dim); i += step {
			idx = append(idx, i)
		}
	} else {
		for i := clamp(start, -1, dim-1); i > clamp(end, -1, dim-1); i += step {
			idx = append(idx, i)
		}
	}
	return idx
}

func TestSliceMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for iter := range 300 {
		rank := 1 + rng.IntN(3)
		shape := make(tensor.Shape, rank)
		for i := range shape {
			shape[i] = rng.IntN(6)
		}
		dt := shDTypes[iter%len(shDTypes)]
		x := shRandom(rng, dt, shape...)
		k := 1 + rng.IntN(rank)
		axes := rng.Perm(rank)[:k]
		var starts, ends, ax, steps []int64
		sel := make([][]int, rank)
		for d := range rank {
			sel[d] = naiveSliceIndex(shape[d], 0, shape[d], 1)
		}
		for _, a := range axes {
			s, e := rng.IntN(17)-8, rng.IntN(17)-8
			st := []int{-3, -2, -1, 1, 1, 2, 3}[rng.IntN(7)]
			if rng.IntN(8) == 0 {
				e = 1 << 40
			}
			starts, ends, steps = append(starts, int64(s)), append(ends, int64(e)), append(steps, int64(st))
			if rng.IntN(2) == 0 {
				ax = append(ax, int64(a-rank)) // negative axes
			} else {
				ax = append(ax, int64(a))
			}
			sel[a] = naiveSliceIndex(shape[a], s, e, st)
		}
		out := shExec(t, "Slice", 13, nil, 1, x, ints(starts...), ints(ends...), ints(ax...), ints(steps...))[0]
		for d := range rank {
			if out.Shape[d] != len(sel[d]) {
				t.Fatalf("slice %v of %v: shape %v, want axis %d of %d", starts, shape, out.Shape, d, len(sel[d]))
			}
		}
		shCheckMap(t, fmt.Sprint("slice ", shape, starts, ends, ax, steps), out, x, func(o []int) int {
			src := make([]int, rank)
			for d := range o {
				src[d] = sel[d][o[d]]
			}
			return shOffset(x.Shape, src)
		})
	}
}

func TestSliceVersions(t *testing.T) {
	x := tensor.From([]float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 2, 5)
	// Slice-1: attributes, default axes.
	out := shExec(t, "Slice", 9, map[string]*graph.Attr{"starts": graph.IntsAttr(1, 1), "ends": graph.IntsAttr(2, -1)}, 1, x)[0]
	if got := tensor.Data[float32](out); !out.Shape.Equal(tensor.Shape{1, 3}) || fmt.Sprint(got) != "[6 7 8]" {
		t.Errorf("Slice-9: %v %v", out.Shape, got)
	}
	// Slice-13 with default axes and steps, int32 parameters.
	out = shExec(t, "Slice", 13, nil, 1, x, tensor.From([]int32{0, 3}, 2), tensor.From([]int32{1, 100}, 2))[0]
	if got := tensor.Data[float32](out); fmt.Sprint(got) != "[3 4]" {
		t.Errorf("Slice-13: %v %v", out.Shape, got)
	}
}

func TestExpandAndTileMatchNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for iter := range 200 {
		rank := 1 + rng.IntN(3)
		shape := make(tensor.Shape, rank)
		target := make([]int64, rank+rng.IntN(2))
		reps := make([]int64, rank)
		for i := range target {
			target[i] = 1 + int64(rng.IntN(3))
		}
		for i := range shape {
			shape[i] = []int{1, 1, 2, 3, 0}[rng.IntN(5)]
			if shape[i] != 1 {
				target[len(target)-rank+i] = int64([]int{1, shape[i], shape[i]}[rng.IntN(3)])
			}
			reps[i] = int64(rng.IntN(3))
		}
		dt := shDTypes[iter%len(shDTypes)]
		x := shRandom(rng, dt, shape...)
		out := shExec(t, "Expand", 13, nil, 1, x, ints(target...))[0]
		want, err := tensor.BroadcastShapes(shape, func() tensor.Shape {
			s := make(tensor.Shape, len(target))
			for i, v := range target {
				s[i] = int(v)
			}
			return s
		}())
		if err != nil || !out.Shape.Equal(want) {
			t.Fatalf("expand %v to %v: got %v, want %v (%v)", shape, target, out.Shape, want, err)
		}
		shCheckMap(t, fmt.Sprint("expand ", shape, target), out, x, func(o []int) int {
			src := make([]int, rank)
			for d := range rank {
				if shape[d] != 1 {
					src[d] = o[len(o)-rank+d]
				}
			}
			return shOffset(x.Shape, src)
		})
		out = shExec(t, "Tile", 13, nil, 1, x, ints(reps...))[0]
		shCheckMap(t, fmt.Sprint("tile ", shape, reps), out, x, func(o []int) int {
			src := make([]int, rank)
			for d := range rank {
				src[d] = o[d] % shape[d]
			}
			return shOffset(x.Shape, src)
		})
	}
}

func TestReshapingOpsCopy(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	x := shRandom(rng, tensor.String, 2, 1, 3)
	y := shRandom(rng, tensor.Float16, 2, 1, 3)
	for _, c := range []struct {
		op    string
		opset int
		attrs map[string]*graph.Attr
		in    []*tensor.Tensor
		shape tensor.Shape
	}{
		{"Identity", 16, nil, []*tensor.Tensor{x}, tensor.Shape{2, 1, 3}},
		{"Reshape", 14, nil, []*tensor.Tensor{x, ints(3, -1)}, tensor.Shape{3, 2}},
		{"Reshape", 14, nil, []*tensor.Tensor{y, ints(0, 0, -1)}, tensor.Shape{2, 1, 3}},
		{"Flatten", 13, map[string]*graph.Attr{"axis": graph.IntAttr(2)}, []*tensor.Tensor{y}, tensor.Shape{2, 3}},
		{"Squeeze", 13, nil, []*tensor.Tensor{x, ints(1)}, tensor.Shape{2, 3}},
		{"Squeeze", 11, map[string]*graph.Attr{"axes": graph.IntsAttr(-2)}, []*tensor.Tensor{y}, tensor.Shape{2, 3}},
		{"Unsqueeze", 13, nil, []*tensor.Tensor{y, ints(0, -1)}, tensor.Shape{1, 2, 1, 3, 1}},
		{"Unsqueeze", 11, map[string]*graph.Attr{"axes": graph.IntsAttr(3)}, []*tensor.Tensor{x}, tensor.Shape{2, 1, 3, 1}},
	} {
		out := shExec(t, c.op, c.opset, c.attrs, 1, c.in...)[0]
		if !out.Shape.Equal(c.shape) {
			t.Errorf("%s: shape %v, want %v", c.op, out.Shape, c.shape)
		}
		flat := &tensor.Tensor{DType: out.DType, Shape: tensor.Shape{out.Len()}, Raw: out.Raw, Strs: out.Strs}
		shCheckMap(t, c.op, flat, c.in[0], func(o []int) int { return o[0] })
	}
}

func TestPrepareRejectsBadOutputs(t *testing.T) {
	n := &graph.Node{Op: "Transpose"}
	k, err := New(n, 13)
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.New(tensor.Float32, 2, 3)
	if _, err := k.Prepare([]*tensor.Tensor{x}, []*tensor.Tensor{tensor.New(tensor.Float32, 2, 3)}); err == nil ||
		!strings.Contains(err.Error(), "want float32[3,2]") {
		t.Errorf("Transpose accepted a wrong output shape: %v", err)
	}
}
