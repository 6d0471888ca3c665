package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// AVX2 register tiling: up to mr256 rows of A times one packed panel (two
// YMM vectors of 8 columns). 6×16 uses Y0-Y11 as accumulators, Y12/Y13 for
// the B vectors and Y14/Y15 for the broadcast A values. Tiles are always
// full: package gemm runs partial tiles through a stack buffer.
const mr256 = 6

var ymm = []VecPhysical{Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7, Y8, Y9, Y10, Y11, Y12, Y13, Y14, Y15}

// gemm256 emits gemm256m{mr}: C[mr×16] (op)= A[mr×k]·B for one panel.
func gemm256(mr int) {
	fn := fmt.Sprintf("gemm256m%d", mr)
	TEXT(fn, NOSPLIT, "func(a *float32, lda int, b *float32, k int, c *float32, ldc int, bias *float32, flags int, alpha float32)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s computes a %d×16 tile of C = A·B with the epilogue in flags.", fn, mr))

	a0, a3, lda, b, k := RSI, RDI, R8, R9, RCX
	Load(Param("a"), a0)
	Load(Param("lda"), lda)
	SHLQ(U8(2), lda)
	Load(Param("b"), b)
	Load(Param("k"), k)
	if mr > 3 {
		LEAQ(mem(a0, lda, 2, 0), a3)
		ADDQ(lda, a3)
	}
	acc := func(r, v int) VecPhysical { return ymm[2*r+v] }
	for r := 0; r < mr; r++ {
		for v := 0; v < 2; v++ {
			VXORPS(acc(r, v), acc(r, v), acc(r, v))
		}
	}
	step := func(u int) {
		VMOVUPS(mem(b, nil, 0, 64*u), Y12)
		VMOVUPS(mem(b, nil, 0, 64*u+32), Y13)
		for r := 0; r < mr; r++ {
			bc := ymm[14+r%2]
			VBROADCASTSS(rowMem(a0, a3, lda, r, 4*u), bc)
			VFMADD231PS(Y12, bc, acc(r, 0))
			VFMADD231PS(Y13, bc, acc(r, 1))
		}
	}
	advance := func(u int) {
		ADDQ(U32(4*u), a0)
		if mr > 3 {
			ADDQ(U32(4*u), a3)
		}
		ADDQ(U32(64*u), b)
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
	Load(Param("flags"), flags)
	Load(Param("bias"), bias)
	alpha, _ := Param("alpha").Resolve()
	epilogue256(fn, mr, acc, func(r, v int) Mem { return rowMem(c, c3, ldc, r, 32*v) }, flags, bias, alpha.Addr)
	VZEROUPPER()
	RET()
}

// epilogue256 applies accumulate, bias and activation to full 16-column
// rows and stores them. It uses Y12-Y15.
func epilogue256(fn string, mr int, acc func(r, v int) VecPhysical, cMem func(r, v int) Mem, flags, bias Register, alpha Mem) {
	each := func(f func(a VecPhysical, r, v int)) {
		for r := 0; r < mr; r++ {
			for v := 0; v < 2; v++ {
				f(acc(r, v), r, v)
			}
		}
	}
	TESTQ(U32(flagAccumulate), flags)
	JZ(LabelRef(label(fn, "noacc")))
	each(func(a VecPhysical, r, v int) { VADDPS(cMem(r, v), a, a) })
	Label(label(fn, "noacc"))
	TESTQ(U32(flagBias), flags)
	JZ(LabelRef(label(fn, "nobias")))
	each(func(a VecPhysical, _, v int) { VADDPS(mem(bias, nil, 0, 32*v), a, a) })
	Label(label(fn, "nobias"))
	TESTQ(U32(actRelu), flags)
	JNZ(LabelRef(label(fn, "relu")))
	TESTQ(U32(actLeaky), flags)
	JNZ(LabelRef(label(fn, "leaky")))
	JMP(LabelRef(label(fn, "store")))

	Label(label(fn, "relu"))
	VXORPS(Y12, Y12, Y12)
	each(func(a VecPhysical, _, _ int) { VMAXPS(Y12, a, a) })
	JMP(LabelRef(label(fn, "store")))

	Label(label(fn, "leaky"))
	VXORPS(Y12, Y12, Y12)
	VBROADCASTSS(alpha, Y13)
	each(func(a VecPhysical, _, _ int) {
		VMULPS(Y13, a, Y14)
		VCMPPS(U8(1), Y12, a, Y15) // Y15 = a < 0 (LT_OS)
		VBLENDVPS(Y15, Y14, a, a)
	})

	Label(label(fn, "store"))
	each(func(a VecPhysical, r, v int) { VMOVUPS(a, cMem(r, v)) })
}

// gemv256 emits gemv256: c = a·B for np full panels, four accumulator
// pairs (Y0-Y7) in flight.
func gemv256() {
	fn := "gemv256"
	TEXT(fn, NOSPLIT, "func(a *float32, b *float32, k int, c *float32, np int, bias *float32, flags int, alpha float32)")
	Pragma("noescape")
	Doc("gemv256 computes c = a·B for np panels with the epilogue in flags.")

	a, b, kk, c, np, flags, bias := RSI, R9, RCX, RDX, RDI, R13, RAX
	Load(Param("b"), b)
	Load(Param("c"), c)
	Load(Param("np"), np)
	Load(Param("flags"), flags)
	Load(Param("bias"), bias)
	alpha, _ := Param("alpha").Resolve()

	Label(label(fn, "panel"))
	Load(Param("a"), a)
	Load(Param("k"), kk)
	for i := 0; i < 8; i++ {
		VXORPS(ymm[i], ymm[i], ymm[i])
	}
	const unroll = 4
	Label(label(fn, "loop"))
	CMPQ(kk, U32(unroll))
	JL(LabelRef(label(fn, "tail")))
	for u := 0; u < unroll; u++ {
		bc := ymm[8+u]
		VBROADCASTSS(mem(a, nil, 0, 4*u), bc)
		VFMADD231PS(mem(b, nil, 0, 64*u), bc, ymm[2*u])
		VFMADD231PS(mem(b, nil, 0, 64*u+32), bc, ymm[2*u+1])
	}
	ADDQ(U32(4*unroll), a)
	ADDQ(U32(64*unroll), b)
	SUBQ(U32(unroll), kk)
	JMP(LabelRef(label(fn, "loop")))
	Label(label(fn, "tail"))
	TESTQ(kk, kk)
	JZ(LabelRef(label(fn, "reduce")))
	VBROADCASTSS(mem(a, nil, 0, 0), Y8)
	VFMADD231PS(mem(b, nil, 0, 0), Y8, Y0)
	VFMADD231PS(mem(b, nil, 0, 32), Y8, Y1)
	ADDQ(U8(4), a)
	ADDQ(U8(64), b)
	DECQ(kk)
	JMP(LabelRef(label(fn, "tail")))
	Label(label(fn, "reduce"))
	for v := 0; v < 2; v++ {
		VADDPS(ymm[2+v], ymm[v], ymm[v])
		VADDPS(ymm[6+v], ymm[4+v], ymm[4+v])
		VADDPS(ymm[4+v], ymm[v], ymm[v])
	}
	acc := func(_, v int) VecPhysical { return ymm[v] }
	epilogue256(fn, 1, acc, func(_, v int) Mem { return mem(c, nil, 0, 32*v) }, flags, bias, alpha.Addr)
	ADDQ(U32(64), c)
	ADDQ(U32(64), bias)
	DECQ(np)
	JNZ(LabelRef(label(fn, "panel")))
	VZEROUPPER()
	RET()
}

// peak256 emits a register-resident loop of 12 independent YMM FMAs per
// iteration (192 flops).
func peak256() {
	TEXT("peak256", NOSPLIT, "func(iters int)")
	Doc("peak256 runs iters iterations of 12 independent YMM FMAs.")
	n := RCX
	Load(Param("iters"), n)
	for i := 0; i < 14; i++ {
		VXORPS(ymm[i], ymm[i], ymm[i])
	}
	Label("peak256_loop")
	for i := 0; i < 12; i++ {
		VFMADD231PS(Y12, Y13, ymm[i])
	}
	DECQ(n)
	JNZ(LabelRef("peak256_loop"))
	VZEROUPPER()
	RET()
}
