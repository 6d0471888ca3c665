// Command asm generates the amd64 assembly of package vmath with avo.
//
// Run it through go generate in kernels/vmath (see the go:generate line in
// doc.go there); it writes vmath_amd64.s and stubs_amd64.go. It is its own
// module so that avo never becomes a dependency of the product.
//
// Each routine is one loop over whole vectors followed by one masked vector
// for the tail (opmask on AVX-512, VMASKMOVPS on AVX2), so callers pass any
// length. The math is written once (math.go) over an isa value that hides
// the differences between the two widths; registers are avo's virtual
// registers. The constants and algorithms are those of package vmath's
// pure-Go set (generic.go), which documents them and the error bounds.
package main

import (
	"fmt"
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// isa is one vector width: AVX-512 (16 lanes, opmasks) or AVX2 (8 lanes).
type isa struct {
	suffix string // function name suffix: "512" or "256"
	lanes  int
	avx512 bool
}

func (s isa) vec() VecVirtual {
	if s.avx512 {
		return ZMM()
	}
	return YMM()
}

// consts holds the replicated constant vectors, created before any TEXT.
var consts = map[string]Mem{}

// splat declares a read-only 64-byte vector of sixteen copies of bits.
func splat(name string, bits uint32) {
	m := GLOBL("vm_"+name, RODATA|NOPTR)
	for i := 0; i < 16; i++ {
		DATA(4*i, U32(bits))
	}
	consts[name] = m
}

// c returns the constant vector name as a memory operand.
func c(name string) Mem {
	m, ok := consts[name]
	if !ok {
		panic("asm: no constant " + name)
	}
	return m
}

func f32bits(v float64) uint32 { return math.Float32bits(float32(v)) }

func declareConstants() {
	for _, kv := range floatConsts {
		splat(kv.name, f32bits(kv.v))
	}
	splat("sign", 0x80000000)
	splat("abs", 0x7fffffff)
	splat("bias", 127)
	// tailmask: eight all-ones words then eight zeros; the AVX2 tail mask of
	// r lanes is the 8 words starting at word 8−r.
	m := GLOBL("vm_tailmask", RODATA|NOPTR)
	for i := 0; i < 16; i++ {
		v := uint32(0)
		if i < 8 {
			v = 0xffffffff
		}
		DATA(4*i, U32(v))
	}
	consts["tailmask"] = m
}

func main() {
	ConstraintExpr("!purego")
	declareConstants()
	for _, s := range []isa{{suffix: "512", lanes: 16, avx512: true}, {suffix: "256", lanes: 8}} {
		unary(s, "exp", "computes dst[i] = e^src[i].", func(s isa, x VecVirtual) VecVirtual { return s.exp(x) })
		unary(s, "sigmoid", "computes dst[i] = 1/(1+e^−src[i]).", func(s isa, x VecVirtual) VecVirtual { return s.sigmoid(x) })
		unary(s, "tanh", "computes dst[i] = tanh(src[i]).", func(s isa, x VecVirtual) VecVirtual { return s.tanh(x) })
		unary(s, "erf", "computes dst[i] = erf(src[i]).", func(s isa, x VecVirtual) VecVirtual { return s.erf(x) })
		unary(s, "gelu", "computes dst[i] = src[i]·Φ(src[i]) (exact GELU).", func(s isa, x VecVirtual) VecVirtual { return s.gelu(x) })
		expSum(s)
	}
	Generate()
}

// loop emits the shared skeleton: n elements from src through body into
// dst, full vectors first, then one masked vector. body is emitted twice.
// Before the loop, setup runs; after each vector, acc (if non-nil) gets the
// vector's active lanes added.
func loop(s isa, fn string, src, dst, n Register, body func(x VecVirtual) VecVirtual, acc VecVirtual) {
	w := s.lanes
	Label(fn + "_loop")
	CMPQ(n, U32(w))
	JB(LabelRef(fn + "_tail"))
	x := s.vec()
	VMOVUPS(Mem{Base: src}, x)
	y := body(x)
	if dst != nil {
		VMOVUPS(y, Mem{Base: dst})
		ADDQ(U32(4*w), dst)
	}
	if acc != nil {
		VADDPS(y, acc, acc)
	}
	ADDQ(U32(4*w), src)
	SUBQ(U32(w), n)
	JMP(LabelRef(fn + "_loop"))

	Label(fn + "_tail")
	TESTQ(n, n)
	JZ(LabelRef(fn + "_done"))
	if s.avx512 {
		ones, bits := GP64(), GP64()
		MOVQ(I64(-1), ones)
		BZHIQ(n, ones, bits)
		k := K()
		KMOVW(bits.As32(), k)
		x := s.vec()
		VMOVUPS_Z(Mem{Base: src}, k, x)
		y := body(x)
		if dst != nil {
			VMOVUPS(y, k, Mem{Base: dst})
		}
		if acc != nil {
			VADDPS(y, acc, k, acc)
		}
	} else {
		tbl, off := GP64(), GP64()
		LEAQ(c("tailmask"), tbl)
		MOVQ(U32(8), off)
		SUBQ(n, off)
		mask := YMM()
		VMOVUPS(Mem{Base: tbl, Index: off, Scale: 4}, mask)
		x := s.vec()
		VMASKMOVPS(Mem{Base: src}, mask, x)
		y := body(x)
		if dst != nil {
			VMASKMOVPS(y, mask, Mem{Base: dst})
		}
		if acc != nil {
			VANDPS(mask, y, y)
			VADDPS(y, acc, acc)
		}
	}
	Label(fn + "_done")
}

// unary emits fn(dst, src *float32, n int).
func unary(s isa, name, doc string, body func(s isa, x VecVirtual) VecVirtual) {
	fn := name + s.suffix
	TEXT(fn, NOSPLIT, "func(dst, src *float32, n int)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s %s n may be any length; dst may be src.", fn, doc))
	dst, src, n := GP64(), GP64(), GP64()
	Load(Param("dst"), dst)
	Load(Param("src"), src)
	Load(Param("n"), n)
	loop(s, fn, src, dst, n, func(x VecVirtual) VecVirtual { return body(s, x) }, nil)
	VZEROUPPER()
	RET()
}

// expSum emits expsum(dst, src *float32, n int, shift float32) float32:
// dst[i] = e^(src[i]−shift), returning their sum.
func expSum(s isa) {
	fn := "expsum" + s.suffix
	TEXT(fn, NOSPLIT, "func(dst, src *float32, n int, shift float32) float32")
	Pragma("noescape")
	Doc(fn + " computes dst[i] = e^(src[i]−shift) and returns the sum of the dst[i].")
	dst, src, n := GP64(), GP64(), GP64()
	Load(Param("dst"), dst)
	Load(Param("src"), src)
	Load(Param("n"), n)
	shift := s.vec()
	VBROADCASTSS(NewParamAddr("shift", 24), shift)
	acc := s.vec()
	VXORPS(acc, acc, acc)
	loop(s, fn, src, dst, n, func(x VecVirtual) VecVirtual {
		t := s.vec()
		VSUBPS(shift, x, t)
		return s.exp(t)
	}, acc)
	var y VecVirtual = acc
	if s.avx512 {
		hi := YMM()
		VEXTRACTF64X4(U8(1), acc, hi)
		lo := acc.AsY()
		VADDPS(hi, lo, hi)
		y = hi
	}
	x := XMM()
	VEXTRACTF128(U8(1), y.AsY(), x)
	VADDPS(y.AsX(), x, x)
	VHADDPS(x, x, x)
	VHADDPS(x, x, x)
	VZEROUPPER()
	Store(x, ReturnIndex(0))
	RET()
}
