package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// AVX-512 VNNI register tiling: up to mrVNNI rows of A times nvVNNI ZMM
// vectors of 16 int32 columns (one packed panel each). 6×4 uses Z0-Z23 as
// accumulators, Z24-Z27 for the four B vectors of one k group (4 k values)
// and Z28/Z29 for the broadcast A groups.
const (
	mrVNNI = 6
	nvVNNI = 4
	// gemvPrefetch is how far ahead (bytes) the GEMV prefetches each panel.
	gemvPrefetch = 1024
)

var zmm = []VecPhysical{
	Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15,
	Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23, Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31,
}

var kmask = []OpmaskPhysical{K1, K2, K3, K4}

// rowMem addresses row r of a matrix whose rows 0 and 3 start at base and
// base3 and whose row stride in bytes is in stride.
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

// panelMem addresses panel v (of four) whose panels 0 and 3 start at b and
// b3, pstride bytes apart.
func panelMem(b, b3, ps Register, v, disp int) Mem {
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

// loadMasks spreads the 64-bit column mask in m over K1-K4, 16 bits each.
func loadMasks(m Register) {
	KMOVQ(m, K1)
	KSHIFTRQ(U8(16), K1, K2)
	KSHIFTRQ(U8(32), K1, K3)
	KSHIFTRQ(U8(48), K1, K4)
}

// storeVNNI adds C to the accumulators when acc is set and stores them
// under the column masks K1-K4.
func storeVNNI(fn string, mr, nv int, accReg func(r, v int) VecPhysical, cMem func(r, v int) Mem, accFlag Register) {
	TESTQ(accFlag, accFlag)
	JZ(LabelRef(label(fn, "store")))
	for r := 0; r < mr; r++ {
		for v := 0; v < nv; v++ {
			VPADDD_Z(cMem(r, v), accReg(r, v), kmask[v], accReg(r, v))
		}
	}
	Label(label(fn, "store"))
	for r := 0; r < mr; r++ {
		for v := 0; v < nv; v++ {
			VMOVDQU32(accReg(r, v), kmask[v], cMem(r, v))
		}
	}
}

// gemmVNNI emits vnniM{mr}N{nv}: C[mr×16nv] (+)= A[mr×4kg]·B where B is nv
// consecutive packed panels pstride bytes apart and kg is the number of
// 4-byte k groups.
func gemmVNNI(mr, nv int) {
	fn := fmt.Sprintf("vnniM%dN%d", mr, nv)
	TEXT(fn, NOSPLIT, "func(a *uint8, lda int, b *byte, pstride int, kg int, c *int32, ldc int, mask uint64, acc int)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s computes a %d×%d int32 tile of C (+)= A·B with VPDPBUSD.", fn, mr, 16*nv))

	a0, a3, lda := RSI, RDI, R8
	b, b3, ps := R9, R10, R11
	k := RCX
	Load(Param("a"), a0)
	Load(Param("lda"), lda)
	Load(Param("b"), b)
	Load(Param("pstride"), ps)
	Load(Param("kg"), k)
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
	step := func(u int) {
		if mr > 1 {
			for v := 0; v < nv; v++ {
				VMOVDQU64(panelMem(b, b3, ps, v, 64*u), zmm[24+v])
			}
		}
		for r := 0; r < mr; r++ {
			bc := zmm[28+r%2]
			VPBROADCASTD(rowMem(a0, a3, lda, r, 4*u), bc)
			for v := 0; v < nv; v++ {
				if mr > 1 {
					vpdpbusd(zmm[24+v], bc, acc(r, v))
				} else {
					vpdpbusd(panelMem(b, b3, ps, v, 64*u), bc, acc(r, v))
				}
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
	c, c3, ldc, flag := RDX, RBX, R12, R13
	Load(Param("c"), c)
	Load(Param("ldc"), ldc)
	SHLQ(U8(2), ldc)
	if mr > 3 {
		LEAQ(mem(c, ldc, 2, 0), c3)
		ADDQ(ldc, c3)
	}
	Load(Param("mask"), RAX)
	loadMasks(RAX)
	Load(Param("acc"), flag)
	storeVNNI(fn, mr, nv, acc, func(r, v int) Mem { return rowMem(c, c3, ldc, r, 64*v) }, flag)
	VZEROUPPER()
	RET()
}

// gemvVNNI emits vnniGemvN{nv}: for ng groups of nv panels, one row of
// c (+)= a·B. The k loop keeps two accumulator sets (Z0-Z3, Z4-Z7) so that
// eight VPDPBUSD chains are in flight.
func gemvVNNI(nv int) {
	fn := fmt.Sprintf("vnniGemvN%d", nv)
	TEXT(fn, NOSPLIT, "func(a *uint8, b *byte, pstride int, kg int, c *int32, ng int, mask uint64, acc int)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s computes c (+)= a·B for ng groups of %d packed panels with VPDPBUSD.", fn, nv))

	a, b, b3, ps, kk, c, ng, flag, base := RSI, R9, R10, R11, RCX, RDX, RDI, R13, R12
	Load(Param("b"), base)
	Load(Param("pstride"), ps)
	Load(Param("c"), c)
	Load(Param("ng"), ng)
	Load(Param("mask"), RAX)
	loadMasks(RAX)
	Load(Param("acc"), flag)

	Label(label(fn, "group"))
	Load(Param("a"), a)
	Load(Param("kg"), kk)
	MOVQ(base, b)
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
		VPBROADCASTD(mem(a, nil, 0, 4*u), bc)
		for v := 0; v < nv; v++ {
			PREFETCHT0(panelMem(b, b3, ps, v, 64*u+gemvPrefetch))
			vpdpbusd(panelMem(b, b3, ps, v, 64*u), bc, zmm[(u%2)*4+v])
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
	VPBROADCASTD(mem(a, nil, 0, 0), Z16)
	for v := 0; v < nv; v++ {
		vpdpbusd(panelMem(b, b3, ps, v, 0), Z16, zmm[v])
	}
	ADDQ(U8(4), a)
	ADDQ(U8(64), b)
	ADDQ(U8(64), b3)
	DECQ(kk)
	JMP(LabelRef(label(fn, "tail")))
	Label(label(fn, "reduce"))
	for v := 0; v < nv; v++ {
		VPADDD(zmm[4+v], zmm[v], zmm[v])
	}
	accReg := func(_, v int) VecPhysical { return zmm[v] }
	storeVNNI(fn, 1, nv, accReg, func(_, v int) Mem { return mem(c, nil, 0, 64*v) }, flag)
	// The next group starts 4 panels after this one.
	LEAQ(mem(base, ps, 4, 0), base)
	ADDQ(U32(256), c)
	DECQ(ng)
	JNZ(LabelRef(label(fn, "group")))
	VZEROUPPER()
	RET()
}
