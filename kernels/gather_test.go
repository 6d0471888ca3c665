package kernels

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

func TestGatherMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for iter := range 200 {
		rank := 1 + rng.IntN(3)
		shape := make(tensor.Shape, rank)
		for i := range shape {
			shape[i] = 1 + rng.IntN(4)
		}
		axis := rng.IntN(rank)
		ishape := make(tensor.Shape, rng.IntN(3))
		for i := range ishape {
			ishape[i] = rng.IntN(3)
		}
		n := ishape.NumElements()
		idx := make([]int64, n)
		for i := range idx {
			idx[i] = int64(rng.IntN(2*shape[axis]) - shape[axis]) // negatives too
		}
		var it *tensor.Tensor
		if iter%2 == 0 {
			it = tensor.From(idx, ishape...)
		} else {
			i32 := make([]int32, n)
			for i, v := range idx {
				i32[i] = int32(v)
			}
			it = tensor.From(i32, ishape...)
		}
		dt := shDTypes[iter%len(shDTypes)]
		x := shRandom(rng, dt, shape...)
		a := int64(axis)
		if iter%3 == 0 {
			a -= int64(rank)
		}
		out := shExec(t, "Gather", 13, map[string]*graph.Attr{"axis": graph.IntAttr(a)}, 1, x, it)[0]
		q := len(ishape)
		shCheckMap(t, fmt.Sprint("gather ", shape, axis, idx), out, x, func(o []int) int {
			src := make([]int, rank)
			copy(src, o[:axis])
			k := int(idx[shOffset(ishape, o[axis:axis+q])])
			if k < 0 {
				k += shape[axis]
			}
			src[axis] = k
			copy(src[axis+1:], o[axis+q:])
			return shOffset(x.Shape, src)
		})
	}
}

func TestGatherIndexOutOfRange(t *testing.T) {
	x := tensor.From([]float32{1, 2, 3, 4, 5, 6}, 3, 2)
	for _, op := range []string{"Gather", "GatherElements"} {
		for _, bad := range []int64{3, -4, 1 << 40} {
			idx := tensor.From([]int64{0, bad}, 1, 2)
			p, err := shPrepare(op, 13, nil, 1, nil, x, idx)
			if err != nil {
				t.Fatal(err)
			}
			err = p.step.Run(p.in, p.out, nil)
			if err == nil || !strings.Contains(err.Error(), "out of range") {
				t.Errorf("%s with index %d: err %v, want out of range", op, bad, err)
			}
		}
	}
	idx := tensor.From([]int64{0, 2}, 1, 2)
	p, err := shPrepare("GatherND", 13, nil, 1, nil, x, idx)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.step.Run(p.in, p.out, nil); err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Errorf("GatherND with index 2 on an axis of 2: %v", err)
	}
}

func TestGatherElements(t *testing.T) {
	// Examples from the ONNX operator documentation (GatherElements).
	data := tensor.From([]float32{1, 2, 3, 4}, 2, 2)
	out := shExec(t, "GatherElements", 13, map[string]*graph.Attr{"axis": graph.IntAttr(1)}, 1,
		data, tensor.From([]int64{0, 0, 1, 0}, 2, 2))[0]
	if got := fmt.Sprint(tensor.Data[float32](out)); got != "[1 1 4 3]" {
		t.Errorf("axis 1: %v", got)
	}
	data = tensor.From([]float32{1, 2, 3, 4, 5, 6, 7, 8, 9}, 3, 3)
	out = shExec(t, "GatherElements", 13, nil, 1, data, tensor.From([]int32{1, 2, 0, 2, 0, -3}, 2, 3))[0]
	if got := fmt.Sprint(tensor.Data[float32](out)); got != "[4 8 3 7 2 3]" {
		t.Errorf("axis 0 with a negative index: %v", got)
	}
	s := &tensor.Tensor{DType: tensor.String, Shape: tensor.Shape{2, 3}, Strs: []string{"a", "b", "c", "d", "e", "f"}}
	out = shExec(t, "GatherElements", 13, map[string]*graph.Attr{"axis": graph.IntAttr(-1)}, 1, s, tensor.From([]int64{2, 0, 1}, 1, 3))[0]
	if got := fmt.Sprint(out.Strs); got != "[c a b]" {
		t.Errorf("strings: %v", got)
	}
}

func TestGatherND(t *testing.T) {
	// Examples from the ONNX operator documentation (GatherND).
	for _, c := range []struct {
		data  *tensor.Tensor
		idx   *tensor.Tensor
		batch int64
		want  string
	}{
		{tensor.From([]int32{0, 1, 2, 3}, 2, 2), tensor.From([]int64{0, 0, 1, 1}, 2, 2), 0, "[2] [0 3]"},
		{tensor.From([]int32{0, 1, 2, 3}, 2, 2), tensor.From([]int64{1, 0}, 2, 1), 0, "[2,2] [2 3 0 1]"},
		{tensor.From([]float32{0, 1, 2, 3, 4, 5, 6, 7}, 2, 2, 2), tensor.From([]int64{0, 1, 1, 0}, 2, 2), 0, "[2,2] [2 3 4 5]"},
		{tensor.From([]float32{0, 1, 2, 3, 4, 5, 6, 7}, 2, 2, 2), tensor.From([]int64{0, 1, 1, 0}, 2, 1, 2), 0, "[2,1,2] [2 3 4 5]"},
		{tensor.From([]float32{0, 1, 2, 3, 4, 5, 6, 7}, 2, 2, 2), tensor.From([]int64{1, 0}, 2, 1), 1, "[2,2] [2 3 4 5]"},
		{tensor.From([]float32{0, 1, 2, 3, 4, 5, 6, 7}, 2, 2, 2), tensor.From([]int64{-1, 0}, 2, 1), 1, "[2,2] [2 3 4 5]"},
	} {
		out := shExec(t, "GatherND", 13, map[string]*graph.Attr{"batch_dims": graph.IntAttr(c.batch)}, 1, c.data, c.idx)[0]
		got := fmt.Sprint(out.Shape, " ")
		if out.DType == tensor.Int32 {
			got += fmt.Sprint(tensor.Data[int32](out))
		} else {
			got += fmt.Sprint(tensor.Data[float32](out))
		}
		if got != c.want {
			t.Errorf("GatherND(%v, %v, batch_dims %d) = %s, want %s", c.data, c.idx, c.batch, got, c.want)
		}
	}
}

func TestConcatSplitRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for iter := range 100 {
		rank := 1 + rng.IntN(3)
		shape := make(tensor.Shape, rank)
		for i := range shape {
			shape[i] = rng.IntN(4)
		}
		axis := rng.IntN(rank)
		k := 1 + rng.IntN(3)
		dt := shDTypes[iter%len(shDTypes)]
		parts := make([]*tensor.Tensor, k)
		sizes := make([]int64, k)
		for i := range parts {
			s := shape.Clone()
			s[axis] = rng.IntN(3)
			sizes[i] = int64(s[axis])
			parts[i] = shRandom(rng, dt, s...)
		}
		cat := shExec(t, "Concat", 13, map[string]*graph.Attr{"axis": graph.IntAttr(int64(axis - rank))}, 1, parts...)[0]
		// Each part must appear at its offset along axis.
		off := 0
		for _, p := range parts {
			shCheckMap(t, fmt.Sprint("concat ", shape, axis, sizes), shSliceAxis(cat, axis, off, p.Shape[axis]), p, func(o []int) int {
				return shOffset(p.Shape, o)
			})
			off += p.Shape[axis]
		}
		outs := shExec(t, "Split", 13, map[string]*graph.Attr{"axis": graph.IntAttr(int64(axis))}, k, cat, ints(sizes...))
		for i, o := range outs {
			shCheckMap(t, fmt.Sprint("split ", i), o, parts[i], func(x []int) int { return shOffset(parts[i].Shape, x) })
		}
	}
}

// shSliceAxis copies elements [off, off+n) along axis of t into a new
// tensor (a reference for the tests, by naive index walking).
func shSliceAxis(t *tensor.Tensor, axis, off, n int) *tensor.Tensor {
	s := t.Shape.Clone()
	s[axis] = n
	out := tensor.New(t.DType, s...)
	es := t.DType.Size()
	idx := make([]int, len(s))
	for o := 0; o < out.Len(); o++ {
		r := o
		for d := len(s) - 1; d >= 0; d-- {
			idx[d] = r % s[d]
			r /= s[d]
		}
		idx[axis] += off
		i := shOffset(t.Shape, idx)
		if t.DType == tensor.String {
			out.Strs[o] = t.Strs[i]
		} else {
			copy(out.Raw[o*es:(o+1)*es], t.Raw[i*es:(i+1)*es])
		}
	}
	return out
}

func TestSplitVersionsAndUnusedOutputs(t *testing.T) {
	x := tensor.From([]float32{1, 2, 3, 4, 5, 6, 7}, 7)
	// Split-18 with num_outputs: the last part is smaller.
	outs := shExec(t, "Split", 18, map[string]*graph.Attr{"num_outputs": graph.IntAttr(3)}, 3, x)
	if got := fmt.Sprint(tensor.Data[float32](outs[0]), tensor.Data[float32](outs[1]), tensor.Data[float32](outs[2])); got != "[1 2 3] [4 5 6] [7]" {
		t.Errorf("Split-18: %s", got)
	}
	// Split-11 with the split attribute, middle output unused.
	p, err := shPrepare("Split", 11, map[string]*graph.Attr{"split": graph.IntsAttr(2, 4, 1)}, 3, []int{1}, x)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.step.Run(p.in, p.out, nil); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(tensor.Data[float32](p.out[0]), tensor.Data[float32](p.out[2])); got != "[1 2] [7]" {
		t.Errorf("Split-11: %s", got)
	}
	if a := testing.AllocsPerRun(10, func() { _ = p.step.Run(p.in, p.out, nil) }); a != 0 {
		t.Errorf("Split with an unused output allocates %v", a)
	}
}
