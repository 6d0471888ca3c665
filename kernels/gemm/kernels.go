package gemm

import (
	"fmt"
	"unsafe"

	"github.com/sextant-ml/sextant/kernels/parallel"
)

// Activation is an epilogue fused into MatMul and Gemm.
type Activation uint8

const (
	// None leaves A·B + bias as it is.
	None Activation = iota
	// Relu is max(x, 0).
	Relu
	// LeakyRelu is x for x ≥ 0 and alpha·x below.
	LeakyRelu
)

func (a Activation) String() string {
	switch a {
	case None:
		return "none"
	case Relu:
		return "relu"
	case LeakyRelu:
		return "leakyrelu"
	}
	return fmt.Sprintf("Activation(%d)", uint8(a))
}

// Epilogue flag bits, shared with the generator in asm/main.go.
const (
	flagAccumulate = 1 // add the tile to C instead of overwriting it
	flagBias       = 2 // add bias[col]
	actShift       = 2 // bits 2-3: the Activation
)

// Kernels is one kernel set: an implementation of the package's operations
// for one instruction set. The zero value is not usable; get sets from
// Available or Best.
type Kernels struct {
	impl *impl
	pool *parallel.Pool // nil: every product runs on the calling goroutine
}

// impl is the static table behind a Kernels value.
type impl struct {
	name string
	// matmul computes C (m×n) = A (m×k) · B (packed, k×n) under the
	// epilogue in ep. Shapes are checked by the caller; a may be nil when
	// k == 0.
	matmul func(b []float32, k, n int, c, a unsafe.Pointer, m, lda, ldc int, ep epilogue)
	// peak runs iters iterations of the set's register-resident FMA loop
	// and returns the number of flops it performed.
	peak func(iters int) int64
}

// epilogue is what happens to a finished tile.
type epilogue struct {
	bias  unsafe.Pointer // bias[0:n] or nil
	act   Activation
	alpha float32
}

// flags returns the kernel flags for the last k block of a tile; earlier
// blocks use flagAccumulate alone (or 0 for the first).
func (e epilogue) flags() int {
	f := int(e.act) << actShift
	if e.bias != nil {
		f |= flagBias
	}
	return f
}

// Name is the set's name: "avx512", "avx2", "neon" or "purego".
func (ks Kernels) Name() string { return ks.impl.name }

func (ks Kernels) String() string { return ks.impl.name }

// FMALoop runs iters iterations of a register-resident loop of independent
// FMAs in the set's vector width and returns the number of floating-point
// operations performed (2 per lane per FMA). Timing it gives the core's FMA
// peak, the denominator of GEMM efficiency. iters must be positive.
func (ks Kernels) FMALoop(iters int) int64 {
	if iters <= 0 {
		panic("gemm: FMALoop iterations must be positive")
	}
	return ks.impl.peak(iters)
}

// Available returns the kernel sets the running CPU supports, fastest first.
// The pure-Go set is always last.
func Available() []Kernels {
	out := make([]Kernels, 0, len(native)+1)
	for _, s := range native {
		if s.ok() {
			out = append(out, Kernels{impl: s.impl})
		}
	}
	return append(out, Kernels{impl: generic})
}

// Best returns the fastest kernel set the running CPU supports.
func Best() Kernels {
	for _, s := range native {
		if s.ok() {
			return Kernels{impl: s.impl}
		}
	}
	return Kernels{impl: generic}
}

// nativeSet is an assembly kernel set and its CPU test.
type nativeSet struct {
	impl *impl
	ok   func() bool
}

// at returns p advanced by i floats, or nil for nil p.
func at(p unsafe.Pointer, i int) *float32 {
	if p == nil {
		return nil
	}
	return (*float32)(unsafe.Add(p, 4*i))
}

// packedAt returns the address of packed float i, or nil when B is empty.
func packedAt(p []float32, i int) *float32 {
	if len(p) == 0 {
		return nil
	}
	return &p[i]
}
