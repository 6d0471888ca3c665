package gemm

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/sextant-ml/sextant/kernels/parallel"
)

// threadedCases cover every split: GEMV by column groups (with a tail
// group), tall products by rows, short wide ones by columns, and products
// below the thresholds that stay whole.
var threadedCases = []struct{ m, k, n int }{
	{1, 300, 1000}, {1, 1024, 1024}, {1, 64, 64},
	{300, 257, 200}, {50, 600, 30}, {7, 300, 500}, {13, 100, 129}, {2, 1000, 150},
}

// TestThreadedMatchesSerial checks that splitting a product across a pool
// gives C bit for bit equal to the single-threaded kernel, and writes
// nothing outside C.
func TestThreadedMatchesSerial(t *testing.T) {
	for _, threads := range []int{2, 3} {
		pool := parallel.New(threads)
		defer pool.Close()
		forEachSet(t, func(t *testing.T, ks Kernels) {
			r := rand.New(rand.NewPCG(21, uint64(threads)))
			for i, tc := range threadedCases {
				act := Activation(i % 3)
				p := newProblem(r, tc.m, tc.k, tc.n, i%3, (i+1)%4, i%2 == 0, act, 0.25)
				packed := ks.PackB(p.b, tc.k, tc.n, false)
				serial, threaded := p.newC(), p.newC()
				packed.MatMul(serial, p.a, p.m, p.lda, p.ldc, p.bias, p.act, p.alpha)
				packed.WithPool(pool).MatMul(threaded, p.a, p.m, p.lda, p.ldc, p.bias, p.act, p.alpha)
				name := fmt.Sprintf("threads=%d/%dx%dx%d/%v", threads, tc.m, tc.k, tc.n, act)
				t.Run(name, func(t *testing.T) {
					p.check(t, threaded)
					for j := range serial {
						if serial[j] != threaded[j] {
							t.Fatalf("C[%d] = %v threaded, %v serial", j, threaded[j], serial[j])
						}
					}
				})
			}
		})
	}
}

// TestThreadedGemm covers Gemm's parallel packing of an activation B, plain
// and transposed.
func TestThreadedGemm(t *testing.T) {
	pool := parallel.New(2)
	defer pool.Close()
	forEachSet(t, func(t *testing.T, ks Kernels) {
		r := rand.New(rand.NewPCG(22, 23))
		for _, tc := range []struct{ m, k, n int }{{20, 300, 300}, {1, 512, 257}, {64, 64, 1100}} {
			for _, transB := range []bool{false, true} {
				p := newProblem(r, tc.m, tc.k, tc.n, 0, 1, true, Relu, 0)
				b, ldb := p.b, tc.n
				if transB {
					b, ldb = transpose(p.b, tc.k, tc.n, tc.n), tc.k
				}
				serial, threaded := p.newC(), p.newC()
				scratch := make([]float32, ScratchSize(tc.m, tc.k, tc.n))
				ks.Gemm(serial, p.a, b, tc.m, tc.k, tc.n, p.lda, ldb, p.ldc, false, transB, p.bias, p.act, p.alpha, scratch)
				clear(scratch)
				ks.WithPool(pool).Gemm(threaded, p.a, b, tc.m, tc.k, tc.n, p.lda, ldb, p.ldc, false, transB, p.bias, p.act, p.alpha, scratch)
				t.Run(fmt.Sprintf("%dx%dx%d/transB=%v", tc.m, tc.k, tc.n, transB), func(t *testing.T) {
					p.check(t, threaded)
					for j := range serial {
						if serial[j] != threaded[j] {
							t.Fatalf("C[%d] = %v threaded, %v serial", j, threaded[j], serial[j])
						}
					}
				})
			}
		}
	})
}

func TestSplitProduct(t *testing.T) {
	cases := []struct {
		m, k, n, threads, units int
		rows                    bool
	}{
		{1, 32, 256, 2, 1, false},     // small GEMV stays whole
		{1, 1024, 1024, 2, 16, false}, // wide GEMV by 64-column groups
		{1, 1024, 1000, 2, 16, false}, // with a tail group
		{16, 32, 32, 2, 1, false},     // small GEMM stays whole
		{256, 256, 256, 2, 43, true},  // tall: 6-row blocks
		{8, 256, 256, 2, 1, false},    // short and wide but small: whole
		{32, 256, 256, 2, 4, false},   // short and wide: column groups
		{40, 1024, 64, 4, 7, true},    // short and narrow: rows anyway
		{256, 256, 256, 16, 4, false}, // many threads, few rows per thread: columns
	}
	for _, c := range cases {
		units, rows := splitProduct(c.m, c.k, c.n, c.threads)
		if units != c.units || (units > 1 && rows != c.rows) {
			t.Errorf("splitProduct(%d, %d, %d, %d) = %d units, rows=%v; want %d, rows=%v", c.m, c.k, c.n, c.threads, units, rows, c.units, c.rows)
		}
	}
}

func TestThreadedAllocs(t *testing.T) {
	pool := parallel.New(2)
	defer pool.Close()
	ks := Best().WithPool(pool)
	r := rand.New(rand.NewPCG(24, 25))
	for _, tc := range []struct{ m, k, n int }{{1, 1024, 1024}, {256, 256, 256}} {
		p := newProblem(r, tc.m, tc.k, tc.n, 0, 0, true, Relu, 0)
		packed := ks.PackB(p.b, tc.k, tc.n, false)
		c := p.newC()
		if units, _ := splitProduct(tc.m, tc.k, tc.n, 2); units < 2 {
			t.Fatalf("%dx%dx%d is not split; the test would prove nothing", tc.m, tc.k, tc.n)
		}
		if n := testing.AllocsPerRun(20, func() {
			packed.MatMul(c, p.a, p.m, p.lda, p.ldc, p.bias, p.act, p.alpha)
		}); n != 0 {
			t.Errorf("threaded MatMul %dx%dx%d: %v allocations per run, want 0", tc.m, tc.k, tc.n, n)
		}
		scratch := make([]float32, ScratchSize(tc.m, tc.k, tc.n))
		if n := testing.AllocsPerRun(20, func() {
			ks.Gemm(c, p.a, p.b, p.m, p.k, p.n, p.lda, p.n, p.ldc, false, false, p.bias, p.act, p.alpha, scratch)
		}); n != 0 {
			t.Errorf("threaded Gemm %dx%dx%d: %v allocations per run, want 0", tc.m, tc.k, tc.n, n)
		}
	}
}

// BenchmarkThreads times the best set's 256³ GEMM and 1024² GEMV on one
// and two threads in the same run; compare the pairs (benchstat, or the
// ratio of ns/op).
func BenchmarkThreads(b *testing.B) {
	for _, tc := range []struct {
		name    string
		m, k, n int
	}{{"gemm256", 256, 256, 256}, {"gemv1024", 1, 1024, 1024}, {"gemv256", 1, 256, 256}} {
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/threads=%d", tc.name, threads), func(b *testing.B) {
				pool := parallel.New(threads)
				defer pool.Close()
				r := rand.New(rand.NewPCG(26, uint64(tc.n)))
				a, c, bias := randFloats(r, tc.m*tc.k), make([]float32, tc.m*tc.n), randFloats(r, tc.n)
				packed := Best().WithPool(pool).PackB(randFloats(r, tc.k*tc.n), tc.k, tc.n, false)
				for b.Loop() {
					packed.MatMul(c, a, tc.m, tc.k, tc.n, bias, Relu, 0)
				}
				reportGFLOPS(b, 2*float64(tc.m)*float64(tc.k)*float64(tc.n))
			})
		}
	}
}
