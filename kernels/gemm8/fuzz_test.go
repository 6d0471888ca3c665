package gemm8

import (
	"math/rand/v2"
	"testing"
)

// FuzzMatMul checks every kernel set against the naive int32 reference on
// fuzzer-chosen shapes (zero sizes included), strides and value ranges:
// mode 0 draws uniform bytes, mode 1 only the extremes 0/255 and −128/127,
// mode 2 mixes extremes with values near the uint8/int8 midpoints.
func FuzzMatMul(f *testing.F) {
	f.Add(uint8(1), uint16(1), uint8(1), uint8(0), uint8(0), uint8(0), uint64(1))
	f.Add(uint8(0), uint16(5), uint8(3), uint8(1), uint8(0), uint8(0), uint64(2))
	f.Add(uint8(3), uint16(0), uint8(17), uint8(0), uint8(2), uint8(1), uint64(3))
	f.Add(uint8(2), uint16(9), uint8(0), uint8(0), uint8(1), uint8(1), uint64(4))
	f.Add(uint8(7), uint16(17), uint8(65), uint8(3), uint8(1), uint8(1), uint64(5))
	f.Add(uint8(9), uint16(131), uint8(47), uint8(0), uint8(3), uint8(2), uint64(6))
	f.Add(uint8(4), uint16(514), uint8(16), uint8(5), uint8(0), uint8(1), uint64(7))
	f.Add(uint8(1), uint16(1027), uint8(129), uint8(0), uint8(0), uint8(2), uint64(8))
	f.Fuzz(matMulCase)
}

// matMulCase is FuzzMatMul's body.
func matMulCase(t *testing.T, m uint8, k uint16, n, padA, padC, mode uint8, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 1))
	mm, kk, nn := int(m%20), int(k%2000), int(n%140)
	p := &int8Problem{m: mm, k: kk, n: nn, lda: kk + int(padA%8), ldc: nn + int(padC%8)}
	p.a = make([]uint8, max(0, (mm-1)*p.lda+kk))
	p.b = make([]int8, kk*nn)
	avals := []uint8{0, 255, 127, 128, 1, 254}
	bvals := []int8{-128, 127, -1, 0, 1, -127}
	for i := range p.a {
		switch mode % 3 {
		case 0:
			p.a[i] = uint8(r.IntN(256))
		case 1:
			p.a[i] = avals[r.IntN(2)]
		default:
			p.a[i] = avals[r.IntN(len(avals))]
		}
	}
	for i := range p.b {
		switch mode % 3 {
		case 0:
			p.b[i] = int8(r.IntN(256) - 128)
		case 1:
			p.b[i] = bvals[r.IntN(2)]
		default:
			p.b[i] = bvals[r.IntN(len(bvals))]
		}
	}
	p.want = naive(p.a, p.lda, p.b, mm, kk, nn)
	packed := PackB(p.b, kk, nn, false)
	scratch := make([]byte, GemmScratch(kk, nn))
	for _, ks := range Available() {
		q := packed.With(ks)
		p.check(t, ks.Name(), func(c []int32) { q.MatMul(c, p.a, p.m, p.lda, p.ldc) })
		p.check(t, ks.Name()+" gemm", func(c []int32) {
			ks.Gemm(c, p.a, p.m, p.k, p.n, p.lda, p.b, p.n, p.ldc, scratch)
		})
	}
}
