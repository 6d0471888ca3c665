package gemm

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// reportGFLOPS reports the GFLOP/s of a benchmark of flopsPerOp per op.
func reportGFLOPS(b *testing.B, flopsPerOp float64) {
	b.ReportMetric(flopsPerOp*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
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
				for b.Loop() {
					packed.MatMul(c, a, s, s, s, nil, None, 0)
				}
				reportGFLOPS(b, 2*float64(s)*float64(s)*float64(s))
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
				for b.Loop() {
					packed.MatMul(c, a, 1, s, s, bias, Relu, 0)
				}
				reportGFLOPS(b, 2*float64(s)*float64(s))
			})
		}
	}
}

// BenchmarkEfficiency measures GEMM efficiency as a ratio of two
// measurements taken in the same run: each op times one round of the FMA
// peak loop of the widest set and one round of s³ GEMMs, alternating, and
// the benchmark reports the best round of each and their ratio ("eff";
// "eff-own" against the set's own vector width). Interference from other
// processes only slows a round down, so best rounds are the least disturbed
// and the alternation exposes both to the same machine state.
func BenchmarkEfficiency(b *testing.B) {
	for _, ks := range Available() {
		for _, s := range []int{64, 128, 256, 512} {
			if ks.Name() == "purego" {
				continue
			}
			b.Run(fmt.Sprintf("%s/%d", ks.Name(), s), func(b *testing.B) {
				r := rand.New(rand.NewPCG(1, uint64(s)))
				a, c := randFloats(r, s*s), make([]float32, s*s)
				packed := ks.PackB(randFloats(r, s*s), s, s, false)
				reps := max(1, (1<<23)/(s*s*s)) // about 16 MFLOP a round
				flops := 2 * float64(s*s*s) * float64(reps)
				var peak, own, gemm float64
				for b.Loop() {
					peak = max(peak, roundGFLOPS(Best()))
					if ks != Best() {
						own = max(own, roundGFLOPS(ks))
					}
					start := time.Now()
					for range reps {
						packed.MatMul(c, a, s, s, s, nil, None, 0)
					}
					gemm = max(gemm, flops/time.Since(start).Seconds()/1e9)
				}
				b.ReportMetric(gemm, "GFLOP/s")
				b.ReportMetric(peak, "peak-GFLOP/s")
				b.ReportMetric(gemm/peak, "eff")
				if own > 0 {
					b.ReportMetric(gemm/own, "eff-own")
				}
			})
		}
	}
}

// roundGFLOPS times one round of about 8 MFLOP of ks's FMA loop.
func roundGFLOPS(ks Kernels) float64 {
	start := time.Now()
	flops := ks.FMALoop(8 << 20 / int(ks.FMALoop(1)))
	return float64(flops) / time.Since(start).Seconds() / 1e9
}
