package gemm8

import "unsafe"

// unsafeFloats views int32 memory as float32, for in-place conversion.
func unsafeFloats(x []int32) []float32 {
	return unsafe.Slice((*float32)(unsafe.Pointer(&x[0])), len(x))
}
