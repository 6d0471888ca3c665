package gemm

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// measurePeak times ks.FMALoop and returns the best GFLOP/s of a few short
// rounds: on a shared machine the best round is the one least disturbed.
func measurePeak(ks Kernels) float64 {
	best := 0.0
	for range 5 {
		start := time.Now()
		flops := ks.FMALoop(200_000)
		if g := float64(flops) / time.Since(start).Seconds() / 1e9; g > best {
			best = g
		}
	}
	return best
}

var (
	peakOnce sync.Once
	peakBest float64 // GFLOP/s of Best()'s FMA loop, the machine's peak
)

// machinePeak is the FMA peak of the widest kernel set, measured once per
// benchmark run.
func machinePeak() float64 {
	peakOnce.Do(func() { peakBest = measurePeak(Best()) })
	return peakBest
}

// reportGFLOPS reports GFLOP/s and the fraction of the FMA peak measured in
// the same run (machine-peak; for narrower sets also own-peak, the peak of
// their own vector width).
func reportGFLOPS(b *testing.B, ks Kernels, flopsPerOp float64) {
	g := flopsPerOp * float64(b.N) / b.Elapsed().Seconds() / 1e9
	b.ReportMetric(g, "GFLOP/s")
	b.ReportMetric(g/machinePeak(), "machine-peak")
	if ks != Best() {
		b.ReportMetric(g/measurePeak(ks), "own-peak")
	}
}

// BenchmarkPeak measures each set's register-resident FMA loop.
func BenchmarkPeak(b *testing.B) {
	for _, ks := range Available() {
		b.Run(ks.Name(), func(b *testing.B) {
			var flops int64
			for b.Loop() {
				flops += ks.FMALoop(10_000)
			}
			b.ReportMetric(float64(flops)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

func BenchmarkGEMM(b *testing.B) {
	for _, ks := range Available() {
		for _, s := range []int{64, 128, 256, 512} {
			if ks.Name() == "purego" && s > 256 {
				continue
			}
			b.Run(fmt.Sprintf("%s/%d", ks.Name(), s), func(b *testing.B) {
				r := rand.New(rand.NewPCG(1, uint64(s)))
				a, c := randFloats(r, s*s), make([]float32, s*s)
				packed := ks.PackB(randFloats(r, s*s), s, s, false)
				machinePeak()
				for b.Loop() {
					packed.MatMul(c, a, s, s, s, nil, None, 0)
				}
				reportGFLOPS(b, ks, 2*float64(s)*float64(s)*float64(s))
			})
		}
	}
}

func BenchmarkGEMV(b *testing.B) {
	for _, ks := range Available() {
		for _, s := range []int{256, 1024} {
			b.Run(fmt.Sprintf("%s/%d", ks.Name(), s), func(b *testing.B) {
				r := rand.New(rand.NewPCG(2, uint64(s)))
				a, c, bias := randFloats(r, s), make([]float32, s), randFloats(r, s)
				packed := ks.PackB(randFloats(r, s*s), s, s, false)
				machinePeak()
				for b.Loop() {
					packed.MatMul(c, a, 1, s, s, bias, Relu, 0)
				}
				reportGFLOPS(b, ks, 2*float64(s)*float64(s))
			})
		}
	}
}
