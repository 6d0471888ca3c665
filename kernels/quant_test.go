package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// randQ is a tensor of random 8-bit values of type dt.
func randQ(rng *rand.Rand, dt tensor.DType, shape ...int) *tensor.Tensor {
	x := tensor.New(dt, shape...)
	for i := range x.Raw {
		x.Raw[i] = byte(rng.IntN(256))
	}
	return x
}

// qAt returns element i of an 8-bit tensor as an int.
func qAt(x *tensor.Tensor, i int) int {
	if x.DType == tensor.Int8 {
		return int(int8(x.Raw[i]))
	}
	return int(x.Raw[i])
}

func TestQGemmMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	dts := []tensor.DType{tensor.Uint8, tensor.Int8}
	for _, sz := range [][3]int{{1, 1, 1}, {1, 300, 7}, {3, 5, 4}, {5, 513, 37}, {2, 17, 1030}} {
		m, n, k := sz[0], sz[1], sz[2]
		for _, adt := range dts {
			for _, bdt := range dts {
				a, b := randQ(rng, adt, m, k), randQ(rng, bdt, k, n)
				if m > 1 { // a zero group of four exercises the skip
					for p := 0; p < min(4, k); p++ {
						a.Raw[k+p] = 0
					}
				}
				c := make([]int32, m*n)
				for i := range c {
					c[i] = -12345 // must be overwritten
				}
				qgemmRaw(adt, bdt, m, n, k, a.Raw, k, b.Raw, n, c, n)
				for i := 0; i < m; i++ {
					for j := 0; j < n; j++ {
						want := 0
						for p := 0; p < k; p++ {
							want += qAt(a, i*k+p) * qAt(b, p*n+j)
						}
						if int(c[i*n+j]) != want {
							t.Fatalf("%v×%v %v: C[%d][%d] = %d, want %d", adt, bdt, sz, i, j, c[i*n+j], want)
						}
					}
				}
			}
		}
	}
}

// TestQGemmPackedMatchesNaive checks the SWAR product, including the
// extremes of both types (255 · −128 and 255 · 127), N not a multiple of 4,
// K not a multiple of 4 and all-zero groups of A.
func TestQGemmPackedMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	for _, sz := range [][3]int{{1, 1, 1}, {1, 5, 3}, {3, 7, 9}, {2, 1024, 1031}, {4, 13, 4}} {
		m, n, k := sz[0], sz[1], sz[2]
		a, b := randQ(rng, tensor.Uint8, m, k), randQ(rng, tensor.Int8, k, n)
		a.Raw[0], b.Raw[0] = 255, 0x80 // 255 · −128
		if len(b.Raw) > 1 {
			b.Raw[1] = 127
		}
		if m > 1 {
			for p := 0; p < min(4, k); p++ {
				a.Raw[k+p] = 0
			}
		}
		pb := packQB(tensor.Data[int8](b), k, n)
		c := make([]int32, m*n)
		qgemmPacked(m, a.Raw, k, pb, c, n, make([]uint64, 2*pb.groups))
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				want := 0
				for p := 0; p < k; p++ {
					want += qAt(a, i*k+p) * qAt(b, p*n+j)
				}
				if int(c[i*n+j]) != want {
					t.Fatalf("%v: C[%d][%d] = %d, want %d", sz, i, j, c[i*n+j], want)
				}
			}
		}
	}
}

func TestMatMulIntegerZeroPoints(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	a, b := randQ(rng, tensor.Uint8, 2, 3, 5), randQ(rng, tensor.Int8, 5, 4)
	za := tensor.From([]uint8{7, 200, 3}, 3) // per row
	zb := tensor.From([]int8{-3, 0, 5, 127}, 4)
	got := runOp(t, "MatMulInteger", 10, nil, 1, a, b, za, zb)[0]
	want := make([]float64, 2*3*4)
	for bt := 0; bt < 2; bt++ {
		for i := 0; i < 3; i++ {
			for j := 0; j < 4; j++ {
				s := 0
				for p := 0; p < 5; p++ {
					s += (qAt(a, (bt*3+i)*5+p) - qAt(za, i)) * (qAt(b, p*4+j) - qAt(zb, j))
				}
				want[(bt*3+i)*4+j] = float64(s)
			}
		}
	}
	assertClose(t, "MatMulInteger", got, want, tensor.Shape{2, 3, 4}, 0, 0)
}

// refQuantMatMul is the quantized product computed the slow way: A
// quantized per tensor with (scale, zero), the exact integer product,
// dequantized with scale·bs[j], plus bias, then ReLU when relu is set.
func refQuantMatMul(a []float32, m, k int, b *tensor.Tensor, bs, bias []float32, scale float32, zero int, relu bool) []float64 {
	n := len(bs)
	out := make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			acc := 0
			for p := 0; p < k; p++ {
				// The kernel's float32 rounding, written the same way.
				inv, shift := 1/scale, float32(zero)
				q := min(max(a[i*k+p]*inv+shift+0.5, 0), 255)
				acc += (int(q) - zero) * qAt(b, p*n+j)
			}
			v := float64(acc)*float64(scale)*float64(bs[j]) + float64(bias[j])
			if relu {
				v = max(v, 0)
			}
			out[i*n+j] = v
		}
	}
	return out
}

func TestDynamicQuantMatMul(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const m, k, n = 3, 37, 300
	a, b := randT(rng, 1, m, k), randQ(rng, tensor.Int8, k, n)
	bs, bias := randT(rng, n), randT(rng, n)
	for i, v := range tensor.Data[float32](bs) {
		tensor.Data[float32](bs)[i] = 0.01 * (1.5 + v)
	}
	got := runOp(t, "DynamicQuantMatMul", 13, map[string]*graph.Attr{"activation": attrStr("Relu")}, 1, a, b, bs, bias)[0]
	lo, hi := minMax(tensor.Data[float32](a))
	scale, zp := dynamicQuantParams(lo, hi)
	want := refQuantMatMul(tensor.Data[float32](a), m, k, b, tensor.Data[float32](bs), tensor.Data[float32](bias), scale, int(zp), true)
	assertClose(t, "DynamicQuantMatMul", got, want, tensor.Shape{1, m, n}, 1e-5, 1e-5)

	// Against float: the error is bounded by half a quantization step of A
	// times Σ|b·bs| per output.
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			s, bound := float64(tensor.Data[float32](bias)[j]), 0.0
			for p := 0; p < k; p++ {
				w := float64(qAt(b, p*n+j)) * float64(tensor.Data[float32](bs)[j])
				s += float64(tensor.Data[float32](a)[i*k+p]) * w
				bound += math.Abs(w) * float64(scale) / 2
			}
			if g := float64(tensor.Data[float32](got)[i*n+j]); math.Abs(g-max(s, 0)) > bound+1e-5 {
				t.Fatalf("output %d,%d = %v, float %v, beyond the quantization bound %v", i, j, g, max(s, 0), bound)
			}
		}
	}
}

func TestQuantMatMulChain(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const m, k, n = 2, 9, 6
	a, b := randT(rng, m, k), randQ(rng, tensor.Int8, k, n)
	bs, bias := tensor.From([]float32{.01, .02, .03, .01, .02, .03}, n), randT(rng, n)
	attrs := map[string]*graph.Attr{"a_scale": attrFloat(2.0 / 255), "a_zero_point": attrInt(128), "a_type": attrInt(int64(tensor.Uint8))}
	// Float output.
	got := runOp(t, "QuantMatMul", 13, attrs, 1, a, b, bs, bias)[0]
	want := refQuantMatMul(tensor.Data[float32](a), m, k, b, tensor.Data[float32](bs), tensor.Data[float32](bias), 2.0/255, 128, false)
	assertClose(t, "QuantMatMul float out", got, want, tensor.Shape{m, n}, 1e-5, 1e-5)
	// Requantized to uint8, then fed back as a uint8 A.
	attrs["y_type"], attrs["y_scale"], attrs["y_zero_point"] = attrInt(int64(tensor.Uint8)), attrFloat(0.01), attrInt(100)
	q := runOp(t, "QuantMatMul", 13, attrs, 1, a, b, bs, bias)[0]
	if q.DType != tensor.Uint8 {
		t.Fatalf("requantized output type %v", q.DType)
	}
	for i, w := range want {
		e := min(max(math.Floor(w/0.01+100+0.5), 0), 255)
		if float64(q.Raw[i]) != e {
			t.Fatalf("requantized element %d = %d, want %v (from %v)", i, q.Raw[i], e, w)
		}
	}
	b2 := randQ(rng, tensor.Int8, n, 3)
	attrs2 := map[string]*graph.Attr{"a_scale": attrFloat(0.01), "a_zero_point": attrInt(100), "a_type": attrInt(int64(tensor.Uint8))}
	bs2 := tensor.From([]float32{.1, .2, .3}, 3)
	got2 := runOp(t, "QuantMatMul", 13, attrs2, 1, q, b2, bs2)[0]
	for i := 0; i < m; i++ {
		for j := 0; j < 3; j++ {
			acc := 0
			for p := 0; p < n; p++ {
				acc += (int(q.Raw[i*n+p]) - 100) * qAt(b2, p*3+j)
			}
			w := float64(acc) * 0.01 * float64(tensor.Data[float32](bs2)[j])
			if g := float64(tensor.Data[float32](got2)[i*3+j]); math.Abs(g-w) > 1e-5 {
				t.Fatalf("uint8-fed output %d,%d = %v, want %v", i, j, g, w)
			}
		}
	}
}

// TestQuantMatMulNonConstB covers B's column sums computed at run time.
func TestQuantMatMulNonConstB(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	a, b, bs := randT(rng, 4, 8), randQ(rng, tensor.Int8, 8, 5), tensor.From([]float32{1, 2, 3, 4, 5}, 5)
	r := prepareNode(t, "DynamicQuantMatMul", 13, nil, []bool{true}, a, b, bs)
	want := tensor.Data[float32](r.out[0])
	r.run(t)
	want = append([]float32(nil), want...)
	n := &graph.Node{Op: "DynamicQuantMatMul", Inputs: []*graph.Value{{Name: "a"}, {Name: "b"}, {Name: "s"}}, Outputs: r.node.Outputs}
	k, err := New(n, 13)
	if err != nil {
		t.Fatal(err)
	}
	step, err := k.Prepare(r.in, r.out)
	if err != nil {
		t.Fatal(err)
	}
	if err := step.Run(r.in, r.out, tensor.AlignedBytes(step.Scratch)); err != nil {
		t.Fatal(err)
	}
	for i, w := range want {
		if g := tensor.Data[float32](r.out[0])[i]; g != w {
			t.Fatalf("element %d: %v with run-time column sums, %v with precomputed ones", i, g, w)
		}
	}
}

// TestQuantRunDoesNotAllocate holds the kernel contract for the quantized
// kernels.
func TestQuantRunDoesNotAllocate(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	static := map[string]*graph.Attr{"a_scale": attrFloat(0.01), "a_zero_point": attrInt(3),
		"y_type": attrInt(int64(tensor.Int8)), "y_scale": attrFloat(0.1), "activation": attrStr("Relu")}
	cases := []struct {
		name string
		r    *nodeRun
	}{
		{"DynamicQuantMatMul", prepareNode(t, "DynamicQuantMatMul", 13, nil, []bool{true}, randT(rng, 1, 64), randQ(rng, tensor.Int8, 64, 300), randT(rng, 300), randT(rng, 300))},
		{"QuantMatMul", prepareNode(t, "QuantMatMul", 13, static, []bool{true}, randT(rng, 3, 64), randQ(rng, tensor.Int8, 64, 30), randT(rng, 30))},
		{"MatMulInteger", prepareNode(t, "MatMulInteger", 10, nil, []bool{true}, randQ(rng, tensor.Uint8, 4, 8), randQ(rng, tensor.Int8, 8, 3), tensor.Scalar[uint8](3), tensor.Scalar[int8](-2))},
		{"QLinearMatMul", prepareNode(t, "QLinearMatMul", 10, nil, []bool{true}, randQ(rng, tensor.Uint8, 4, 8), tensor.Scalar[float32](0.1), tensor.Scalar[uint8](3),
			randQ(rng, tensor.Uint8, 8, 3), tensor.Scalar[float32](0.2), tensor.Scalar[uint8](9), tensor.Scalar[float32](0.5), tensor.Scalar[uint8](1))},
		{"QuantizeLinear", prepareNode(t, "QuantizeLinear", 13, nil, []bool{true}, randT(rng, 2, 3, 4), tensor.From([]float32{.1, .2, .3}, 3), tensor.From([]int8{0, 1, 2}, 3))},
		{"DequantizeLinear", prepareNode(t, "DequantizeLinear", 13, nil, []bool{true}, randQ(rng, tensor.Uint8, 2, 3), tensor.Scalar[float32](.1), tensor.Scalar[uint8](7))},
		{"DynamicQuantizeLinear", prepareNode(t, "DynamicQuantizeLinear", 11, nil, []bool{true, true, true}, randT(rng, 5, 7))},
		{"ConvInteger", prepareNode(t, "ConvInteger", 10, nil, []bool{true}, randQ(rng, tensor.Uint8, 1, 2, 5, 5), randQ(rng, tensor.Uint8, 3, 2, 3, 3), tensor.Scalar[uint8](1))},
	}
	for _, c := range cases {
		c.r.run(t)
		if n := testing.AllocsPerRun(20, func() { c.r.run(t) }); n != 0 {
			t.Errorf("%s: Run allocates %v times", c.name, n)
		}
	}
}

// BenchmarkQuantGEMV is the batch-1 int8 product of a 1024×1024 layer
// against the float32 one.
func BenchmarkQuantGEMV(b *testing.B) {
	rng := rand.New(rand.NewPCG(13, 14))
	const k, n = 1024, 1024
	b.Run("f32", func(b *testing.B) {
		r := prepareNode(b, "MatMul", 13, nil, []bool{true}, randT(rng, 1, k), randT(rng, k, n))
		b.ReportAllocs()
		for b.Loop() {
			r.run(b)
		}
	})
	b.Run("int8-dynamic", func(b *testing.B) {
		r := prepareNode(b, "DynamicQuantMatMul", 13, nil, []bool{true}, randT(rng, 1, k), randQ(rng, tensor.Int8, k, n), randT(rng, n))
		b.ReportAllocs()
		for b.Loop() {
			r.run(b)
		}
	})
}
