// Command asm generates the amd64 assembly of package gemm with avo.
//
// Run it through go generate in kernels/gemm (see the go:generate line in
// doc.go there); it writes gemm_amd64.s and stubs_amd64.go. It is its own
// module so that avo never becomes a dependency of the product.
//
// Every routine uses fixed physical registers: the micro-kernels are
// register-tiled by hand, so there is nothing for an allocator to decide.
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// Epilogue flag bits, shared with flags.go in package gemm.
const (
	flagAccumulate = 1 // add the tile to C instead of overwriting it
	flagBias       = 2 // add bias[col]
	actShift       = 2 // bits 2-3: 0 none, 1 relu, 2 leaky relu
	actRelu        = 1 << actShift
	actLeaky       = 2 << actShift
	actMask        = 3 << actShift
)

// mem returns base + index*scale + disp.
func mem(base Register, index Register, scale uint8, disp int) Mem {
	m := Mem{Base: base, Disp: disp}
	if index != nil {
		m.Index, m.Scale = index, scale
	}
	return m
}

func main() {
	ConstraintExpr("!purego")
	for mr := 1; mr <= mr512; mr++ {
		for nv := 1; nv <= nv512; nv++ {
			gemm512(mr, nv)
		}
	}
	for nv := 1; nv <= nv512; nv++ {
		gemv512(nv)
	}
	for mr := 1; mr <= mr256; mr++ {
		gemm256(mr)
	}
	gemv256()
	peak512()
	peak256()
	Generate()
}

// label makes a label unique to the function being generated.
func label(fn, name string) string { return fmt.Sprintf("%s_%s", fn, name) }
