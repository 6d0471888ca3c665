package gemm8

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkGEMV reports int8 multiply-accumulates as GOPS (2 ops per MAC,
// as GFLOP/s counts an FMA) for one row times a packed k×n matrix.
func BenchmarkGEMV(b *testing.B) {
	for _, sh := range [][2]int{{256, 256}, {256, 1024}, {1024, 1024}, {1024, 256}} {
		benchMatMul(b, 1, sh[0], sh[1])
	}
}

// BenchmarkGEMM is the same for a batch of rows.
func BenchmarkGEMM(b *testing.B) {
	for _, s := range []int{64, 256} {
		benchMatMul(b, s, s, s)
	}
}

func benchMatMul(b *testing.B, m, k, n int) {
	r := rand.New(rand.NewPCG(1, 1))
	p := newInt8Problem(r, 1, k, n, 0, 0)
	a := make([]uint8, m*k)
	for i := range a {
		a[i] = uint8(r.IntN(256))
	}
	pb := PackB(p.b, k, n, false)
	c := make([]int32, m*n)
	for _, ks := range Available() {
		q := pb.With(ks)
		b.Run(fmt.Sprintf("%s/%dx%dx%d", ks.Name(), m, k, n), func(b *testing.B) {
			for b.Loop() {
				q.MatMul(c, a, m, k, n)
			}
			b.ReportMetric(2*float64(m*k*n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GOPS")
		})
	}
}

// BenchmarkPasses times the vector passes of one 1024-wide layer: range,
// quantize, dequantize with bias and ReLU.
func BenchmarkPasses(b *testing.B) {
	const n = 1024
	x, y, bs := make([]float32, n), make([]float32, n), make([]float32, n)
	acc, sums, q := make([]int32, n), make([]int32, n), make([]byte, n)
	for i := range x {
		x[i], bs[i] = float32(i%97)-40, 0.01
	}
	for _, ks := range Available() {
		b.Run(ks.Name(), func(b *testing.B) {
			for b.Loop() {
				lo, hi := ks.MinMax(x)
				ks.Quantize(q, x, (hi-lo)/255, 3, false)
				ks.Dequantize(y, acc, sums, 3, 0.1, bs, bs, true)
			}
		})
	}
}
