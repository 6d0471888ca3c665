package gemm8

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// sentinel fills C's padding columns; a kernel that writes past n changes it.
const sentinel = -0x5a5a5a5a

// int8Problem is one C = A·B case with its naive int32 reference.
type int8Problem struct {
	m, k, n, lda, ldc int
	a                 []uint8
	b                 []int8 // k×n, row stride n
	want              []int32
}

func newInt8Problem(r *rand.Rand, m, k, n, padA, padC int) *int8Problem {
	p := &int8Problem{m: m, k: k, n: n, lda: k + padA, ldc: n + padC}
	p.a = make([]uint8, max(0, (m-1)*p.lda+k))
	for i := range p.a {
		p.a[i] = uint8(r.IntN(256))
		if r.IntN(4) == 0 { // ReLU-like zeros exercise the skips
			p.a[i] = 0
		}
	}
	p.b = make([]int8, k*n)
	for i := range p.b {
		p.b[i] = int8(r.IntN(256) - 128)
	}
	p.want = naive(p.a, p.lda, p.b, m, k, n)
	return p
}

// naive is the reference: Σ_k a·b in int32, straight from the definition.
func naive(a []uint8, lda int, b []int8, m, k, n int) []int32 {
	c := make([]int32, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			s := int32(0)
			for kk := 0; kk < k; kk++ {
				s += int32(a[i*lda+kk]) * int32(b[kk*n+j])
			}
			c[i*n+j] = s
		}
	}
	return c
}

// check runs the product through run (which fills c) and compares every
// element exactly, and the padding with the sentinel.
func (p *int8Problem) check(t *testing.T, name string, run func(c []int32)) {
	t.Helper()
	c := make([]int32, max(0, (p.m-1)*p.ldc+p.n+p.ldc-p.n))
	for i := range c {
		c[i] = sentinel
	}
	run(c)
	for i := 0; i < p.m; i++ {
		for j := 0; j < p.ldc; j++ {
			got := c[i*p.ldc+j]
			if j >= p.n {
				if got != sentinel {
					t.Fatalf("%s: m=%d k=%d n=%d: padding C[%d][%d] written (%d)", name, p.m, p.k, p.n, i, j, got)
				}
				continue
			}
			if want := p.want[i*p.n+j]; got != want {
				t.Fatalf("%s: m=%d k=%d n=%d lda=%d ldc=%d: C[%d][%d] = %d, want %d", name, p.m, p.k, p.n, p.lda, p.ldc, i, j, got, want)
			}
		}
	}
}

var (
	msizes = []int{1, 2, 3, 5, 6, 7, 13}
	ksizes = []int{1, 2, 3, 4, 5, 7, 8, 9, 31, 64, 100, 257}
	nsizes = []int{1, 15, 16, 17, 33, 48, 64, 65, 100, 130}
)

// TestMatMul runs every kernel set on every shape against the naive int32
// reference, packing once and reading the panels with each set.
func TestMatMul(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, k := range ksizes {
		for _, n := range nsizes {
			for _, m := range msizes {
				p := newInt8Problem(r, m, k, n, r.IntN(3), r.IntN(3))
				packed := PackB(p.b, k, n, false)
				for _, ks := range Available() {
					q := packed.With(ks)
					p.check(t, ks.Name(), func(c []int32) { q.MatMul(c, p.a, p.m, p.lda, p.ldc) })
				}
			}
		}
	}
}

// TestExtremes holds exactness where it is hardest: the largest products
// (255·−128 and 255·127) over long sums, which would saturate a 16-bit pair
// sum (VPMADDUBSW) and exercise every lane of the int32 accumulators; and A
// = 0 against B = −128, which the arm64 sets see as (−128)·(−128) after
// offsetting A by −128 (two of them overflow an int16 pair sum, SMLAL).
func TestExtremes(t *testing.T) {
	for _, av := range []uint8{0, 255} {
		for _, bv := range []int8{-128, 127} {
			for _, k := range []int{4, 1023, 1024, 4099} {
				m, n := 7, 70
				p := &int8Problem{m: m, k: k, n: n, lda: k, ldc: n}
				p.a = make([]uint8, m*k)
				for i := range p.a {
					p.a[i] = av
				}
				p.b = make([]int8, k*n)
				for i := range p.b {
					p.b[i] = bv
				}
				p.want = naive(p.a, k, p.b, m, k, n)
				if p.want[0] != int32(av)*int32(bv)*int32(k) {
					t.Fatalf("reference %d", p.want[0])
				}
				pb := PackB(p.b, k, n, false)
				for _, ks := range Available() {
					q := pb.With(ks)
					for _, mm := range []int{1, 2, 4, m} {
						pp := *p
						pp.m = mm
						pp.check(t, fmt.Sprintf("%s a=%d b=%d", ks.Name(), av, bv), func(c []int32) { q.MatMul(c, p.a, mm, k, n) })
					}
				}
			}
		}
	}
}

// TestWrap runs sums past 2^31: int32 addition wraps, and every set must
// wrap to the same bits as the reference whatever its summation order (the
// arm64 sets add 128·colsum separately).
func TestWrap(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	const k, n = 70001, 19
	for _, m := range []int{1, 5} {
		p := &int8Problem{m: m, k: k, n: n, lda: k, ldc: n}
		p.a = make([]uint8, m*k)
		p.b = make([]int8, k*n)
		for i := range p.a {
			p.a[i] = 255 - uint8(r.IntN(2))
		}
		for i := range p.b {
			p.b[i] = int8(-128 + r.IntN(2)*255) // −128 or 127
			if i%n < 8 {
				p.b[i] = -128 // columns that certainly wrap
			}
		}
		p.want = naive(p.a, k, p.b, m, k, n)
		if wide := int64(p.a[0]) * -128 * k; int64(p.want[0]) == wide {
			t.Fatalf("the sum did not wrap: %d", wide)
		}
		pb := PackB(p.b, k, n, false)
		for _, ks := range Available() {
			q := pb.With(ks)
			p.check(t, ks.Name(), func(c []int32) { q.MatMul(c, p.a, m, k, n) })
		}
	}
}

// TestGemm packs a non-constant B into scratch on every call.
func TestGemm(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, sh := range [][3]int{{1, 1, 1}, {1, 100, 33}, {4, 7, 17}, {9, 64, 64}, {13, 31, 100}} {
		p := newInt8Problem(r, sh[0], sh[1], sh[2], 1, 2)
		scratch := make([]byte, GemmScratch(p.k, p.n)+3)
		for _, ks := range Available() {
			p.check(t, ks.Name(), func(c []int32) {
				ks.Gemm(c, p.a, p.m, p.k, p.n, p.lda, p.b, p.n, p.ldc, scratch[3:])
			})
		}
	}
}

// TestPacked checks the layout: transposed packing, column sums, FromPacked
// without copying, and its refusals.
func TestPacked(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	k, n := 11, 21
	p := newInt8Problem(r, 3, k, n, 0, 0)
	bt := make([]int8, n*k)
	for kk := 0; kk < k; kk++ {
		for j := 0; j < n; j++ {
			bt[j*k+kk] = p.b[kk*n+j]
		}
	}
	pb, pt := PackB(p.b, k, n, false), PackB(bt, k, n, true)
	if string(pb.Data()) != string(pt.Data()) {
		t.Fatal("transposed packing differs")
	}
	if len(pb.Data()) != PackedLen(k, n) || pb.Layout() != LayoutVNNI16 {
		t.Fatalf("packed %d bytes under %q", len(pb.Data()), pb.Layout())
	}
	for j, s := range pb.ColSums() {
		want := int32(0)
		for kk := 0; kk < k; kk++ {
			want += int32(p.b[kk*n+j])
		}
		if s != want {
			t.Fatalf("column sum %d = %d, want %d", j, s, want)
		}
	}
	// Lane j of group g holds B[4g..4g+3][j].
	if got, want := int8(pb.Data()[1*rowBytes+5*groupRows+2]), p.b[6*n+5]; got != want {
		t.Fatalf("packed B[6][5] = %d, want %d", got, want)
	}
	w, err := Best().FromPacked(pb.Data(), k, n, pb.Layout())
	if err != nil {
		t.Fatal(err)
	}
	if &w.Data()[0] != &pb.Data()[0] {
		t.Fatal("FromPacked copied the data")
	}
	p.check(t, "frompacked", func(c []int32) { w.MatMul(c, p.a, p.m, p.lda, p.ldc) })
	if _, err := Best().FromPacked(pb.Data(), k, n, "f32-panel16"); err == nil {
		t.Error("FromPacked accepted another layout")
	}
	if _, err := Best().FromPacked(pb.Data()[:len(pb.Data())-4], k, n, LayoutVNNI16); err == nil {
		t.Error("FromPacked accepted a short buffer")
	}
}

// TestMatMulAllocs holds the no-allocation contract of every entry point.
func TestMatMulAllocs(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	p := newInt8Problem(r, 3, 70, 90, 0, 0)
	pb := PackB(p.b, p.k, p.n, false)
	c := make([]int32, p.m*p.n)
	y := make([]float32, p.n)
	x := make([]float32, p.k)
	q := make([]byte, p.k)
	bs := make([]float32, p.n)
	scratch := make([]byte, GemmScratch(p.k, p.n))
	for _, ks := range Available() {
		pk := pb.With(ks)
		if n := testing.AllocsPerRun(20, func() {
			pk.MatMul(c, p.a, p.m, p.lda, p.ldc)
			pk.MatMul(c, p.a, 1, p.lda, p.ldc)
			ks.Gemm(c, p.a, p.m, p.k, p.n, p.lda, p.b, p.n, p.ldc, scratch)
			ks.Dequantize(y, c, pk.ColSums(), 3, 0.5, bs, bs, true)
			ks.Quantize(q, x, 0.1, 7, false)
			ks.MinMax(x)
		}); n != 0 {
			t.Errorf("%s: %v allocations per run", ks.Name(), n)
		}
	}
}

func TestAvailable(t *testing.T) {
	av := Available()
	if av[len(av)-1].Name() != "purego" || Best() != av[0] {
		t.Fatalf("Available() = %v, Best() = %v", av, Best())
	}
	t.Logf("kernel sets: %v", av)
}
