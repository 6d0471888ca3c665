package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// spatialIter calls f with every index of shape, row-major.
func spatialIter(shape []int, f func(idx []int)) {
	idx := make([]int, len(shape))
	for _, d := range shape {
		if d == 0 {
			return
		}
	}
	for {
		f(idx)
		i := len(shape) - 1
		for ; i >= 0; i-- {
			idx[i]++
			if idx[i] < shape[i] {
				break
			}
			idx[i] = 0
		}
		if i < 0 {
			return
		}
	}
}

func flatIndex(shape, idx []int) int {
	off := 0
	for i, d := range shape {
		off = off*d + idx[i]
	}
	return off
}

// refConv is the ONNX Conv definition with explicit pads, in float64:
// y[n, m, o…] = b[m] + Σ_{c, k…} x[n, g·C/G + c, o·s − pb + k·d] · w[m, c, k…].
func refConv(x, w, b *tensor.Tensor, strides, dil, pads []int, group int) ([]float64, tensor.Shape) {
	r := len(x.Shape) - 2
	n, c, m := x.Shape[0], x.Shape[1], w.Shape[0]
	cg, mg := c/group, m/group
	kernel := w.Shape[2:]
	outSp := make([]int, r)
	for i := range outSp {
		outSp[i] = (x.Shape[2+i]+pads[i]+pads[r+i]-((kernel[i]-1)*dil[i]+1))/strides[i] + 1
	}
	xv, wv := f64s(x), f64s(w)
	shape := append(tensor.Shape{n, m}, outSp...)
	out := make([]float64, shape.NumElements())
	inSp := x.Shape[2:]
	for ni := 0; ni < n; ni++ {
		for mi := 0; mi < m; mi++ {
			g := mi / mg
			spatialIter(outSp, func(o []int) {
				s := 0.0
				if b != nil {
					s = b.Float64At(mi)
				}
				for ci := 0; ci < cg; ci++ {
					spatialIter(kernel, func(k []int) {
						pos := make([]int, r)
						for i := range pos {
							pos[i] = o[i]*strides[i] - pads[i] + k[i]*dil[i]
							if pos[i] < 0 || pos[i] >= inSp[i] {
								return
							}
						}
						xi := (ni*c+g*cg+ci)*tensor.Shape(inSp).NumElements() + flatIndex(inSp, pos)
						wi := (mi*cg+ci)*tensor.Shape(kernel).NumElements() + flatIndex(kernel, k)
						s += xv[xi] * wv[wi]
					})
				}
				out[(ni*m+mi)*tensor.Shape(outSp).NumElements()+flatIndex(outSp, o)] = s
			})
		}
	}
	return out, shape
}

func ints64(v []int) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out
}

func TestConv(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	cases := []struct {
		name               string
		x, w               tensor.Shape
		strides, dil, pads []int
		group              int
		bias               bool
	}{
		{"1d", tensor.Shape{2, 3, 11}, tensor.Shape{4, 3, 3}, []int{1}, []int{1}, []int{0, 0}, 1, true},
		{"1d-stride-pad-dil", tensor.Shape{1, 2, 13}, tensor.Shape{3, 2, 3}, []int{2}, []int{2}, []int{1, 2}, 1, false},
		// Without dilation, 1-D float32 with constant W runs conv1dRun.
		{"1d-stride-pad", tensor.Shape{2, 5, 17}, tensor.Shape{7, 5, 4}, []int{3}, []int{1}, []int{2, 1}, 1, false},
		{"1d-pad-bias", tensor.Shape{1, 3, 9}, tensor.Shape{2, 3, 5}, []int{1}, []int{1}, []int{2, 2}, 1, true},
		{"2d", tensor.Shape{1, 3, 7, 8}, tensor.Shape{5, 3, 3, 3}, []int{1, 1}, []int{1, 1}, []int{1, 1, 1, 1}, 1, true},
		{"2d-asym", tensor.Shape{2, 4, 9, 6}, tensor.Shape{6, 2, 3, 2}, []int{2, 1}, []int{1, 2}, []int{0, 1, 2, 0}, 2, true},
		{"2d-depthwise", tensor.Shape{1, 4, 5, 5}, tensor.Shape{4, 1, 3, 3}, []int{1, 1}, []int{1, 1}, []int{1, 1, 1, 1}, 4, true},
		{"2d-1x1", tensor.Shape{2, 6, 4, 5}, tensor.Shape{3, 6, 1, 1}, []int{1, 1}, []int{1, 1}, []int{0, 0, 0, 0}, 1, true},
		{"3d", tensor.Shape{1, 2, 5, 4, 6}, tensor.Shape{3, 2, 2, 3, 2}, []int{1, 2, 1}, []int{1, 1, 2}, []int{1, 0, 1, 0, 1, 1}, 1, true},
	}
	for _, c := range cases {
		x, w := randT(rng, c.x...), randT(rng, c.w...)
		var b *tensor.Tensor
		if c.bias {
			b = randT(rng, c.w[0])
		}
		want, shape := refConv(x, w, b, c.strides, c.dil, c.pads, c.group)
		attrs := map[string]*graph.Attr{
			"strides": attrInts(ints64(c.strides)...), "dilations": attrInts(ints64(c.dil)...),
			"pads": attrInts(ints64(c.pads)...), "group": attrInt(int64(c.group)),
		}
		ins := []*tensor.Tensor{x, w}
		if b != nil {
			ins = append(ins, b)
		}
		got := runOp(t, "Conv", 11, attrs, 1, ins...)[0]
		assertClose(t, "Conv "+c.name, got, want, shape, 1e-5, 1e-4)
	}
}

// TestConvAutoPad checks SAME_UPPER/SAME_LOWER against the pads the ONNX
// spec derives: total = (ceil(in/s) − 1)·s + k − in, the odd unit at the end
// (UPPER) or the beginning (LOWER).
func TestConvAutoPad(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	x, w := randT(rng, 1, 2, 7, 6), randT(rng, 3, 2, 4, 3)
	// H: in 7, s 2 → out 4, total = 3·2 + 4 − 7 = 3. W: in 6, s 1, k 3 → total 2.
	for mode, pads := range map[string][]int{"SAME_UPPER": {1, 1, 2, 1}, "SAME_LOWER": {2, 1, 1, 1}, "VALID": {0, 0, 0, 0}} {
		want, shape := refConv(x, w, nil, []int{2, 1}, []int{1, 1}, pads, 1)
		attrs := map[string]*graph.Attr{"auto_pad": attrStr(mode), "strides": attrInts(2, 1)}
		got := runOp(t, "Conv", 11, attrs, 1, x, w)[0]
		assertClose(t, "Conv "+mode, got, want, shape, 1e-5, 1e-4)
	}
}

// refPool computes max or average pooling with explicit pads and a given
// output size, in float64; for AveragePool, includePad counts padded
// positions (within the padded extent).
func refPool(x *tensor.Tensor, kernel, strides, dil, pads, outSp []int, isMax, includePad bool) ([]float64, []int64) {
	r := len(kernel)
	inSp := x.Shape[2:]
	planes := x.Shape[0] * x.Shape[1]
	xv := f64s(x)
	var out []float64
	var idx []int64
	for p := 0; p < planes; p++ {
		spatialIter(outSp, func(o []int) {
			best, at, sum, cnt, padCnt := math.Inf(-1), -1, 0.0, 0, 0
			spatialIter(kernel, func(k []int) {
				pos := make([]int, r)
				inPad := true
				for i := range pos {
					pos[i] = o[i]*strides[i] - pads[i] + k[i]*dil[i]
					if pos[i] < -pads[i] || pos[i] >= inSp[i]+pads[r+i] {
						inPad = false
					}
				}
				if inPad {
					padCnt++
				}
				for i := range pos {
					if pos[i] < 0 || pos[i] >= inSp[i] {
						return
					}
				}
				fi := flatIndex(inSp, pos)
				v := xv[p*tensor.Shape(inSp).NumElements()+fi]
				if v > best {
					best, at = v, p*tensor.Shape(inSp).NumElements()+fi
				}
				sum += v
				cnt++
			})
			if isMax {
				out = append(out, best)
				idx = append(idx, int64(at))
			} else if includePad {
				out = append(out, sum/float64(padCnt))
			} else {
				out = append(out, sum/float64(cnt))
			}
		})
	}
	return out, idx
}

func TestPool(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	cases := []struct {
		name                       string
		x                          tensor.Shape
		kernel, strides, dil, pads []int
		ceil                       bool
		out                        []int
	}{
		{"1d", tensor.Shape{2, 3, 10}, []int{3}, []int{2}, []int{1}, []int{1, 1}, false, []int{5}},
		{"2d", tensor.Shape{1, 2, 6, 7}, []int{3, 2}, []int{2, 2}, []int{1, 1}, []int{1, 0, 1, 1}, false, []int{3, 4}},
		{"2d-ceil", tensor.Shape{1, 1, 6, 6}, []int{3, 3}, []int{2, 2}, []int{1, 1}, []int{0, 0, 0, 0}, true, []int{3, 3}},
		{"2d-dil", tensor.Shape{1, 1, 7, 7}, []int{2, 2}, []int{1, 1}, []int{2, 2}, []int{0, 0, 0, 0}, false, []int{5, 5}},
		{"3d", tensor.Shape{1, 2, 4, 5, 6}, []int{2, 3, 2}, []int{1, 2, 2}, []int{1, 1, 1}, []int{0, 1, 1, 1, 1, 0}, false, []int{4, 3, 3}},
	}
	for _, c := range cases {
		x := randT(rng, c.x...)
		shape := append(c.x[:2].Clone(), c.out...)
		attrs := map[string]*graph.Attr{
			"kernel_shape": attrInts(ints64(c.kernel)...), "strides": attrInts(ints64(c.strides)...),
			"dilations": attrInts(ints64(c.dil)...), "pads": attrInts(ints64(c.pads)...),
		}
		if c.ceil {
			attrs["ceil_mode"] = attrInt(1)
		}
		want, idx := refPool(x, c.kernel, c.strides, c.dil, c.pads, c.out, true, false)
		got := runOp(t, "MaxPool", 12, attrs, 2, x)
		assertClose(t, "MaxPool "+c.name, got[0], want, shape, 0, 0)
		if gi := tensor.Data[int64](got[1]); len(gi) != len(idx) {
			t.Fatalf("MaxPool %s: %d indices, want %d", c.name, len(gi), len(idx))
		} else {
			for i := range idx {
				if gi[i] != idx[i] {
					t.Fatalf("MaxPool %s: index %d = %d, want %d", c.name, i, gi[i], idx[i])
				}
			}
		}
		delete(attrs, "dilations")
		for _, inc := range []bool{false, true} {
			one := []int{1, 1, 1}[:len(c.kernel)]
			if c.name == "2d-dil" {
				continue
			}
			want, _ := refPool(x, c.kernel, c.strides, one, c.pads, c.out, false, inc)
			attrs["count_include_pad"] = attrInt(map[bool]int64{false: 0, true: 1}[inc])
			got := runOp(t, "AveragePool", 11, attrs, 1, x)[0]
			assertClose(t, "AveragePool "+c.name, got, want, shape, 1e-6, 1e-5)
		}
	}
}

func TestMaxPoolColumnMajorIndicesAndUint8(t *testing.T) {
	// 1×1×3×4 input, 2×2 windows, stride 2: maxima at (1,1) and (1,3).
	x := tensor.From([]uint8{1, 2, 3, 4, 5, 9, 7, 8, 0, 0, 0, 0}, 1, 1, 3, 4)
	attrs := map[string]*graph.Attr{"kernel_shape": attrInts(2, 2), "strides": attrInts(2, 2), "storage_order": attrInt(1)}
	got := runOp(t, "MaxPool", 12, attrs, 2, x)
	assertClose(t, "MaxPool uint8", got[0], []float64{9, 8}, tensor.Shape{1, 1, 1, 2}, 0, 0)
	// Column-major: h + w·H with H = 3.
	if gi := tensor.Data[int64](got[1]); gi[0] != 1+1*3 || gi[1] != 1+3*3 {
		t.Fatalf("column-major indices %v, want [4 10]", gi)
	}
}

func TestGlobalPool(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	x := randT(rng, 2, 3, 4, 5)
	xv := f64s(x)
	var mean, mx []float64
	for p := 0; p < 6; p++ {
		s, m := 0.0, math.Inf(-1)
		for _, v := range xv[p*20 : (p+1)*20] {
			s += v
			m = math.Max(m, v)
		}
		mean, mx = append(mean, s/20), append(mx, m)
	}
	assertClose(t, "GlobalAveragePool", runOp(t, "GlobalAveragePool", 1, nil, 1, x)[0], mean, tensor.Shape{2, 3, 1, 1}, 1e-6, 1e-5)
	assertClose(t, "GlobalMaxPool", runOp(t, "GlobalMaxPool", 1, nil, 1, x)[0], mx, tensor.Shape{2, 3, 1, 1}, 0, 0)
}

// refConvTranspose scatters every input element by the ConvTranspose
// definition: y[n, g·M/G + m, i·s − pb + k·d] += x[n, c, i] · w[c, m, k].
func refConvTranspose(x, w *tensor.Tensor, strides, dil, pads, outSp []int, group int) []float64 {
	r := len(x.Shape) - 2
	n, c, mg := x.Shape[0], x.Shape[1], w.Shape[1]
	m, cg := mg*group, c/group
	kernel, inSp := w.Shape[2:], x.Shape[2:]
	xv, wv := f64s(x), f64s(w)
	outVol := tensor.Shape(outSp).NumElements()
	out := make([]float64, n*m*outVol)
	for ni := 0; ni < n; ni++ {
		for ci := 0; ci < c; ci++ {
			g := ci / cg
			spatialIter(inSp, func(i []int) {
				xval := xv[(ni*c+ci)*tensor.Shape(inSp).NumElements()+flatIndex(inSp, i)]
				for mi := 0; mi < mg; mi++ {
					spatialIter(kernel, func(k []int) {
						pos := make([]int, r)
						for d := range pos {
							pos[d] = i[d]*strides[d] - pads[d] + k[d]*dil[d]
							if pos[d] < 0 || pos[d] >= outSp[d] {
								return
							}
						}
						wi := (ci*mg+mi)*tensor.Shape(kernel).NumElements() + flatIndex(kernel, k)
						out[(ni*m+g*mg+mi)*outVol+flatIndex(outSp, pos)] += xval * wv[wi]
					})
				}
			})
		}
	}
	return out
}

func TestConvTranspose(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 20))
	// X [1, 4, 3, 4], W [4, 3, 3, 2], group 2 → M = 6; strides (2, 3),
	// dilations (1, 2), pads (1, 0, 0, 2), output_padding (1, 0):
	// H = 2·2 + 1 + 3 − 1 − 0 = 7, W = 3·3 + 0 + 3 − 0 − 2 = 10.
	x, w := randT(rng, 1, 4, 3, 4), randT(rng, 4, 3, 3, 2)
	want := refConvTranspose(x, w, []int{2, 3}, []int{1, 2}, []int{1, 0, 0, 2}, []int{7, 10}, 2)
	attrs := map[string]*graph.Attr{
		"strides": attrInts(2, 3), "dilations": attrInts(1, 2), "pads": attrInts(1, 0, 0, 2),
		"output_padding": attrInts(1, 0), "group": attrInt(2),
	}
	got := runOp(t, "ConvTranspose", 11, attrs, 1, x, w)[0]
	assertClose(t, "ConvTranspose", got, want, tensor.Shape{1, 6, 7, 10}, 1e-5, 1e-4)
	// 1-D with bias and output_shape: out 9, total padding = 2·(4−1)+3−9 = 0.
	x, w = randT(rng, 2, 2, 4), randT(rng, 2, 3, 3)
	b := randT(rng, 3)
	want = refConvTranspose(x, w, []int{2}, []int{1}, []int{0, 0}, []int{9}, 1)
	for i := range want {
		want[i] += b.Float64At((i / 9) % 3)
	}
	got = runOp(t, "ConvTranspose", 11, map[string]*graph.Attr{"strides": attrInts(2), "output_shape": attrInts(9)}, 1, x, w, b)[0]
	assertClose(t, "ConvTranspose 1-D", got, want, tensor.Shape{2, 3, 9}, 1e-5, 1e-4)
}
