package kernels

import (
	"math"
	"testing"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

func castNode(to tensor.DType) *graph.Node {
	return node("Cast", map[string]*graph.Attr{"to": iattr(int64(to))})
}

func TestCastHalfRoundsToNearestEven(t *testing.T) {
	// 1 + 2^-11 is halfway between float16 1 and 1+2^-10: ties to even (1).
	// 1 + 3·2^-11 is halfway between 1+2^-10 and 1+2^-9: ties to even (1+2^-9).
	// 1 + 2^-11 + 2^-40 is just above the tie: rounds up. Through float32 it
	// would first round to the tie and then down, so float64 needs one
	// correct rounding.
	x := tensor.From([]float64{1 + 0x1p-11, 1 + 3*0x1p-11, 1 + 0x1p-11 + 0x1p-40, 70000, -1e-9}, 5)
	got := run(t, castNode(tensor.Float16), 13, tensor.Float16, tensor.Shape{5}, x)
	want := []float64{1, 1 + 0x1p-9, 1 + 0x1p-10, math.Inf(1), 0}
	for i, w := range want {
		if got.Float64At(i) != w {
			t.Errorf("Cast float64→float16 element %d = %v, want %v", i, got.Float64At(i), w)
		}
	}
	if tensor.Data[uint16](got)[4] != 0x8000 {
		t.Errorf("-1e-9 → float16 bits %#x, want -0", tensor.Data[uint16](got)[4])
	}
	// BFloat16: 1 + 2^-8 is the tie between 1 and 1+2^-7.
	xb := tensor.From([]float32{1 + 0x1p-8, 1 + 3*0x1p-8, float32(math.NaN())}, 3)
	gb := run(t, castNode(tensor.BFloat16), 13, tensor.BFloat16, tensor.Shape{3}, xb)
	if gb.Float64At(0) != 1 || gb.Float64At(1) != 1+0x1p-6 || !math.IsNaN(gb.Float64At(2)) {
		t.Errorf("Cast float32→bfloat16 = %v %v %v", gb.Float64At(0), gb.Float64At(1), gb.Float64At(2))
	}
	back := run(t, castNode(tensor.Float32), 13, tensor.Float32, tensor.Shape{3}, gb)
	if tensor.Data[float32](back)[1] != 1+0x1p-6 {
		t.Errorf("Cast bfloat16→float32 = %v", tensor.Data[float32](back))
	}
}

func TestCastNumeric(t *testing.T) {
	x := tensor.From([]float32{-2.7, 0, 2.7, float32(math.NaN())}, 4)
	i := tensor.Data[int32](run(t, castNode(tensor.Int32), 13, tensor.Int32, tensor.Shape{4}, x))
	if i[0] != -2 || i[1] != 0 || i[2] != 2 {
		t.Errorf("Cast float32→int32 = %v, want truncation", i)
	}
	b := tensor.Data[bool](run(t, castNode(tensor.Bool), 13, tensor.Bool, tensor.Shape{4}, x))
	if !b[0] || b[1] || !b[2] || !b[3] {
		t.Errorf("Cast float32→bool = %v (NaN is true)", b)
	}
	u := run(t, castNode(tensor.Uint8), 13, tensor.Uint8, tensor.Shape{3}, tensor.From([]int64{1, 255, 256}, 3))
	if u.Raw[0] != 1 || u.Raw[1] != 255 || u.Raw[2] != 0 {
		t.Errorf("Cast int64→uint8 = %v, want wrap-around", u.Raw)
	}
	f := tensor.Data[float64](run(t, castNode(tensor.Float64), 13, tensor.Float64, tensor.Shape{2}, tensor.From([]bool{true, false}, 2)))
	if f[0] != 1 || f[1] != 0 {
		t.Errorf("Cast bool→float64 = %v", f)
	}
	like := tensor.From([]int16{0}, 1)
	k, _ := New(node("CastLike", nil), 15)
	out := tensor.New(tensor.Int16, 4)
	s, err := k.Prepare([]*tensor.Tensor{x, like}, []*tensor.Tensor{out})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run([]*tensor.Tensor{x, like}, []*tensor.Tensor{out}, nil); err != nil {
		t.Fatal(err)
	}
	if g := tensor.Data[int16](out); g[0] != -2 || g[2] != 2 {
		t.Errorf("CastLike float32→int16 = %v", g)
	}
}

func TestCastStringsLikeNumPy(t *testing.T) {
	// Expected strings are numpy 1.24's: np.array(x, dtype).astype(str).
	// float32(0.0001) is just below 1e-4, so it prints in scientific form.
	f32 := []float32{0.9767611, 0.039187793, 1, -2.5, 1e-5, 1.5e-5, 1e16, 1e15, 0.0001, 123456789,
		float32(math.Copysign(0, -1)), float32(math.NaN()), float32(math.Inf(-1))}
	want := []string{"0.9767611", "0.039187793", "1.0", "-2.5", "1e-05", "1.5e-05", "1e+16", "1000000000000000.0", "1e-04", "123456790.0",
		"-0.0", "nan", "-inf"}
	got := run(t, castNode(tensor.String), 13, tensor.String, tensor.Shape{len(f32)}, tensor.From(f32, len(f32)))
	for i := range want {
		if got.Strs[i] != want[i] {
			t.Errorf("float32 %v → %q, want %q", f32[i], got.Strs[i], want[i])
		}
	}
	f64 := []float64{0.1, 1e100, 2.5e-300}
	want64 := []string{"0.1", "1e+100", "2.5e-300"}
	g64 := run(t, castNode(tensor.String), 13, tensor.String, tensor.Shape{3}, tensor.From(f64, 3))
	for i := range want64 {
		if g64.Strs[i] != want64[i] {
			t.Errorf("float64 %v → %q, want %q", f64[i], g64.Strs[i], want64[i])
		}
	}
	h := run(t, castNode(tensor.String), 13, tensor.String, tensor.Shape{3}, f16(tensor.Shape{3}, 0.1, 65504, 6e-5))
	for i, w := range []string{"0.1", "65500.0", "6e-05"} {
		if h.Strs[i] != w {
			t.Errorf("float16 element %d → %q, want %q", i, h.Strs[i], w)
		}
	}
	misc := run(t, castNode(tensor.String), 13, tensor.String, tensor.Shape{2}, tensor.From([]bool{true, false}, 2))
	if misc.Strs[0] != "True" || misc.Strs[1] != "False" {
		t.Errorf("bool → %q", misc.Strs)
	}
	ints := run(t, castNode(tensor.String), 13, tensor.String, tensor.Shape{2}, tensor.From([]int64{-42, math.MaxInt64}, 2))
	if ints.Strs[0] != "-42" || ints.Strs[1] != "9223372036854775807" {
		t.Errorf("int64 → %q", ints.Strs)
	}

	in := &tensor.Tensor{DType: tensor.String, Shape: tensor.Shape{6}, Strs: []string{"0.47892547", "NaN", "INF", "+INF", "-INF", " 2 "}}
	pf := tensor.Data[float32](run(t, castNode(tensor.Float32), 13, tensor.Float32, tensor.Shape{6}, in))
	if pf[0] != 0.47892547 || !isNaN32(pf[1]) || !math.IsInf(float64(pf[2]), 1) || !math.IsInf(float64(pf[3]), 1) || !math.IsInf(float64(pf[4]), -1) || pf[5] != 2 {
		t.Errorf("parse float32 = %v", pf)
	}
	pi := tensor.Data[int64](run(t, castNode(tensor.Int64), 13, tensor.Int64, tensor.Shape{2}, &tensor.Tensor{DType: tensor.String, Shape: tensor.Shape{2}, Strs: []string{"-9223372036854775808", "3.9"}}))
	if pi[0] != math.MinInt64 || pi[1] != 3 {
		t.Errorf("parse int64 = %v", pi)
	}
	k, _ := New(castNode(tensor.Float32), 13)
	bad := &tensor.Tensor{DType: tensor.String, Shape: tensor.Shape{1}, Strs: []string{"twelve"}}
	out := tensor.New(tensor.Float32, 1)
	s, _ := k.Prepare([]*tensor.Tensor{bad}, []*tensor.Tensor{out})
	if err := s.Run([]*tensor.Tensor{bad}, []*tensor.Tensor{out}, nil); err == nil {
		t.Error("parsing \"twelve\" succeeded")
	}
}

func TestPowMixedTypes(t *testing.T) {
	base := tensor.From([]float32{1, 2, 3}, 3)
	for _, e := range []*tensor.Tensor{
		tensor.From([]int32{4, 5, 6}, 3), tensor.From([]int64{4, 5, 6}, 3),
		tensor.From([]uint32{4, 5, 6}, 3), tensor.From([]uint64{4, 5, 6}, 3),
		tensor.From([]float32{4, 5, 6}, 3),
	} {
		got := tensor.Data[float32](run(t, node("Pow", nil), 15, tensor.Float32, tensor.Shape{3}, base, e))
		if got[0] != 1 || got[1] != 32 || got[2] != 729 {
			t.Errorf("Pow float32**%v = %v", e.DType, got)
		}
	}
	ib := tensor.From([]int64{3, -2, 2, 5}, 4)
	gi := tensor.Data[int64](run(t, node("Pow", nil), 15, tensor.Int64, tensor.Shape{4}, ib, tensor.From([]int64{39, 3, -1, 0}, 4)))
	if gi[0] != 4052555153018976267 || gi[1] != -8 || gi[2] != 0 || gi[3] != 1 {
		t.Errorf("Pow int64**int64 = %v (3^39 must be exact)", gi)
	}
	gf := tensor.Data[int32](run(t, node("Pow", nil), 15, tensor.Int32, tensor.Shape{3}, tensor.From([]int32{4, 2, 9}, 3), tensor.Scalar[float32](1.5)))
	if gf[0] != 8 || gf[1] != 2 || gf[2] != 27 {
		t.Errorf("Pow int32**float32 = %v, want truncated float results", gf)
	}
	sq := tensor.Data[float32](run(t, node("Pow", nil), 15, tensor.Float32, tensor.Shape{3}, tensor.From([]float32{-3, 0.5, 1e20}, 3), tensor.Scalar[float32](2)))
	if sq[0] != 9 || sq[1] != 0.25 || !math.IsInf(float64(sq[2]), 1) {
		t.Errorf("Pow x**2 = %v", sq)
	}
	h := run(t, node("Pow", nil), 15, tensor.Float16, tensor.Shape{2}, f16(tensor.Shape{2}, 2, 3), tensor.From([]int8{3, -1}, 2))
	if h.Float64At(0) != 8 || math.Abs(h.Float64At(1)-1.0/3) > 1e-3 {
		t.Errorf("Pow float16**int8 = %v %v", h.Float64At(0), h.Float64At(1))
	}
}
