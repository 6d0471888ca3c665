// Command asm generates the amd64 assembly of package gemm8 with avo.
//
// Run it through go generate in kernels/gemm8 (see the go:generate line in
// doc.go there); it writes gemm8_amd64.s and stubs_amd64.go. It is its own
// module so that avo never becomes a dependency of the product.
//
// Every routine uses fixed physical registers: the micro-kernels are
// register-tiled by hand, so there is nothing for an allocator to decide.
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/ir"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// flagAccumulate (the kernels' acc argument) adds the tile to C instead of
// overwriting it; package gemm8 passes 0 or 1.

// mem returns base + index*scale + disp.
func mem(base Register, index Register, scale uint8, disp int) Mem {
	m := Mem{Base: base, Disp: disp}
	if index != nil {
		m.Index, m.Scale = index, scale
	}
	return m
}

// label makes a label unique to the function being generated.
func label(fn, name string) string { return fmt.Sprintf("%s_%s", fn, name) }

// vpdpbusd emits VPDPBUSD b, a, acc (Go operand order): acc += the four
// products of unsigned bytes of a and signed bytes of b in each 32-bit lane
// (Intel SDM vol. 2C, "VPDPBUSD"). avo v0.5.0 has no AVX512_VNNI
// constructors, so the instruction is built directly; the Go assembler
// encodes it.
func vpdpbusd(b, a, acc Op) {
	Instruction(&ir.Instruction{
		Opcode:   "VPDPBUSD",
		Operands: []Op{b, a, acc},
		Inputs:   []Op{b, a, acc},
		Outputs:  []Op{acc},
		ISA:      []string{"AVX512_VNNI"},
	})
}

func main() {
	ConstraintExpr("!purego")
	for mr := 1; mr <= mrVNNI; mr++ {
		for nv := 1; nv <= nvVNNI; nv++ {
			gemmVNNI(mr, nv)
		}
	}
	for nv := 1; nv <= nvVNNI; nv++ {
		gemvVNNI(nv)
	}
	dequant512()
	quantize512()
	minMax512()
	for _, t := range avx2Tiles {
		tileAVX2(t[0], t[1])
	}
	dequant256()
	quantize256()
	minMax256()
	Generate()
}
