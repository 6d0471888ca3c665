package kernels

import (
	"fmt"
	"math"
	"testing"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// node builds a graph node for op with the given attributes.
func node(op string, attrs map[string]*graph.Attr) *graph.Node {
	return &graph.Node{Op: op, Attrs: attrs, Outputs: []*graph.Value{{Name: "y"}}}
}

func fattr(v float32) *graph.Attr { return &graph.Attr{Kind: graph.AttrFloat, Float: v} }
func iattr(v int64) *graph.Attr   { return &graph.Attr{Kind: graph.AttrInt, Int: v} }

// prepare builds and prepares n's kernel for in, with an output of type dt
// and the given shape, and returns the step and output.
func prepare(t testing.TB, n *graph.Node, opset int, dt tensor.DType, shape tensor.Shape, in ...*tensor.Tensor) (Step, *tensor.Tensor) {
	t.Helper()
	k, err := New(n, opset)
	if err != nil {
		t.Fatal(err)
	}
	out := tensor.New(dt, shape...)
	s, err := k.Prepare(in, []*tensor.Tensor{out})
	if err != nil {
		t.Fatal(err)
	}
	return s, out
}

// run prepares and runs n once; the output buffer is filled with garbage
// first so a kernel that skips elements is caught.
func run(t testing.TB, n *graph.Node, opset int, dt tensor.DType, shape tensor.Shape, in ...*tensor.Tensor) *tensor.Tensor {
	t.Helper()
	s, out := prepare(t, n, opset, dt, shape, in...)
	for i := range out.Raw {
		out.Raw[i] = 0xA5
	}
	if err := s.Run(in, []*tensor.Tensor{out}, tensor.AlignedBytes(s.Scratch)); err != nil {
		t.Fatal(err)
	}
	return out
}

// f16 makes a Float16 tensor from float32 values.
func f16(shape tensor.Shape, v ...float32) *tensor.Tensor {
	b := make([]uint16, len(v))
	for i, x := range v {
		b[i] = uint16(tensor.Float16FromFloat32(x))
	}
	t := tensor.From(b, shape...)
	t.DType = tensor.Float16
	return t
}

// numericTensor makes a tensor of dtype dt holding vals (converted).
func numericTensor(dt tensor.DType, shape tensor.Shape, vals []float64) *tensor.Tensor {
	t := tensor.New(dt, shape...)
	for i, v := range vals {
		storeFloat(t, i, v)
	}
	return t
}

// broadcastIndex maps output element e to the element of an input of shape
// s, by index arithmetic.
func broadcastIndex(e int, out, s tensor.Shape) int {
	outSt, st := out.Strides(), tensor.BroadcastStrides(s, out)
	idx := 0
	for d := range out {
		idx += (e / outSt[d]) * st[d]
		e %= outSt[d]
	}
	return idx
}

// TestBinaryMatchesReference checks every arithmetic op over every numeric
// dtype and several broadcast patterns against a float64 reference computed
// element by element.
func TestBinaryMatchesReference(t *testing.T) {
	shapes := [][2]tensor.Shape{
		{{2, 3, 4}, {2, 3, 4}}, {{2, 3, 4}, {}}, {{}, {2, 3, 4}}, {{2, 3, 4}, {4}},
		{{2, 3, 1}, {1, 3, 4}}, {{3, 1}, {1}}, {{1100}, {1100}}, {{2, 700}, {700}},
	}
	dtypes := []tensor.DType{tensor.Float32, tensor.Float64, tensor.Float16, tensor.BFloat16,
		tensor.Int8, tensor.Int16, tensor.Int32, tensor.Int64,
		tensor.Uint8, tensor.Uint16, tensor.Uint32, tensor.Uint64}
	ops := map[string]func(a, b float64) float64{
		"Add": func(a, b float64) float64 { return a + b },
		"Sub": func(a, b float64) float64 { return a - b },
		"Mul": func(a, b float64) float64 { return a * b },
		"Div": func(a, b float64) float64 { return a / b },
		"Max": math.Max,
		"Min": math.Min,
	}
	for _, dt := range dtypes {
		for op, ref := range ops {
			for _, sh := range shapes {
				out, _ := tensor.BroadcastShapes(sh[0], sh[1])
				va := make([]float64, sh[0].NumElements())
				vb := make([]float64, sh[1].NumElements())
				for i := range va {
					va[i] = float64(i%7 + 6) // > b, small: exact in every type
				}
				for i := range vb {
					vb[i] = float64(i%5 + 1)
				}
				a, b := numericTensor(dt, sh[0], va), numericTensor(dt, sh[1], vb)
				got := run(t, node(op, nil), 14, dt, out, a, b)
				for e := range out.NumElements() {
					want := ref(a.Float64At(broadcastIndex(e, out, sh[0])), b.Float64At(broadcastIndex(e, out, sh[1])))
					if dt.IsInt() {
						want = math.Trunc(want)
					}
					tol := 0.0
					switch dt {
					case tensor.Float32:
						tol = 1e-6 * math.Abs(want)
					case tensor.Float16:
						tol = 1e-3 * math.Abs(want)
					case tensor.BFloat16:
						tol = 8e-3 * math.Abs(want)
					}
					if g := got.Float64At(e); math.Abs(g-want) > tol {
						t.Fatalf("%s %v %v: element %d = %v, want %v", op, dt, sh, e, g, want)
					}
				}
			}
		}
	}
}

func TestIntegerDivTruncatesAndSurvivesZero(t *testing.T) {
	a := tensor.From([]int32{7, -7, 7, -7, 5, math.MinInt32}, 6)
	b := tensor.From([]int32{2, 2, -2, -2, 0, -1}, 6)
	got := tensor.Data[int32](run(t, node("Div", nil), 14, tensor.Int32, tensor.Shape{6}, a, b))
	want := []int32{3, -3, -3, 3, 0, math.MinInt32}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Div int32 = %v, want %v", got, want)
		}
	}
	// A scalar zero divisor takes the broadcast path.
	got = tensor.Data[int32](run(t, node("Div", nil), 14, tensor.Int32, tensor.Shape{6}, a, tensor.Scalar[int32](0)))
	for i := range got {
		if got[i] != 0 {
			t.Fatalf("Div by scalar 0 = %v, want zeros", got)
		}
	}
	u := tensor.From([]uint8{200, 7}, 2)
	gu := run(t, node("Div", nil), 14, tensor.Uint8, tensor.Shape{2}, u, tensor.From([]uint8{3, 2}, 2))
	if gu.Raw[0] != 66 || gu.Raw[1] != 3 {
		t.Fatalf("Div uint8 = %v", gu.Raw)
	}
}

func TestMaxMinPropagateNaNAndFoldVariadic(t *testing.T) {
	nan := float32(math.NaN())
	a := tensor.From([]float32{1, nan, 3, -1}, 4)
	b := tensor.From([]float32{nan, 2, 1, -2}, 4)
	for _, op := range []string{"Max", "Min"} {
		got := tensor.Data[float32](run(t, node(op, nil), 13, tensor.Float32, tensor.Shape{4}, a, b))
		if !isNaN32(got[0]) || !isNaN32(got[1]) {
			t.Errorf("%s does not propagate NaN: %v", op, got)
		}
	}
	// Three inputs broadcasting to [2,3]: max over {x[i,j], r[j], s}.
	x := tensor.From([]float32{1, 5, 2, 8, 0, 3}, 2, 3)
	r := tensor.From([]float32{4, 4, 1}, 3)
	s := tensor.Scalar[float32](2.5)
	got := tensor.Data[float32](run(t, node("Max", nil), 13, tensor.Float32, tensor.Shape{2, 3}, x, r, s))
	want := []float32{4, 5, 2.5, 8, 4, 3}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Max variadic = %v, want %v", got, want)
		}
	}
	// The scalar first: the output shape comes from later inputs.
	got = tensor.Data[float32](run(t, node("Min", nil), 13, tensor.Float32, tensor.Shape{2, 3}, s, r, x))
	want = []float32{1, 2.5, 1, 2.5, 0, 1}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Min variadic = %v, want %v", got, want)
		}
	}
	one := run(t, node("Max", nil), 13, tensor.Float32, tensor.Shape{2, 3}, x)
	if tensor.Data[float32](one)[3] != 8 {
		t.Fatalf("Max of one input = %v", tensor.Data[float32](one))
	}
	h := run(t, node("Max", nil), 13, tensor.Float16, tensor.Shape{3}, f16(tensor.Shape{3}, 1, -0.5, 3), f16(tensor.Shape{3}, 0.25, 2, -4))
	for i, w := range []float64{1, 2, 3} {
		if h.Float64At(i) != w {
			t.Fatalf("Max float16 element %d = %v, want %v", i, h.Float64At(i), w)
		}
	}
}

func isNaN32(f float32) bool { return f != f }

func TestLegacyBroadcastAxis(t *testing.T) {
	// Add-6 with broadcast=1, axis=1: B of shape [3] lines up with A's axis 1.
	n := node("Add", map[string]*graph.Attr{"broadcast": iattr(1), "axis": iattr(1)})
	a := tensor.From(make([]float32, 6), 2, 3)
	b := tensor.From([]float32{10, 20, 30}, 3)
	got := tensor.Data[float32](run(t, n, 6, tensor.Float32, tensor.Shape{2, 3}, a, b))
	want := []float32{10, 20, 30, 10, 20, 30}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("legacy Add = %v, want %v", got, want)
		}
	}
	a2 := tensor.From(make([]float32, 6), 3, 2)
	got = tensor.Data[float32](run(t, node("Add", map[string]*graph.Attr{"broadcast": iattr(1), "axis": iattr(0)}), 6, tensor.Float32, tensor.Shape{3, 2}, a2, b))
	want = []float32{10, 10, 20, 20, 30, 30}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("legacy Add axis 0 = %v, want %v", got, want)
		}
	}
}

func TestCompareAndLogic(t *testing.T) {
	nan := float32(math.NaN())
	a := tensor.From([]float32{1, 2, 3, nan, 0}, 5)
	b := tensor.From([]float32{2, 2, 2, 1, float32(math.Copysign(0, -1))}, 5)
	want := map[string][]bool{
		"Equal":          {false, true, false, false, true},
		"Less":           {true, false, false, false, false},
		"Greater":        {false, false, true, false, false},
		"LessOrEqual":    {true, true, false, false, true},
		"GreaterOrEqual": {false, true, true, false, true},
	}
	for op, w := range want {
		for _, dt := range []tensor.DType{tensor.Float32, tensor.Float16} {
			x, y := a, b
			if dt == tensor.Float16 {
				x, y = f16(tensor.Shape{5}, 1, 2, 3, nan, 0), f16(tensor.Shape{5}, 2, 2, 2, 1, float32(math.Copysign(0, -1)))
			}
			got := tensor.Data[bool](run(t, node(op, nil), 16, tensor.Bool, tensor.Shape{5}, x, y))
			for i := range w {
				if got[i] != w[i] {
					t.Errorf("%s %v = %v, want %v", op, dt, got, w)
					break
				}
			}
		}
	}
	// Broadcast a scalar on the left: 2 < [1 2 3].
	got := tensor.Data[bool](run(t, node("Less", nil), 13, tensor.Bool, tensor.Shape{3}, tensor.Scalar[int64](2), tensor.From([]int64{1, 2, 3}, 3)))
	if got[0] || got[1] || !got[2] {
		t.Errorf("Less scalar-left = %v", got)
	}
	p := tensor.From([]bool{true, true, false, false}, 2, 2)
	q := tensor.From([]bool{true, false}, 2)
	for op, w := range map[string][]bool{
		"And": {true, false, false, false},
		"Or":  {true, true, true, false},
		"Xor": {false, true, true, false},
	} {
		got := tensor.Data[bool](run(t, node(op, nil), 7, tensor.Bool, tensor.Shape{2, 2}, p, q))
		for i := range w {
			if got[i] != w[i] {
				t.Errorf("%s = %v, want %v", op, got, w)
				break
			}
		}
	}
	not := tensor.Data[bool](run(t, node("Not", nil), 1, tensor.Bool, tensor.Shape{2}, q))
	if not[0] || !not[1] {
		t.Errorf("Not = %v", not)
	}
}

func TestWhereBroadcastsThreeWays(t *testing.T) {
	c := tensor.From([]bool{true, false}, 2, 1)
	x := tensor.From([]int64{1, 2, 3}, 3)
	y := tensor.Scalar[int64](-1)
	got := tensor.Data[int64](run(t, node("Where", nil), 16, tensor.Int64, tensor.Shape{2, 3}, c, x, y))
	want := []int64{1, 2, 3, -1, -1, -1}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Where = %v, want %v", got, want)
		}
	}
	s := &tensor.Tensor{DType: tensor.String, Shape: tensor.Shape{2}, Strs: []string{"a", "b"}}
	so := run(t, node("Where", nil), 16, tensor.String, tensor.Shape{2}, tensor.From([]bool{false, true}, 2), s,
		&tensor.Tensor{DType: tensor.String, Strs: []string{"z"}})
	if so.Strs[0] != "z" || so.Strs[1] != "b" {
		t.Fatalf("Where strings = %v", so.Strs)
	}
}

func TestClip(t *testing.T) {
	nan := float32(math.NaN())
	x := tensor.From([]float32{-5, -1, 0, 1, 5, nan}, 6)
	got := tensor.Data[float32](run(t, node("Clip", nil), 13, tensor.Float32, tensor.Shape{6}, x, tensor.Scalar[float32](-1), tensor.Scalar[float32](2)))
	want := []float32{-1, -1, 0, 1, 2, nan}
	for i := range 5 {
		if got[i] != want[i] {
			t.Fatalf("Clip = %v, want %v", got, want)
		}
	}
	if !isNaN32(got[5]) {
		t.Fatalf("Clip(NaN) = %v, want NaN", got[5])
	}
	// min > max: every element becomes max (numpy.clip, ONNX Clip-13 doc).
	got = tensor.Data[float32](run(t, node("Clip", nil), 13, tensor.Float32, tensor.Shape{6}, x, tensor.Scalar[float32](3), tensor.Scalar[float32](1)))
	for i := range 5 {
		if got[i] != 1 {
			t.Fatalf("Clip min>max = %v, want all 1", got)
		}
	}
	// Only max given (min omitted as nil), int8.
	xi := tensor.From([]int8{-128, 0, 100}, 3)
	gi := tensor.Data[int8](run(t, node("Clip", nil), 13, tensor.Int8, tensor.Shape{3}, xi, nil, tensor.Scalar[int8](50)))
	if gi[0] != -128 || gi[1] != 0 || gi[2] != 50 {
		t.Fatalf("Clip int8 max-only = %v", gi)
	}
	// Opset 6: bounds are attributes.
	n := node("Clip", map[string]*graph.Attr{"min": fattr(-0.5), "max": fattr(0.5)})
	got = tensor.Data[float32](run(t, n, 6, tensor.Float32, tensor.Shape{6}, x))
	if got[0] != -0.5 || got[2] != 0 || got[4] != 0.5 {
		t.Fatalf("Clip-6 = %v", got)
	}
	h := run(t, node("Clip", nil), 13, tensor.Float16, tensor.Shape{3}, f16(tensor.Shape{3}, -70000, 1, 3), nil, f16(nil, 2))
	// -70000 is -Inf in float16; the default lower bound is the lowest finite value.
	if h.Float64At(0) != -65504 || h.Float64At(1) != 1 || h.Float64At(2) != 2 {
		t.Fatalf("Clip float16 = %v %v %v", h.Float64At(0), h.Float64At(1), h.Float64At(2))
	}
}

func TestUnarySigned(t *testing.T) {
	negZero := float32(math.Copysign(0, -1))
	x := tensor.From([]float32{-2, negZero, 3}, 3)
	abs := tensor.Data[float32](run(t, node("Abs", nil), 13, tensor.Float32, tensor.Shape{3}, x))
	if abs[0] != 2 || math.Signbit(float64(abs[1])) || abs[2] != 3 {
		t.Errorf("Abs = %v", abs)
	}
	neg := tensor.Data[int16](run(t, node("Neg", nil), 13, tensor.Int16, tensor.Shape{2}, tensor.From([]int16{5, -7}, 2)))
	if neg[0] != -5 || neg[1] != 7 {
		t.Errorf("Neg int16 = %v", neg)
	}
	relu := tensor.Data[int32](run(t, node("Relu", nil), 14, tensor.Int32, tensor.Shape{2}, tensor.From([]int32{-5, 7}, 2)))
	if relu[0] != 0 || relu[1] != 7 {
		t.Errorf("Relu int32 = %v", relu)
	}
}

func ExampleNew_add() {
	k, _ := New(&graph.Node{Op: "Add"}, 14)
	a := tensor.From([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	b := tensor.From([]float32{10, 20, 30}, 3)
	out := tensor.New(tensor.Float32, 2, 3)
	s, _ := k.Prepare([]*tensor.Tensor{a, b}, []*tensor.Tensor{out})
	_ = s.Run([]*tensor.Tensor{a, b}, []*tensor.Tensor{out}, make([]byte, s.Scratch))
	fmt.Println(tensor.Data[float32](out))
	// Output: [11 22 33 14 25 36]
}

func TestEmptyTensors(t *testing.T) {
	a := tensor.New(tensor.Float32, 0, 3)
	b := tensor.From([]float32{1, 2, 3}, 3)
	if got := run(t, node("Add", nil), 14, tensor.Float32, tensor.Shape{0, 3}, a, b); got.Len() != 0 {
		t.Fatalf("Add of empty gave %v", got)
	}
	for _, op := range []string{"Sigmoid", "Neg", "Max"} {
		if got := run(t, node(op, nil), 13, tensor.Float32, tensor.Shape{0, 3}, a); got.Len() != 0 {
			t.Fatalf("%s of empty gave %v", op, got)
		}
	}
	if got := run(t, castNode(tensor.Float16), 13, tensor.Float16, tensor.Shape{0, 3}, a); got.Len() != 0 {
		t.Fatalf("Cast of empty gave %v", got)
	}
	k, _ := New(node("Add", nil), 14)
	if _, err := k.Prepare([]*tensor.Tensor{b, tensor.New(tensor.Float32, 4)}, []*tensor.Tensor{tensor.New(tensor.Float32, 3)}); err == nil {
		t.Fatal("Add accepted shapes [3] and [4]")
	}
	if _, err := k.Prepare([]*tensor.Tensor{b, tensor.From([]float64{1}, 1)}, []*tensor.Tensor{tensor.New(tensor.Float32, 3)}); err == nil {
		t.Fatal("Add accepted float32 + float64")
	}
}
