package gemm8

import "unsafe"

// Kernels is one kernel set: an implementation of the package's operations
// for one instruction set. The zero value is not usable; get sets from
// Available or Best.
type Kernels struct {
	impl *impl
}

// impl is the static table behind a Kernels value.
type impl struct {
	name string
	// matmul sets C (m×n, row stride ldc int32s) = A (m×k uint8, row
	// stride lda bytes) · B (the packed panels of a k×n matrix, with its
	// ceil(n/16)·16 column sums). Shapes are checked by the caller; m, k
	// and n are positive. It takes slices, not a *PackedB, so that Gemm's
	// PackedB can stay on the stack.
	matmul func(panels []byte, sums []int32, k, n int, c []int32, a []uint8, m, lda, ldc int)
	// dequant is Dequantize's body on equal-length slices.
	dequant func(y []float32, acc, sums []int32, zero int32, scale float32, bs, bias []float32, relu bool)
	// quantize is Quantize's body on equal-length slices.
	quantize func(q []byte, x []float32, inv, shift float32, flip byte)
	// minMax is MinMax's body on a non-empty slice.
	minMax func(x []float32) (lo, hi float32)
}

// Name is the set's name: "avx512vnni", "avx2", "sdot", "neon" or
// "purego".
func (ks Kernels) Name() string { return ks.impl.name }

func (ks Kernels) String() string { return ks.impl.name }

// Available returns the kernel sets the running CPU supports, fastest first.
// The pure-Go set is always last.
func Available() []Kernels {
	out := make([]Kernels, 0, len(native)+1)
	for _, s := range native {
		if s.ok() {
			out = append(out, Kernels{s.impl})
		}
	}
	return append(out, Kernels{generic})
}

// Best returns the fastest kernel set the running CPU supports.
func Best() Kernels {
	for _, s := range native {
		if s.ok() {
			return Kernels{s.impl}
		}
	}
	return Kernels{generic}
}

// nativeSet is an assembly kernel set and its CPU test.
type nativeSet struct {
	impl *impl
	ok   func() bool
}

// aTail copies the last k%4 bytes of mr rows of A, zero-padded to a whole
// group, into t (4 bytes per row): the kernels read A four bytes at a time
// and must not read past a row's end.
func aTail(t []uint8, a []uint8, i, mr, lda, kf, k int) {
	for r := 0; r < mr; r++ {
		row := (i + r) * lda
		copy(t[r*groupRows:r*groupRows+groupRows], a[row+kf*groupRows:row+k])
	}
}

// ptr8 returns &b[i] as an unsafe pointer, or nil for an empty b.
func ptr8(b []byte, i int) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[i])
}
