package vmath

// Kernels is one kernel set. The zero value is the pure-Go set.
type Kernels struct {
	id setID
}

// setID names an implementation; the per-architecture files dispatch on it
// with direct calls (not func values), so the assembly's noescape holds and
// callers' stack buffers stay on the stack.
type setID uint8

const (
	setGo setID = iota
	setAVX2
	setAVX512
)

// Name is the set's name: "avx512", "avx2" or "purego".
func (ks Kernels) Name() string {
	switch ks.id {
	case setAVX512:
		return "avx512"
	case setAVX2:
		return "avx2"
	}
	return "purego"
}

func (ks Kernels) String() string { return ks.Name() }

// Available returns the kernel sets the running CPU supports, fastest first.
// The pure-Go set is always last.
func Available() []Kernels {
	out := make([]Kernels, 0, 3)
	for _, id := range native {
		if supported(id) {
			out = append(out, Kernels{id})
		}
	}
	return append(out, Kernels{setGo})
}

// Best returns the fastest kernel set the running CPU supports.
func Best() Kernels {
	for _, id := range native {
		if supported(id) {
			return Kernels{id}
		}
	}
	return Kernels{setGo}
}

// check panics unless src covers dst; it returns false for empty dst.
func check(dst, src []float32) bool {
	if len(src) < len(dst) {
		panic("vmath: src shorter than dst")
	}
	return len(dst) > 0
}

// Exp sets dst[i] = e^src[i].
func (ks Kernels) Exp(dst, src []float32) {
	if check(dst, src) {
		ks.exp(dst, src)
	}
}

// Sigmoid sets dst[i] = 1/(1 + e^−src[i]).
func (ks Kernels) Sigmoid(dst, src []float32) {
	if check(dst, src) {
		ks.sigmoid(dst, src)
	}
}

// Tanh sets dst[i] = tanh(src[i]).
func (ks Kernels) Tanh(dst, src []float32) {
	if check(dst, src) {
		ks.tanh(dst, src)
	}
}

// Erf sets dst[i] = erf(src[i]).
func (ks Kernels) Erf(dst, src []float32) {
	if check(dst, src) {
		ks.erf(dst, src)
	}
}

// Gelu sets dst[i] = src[i]·Φ(src[i]) = ½·src[i]·(1 + erf(src[i]/√2)), the
// exact GELU (ONNX Gelu approximate="none").
func (ks Kernels) Gelu(dst, src []float32) {
	if check(dst, src) {
		ks.gelu(dst, src)
	}
}

// ExpSum sets dst[i] = e^(src[i] − shift) and returns Σ dst[i], summed in
// float32 lanes. With shift = max(src) it is the numerator and denominator
// of a softmax.
func (ks Kernels) ExpSum(dst, src []float32, shift float32) float32 {
	if !check(dst, src) {
		return 0
	}
	return ks.expSum(dst, src, shift)
}
