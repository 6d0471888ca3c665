package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

func TestBatchNormInference(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	x, s, b, m := randT(rng, 2, 3, 4, 5), randT(rng, 3), randT(rng, 3), randT(rng, 3)
	v := randT(rng, 3)
	for i := range tensor.Data[float32](v) {
		tensor.Data[float32](v)[i] += 1.5
	}
	xv := f64s(x)
	want := make([]float64, len(xv))
	for i := range want {
		c := (i / 20) % 3
		want[i] = (xv[i]-m.Float64At(c))/math.Sqrt(v.Float64At(c)+1e-3)*s.Float64At(c) + b.Float64At(c)
	}
	got := runOp(t, "BatchNormalization", 15, map[string]*graph.Attr{"epsilon": attrFloat(1e-3)}, 1, x, s, b, m, v)[0]
	assertClose(t, "BatchNormalization", got, want, x.Shape, 1e-5, 1e-4)
}

func TestBatchNormTraining(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	x, s, b, m, v := randT(rng, 3, 2, 7), randT(rng, 2), randT(rng, 2), randT(rng, 2), randT(rng, 2)
	xv := f64s(x)
	var want, wantMean, wantVar []float64
	bm, bv := make([]float64, 2), make([]float64, 2)
	for c := 0; c < 2; c++ {
		var vals []float64
		for n := 0; n < 3; n++ {
			vals = append(vals, xv[(n*2+c)*7:(n*2+c+1)*7]...)
		}
		for _, x := range vals {
			bm[c] += x / float64(len(vals))
		}
		for _, x := range vals {
			bv[c] += (x - bm[c]) * (x - bm[c]) / float64(len(vals))
		}
		wantMean = append(wantMean, m.Float64At(c)*0.8+bm[c]*0.2)
		wantVar = append(wantVar, v.Float64At(c)*0.8+bv[c]*0.2)
	}
	for i, x := range xv {
		c := (i / 7) % 2
		want = append(want, (x-bm[c])/math.Sqrt(bv[c]+1e-5)*s.Float64At(c)+b.Float64At(c))
	}
	attrs := map[string]*graph.Attr{"training_mode": attrInt(1), "momentum": attrFloat(0.8)}
	got := runOp(t, "BatchNormalization", 15, attrs, 3, x, s, b, m, v)
	assertClose(t, "y", got[0], want, x.Shape, 1e-5, 1e-4)
	assertClose(t, "running mean", got[1], wantMean, tensor.Shape{2}, 1e-6, 1e-5)
	assertClose(t, "running var", got[2], wantVar, tensor.Shape{2}, 1e-6, 1e-5)
}

func TestLayerNorm(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	shape := tensor.Shape{2, 3, 4}
	for _, axis := range []int{-1, 1, 0, -2} {
		a := axis
		if a < 0 {
			a += 3
		}
		norm := shape[a:]
		for _, scaleShape := range []tensor.Shape{norm, norm[len(norm)-1:], {1}} {
			x, sc, b := randT(rng, shape...), randT(rng, scaleShape...), randT(rng, scaleShape...)
			inner := norm.NumElements()
			xv := f64s(x)
			var want, means, invs []float64
			st := tensor.BroadcastStrides(scaleShape, norm)
			for o := 0; o < len(xv)/inner; o++ {
				row := xv[o*inner : (o+1)*inner]
				mean, vr := 0.0, 0.0
				for _, v := range row {
					mean += v / float64(inner)
				}
				for _, v := range row {
					vr += (v - mean) * (v - mean) / float64(inner)
				}
				inv := 1 / math.Sqrt(vr+1e-5)
				means, invs = append(means, mean), append(invs, inv)
				for j, v := range row {
					si, r := 0, j
					for d := len(norm) - 1; d >= 0; d-- {
						si += (r % norm[d]) * st[d]
						r /= norm[d]
					}
					want = append(want, (v-mean)*inv*sc.Float64At(si)+b.Float64At(si))
				}
			}
			got := runOp(t, "LayerNormalization", 17, map[string]*graph.Attr{"axis": attrInt(int64(axis))}, 3, x, sc, b)
			stat := shape.Clone()
			for i := a; i < 3; i++ {
				stat[i] = 1
			}
			assertClose(t, "Y", got[0], want, shape, 1e-5, 1e-4)
			assertClose(t, "Mean", got[1], means, stat, 1e-6, 1e-5)
			assertClose(t, "InvStdDev", got[2], invs, stat, 1e-5, 1e-4)
		}
	}
}

func TestInstanceNormAndMVN(t *testing.T) {
	rng := rand.New(rand.NewPCG(35, 36))
	x, s, b := randT(rng, 2, 3, 4, 2), randT(rng, 3), randT(rng, 3)
	xv := f64s(x)
	want := make([]float64, len(xv))
	for p := 0; p < 6; p++ {
		row := xv[p*8 : (p+1)*8]
		mean, vr := 0.0, 0.0
		for _, v := range row {
			mean += v / 8
		}
		for _, v := range row {
			vr += (v - mean) * (v - mean) / 8
		}
		for i, v := range row {
			want[p*8+i] = s.Float64At(p%3)*(v-mean)/math.Sqrt(vr+0.01) + b.Float64At(p%3)
		}
	}
	got := runOp(t, "InstanceNormalization", 6, map[string]*graph.Attr{"epsilon": attrFloat(0.01)}, 1, x, s, b)[0]
	assertClose(t, "InstanceNormalization", got, want, x.Shape, 1e-5, 1e-4)

	// MVN over the default axes [0, 2, 3]: one group per channel.
	for c := 0; c < 3; c++ {
		var vals []int
		for n := 0; n < 2; n++ {
			for i := 0; i < 8; i++ {
				vals = append(vals, (n*3+c)*8+i)
			}
		}
		mean, sq := 0.0, 0.0
		for _, i := range vals {
			mean += xv[i] / 16
			sq += xv[i] * xv[i] / 16
		}
		for _, i := range vals {
			want[i] = (xv[i] - mean) / (math.Sqrt(sq-mean*mean) + 1e-9)
		}
	}
	got = runOp(t, "MeanVarianceNormalization", 13, nil, 1, x)[0]
	assertClose(t, "MeanVarianceNormalization", got, want, x.Shape, 1e-5, 1e-4)
}
