package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// AVX-512 register tiling: up to mr512 rows of A times nv512 ZMM vectors of
// 16 columns (one packed panel each). 6×4 uses Z0-Z23 as accumulators,
// Z24-Z27 for the four B vectors of one k step and Z28/Z29 for the
// broadcast A values, leaving Z30/Z31 free.
const (
	mr512 = 6
	nv512 = 4
)

var zmm = []VecPhysical{
	Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15,
	Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23, Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31,
}

// gemvPrefetch is how far ahead (bytes, one 64-byte row per k) the GEMV
// kernels prefetch each panel stream.
const gemvPrefetch = 1024

var kmask = []OpmaskPhysical{K1, K2, K3, K4}

// rowMem addresses row r of a matrix whose rows 0 and 3 start at base and
// base3 and whose row stride in bytes is in stride: rows 0-2 and 3-5 share a
// base so that six rows cost three registers.
func rowMem(base, base3, stride Register, r, disp int) Mem {
	if r >= 3 {
		base, r = base3, r-3
	}
	switch r {
	case 0:
		return mem(base, nil, 0, disp)
	case 1:
		return mem(base, stride, 1, disp)
	default:
		return mem(base, stride, 2, disp)
	}
}

// gemm512 emits gemm512m{mr}n{nv}: C[mr×16nv] (op)= A[mr×k]·B where B is nv
// consecutive packed panels pstride floats apart.
func gemm512(mr, nv int) {
	fn := fmt.Sprintf("gemm512m%dn%d", mr, nv)
	TEXT(fn, NOSPLIT, "func(a *float32, lda int, b *float32, pstride int, k int, c *float32, ldc int, mask uint64, bias *float32, flags int, alpha float32)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s computes a %d×%d tile of C = A·B with the epilogue in flags.", fn, mr, 16*nv))

	a0, a3, lda := RSI, RDI, R8
	b, b3, ps := R9, R10, R11
	k := RCX
	Load(Param("a"), a0)
	Load(Param("lda"), lda)
	SHLQ(U8(2), lda)
	Load(Param("b"), b)
	Load(Param("pstride"), ps)
	SHLQ(U8(2), ps)
	Load(Param("k"), k)
	if mr > 3 {
		LEAQ(mem(a0, lda, 2, 0), a3)
		ADDQ(lda, a3)
	}
	if nv > 3 {
		LEAQ(mem(b, ps, 2, 0), b3)
		ADDQ(ps, b3)
	}
	acc := func(r, v int) VecPhysical { return zmm[r*nv+v] }
	for r := 0; r < mr; r++ {
		for v := 0; v < nv; v++ {
			VPXORD(acc(r, v), acc(r, v), acc(r, v))
		}
	}
	bMem := func(v, disp int) Mem {
		switch v {
		case 0:
			return mem(b, nil, 0, disp)
		case 1:
			return mem(b, ps, 1, disp)
		case 2:
			return mem(b, ps, 2, disp)
		default:
			return mem(b3, nil, 0, disp)
		}
	}
	step := func(u int) {
		for v := 0; v < nv; v++ {
			VMOVUPS(bMem(v, 64*u), zmm[24+v])
		}
		for r := 0; r < mr; r++ {
			bc := zmm[28+r%2]
			VBROADCASTSS(rowMem(a0, a3, lda, r, 4*u), bc)
			for v := 0; v < nv; v++ {
				VFMADD231PS(zmm[24+v], bc, acc(r, v))
			}
		}
	}
	advance := func(u int) {
		ADDQ(U32(4*u), a0)
		if mr > 3 {
			ADDQ(U32(4*u), a3)
		}
		ADDQ(U32(64*u), b)
		if nv > 3 {
			ADDQ(U32(64*u), b3)
		}
	}
	const unroll = 4
	Label(label(fn, "loop"))
	CMPQ(k, U32(unroll))
	JL(LabelRef(label(fn, "tail")))
	for u := 0; u < unroll; u++ {
		step(u)
	}
	advance(unroll)
	SUBQ(U32(unroll), k)
	JMP(LabelRef(label(fn, "loop")))
	Label(label(fn, "tail"))
	TESTQ(k, k)
	JZ(LabelRef(label(fn, "epilogue")))
	step(0)
	advance(1)
	DECQ(k)
	JMP(LabelRef(label(fn, "tail")))

	Label(label(fn, "epilogue"))
	c, c3, ldc, flags, bias := RDX, RBX, R12, R13, RAX
	Load(Param("c"), c)
	Load(Param("ldc"), ldc)
	SHLQ(U8(2), ldc)
	if mr > 3 {
		LEAQ(mem(c, ldc, 2, 0), c3)
		ADDQ(ldc, c3)
	}
	Load(Param("mask"), bias)
	loadMasks512(bias)
	Load(Param("flags"), flags)
	Load(Param("bias"), bias)
	alpha, _ := Param("alpha").Resolve()
	epilogue512(fn, mr, nv, acc, func(r, v int) Mem { return rowMem(c, c3, ldc, r, 64*v) }, flags, bias, alpha.Addr)
	VZEROUPPER()
	RET()
}

// loadMasks512 spreads the 64-bit column mask in m over K1-K4, 16 bits each.
func loadMasks512(m Register) {
	KMOVQ(m, K1)
	KSHIFTRQ(U8(16), K1, K2)
	KSHIFTRQ(U8(32), K1, K3)
	KSHIFTRQ(U8(48), K1, K4)
}

// epilogue512 applies accumulate, bias and activation to the accumulators
// and stores them under the column masks K1-K4. It uses Z24-Z29 and K5.
func epilogue512(fn string, mr, nv int, acc func(r, v int) VecPhysical, cMem func(r, v int) Mem, flags, bias Register, alpha Mem) {
	TESTQ(U32(flagAccumulate), flags)
	JZ(LabelRef(label(fn, "noacc")))
	for r := 0; r < mr; r++ {
		for v := 0; v < nv; v++ {
			VADDPS_Z(cMem(r, v), acc(r, v), kmask[v], acc(r, v))
		}
	}
	Label(label(fn, "noacc"))
	TESTQ(U32(flagBias), flags)
	JZ(LabelRef(label(fn, "nobias")))
	for v := 0; v < nv; v++ {
		VMOVUPS_Z(mem(bias, nil, 0, 64*v), kmask[v], zmm[24+v])
	}
	for r := 0; r < mr; r++ {
		for v := 0; v < nv; v++ {
			VADDPS(zmm[24+v], acc(r, v), acc(r, v))
		}
	}
	Label(label(fn, "nobias"))
	TESTQ(U32(actRelu), flags)
	JNZ(LabelRef(label(fn, "relu")))
	TESTQ(U32(actLeaky), flags)
	JNZ(LabelRef(label(fn, "leaky")))
	JMP(LabelRef(label(fn, "store")))

	Label(label(fn, "relu"))
	VPXORD(Z28, Z28, Z28)
	for r := 0; r < mr; r++ {
		for v := 0; v < nv; v++ {
			VMAXPS(Z28, acc(r, v), acc(r, v))
		}
	}
	JMP(LabelRef(label(fn, "store")))

	Label(label(fn, "leaky"))
	VPXORD(Z28, Z28, Z28)
	VBROADCASTSS(alpha, Z29)
	for r := 0; r < mr; r++ {
		for v := 0; v < nv; v++ {
			VCMPPS(U8(1), Z28, acc(r, v), K5) // K5 = acc < 0 (LT_OS)
			VMULPS(Z29, acc(r, v), K5, acc(r, v))
		}
	}

	Label(label(fn, "store"))
	for r := 0; r < mr; r++ {
		for v := 0; v < nv; v++ {
			VMOVUPS(acc(r, v), kmask[v], cMem(r, v))
		}
	}
}

// gemv512 emits gemv512n{nv}: for ng groups of nv panels, one row of
// C = a·B. The k loop keeps two accumulator sets (Z0-Z3, Z4-Z7) so that eight
// FMA chains are in flight.
func gemv512(nv int) {
	fn := fmt.Sprintf("gemv512n%d", nv)
	TEXT(fn, NOSPLIT, "func(a *float32, b *float32, pstride int, k int, c *float32, ng int, mask uint64, bias *float32, flags int, alpha float32)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s computes c = a·B for ng groups of %d panels with the epilogue in flags.", fn, nv))

	a, b, b3, ps, kk, c, ng, flags, bias := RSI, R9, R10, R11, RCX, RDX, RDI, R13, R12
	Load(Param("b"), b)
	Load(Param("pstride"), ps)
	SHLQ(U8(2), ps)
	Load(Param("c"), c)
	Load(Param("ng"), ng)
	Load(Param("mask"), RAX)
	loadMasks512(RAX)
	Load(Param("flags"), flags)
	Load(Param("bias"), bias)
	alpha, _ := Param("alpha").Resolve()

	bMem := func(v, disp int) Mem {
		switch v {
		case 0:
			return mem(b, nil, 0, disp)
		case 1:
			return mem(b, ps, 1, disp)
		case 2:
			return mem(b, ps, 2, disp)
		default:
			return mem(b3, nil, 0, disp)
		}
	}
	Label(label(fn, "group"))
	Load(Param("a"), a)
	Load(Param("k"), kk)
	LEAQ(mem(b, ps, 2, 0), b3)
	ADDQ(ps, b3)
	for v := 0; v < nv; v++ {
		VPXORD(zmm[v], zmm[v], zmm[v])
		VPXORD(zmm[4+v], zmm[4+v], zmm[4+v])
	}
	const unroll = 4
	Label(label(fn, "loop"))
	CMPQ(kk, U32(unroll))
	JL(LabelRef(label(fn, "tail")))
	for u := 0; u < unroll; u++ {
		bc := zmm[16+u]
		VBROADCASTSS(mem(a, nil, 0, 4*u), bc)
		for v := 0; v < nv; v++ {
			PREFETCHT0(bMem(v, 64*u+gemvPrefetch))
			VFMADD231PS(bMem(v, 64*u), bc, zmm[(u%2)*4+v])
		}
	}
	ADDQ(U32(4*unroll), a)
	ADDQ(U32(64*unroll), b)
	ADDQ(U32(64*unroll), b3)
	SUBQ(U32(unroll), kk)
	JMP(LabelRef(label(fn, "loop")))
	Label(label(fn, "tail"))
	TESTQ(kk, kk)
	JZ(LabelRef(label(fn, "reduce")))
	VBROADCASTSS(mem(a, nil, 0, 0), Z16)
	for v := 0; v < nv; v++ {
		VFMADD231PS(bMem(v, 0), Z16, zmm[v])
	}
	ADDQ(U8(4), a)
	ADDQ(U8(64), b)
	ADDQ(U8(64), b3)
	DECQ(kk)
	JMP(LabelRef(label(fn, "tail")))
	Label(label(fn, "reduce"))
	for v := 0; v < nv; v++ {
		VADDPS(zmm[4+v], zmm[v], zmm[v])
	}
	acc := func(_, v int) VecPhysical { return zmm[v] }
	epilogue512(fn, 1, nv, acc, func(_, v int) Mem { return mem(c, nil, 0, 64*v) }, flags, bias, alpha.Addr)
	// b has walked one panel; the next group starts 4 panels after this one.
	LEAQ(mem(b, ps, 2, 0), b)
	ADDQ(ps, b)
	ADDQ(U32(256), c)
	ADDQ(U32(256), bias)
	DECQ(ng)
	JNZ(LabelRef(label(fn, "group")))
	VZEROUPPER()
	RET()
}

// peak512 emits a register-resident loop of 24 independent ZMM FMAs per
// iteration (768 flops), the FMA peak the GEMM is measured against.
func peak512() {
	TEXT("peak512", NOSPLIT, "func(iters int)")
	Doc("peak512 runs iters iterations of 24 independent ZMM FMAs.")
	n := RCX
	Load(Param("iters"), n)
	for i := 0; i < 26; i++ {
		VPXORD(zmm[i], zmm[i], zmm[i])
	}
	Label("peak512_loop")
	for i := 0; i < 24; i++ {
		VFMADD231PS(Z24, Z25, zmm[i])
	}
	DECQ(n)
	JNZ(LabelRef("peak512_loop"))
	VZEROUPPER()
	RET()
}
