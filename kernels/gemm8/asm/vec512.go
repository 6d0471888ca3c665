package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The vector passes around the product, 16 float32 or int32 per ZMM: each
// loops over n full vectors and then, when mask is not zero, does one more
// under the opmask K1 (masked loads do not fault past the end).

// vecLoop emits the loop over n (in CX) full vectors and the masked tail;
// body(masked) emits one vector's work, advance the pointer increments.
func vecLoop(fn string, body func(masked bool), advance func()) {
	Load(Param("mask"), RAX)
	KMOVQ(RAX, K1)
	Label(label(fn, "loop"))
	TESTQ(RCX, RCX)
	JZ(LabelRef(label(fn, "tail")))
	body(false)
	advance()
	DECQ(RCX)
	JMP(LabelRef(label(fn, "loop")))
	Label(label(fn, "tail"))
	TESTQ(RAX, RAX)
	JZ(LabelRef(label(fn, "done")))
	body(true)
	Label(label(fn, "done"))
}

// dequant512 emits y = act(float32(acc − zero·sums) · (scale·bs) + bias).
func dequant512() {
	const fn = "dequant512"
	TEXT(fn, NOSPLIT, "func(y *float32, acc *int32, sums *int32, bs *float32, bias *float32, n int, mask uint64, zero int32, scale float32, relu int)")
	Pragma("noescape")
	Doc(fn + " dequantizes n full vectors and a masked tail of int32 sums into float32.")
	y, acc, sums, bs, bias, relu := RDI, RSI, RDX, R8, R9, R10
	Load(Param("y"), y)
	Load(Param("acc"), acc)
	Load(Param("sums"), sums)
	Load(Param("bs"), bs)
	Load(Param("bias"), bias)
	Load(Param("relu"), relu)
	Load(Param("n"), RCX)
	Load(Param("zero"), EBX)
	VPBROADCASTD(EBX, Z31)
	scale, _ := Param("scale").Resolve()
	VBROADCASTSS(scale.Addr, Z30)
	VPXORD(Z29, Z29, Z29)
	body := func(masked bool) {
		if masked {
			VMOVDQU32_Z(mem(sums, nil, 0, 0), K1, Z0)
			VMOVDQU32_Z(mem(acc, nil, 0, 0), K1, Z1)
			VMOVUPS_Z(mem(bs, nil, 0, 0), K1, Z2)
		} else {
			VMOVDQU32(mem(sums, nil, 0, 0), Z0)
			VMOVDQU32(mem(acc, nil, 0, 0), Z1)
			VMOVUPS(mem(bs, nil, 0, 0), Z2)
		}
		VPMULLD(Z31, Z0, Z0)
		VPSUBD(Z0, Z1, Z1)
		VCVTDQ2PS(Z1, Z1)
		VMULPS(Z30, Z2, Z2)
		VMULPS(Z2, Z1, Z1)
		skip := label(fn, "nobias")
		if masked {
			skip += "_tail"
		}
		TESTQ(bias, bias)
		JZ(LabelRef(skip))
		if masked {
			VMOVUPS_Z(mem(bias, nil, 0, 0), K1, Z3)
		} else {
			VMOVUPS(mem(bias, nil, 0, 0), Z3)
		}
		VADDPS(Z3, Z1, Z1)
		Label(skip)
		norelu := label(fn, "norelu")
		if masked {
			norelu += "_tail"
		}
		TESTQ(relu, relu)
		JZ(LabelRef(norelu))
		VMAXPS(Z29, Z1, Z1)
		Label(norelu)
		if masked {
			VMOVUPS(Z1, K1, mem(y, nil, 0, 0))
		} else {
			VMOVUPS(Z1, mem(y, nil, 0, 0))
		}
	}
	vecLoop(fn, body, func() {
		ADDQ(U8(64), y)
		ADDQ(U8(64), acc)
		ADDQ(U8(64), sums)
		ADDQ(U8(64), bs)
		TESTQ(bias, bias)
		JZ(LabelRef(label(fn, "advanced")))
		ADDQ(U8(64), bias)
		Label(label(fn, "advanced"))
	})
	VZEROUPPER()
	RET()
}

// quantize512 emits q = byte(int32(min(max(x·inv + shift + ½, 0), 255))) ^
// flip, the same float32 operations, in the same order, as the Go loop.
func quantize512() {
	const fn = "quantize512"
	TEXT(fn, NOSPLIT, "func(q *byte, x *float32, n int, mask uint64, inv float32, shift float32, flip int)")
	Pragma("noescape")
	Doc(fn + " quantizes n full vectors and a masked tail of float32 to bytes.")
	q, x := RDI, RSI
	Load(Param("q"), q)
	Load(Param("x"), x)
	Load(Param("n"), RCX)
	inv, _ := Param("inv").Resolve()
	shift, _ := Param("shift").Resolve()
	VBROADCASTSS(inv.Addr, Z31)
	VBROADCASTSS(shift.Addr, Z30)
	MOVL(U32(0x3f000000), EBX) // 0.5
	VPBROADCASTD(EBX, Z29)
	VPXORD(Z28, Z28, Z28)
	MOVL(U32(0x437f0000), EBX) // 255.0
	VPBROADCASTD(EBX, Z27)
	Load(Param("flip"), RBX)
	VPBROADCASTB(EBX, Z26)
	body := func(masked bool) {
		if masked {
			VMOVUPS_Z(mem(x, nil, 0, 0), K1, Z0)
			VMULPS(Z31, Z0, Z0)
		} else {
			VMULPS(mem(x, nil, 0, 0), Z31, Z0)
		}
		VADDPS(Z30, Z0, Z0)
		VADDPS(Z29, Z0, Z0)
		VMAXPS(Z28, Z0, Z0)
		VMINPS(Z27, Z0, Z0)
		VCVTTPS2DQ(Z0, Z0)
		VPMOVDB(Z0, X1)
		VPXORD(X26, X1, X1)
		if masked {
			VMOVDQU8(X1, K1, mem(q, nil, 0, 0))
		} else {
			VMOVDQU(X1, mem(q, nil, 0, 0))
		}
	}
	vecLoop(fn, body, func() {
		ADDQ(U8(16), q)
		ADDQ(U8(64), x)
	})
	VZEROUPPER()
	RET()
}

// minMax512 emits the running minimum and maximum of n full vectors and a
// masked tail, seeded with x[0], and whether any element is NaN.
func minMax512() {
	const fn = "minMax512"
	TEXT(fn, NOSPLIT, "func(x *float32, n int, mask uint64) (lo float32, hi float32, nan int)")
	Pragma("noescape")
	Doc(fn + " returns the extremes of n full vectors and a masked tail, and a non-zero nan if any element is NaN.")
	x := RSI
	Load(Param("x"), x)
	Load(Param("n"), RCX)
	VBROADCASTSS(mem(x, nil, 0, 0), Z0)
	VMOVAPS(Z0, Z1)
	KXORW(K3, K3, K3)
	body := func(masked bool) {
		if masked {
			VMOVUPS_Z(mem(x, nil, 0, 0), K1, Z2)
			VMINPS(Z2, Z0, K1, Z0)
			VMAXPS(Z2, Z1, K1, Z1)
			VCMPPS(U8(3), Z2, Z2, K1, K2) // unordered: NaN
		} else {
			VMOVUPS(mem(x, nil, 0, 0), Z2)
			VMINPS(Z2, Z0, Z0)
			VMAXPS(Z2, Z1, Z1)
			VCMPPS(U8(3), Z2, Z2, K2)
		}
		KORW(K2, K3, K3)
	}
	vecLoop(fn, body, func() { ADDQ(U8(64), x) })
	reduce := func(op func(...Op), z VecPhysical, y VecPhysical, xr VecPhysical) {
		VEXTRACTF64X4(U8(1), z, Y2)
		op(Y2, y, y)
		VEXTRACTF128(U8(1), y, X2)
		op(X2, xr, xr)
		VPERMILPS(U8(0x4e), xr, X2)
		op(X2, xr, xr)
		VPERMILPS(U8(0xb1), xr, X2)
		op(X2, xr, xr)
	}
	reduce(VMINPS, Z0, Y0, X0)
	reduce(VMAXPS, Z1, Y1, X1)
	Store(X0, Return("lo"))
	Store(X1, Return("hi"))
	KMOVW(K3, EAX)
	Store(RAX, Return("nan"))
	VZEROUPPER()
	RET()
}
