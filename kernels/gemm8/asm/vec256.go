package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The AVX2 vector passes: the same operations as the AVX-512 ones, 8 lanes
// at a time, over n full vectors only (the Go wrappers finish the tails).

// loop8 emits a loop over n (in CX) vectors.
func loop8(fn string, body func(), advance func()) {
	Label(label(fn, "loop"))
	TESTQ(RCX, RCX)
	JZ(LabelRef(label(fn, "done")))
	body()
	advance()
	DECQ(RCX)
	JMP(LabelRef(label(fn, "loop")))
	Label(label(fn, "done"))
}

// broadcastD broadcasts the 32-bit register r to all lanes of y (AVX2 has
// no broadcast from a general register).
func broadcastD(r Register, x, y VecPhysical) {
	MOVQ(r, x)
	VPBROADCASTD(x, y)
}

func dequant256() {
	const fn = "dequant256"
	TEXT(fn, NOSPLIT, "func(y *float32, acc *int32, sums *int32, bs *float32, bias *float32, n int, zero int32, scale float32, relu int)")
	Pragma("noescape")
	Doc(fn + " dequantizes n vectors of 8 int32 sums into float32.")
	y, acc, sums, bs, bias, relu := RDI, RSI, RDX, R8, R9, R10
	Load(Param("y"), y)
	Load(Param("acc"), acc)
	Load(Param("sums"), sums)
	Load(Param("bs"), bs)
	Load(Param("bias"), bias)
	Load(Param("relu"), relu)
	Load(Param("n"), RCX)
	Load(Param("zero"), EBX)
	broadcastD(RBX, X15, Y15)
	scale, _ := Param("scale").Resolve()
	VBROADCASTSS(scale.Addr, Y14)
	VPXOR(Y13, Y13, Y13)
	loop8(fn, func() {
		VMOVDQU(mem(sums, nil, 0, 0), Y0)
		VPMULLD(Y15, Y0, Y0)
		VMOVDQU(mem(acc, nil, 0, 0), Y1)
		VPSUBD(Y0, Y1, Y1)
		VCVTDQ2PS(Y1, Y1)
		VMULPS(mem(bs, nil, 0, 0), Y14, Y2)
		VMULPS(Y2, Y1, Y1)
		TESTQ(bias, bias)
		JZ(LabelRef(label(fn, "nobias")))
		VADDPS(mem(bias, nil, 0, 0), Y1, Y1)
		ADDQ(U8(32), bias)
		Label(label(fn, "nobias"))
		TESTQ(relu, relu)
		JZ(LabelRef(label(fn, "norelu")))
		VMAXPS(Y13, Y1, Y1)
		Label(label(fn, "norelu"))
		VMOVUPS(Y1, mem(y, nil, 0, 0))
	}, func() {
		ADDQ(U8(32), y)
		ADDQ(U8(32), acc)
		ADDQ(U8(32), sums)
		ADDQ(U8(32), bs)
	})
	VZEROUPPER()
	RET()
}

func quantize256() {
	const fn = "quantize256"
	TEXT(fn, NOSPLIT, "func(q *byte, x *float32, n int, inv float32, shift float32, flip int)")
	Pragma("noescape")
	Doc(fn + " quantizes n vectors of 8 float32 to bytes.")
	q, x := RDI, RSI
	Load(Param("q"), q)
	Load(Param("x"), x)
	Load(Param("n"), RCX)
	inv, _ := Param("inv").Resolve()
	shift, _ := Param("shift").Resolve()
	VBROADCASTSS(inv.Addr, Y15)
	VBROADCASTSS(shift.Addr, Y14)
	MOVL(U32(0x3f000000), EBX) // 0.5
	broadcastD(RBX, X13, Y13)
	VPXOR(Y12, Y12, Y12)
	MOVL(U32(0x437f0000), EBX) // 255.0
	broadcastD(RBX, X11, Y11)
	Load(Param("flip"), RBX)
	MOVQ(RBX, X10)
	VPBROADCASTB(X10, X10)
	loop8(fn, func() {
		VMULPS(mem(x, nil, 0, 0), Y15, Y0)
		VADDPS(Y14, Y0, Y0)
		VADDPS(Y13, Y0, Y0)
		VMAXPS(Y12, Y0, Y0)
		VMINPS(Y11, Y0, Y0)
		VCVTTPS2DQ(Y0, Y0)
		VEXTRACTI128(U8(1), Y0, X1)
		VPACKUSDW(X1, X0, X0)
		VPACKUSWB(X0, X0, X0)
		VPXOR(X10, X0, X0)
		MOVQ(X0, mem(q, nil, 0, 0))
	}, func() {
		ADDQ(U8(8), q)
		ADDQ(U8(32), x)
	})
	VZEROUPPER()
	RET()
}

func minMax256() {
	const fn = "minMax256"
	TEXT(fn, NOSPLIT, "func(x *float32, n int) (lo float32, hi float32, nan int)")
	Pragma("noescape")
	Doc(fn + " returns the extremes of n ≥ 1 vectors of 8 float32, and a non-zero nan if any is NaN.")
	x := RSI
	Load(Param("x"), x)
	Load(Param("n"), RCX)
	VBROADCASTSS(mem(x, nil, 0, 0), Y0)
	VMOVAPS(Y0, Y1)
	VXORPS(Y4, Y4, Y4)
	loop8(fn, func() {
		VMOVUPS(mem(x, nil, 0, 0), Y2)
		VMINPS(Y2, Y0, Y0)
		VMAXPS(Y2, Y1, Y1)
		VCMPPS(U8(3), Y2, Y2, Y3) // unordered: NaN
		VORPS(Y3, Y4, Y4)
	}, func() { ADDQ(U8(32), x) })
	reduce := func(op func(...Op), y, xr VecPhysical) {
		VEXTRACTF128(U8(1), y, X2)
		op(X2, xr, xr)
		VPERMILPS(U8(0x4e), xr, X2)
		op(X2, xr, xr)
		VPERMILPS(U8(0xb1), xr, X2)
		op(X2, xr, xr)
	}
	reduce(VMINPS, Y0, X0)
	reduce(VMAXPS, Y1, X1)
	Store(X0, Return("lo"))
	Store(X1, Return("hi"))
	VMOVMSKPS(Y4, EAX)
	Store(RAX, Return("nan"))
	VZEROUPPER()
	RET()
}
