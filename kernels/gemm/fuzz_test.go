package gemm

import (
	"math/rand/v2"
	"testing"
)

// FuzzMatMul checks every kernel set against the float64 reference on
// fuzzer-chosen shapes, strides and epilogues.
func FuzzMatMul(f *testing.F) {
	f.Add(uint8(1), uint8(1), uint8(1), uint8(0), uint8(0), uint8(0), uint64(1))
	f.Add(uint8(7), uint8(17), uint8(65), uint8(3), uint8(1), uint8(6), uint64(2))
	f.Add(uint8(13), uint8(255), uint8(49), uint8(0), uint8(9), uint8(5), uint64(3))
	f.Fuzz(func(t *testing.T, m, k, n, padA, padC, mode uint8, seed uint64) {
		r := rand.New(rand.NewPCG(seed, 0))
		act := Activation(mode % 3)
		p := newProblem(r, int(m%40), int(k), int(n%80), int(padA%8), int(padC%8), mode&4 != 0, act, -0.25)
		packed := PackB(p.b, p.k, p.n, false)
		for _, ks := range Available() {
			c := p.newC()
			packed.With(ks).MatMul(c, p.a, p.m, p.lda, p.ldc, p.bias, p.act, p.alpha)
			t.Run(ks.Name(), func(t *testing.T) { p.check(t, c) })
		}
	})
}
