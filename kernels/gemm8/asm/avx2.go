package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// AVX2 has no VPDPBUSD, and VPMADDUBSW adds two u8·s8 products into a
// saturating int16 (255·127·2 > 32767), so the AVX2 kernels widen both
// operands to int16 and use VPMADDWD, whose int32 pair sums are exact on
// the whole domain: results are bit-identical to the other sets. Per k
// group the four A bytes are broadcast and zero-extended once (VPBROADCASTD
// + VPMOVZXBW: a0..a3 repeated), each 16 bytes of a packed row (4 columns ×
// 4 k) are sign-extended (VPMOVSXBW), and VPMADDWD leaves each column's sum
// in two adjacent int32 lanes, which the epilogue folds with VPHADDD.
//
// Tiles are mr rows × np panels (16 columns each), always full: the Go
// driver stages partial panels. Accumulators acc(r, p, q) hold columns
// 4q..4q+3 of panel p as lane pairs: Y0-Y7; A in Y8/Y9, widened B in
// Y10-Y13, products in Y14/Y15.
var avx2Tiles = [][2]int{{1, 1}, {1, 2}, {2, 1}}

var ymm = []VecPhysical{Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7, Y8, Y9, Y10, Y11, Y12, Y13, Y14, Y15}
var xmm = []VecPhysical{X0, X1, X2, X3, X4, X5, X6, X7, X8, X9, X10, X11, X12, X13, X14, X15}

func tileAVX2(mr, np int) {
	fn := fmt.Sprintf("avx2M%dP%d", mr, np)
	TEXT(fn, NOSPLIT, "func(a *uint8, lda int, b *byte, pstride int, kg int, c *int32, ldc int, acc int)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s computes a full %d×%d int32 tile of C (+)= A·B with VPMADDWD.", fn, mr, 16*np))
	a, lda, b, ps, k := RSI, R8, R9, R11, RCX
	Load(Param("a"), a)
	Load(Param("lda"), lda)
	Load(Param("b"), b)
	Load(Param("pstride"), ps)
	Load(Param("kg"), k)
	acc := func(r, p, q int) VecPhysical { return ymm[(r*np+p)*4+q] }
	for i := 0; i < mr*np*4; i++ {
		VPXOR(ymm[i], ymm[i], ymm[i])
	}
	aMem := func(r, disp int) Mem {
		if r == 0 {
			return mem(a, nil, 0, disp)
		}
		return mem(a, lda, 1, disp)
	}
	bMem := func(p, disp int) Mem {
		if p == 0 {
			return mem(b, nil, 0, disp)
		}
		return mem(b, ps, 1, disp)
	}
	step := func(u int) {
		for r := 0; r < mr; r++ {
			VPBROADCASTD(aMem(r, 4*u), xmm[8+r])
			VPMOVZXBW(xmm[8+r], ymm[8+r])
		}
		prod := 0
		for p := 0; p < np; p++ {
			for q := 0; q < 4; q++ {
				VPMOVSXBW(bMem(p, 64*u+16*q), ymm[10+q])
			}
			for q := 0; q < 4; q++ {
				for r := 0; r < mr; r++ {
					t := ymm[14+prod%2]
					prod++
					VPMADDWD(ymm[10+q], ymm[8+r], t)
					VPADDD(t, acc(r, p, q), acc(r, p, q))
				}
			}
		}
	}
	const unroll = 2
	Label(label(fn, "loop"))
	CMPQ(k, U32(unroll))
	JL(LabelRef(label(fn, "tail")))
	for u := 0; u < unroll; u++ {
		step(u)
	}
	ADDQ(U32(4*unroll), a)
	ADDQ(U32(64*unroll), b)
	SUBQ(U32(unroll), k)
	JMP(LabelRef(label(fn, "loop")))
	Label(label(fn, "tail"))
	TESTQ(k, k)
	JZ(LabelRef(label(fn, "epilogue")))
	step(0)

	Label(label(fn, "epilogue"))
	c, ldc, flag := RDX, R12, R13
	Load(Param("c"), c)
	Load(Param("ldc"), ldc)
	SHLQ(U8(2), ldc)
	Load(Param("acc"), flag)
	// Fold lane pairs: VPHADDD gives [c0 c1 c4 c5 | c2 c3 c6 c7], VPERMQ
	// 0xD8 puts the middle quadwords in order.
	for r := 0; r < mr; r++ {
		for p := 0; p < np; p++ {
			VPHADDD(acc(r, p, 1), acc(r, p, 0), acc(r, p, 0))
			VPERMQ(U8(0xd8), acc(r, p, 0), acc(r, p, 0))
			VPHADDD(acc(r, p, 3), acc(r, p, 2), acc(r, p, 1))
			VPERMQ(U8(0xd8), acc(r, p, 1), acc(r, p, 1))
		}
	}
	cMem := func(r, disp int) Mem {
		if r == 0 {
			return mem(c, nil, 0, disp)
		}
		return mem(c, ldc, 1, disp)
	}
	TESTQ(flag, flag)
	JZ(LabelRef(label(fn, "store")))
	for r := 0; r < mr; r++ {
		for p := 0; p < np; p++ {
			VPADDD(cMem(r, 64*p), acc(r, p, 0), acc(r, p, 0))
			VPADDD(cMem(r, 64*p+32), acc(r, p, 1), acc(r, p, 1))
		}
	}
	Label(label(fn, "store"))
	for r := 0; r < mr; r++ {
		for p := 0; p < np; p++ {
			VMOVDQU(acc(r, p, 0), cMem(r, 64*p))
			VMOVDQU(acc(r, p, 1), cMem(r, 64*p+32))
		}
	}
	VZEROUPPER()
	RET()
}
