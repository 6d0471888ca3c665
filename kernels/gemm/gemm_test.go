package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// sizes are the dimensions the suite crosses for m, k and n.
var sizes = []int{1, 2, 3, 7, 16, 17, 31, 64, 100, 256}

func randFloats(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.Float64()*2 - 1)
	}
	return x
}

// problem is one C = act(A·B + bias) case with its float64 reference.
type problem struct {
	m, k, n, lda, ldc int
	a, b, bias        []float32 // b is k×n, row stride n
	act               Activation
	alpha             float32
	want, tol         []float64 // m×n
}

func newProblem(r *rand.Rand, m, k, n, padA, padC int, withBias bool, act Activation, alpha float32) *problem {
	p := &problem{m: m, k: k, n: n, lda: k + padA, ldc: n + padC, act: act, alpha: alpha}
	p.a = randFloats(r, max(0, (m-1)*p.lda+k))
	p.b = randFloats(r, k*n)
	if withBias {
		p.bias = randFloats(r, n)
	}
	p.want = make([]float64, m*n)
	p.tol = make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s, abs float64
			for kk := 0; kk < k; kk++ {
				v := float64(p.a[i*p.lda+kk]) * float64(p.b[kk*n+j])
				s += v
				abs += math.Abs(v)
			}
			if p.bias != nil {
				s += float64(p.bias[j])
				abs += math.Abs(float64(p.bias[j]))
			}
			switch {
			case s >= 0:
			case act == Relu:
				s = 0
			case act == LeakyRelu:
				s *= float64(alpha)
				abs *= math.Abs(float64(alpha))
			}
			p.want[i*n+j] = s
			// float32 accumulation error bound: (k+2)·ε·Σ|terms|.
			p.tol[i*n+j] = float64(k+2)*float64(1<<1)*0x1p-24*abs + 1e-30
		}
	}
	return p
}

const sentinel = float32(-12345.5)

// newC returns C filled with sentinel, also outside the m×n region its
// kernels may touch (row padding and a tail), so stray writes show.
func (p *problem) newC() []float32 {
	c := make([]float32, max(0, (p.m-1)*p.ldc+p.n)+p.ldc)
	for i := range c {
		c[i] = sentinel
	}
	return c
}

// check compares C with the reference and the sentinel outside it.
func (p *problem) check(t *testing.T, c []float32) {
	t.Helper()
	bad := 0
	for i := range c {
		row, col := i/p.ldc, i%p.ldc
		if row < p.m && col < p.n {
			got, want := float64(c[i]), p.want[row*p.n+col]
			if d := math.Abs(got - want); !(d <= p.tol[row*p.n+col]) {
				if bad++; bad <= 3 {
					t.Errorf("C[%d,%d] = %v, want %v (±%.3g)", row, col, got, want, p.tol[row*p.n+col])
				}
			}
		} else if c[i] != sentinel {
			if bad++; bad <= 3 {
				t.Errorf("C[%d] outside the %d×%d result (stride %d) was overwritten with %v", i, p.m, p.n, p.ldc, c[i])
			}
		}
	}
	if bad > 3 {
		t.Errorf("%d elements wrong in all", bad)
	}
}

// forEachSet runs f against every kernel set the CPU supports.
func forEachSet(t *testing.T, f func(t *testing.T, ks Kernels)) {
	for _, ks := range Available() {
		t.Run(ks.Name(), func(t *testing.T) { f(t, ks) })
	}
}

func TestAvailable(t *testing.T) {
	sets := Available()
	if len(sets) == 0 || sets[len(sets)-1].Name() != "purego" {
		t.Fatalf("Available() = %v, want purego last", sets)
	}
	if Best() != sets[0] {
		t.Errorf("Best() = %v, want %v", Best(), sets[0])
	}
	t.Logf("kernel sets: %v", sets)
}

// TestMatMulShapes crosses every m, k, n in sizes, rotating the epilogue
// and the strides so that each combination meets tails of every kind.
func TestMatMulShapes(t *testing.T) {
	forEachSet(t, func(t *testing.T, ks Kernels) {
		r := rand.New(rand.NewPCG(1, 2))
		idx := 0
		for _, m := range sizes {
			for _, k := range sizes {
				for _, n := range sizes {
					idx++
					act := Activation(idx % 3)
					p := newProblem(r, m, k, n, idx%5, (idx/3)%4, idx%2 == 0, act, 0.125)
					packed := ks.PackB(p.b, k, n, false)
					c := p.newC()
					packed.MatMul(c, p.a, m, p.lda, p.ldc, p.bias, p.act, p.alpha)
					t.Run(fmt.Sprintf("%dx%dx%d/%v/bias=%v/lda=%d/ldc=%d", m, k, n, act, p.bias != nil, p.lda, p.ldc), func(t *testing.T) {
						p.check(t, c)
					})
				}
			}
		}
	})
}

// TestMatMulBlocking covers k beyond one k block (accumulation across
// blocks, with partial tiles) and m beyond one m block.
func TestMatMulBlocking(t *testing.T) {
	cases := []struct{ m, k, n int }{
		{13, 600, 70}, {1, 1000, 1000}, {2, 513, 33}, {300, 257, 20}, {7, 256, 64}, {6, 512, 128},
	}
	forEachSet(t, func(t *testing.T, ks Kernels) {
		r := rand.New(rand.NewPCG(3, 4))
		for _, tc := range cases {
			for _, act := range []Activation{None, Relu, LeakyRelu} {
				p := newProblem(r, tc.m, tc.k, tc.n, 3, 5, true, act, -0.5)
				c := p.newC()
				ks.PackB(p.b, tc.k, tc.n, false).MatMul(c, p.a, tc.m, p.lda, p.ldc, p.bias, p.act, p.alpha)
				t.Run(fmt.Sprintf("%dx%dx%d/%v", tc.m, tc.k, tc.n, act), func(t *testing.T) { p.check(t, c) })
			}
		}
	})
}

// TestPackTransposed checks that packing Bᵀ gives the same packed panels
// as packing B.
func TestPackTransposed(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, kn := range [][2]int{{1, 1}, {3, 17}, {31, 16}, {64, 100}} {
		k, n := kn[0], kn[1]
		b := randFloats(r, k*n)
		bt := make([]float32, n*k)
		for kk := 0; kk < k; kk++ {
			for j := 0; j < n; j++ {
				bt[j*k+kk] = b[kk*n+j]
			}
		}
		got := Best().PackB(bt, k, n, true).Data()
		want := Best().PackB(b, k, n, false).Data()
		if len(got) != PackedLen(k, n) || len(want) != len(got) {
			t.Fatalf("%dx%d: packed lengths %d, %d, want %d", k, n, len(got), len(want), PackedLen(k, n))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%dx%d: packed Bᵀ differs from packed B at %d: %v vs %v", k, n, i, got[i], want[i])
			}
		}
	}
}

func TestGemmUnpacked(t *testing.T) {
	forEachSet(t, func(t *testing.T, ks Kernels) {
		r := rand.New(rand.NewPCG(7, 8))
		for _, tc := range []struct{ m, k, n int }{{1, 7, 31}, {17, 64, 100}, {100, 300, 17}, {3, 1, 2}} {
			for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
				transA, transB := tr[0], tr[1]
				p := newProblem(r, tc.m, tc.k, tc.n, 0, 2, true, Relu, 0)
				a, lda := p.a, p.lda
				if transA {
					a, lda = transpose(p.a, tc.m, tc.k, p.lda), tc.m
				}
				b, ldb := p.b, tc.n
				if transB {
					b, ldb = transpose(p.b, tc.k, tc.n, tc.n), tc.k
				}
				c := p.newC()
				scratch := make([]float32, ScratchSize(tc.m, tc.k, tc.n))
				ks.Gemm(c, a, b, tc.m, tc.k, tc.n, lda, ldb, p.ldc, transA, transB, p.bias, p.act, p.alpha, scratch)
				t.Run(fmt.Sprintf("%dx%dx%d/transA=%v/transB=%v", tc.m, tc.k, tc.n, transA, transB), func(t *testing.T) { p.check(t, c) })
			}
		}
	})
}

// transpose returns the cols×rows transpose of a rows×cols matrix x.
func transpose(x []float32, rows, cols, ld int) []float32 {
	y := make([]float32, rows*cols)
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			y[j*rows+i] = x[i*ld+j]
		}
	}
	return y
}

func TestFromPacked(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	p := newProblem(r, 5, 20, 40, 0, 0, false, None, 0)
	packed := Best().PackB(p.b, 20, 40, false)
	forEachSet(t, func(t *testing.T, ks Kernels) {
		wrapped, err := ks.FromPacked(packed.Data(), 20, 40, packed.Layout())
		if err != nil {
			t.Fatal(err)
		}
		if &wrapped.Data()[0] != &packed.Data()[0] {
			t.Error("FromPacked copied the data")
		}
		c := p.newC()
		wrapped.MatMul(c, p.a, p.m, p.lda, p.ldc, nil, None, 0)
		p.check(t, c)
	})
	if _, err := Best().FromPacked(packed.Data(), 20, 40, "f32-panel8"); err == nil {
		t.Error("FromPacked accepted an unknown layout")
	}
	if _, err := Best().FromPacked(packed.Data()[1:], 20, 40, LayoutPanel16); err == nil {
		t.Error("FromPacked accepted data of the wrong length")
	}
}

func TestShapePanics(t *testing.T) {
	packed := Best().PackB(make([]float32, 6), 2, 3, false)
	cases := map[string]func(){
		"short A":    func() { packed.MatMul(make([]float32, 6), make([]float32, 3), 2, 2, 3, nil, None, 0) },
		"short C":    func() { packed.MatMul(make([]float32, 5), make([]float32, 4), 2, 2, 3, nil, None, 0) },
		"short bias": func() { packed.MatMul(make([]float32, 6), make([]float32, 4), 2, 2, 3, make([]float32, 2), None, 0) },
		"lda < k":    func() { packed.MatMul(make([]float32, 6), make([]float32, 4), 2, 1, 3, nil, None, 0) },
		"unfused":    func() { packed.MatMul(make([]float32, 6), make([]float32, 4), 2, 2, 3, nil, Activation(9), 0) },
		"scratch": func() {
			Best().Gemm(make([]float32, 6), make([]float32, 4), make([]float32, 6), 2, 2, 3, 2, 3, 3, false, false, nil, None, 0, nil)
		},
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			f()
		})
	}
}

func TestMatMulAllocs(t *testing.T) {
	forEachSet(t, func(t *testing.T, ks Kernels) {
		r := rand.New(rand.NewPCG(11, 12))
		for _, m := range []int{1, 7, 64} {
			p := newProblem(r, m, 300, 70, 0, 0, true, LeakyRelu, 0.1)
			packed := ks.PackB(p.b, p.k, p.n, false)
			c := p.newC()
			if n := testing.AllocsPerRun(10, func() {
				packed.MatMul(c, p.a, p.m, p.lda, p.ldc, p.bias, p.act, p.alpha)
			}); n != 0 {
				t.Errorf("MatMul m=%d: %v allocations per run, want 0", m, n)
			}
			scratch := make([]float32, ScratchSize(p.m, p.k, p.n))
			if n := testing.AllocsPerRun(10, func() {
				ks.Gemm(c, p.a, p.b, p.m, p.k, p.n, p.m, p.n, p.ldc, true, false, p.bias, p.act, p.alpha, scratch)
			}); n != 0 {
				t.Errorf("Gemm m=%d: %v allocations per run, want 0", m, n)
			}
		}
	})
}
