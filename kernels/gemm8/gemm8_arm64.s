//go:build !purego

#include "textflag.h"

// Hand-written arm64 kernels for package gemm8 (see stubs_arm64.go and
// sets_arm64.go). Go's arm64 assembler has no SDOT, SMULL or SADALP, so
// they are emitted as WORDs by the macros below (register numbers as
// integers; the encodings are the A64 ones for the 128-bit forms).
//
// Both sets compute A·B on uint8 A and int8 B as (A ^ 0x80)·B + 128·colsum:
// A ^ 0x80 is A − 128 as an int8, so the products are int8 × int8, and the
// column sums stored after the panels restore the offset. The correction is
// added when acc == 0 (the first call over a tile); acc != 0 adds to C
// instead. All sums are int32 and wrap, so the result is bit-identical to
// the pure-Go kernel.

// SDOT Vd.4S, Vn.16B, Vm.4B[i] (FEAT_DotProd): each 32-bit lane of Vd
// gains the dot product of its 4 bytes of Vn with 4-byte group i of Vm.
#define SDOT(d, n, m, i) WORD $(0x4F80E000 | (((i)&1)<<21) | (((i)>>1)<<11) | ((m)<<16) | ((n)<<5) | (d))

// SMULL Vd.8H, Vn.8B, Vm.8B and SMULL2 Vd.8H, Vn.16B, Vm.16B: the low
// (high) 8 bytes multiplied into 8 exact int16 products.
#define SMULL(d, n, m) WORD $(0x0E20C000 | ((m)<<16) | ((n)<<5) | (d))
#define SMULL2(d, n, m) WORD $(0x4E20C000 | ((m)<<16) | ((n)<<5) | (d))

// SADALP Vd.4S, Vn.8H: Vd lane i += Vn[2i] + Vn[2i+1], exact in int32.
#define SADALP(d, n) WORD $(0x4E606800 | ((n)<<5) | (d))

// sdotM4: V(4r+q) accumulates row r, columns 4q..4q+3 of the panel; V20-V23
// hold A (XORed with V24 = 0x80 in every byte), V16-V19/V25-V28 one packed
// B row (64 bytes: 4 columns × 4 k per register).
//
// func sdotM4(a *uint8, lda int, b *byte, kg int, c *int32, ldc int, sums *int32, acc int)
TEXT ·sdotM4(SB), NOSPLIT, $0-64
	MOVD a+0(FP), R0
	MOVD lda+8(FP), R1
	MOVD b+16(FP), R2
	MOVD kg+24(FP), R3
	MOVD c+32(FP), R4
	MOVD ldc+40(FP), R5
	LSL $2, R5
	MOVD sums+48(FP), R6
	MOVD acc+56(FP), R7
	ADD R1, R0, R8
	ADD R1, R8, R9
	ADD R1, R9, R10
	VMOVI $128, V24.B16
	VEOR V0.B16, V0.B16, V0.B16
	VEOR V1.B16, V1.B16, V1.B16
	VEOR V2.B16, V2.B16, V2.B16
	VEOR V3.B16, V3.B16, V3.B16
	VEOR V4.B16, V4.B16, V4.B16
	VEOR V5.B16, V5.B16, V5.B16
	VEOR V6.B16, V6.B16, V6.B16
	VEOR V7.B16, V7.B16, V7.B16
	VEOR V8.B16, V8.B16, V8.B16
	VEOR V9.B16, V9.B16, V9.B16
	VEOR V10.B16, V10.B16, V10.B16
	VEOR V11.B16, V11.B16, V11.B16
	VEOR V12.B16, V12.B16, V12.B16
	VEOR V13.B16, V13.B16, V13.B16
	VEOR V14.B16, V14.B16, V14.B16
	VEOR V15.B16, V15.B16, V15.B16

	// Four k groups per pass: 16 bytes of each A row, one SDOT lane index
	// per group, B alternating between V16-V19 and V25-V28.
m4quad:
	CMP $4, R3
	BLT m4single
	VLD1.P 16(R0), [V20.B16]
	VLD1.P 16(R8), [V21.B16]
	VLD1.P 16(R9), [V22.B16]
	VLD1.P 16(R10), [V23.B16]
	VEOR V24.B16, V20.B16, V20.B16
	VEOR V24.B16, V21.B16, V21.B16
	VEOR V24.B16, V22.B16, V22.B16
	VEOR V24.B16, V23.B16, V23.B16
	VLD1.P 64(R2), [V16.B16, V17.B16, V18.B16, V19.B16]
	SDOT(0, 16, 20, 0)
	SDOT(1, 17, 20, 0)
	SDOT(2, 18, 20, 0)
	SDOT(3, 19, 20, 0)
	SDOT(4, 16, 21, 0)
	SDOT(5, 17, 21, 0)
	SDOT(6, 18, 21, 0)
	SDOT(7, 19, 21, 0)
	SDOT(8, 16, 22, 0)
	SDOT(9, 17, 22, 0)
	SDOT(10, 18, 22, 0)
	SDOT(11, 19, 22, 0)
	SDOT(12, 16, 23, 0)
	SDOT(13, 17, 23, 0)
	SDOT(14, 18, 23, 0)
	SDOT(15, 19, 23, 0)
	VLD1.P 64(R2), [V25.B16, V26.B16, V27.B16, V28.B16]
	SDOT(0, 25, 20, 1)
	SDOT(1, 26, 20, 1)
	SDOT(2, 27, 20, 1)
	SDOT(3, 28, 20, 1)
	SDOT(4, 25, 21, 1)
	SDOT(5, 26, 21, 1)
	SDOT(6, 27, 21, 1)
	SDOT(7, 28, 21, 1)
	SDOT(8, 25, 22, 1)
	SDOT(9, 26, 22, 1)
	SDOT(10, 27, 22, 1)
	SDOT(11, 28, 22, 1)
	SDOT(12, 25, 23, 1)
	SDOT(13, 26, 23, 1)
	SDOT(14, 27, 23, 1)
	SDOT(15, 28, 23, 1)
	VLD1.P 64(R2), [V16.B16, V17.B16, V18.B16, V19.B16]
	SDOT(0, 16, 20, 2)
	SDOT(1, 17, 20, 2)
	SDOT(2, 18, 20, 2)
	SDOT(3, 19, 20, 2)
	SDOT(4, 16, 21, 2)
	SDOT(5, 17, 21, 2)
	SDOT(6, 18, 21, 2)
	SDOT(7, 19, 21, 2)
	SDOT(8, 16, 22, 2)
	SDOT(9, 17, 22, 2)
	SDOT(10, 18, 22, 2)
	SDOT(11, 19, 22, 2)
	SDOT(12, 16, 23, 2)
	SDOT(13, 17, 23, 2)
	SDOT(14, 18, 23, 2)
	SDOT(15, 19, 23, 2)
	VLD1.P 64(R2), [V25.B16, V26.B16, V27.B16, V28.B16]
	SDOT(0, 25, 20, 3)
	SDOT(1, 26, 20, 3)
	SDOT(2, 27, 20, 3)
	SDOT(3, 28, 20, 3)
	SDOT(4, 25, 21, 3)
	SDOT(5, 26, 21, 3)
	SDOT(6, 27, 21, 3)
	SDOT(7, 28, 21, 3)
	SDOT(8, 25, 22, 3)
	SDOT(9, 26, 22, 3)
	SDOT(10, 27, 22, 3)
	SDOT(11, 28, 22, 3)
	SDOT(12, 25, 23, 3)
	SDOT(13, 26, 23, 3)
	SDOT(14, 27, 23, 3)
	SDOT(15, 28, 23, 3)
	SUB $4, R3
	B m4quad

	// One k group per pass: 4 bytes of each A row in every lane.
m4single:
	CBZ R3, m4end
	VLD1R.P 4(R0), [V20.S4]
	VLD1R.P 4(R8), [V21.S4]
	VLD1R.P 4(R9), [V22.S4]
	VLD1R.P 4(R10), [V23.S4]
	VEOR V24.B16, V20.B16, V20.B16
	VEOR V24.B16, V21.B16, V21.B16
	VEOR V24.B16, V22.B16, V22.B16
	VEOR V24.B16, V23.B16, V23.B16
	VLD1.P 64(R2), [V16.B16, V17.B16, V18.B16, V19.B16]
	SDOT(0, 16, 20, 0)
	SDOT(1, 17, 20, 0)
	SDOT(2, 18, 20, 0)
	SDOT(3, 19, 20, 0)
	SDOT(4, 16, 21, 0)
	SDOT(5, 17, 21, 0)
	SDOT(6, 18, 21, 0)
	SDOT(7, 19, 21, 0)
	SDOT(8, 16, 22, 0)
	SDOT(9, 17, 22, 0)
	SDOT(10, 18, 22, 0)
	SDOT(11, 19, 22, 0)
	SDOT(12, 16, 23, 0)
	SDOT(13, 17, 23, 0)
	SDOT(14, 18, 23, 0)
	SDOT(15, 19, 23, 0)
	SUB $1, R3
	B m4single

m4end:
	MOVD R4, R11
	CBNZ R7, m4acc
	// First call: add 128·colsum to every row.
	VLD1 (R6), [V16.S4, V17.S4, V18.S4, V19.S4]
	VSHL $7, V16.S4, V16.S4
	VSHL $7, V17.S4, V17.S4
	VSHL $7, V18.S4, V18.S4
	VSHL $7, V19.S4, V19.S4
	VADD V16.S4, V0.S4, V0.S4
	VADD V17.S4, V1.S4, V1.S4
	VADD V18.S4, V2.S4, V2.S4
	VADD V19.S4, V3.S4, V3.S4
	VADD V16.S4, V4.S4, V4.S4
	VADD V17.S4, V5.S4, V5.S4
	VADD V18.S4, V6.S4, V6.S4
	VADD V19.S4, V7.S4, V7.S4
	VADD V16.S4, V8.S4, V8.S4
	VADD V17.S4, V9.S4, V9.S4
	VADD V18.S4, V10.S4, V10.S4
	VADD V19.S4, V11.S4, V11.S4
	VADD V16.S4, V12.S4, V12.S4
	VADD V17.S4, V13.S4, V13.S4
	VADD V18.S4, V14.S4, V14.S4
	VADD V19.S4, V15.S4, V15.S4
	VST1 [V0.S4, V1.S4, V2.S4, V3.S4], (R11)
	ADD R5, R11
	VST1 [V4.S4, V5.S4, V6.S4, V7.S4], (R11)
	ADD R5, R11
	VST1 [V8.S4, V9.S4, V10.S4, V11.S4], (R11)
	ADD R5, R11
	VST1 [V12.S4, V13.S4, V14.S4, V15.S4], (R11)
	RET

m4acc:
	VLD1 (R11), [V16.S4, V17.S4, V18.S4, V19.S4]
	VADD V16.S4, V0.S4, V0.S4
	VADD V17.S4, V1.S4, V1.S4
	VADD V18.S4, V2.S4, V2.S4
	VADD V19.S4, V3.S4, V3.S4
	VST1 [V0.S4, V1.S4, V2.S4, V3.S4], (R11)
	ADD R5, R11
	VLD1 (R11), [V16.S4, V17.S4, V18.S4, V19.S4]
	VADD V16.S4, V4.S4, V4.S4
	VADD V17.S4, V5.S4, V5.S4
	VADD V18.S4, V6.S4, V6.S4
	VADD V19.S4, V7.S4, V7.S4
	VST1 [V4.S4, V5.S4, V6.S4, V7.S4], (R11)
	ADD R5, R11
	VLD1 (R11), [V16.S4, V17.S4, V18.S4, V19.S4]
	VADD V16.S4, V8.S4, V8.S4
	VADD V17.S4, V9.S4, V9.S4
	VADD V18.S4, V10.S4, V10.S4
	VADD V19.S4, V11.S4, V11.S4
	VST1 [V8.S4, V9.S4, V10.S4, V11.S4], (R11)
	ADD R5, R11
	VLD1 (R11), [V16.S4, V17.S4, V18.S4, V19.S4]
	VADD V16.S4, V12.S4, V12.S4
	VADD V17.S4, V13.S4, V13.S4
	VADD V18.S4, V14.S4, V14.S4
	VADD V19.S4, V15.S4, V15.S4
	VST1 [V12.S4, V13.S4, V14.S4, V15.S4], (R11)
	RET

// sdotM2: V(4r+q) accumulates row r, columns 4q..4q+3 of the panel; V20-V21
// hold A (XORed with V24 = 0x80 in every byte), V16-V19/V25-V28 one packed
// B row (64 bytes: 4 columns × 4 k per register).
//
// func sdotM2(a *uint8, lda int, b *byte, kg int, c *int32, ldc int, sums *int32, acc int)
TEXT ·sdotM2(SB), NOSPLIT, $0-64
	MOVD a+0(FP), R0
	MOVD lda+8(FP), R1
	MOVD b+16(FP), R2
	MOVD kg+24(FP), R3
	MOVD c+32(FP), R4
	MOVD ldc+40(FP), R5
	LSL $2, R5
	MOVD sums+48(FP), R6
	MOVD acc+56(FP), R7
	ADD R1, R0, R8
	VMOVI $128, V24.B16
	VEOR V0.B16, V0.B16, V0.B16
	VEOR V1.B16, V1.B16, V1.B16
	VEOR V2.B16, V2.B16, V2.B16
	VEOR V3.B16, V3.B16, V3.B16
	VEOR V4.B16, V4.B16, V4.B16
	VEOR V5.B16, V5.B16, V5.B16
	VEOR V6.B16, V6.B16, V6.B16
	VEOR V7.B16, V7.B16, V7.B16

	// Four k groups per pass: 16 bytes of each A row, one SDOT lane index
	// per group, B alternating between V16-V19 and V25-V28.
m2quad:
	CMP $4, R3
	BLT m2single
	VLD1.P 16(R0), [V20.B16]
	VLD1.P 16(R8), [V21.B16]
	VEOR V24.B16, V20.B16, V20.B16
	VEOR V24.B16, V21.B16, V21.B16
	VLD1.P 64(R2), [V16.B16, V17.B16, V18.B16, V19.B16]
	SDOT(0, 16, 20, 0)
	SDOT(1, 17, 20, 0)
	SDOT(2, 18, 20, 0)
	SDOT(3, 19, 20, 0)
	SDOT(4, 16, 21, 0)
	SDOT(5, 17, 21, 0)
	SDOT(6, 18, 21, 0)
	SDOT(7, 19, 21, 0)
	VLD1.P 64(R2), [V25.B16, V26.B16, V27.B16, V28.B16]
	SDOT(0, 25, 20, 1)
	SDOT(1, 26, 20, 1)
	SDOT(2, 27, 20, 1)
	SDOT(3, 28, 20, 1)
	SDOT(4, 25, 21, 1)
	SDOT(5, 26, 21, 1)
	SDOT(6, 27, 21, 1)
	SDOT(7, 28, 21, 1)
	VLD1.P 64(R2), [V16.B16, V17.B16, V18.B16, V19.B16]
	SDOT(0, 16, 20, 2)
	SDOT(1, 17, 20, 2)
	SDOT(2, 18, 20, 2)
	SDOT(3, 19, 20, 2)
	SDOT(4, 16, 21, 2)
	SDOT(5, 17, 21, 2)
	SDOT(6, 18, 21, 2)
	SDOT(7, 19, 21, 2)
	VLD1.P 64(R2), [V25.B16, V26.B16, V27.B16, V28.B16]
	SDOT(0, 25, 20, 3)
	SDOT(1, 26, 20, 3)
	SDOT(2, 27, 20, 3)
	SDOT(3, 28, 20, 3)
	SDOT(4, 25, 21, 3)
	SDOT(5, 26, 21, 3)
	SDOT(6, 27, 21, 3)
	SDOT(7, 28, 21, 3)
	SUB $4, R3
	B m2quad

	// One k group per pass: 4 bytes of each A row in every lane.
m2single:
	CBZ R3, m2end
	VLD1R.P 4(R0), [V20.S4]
	VLD1R.P 4(R8), [V21.S4]
	VEOR V24.B16, V20.B16, V20.B16
	VEOR V24.B16, V21.B16, V21.B16
	VLD1.P 64(R2), [V16.B16, V17.B16, V18.B16, V19.B16]
	SDOT(0, 16, 20, 0)
	SDOT(1, 17, 20, 0)
	SDOT(2, 18, 20, 0)
	SDOT(3, 19, 20, 0)
	SDOT(4, 16, 21, 0)
	SDOT(5, 17, 21, 0)
	SDOT(6, 18, 21, 0)
	SDOT(7, 19, 21, 0)
	SUB $1, R3
	B m2single

m2end:
	MOVD R4, R11
	CBNZ R7, m2acc
	// First call: add 128·colsum to every row.
	VLD1 (R6), [V16.S4, V17.S4, V18.S4, V19.S4]
	VSHL $7, V16.S4, V16.S4
	VSHL $7, V17.S4, V17.S4
	VSHL $7, V18.S4, V18.S4
	VSHL $7, V19.S4, V19.S4
	VADD V16.S4, V0.S4, V0.S4
	VADD V17.S4, V1.S4, V1.S4
	VADD V18.S4, V2.S4, V2.S4
	VADD V19.S4, V3.S4, V3.S4
	VADD V16.S4, V4.S4, V4.S4
	VADD V17.S4, V5.S4, V5.S4
	VADD V18.S4, V6.S4, V6.S4
	VADD V19.S4, V7.S4, V7.S4
	VST1 [V0.S4, V1.S4, V2.S4, V3.S4], (R11)
	ADD R5, R11
	VST1 [V4.S4, V5.S4, V6.S4, V7.S4], (R11)
	RET

m2acc:
	VLD1 (R11), [V16.S4, V17.S4, V18.S4, V19.S4]
	VADD V16.S4, V0.S4, V0.S4
	VADD V17.S4, V1.S4, V1.S4
	VADD V18.S4, V2.S4, V2.S4
	VADD V19.S4, V3.S4, V3.S4
	VST1 [V0.S4, V1.S4, V2.S4, V3.S4], (R11)
	ADD R5, R11
	VLD1 (R11), [V16.S4, V17.S4, V18.S4, V19.S4]
	VADD V16.S4, V4.S4, V4.S4
	VADD V17.S4, V5.S4, V5.S4
	VADD V18.S4, V6.S4, V6.S4
	VADD V19.S4, V7.S4, V7.S4
	VST1 [V4.S4, V5.S4, V6.S4, V7.S4], (R11)
	RET

// sdotGemv: per panel, V0-V3 (even k groups) and V4-V7 (odd) accumulate
// columns 4q..4q+3, summed before the store; np panels, ps bytes apart.
//
// func sdotGemv(a *uint8, b *byte, ps int, kg int, c *int32, sums *int32, np int, acc int)
TEXT ·sdotGemv(SB), NOSPLIT, $0-64
	MOVD b+8(FP), R2
	MOVD ps+16(FP), R5
	MOVD c+32(FP), R4
	MOVD sums+40(FP), R6
	MOVD np+48(FP), R8
	MOVD acc+56(FP), R7
	VMOVI $128, V24.B16

	// Per panel: two accumulator sets (even and odd k groups), eight SDOT
	// chains for one row.
g1panel:
	MOVD a+0(FP), R0
	MOVD kg+24(FP), R3
	MOVD R2, R12
	VEOR V0.B16, V0.B16, V0.B16
	VEOR V1.B16, V1.B16, V1.B16
	VEOR V2.B16, V2.B16, V2.B16
	VEOR V3.B16, V3.B16, V3.B16
	VEOR V4.B16, V4.B16, V4.B16
	VEOR V5.B16, V5.B16, V5.B16
	VEOR V6.B16, V6.B16, V6.B16
	VEOR V7.B16, V7.B16, V7.B16

g1quad:
	CMP $4, R3
	BLT g1single
	VLD1.P 16(R0), [V20.B16]
	VEOR V24.B16, V20.B16, V20.B16
	VLD1.P 64(R12), [V16.B16, V17.B16, V18.B16, V19.B16]
	SDOT(0, 16, 20, 0)
	SDOT(1, 17, 20, 0)
	SDOT(2, 18, 20, 0)
	SDOT(3, 19, 20, 0)
	VLD1.P 64(R12), [V25.B16, V26.B16, V27.B16, V28.B16]
	SDOT(4, 25, 20, 1)
	SDOT(5, 26, 20, 1)
	SDOT(6, 27, 20, 1)
	SDOT(7, 28, 20, 1)
	VLD1.P 64(R12), [V16.B16, V17.B16, V18.B16, V19.B16]
	SDOT(0, 16, 20, 2)
	SDOT(1, 17, 20, 2)
	SDOT(2, 18, 20, 2)
	SDOT(3, 19, 20, 2)
	VLD1.P 64(R12), [V25.B16, V26.B16, V27.B16, V28.B16]
	SDOT(4, 25, 20, 3)
	SDOT(5, 26, 20, 3)
	SDOT(6, 27, 20, 3)
	SDOT(7, 28, 20, 3)
	SUB $4, R3
	B g1quad

g1single:
	CBZ R3, g1end
	VLD1R.P 4(R0), [V20.S4]
	VEOR V24.B16, V20.B16, V20.B16
	VLD1.P 64(R12), [V16.B16, V17.B16, V18.B16, V19.B16]
	SDOT(0, 16, 20, 0)
	SDOT(1, 17, 20, 0)
	SDOT(2, 18, 20, 0)
	SDOT(3, 19, 20, 0)
	SUB $1, R3
	B g1single

g1end:
	VADD V4.S4, V0.S4, V0.S4
	VADD V5.S4, V1.S4, V1.S4
	VADD V6.S4, V2.S4, V2.S4
	VADD V7.S4, V3.S4, V3.S4
	CBNZ R7, g1acc
	VLD1 (R6), [V16.S4, V17.S4, V18.S4, V19.S4]
	VSHL $7, V16.S4, V16.S4
	VSHL $7, V17.S4, V17.S4
	VSHL $7, V18.S4, V18.S4
	VSHL $7, V19.S4, V19.S4
	B g1store

g1acc:
	VLD1 (R4), [V16.S4, V17.S4, V18.S4, V19.S4]

g1store:
	VADD V16.S4, V0.S4, V0.S4
	VADD V17.S4, V1.S4, V1.S4
	VADD V18.S4, V2.S4, V2.S4
	VADD V19.S4, V3.S4, V3.S4
	VST1.P [V0.S4, V1.S4, V2.S4, V3.S4], 64(R4)
	ADD $64, R6
	ADD R5, R2
	SUB $1, R8
	CBNZ R8, g1panel
	RET

// The NEON set has no dot product: per k group and 4 columns, SMULL and
// SMULL2 form the 16 int8 × int8 products as int16 (|p| ≤ 2^14, exact) and
// SADALP adds adjacent pairs into int32 accumulators, two per 4 columns
// ([c0 k01, c0 k23, c1 k01, c1 k23] and the same for c2, c3); VADDP folds
// the pairs at the end. SMLAL into int16 would be a third cheaper but
// overflows on (−128)·(−128) + (−128)·(−128) (A = 0 against B = −128).

// neonM2: V(8r+h) accumulates row r, pair sums of columns 2h and 2h+1;
// V20-V21 hold A (4 bytes repeated, XORed with V30 = 0x80), V16-V19 one
// packed B row, V22-V29 the int16 products.
//
// func neonM2(a *uint8, lda int, b *byte, kg int, c *int32, ldc int, sums *int32, acc int)
TEXT ·neonM2(SB), NOSPLIT, $0-64
	MOVD a+0(FP), R0
	MOVD lda+8(FP), R1
	MOVD b+16(FP), R2
	MOVD kg+24(FP), R3
	MOVD c+32(FP), R4
	MOVD ldc+40(FP), R5
	LSL $2, R5
	MOVD sums+48(FP), R6
	MOVD acc+56(FP), R7
	ADD R1, R0, R8
	VMOVI $128, V30.B16
	VEOR V0.B16, V0.B16, V0.B16
	VEOR V1.B16, V1.B16, V1.B16
	VEOR V2.B16, V2.B16, V2.B16
	VEOR V3.B16, V3.B16, V3.B16
	VEOR V4.B16, V4.B16, V4.B16
	VEOR V5.B16, V5.B16, V5.B16
	VEOR V6.B16, V6.B16, V6.B16
	VEOR V7.B16, V7.B16, V7.B16
	VEOR V8.B16, V8.B16, V8.B16
	VEOR V9.B16, V9.B16, V9.B16
	VEOR V10.B16, V10.B16, V10.B16
	VEOR V11.B16, V11.B16, V11.B16
	VEOR V12.B16, V12.B16, V12.B16
	VEOR V13.B16, V13.B16, V13.B16
	VEOR V14.B16, V14.B16, V14.B16
	VEOR V15.B16, V15.B16, V15.B16

n2loop:
	CBZ R3, n2end
	VLD1R.P 4(R0), [V20.S4]
	VLD1R.P 4(R8), [V21.S4]
	VEOR V30.B16, V20.B16, V20.B16
	VEOR V30.B16, V21.B16, V21.B16
	VLD1.P 64(R2), [V16.B16, V17.B16, V18.B16, V19.B16]
	SMULL(22, 16, 20)
	SMULL2(23, 16, 20)
	SMULL(24, 17, 20)
	SMULL2(25, 17, 20)
	SMULL(26, 18, 20)
	SMULL2(27, 18, 20)
	SMULL(28, 19, 20)
	SMULL2(29, 19, 20)
	SADALP(0, 22)
	SADALP(1, 23)
	SADALP(2, 24)
	SADALP(3, 25)
	SADALP(4, 26)
	SADALP(5, 27)
	SADALP(6, 28)
	SADALP(7, 29)
	SMULL(22, 16, 21)
	SMULL2(23, 16, 21)
	SMULL(24, 17, 21)
	SMULL2(25, 17, 21)
	SMULL(26, 18, 21)
	SMULL2(27, 18, 21)
	SMULL(28, 19, 21)
	SMULL2(29, 19, 21)
	SADALP(8, 22)
	SADALP(9, 23)
	SADALP(10, 24)
	SADALP(11, 25)
	SADALP(12, 26)
	SADALP(13, 27)
	SADALP(14, 28)
	SADALP(15, 29)
	SUB $1, R3
	B n2loop

n2end:
	VADDP V1.S4, V0.S4, V0.S4
	VADDP V3.S4, V2.S4, V1.S4
	VADDP V5.S4, V4.S4, V2.S4
	VADDP V7.S4, V6.S4, V3.S4
	VADDP V9.S4, V8.S4, V8.S4
	VADDP V11.S4, V10.S4, V9.S4
	VADDP V13.S4, V12.S4, V10.S4
	VADDP V15.S4, V14.S4, V11.S4
	MOVD R4, R11
	CBNZ R7, n2acc
	VLD1 (R6), [V16.S4, V17.S4, V18.S4, V19.S4]
	VSHL $7, V16.S4, V16.S4
	VSHL $7, V17.S4, V17.S4
	VSHL $7, V18.S4, V18.S4
	VSHL $7, V19.S4, V19.S4
	VADD V16.S4, V0.S4, V0.S4
	VADD V17.S4, V1.S4, V1.S4
	VADD V18.S4, V2.S4, V2.S4
	VADD V19.S4, V3.S4, V3.S4
	VADD V16.S4, V8.S4, V8.S4
	VADD V17.S4, V9.S4, V9.S4
	VADD V18.S4, V10.S4, V10.S4
	VADD V19.S4, V11.S4, V11.S4
	VST1 [V0.S4, V1.S4, V2.S4, V3.S4], (R11)
	ADD R5, R11
	VST1 [V8.S4, V9.S4, V10.S4, V11.S4], (R11)
	RET

n2acc:
	VLD1 (R11), [V16.S4, V17.S4, V18.S4, V19.S4]
	VADD V16.S4, V0.S4, V0.S4
	VADD V17.S4, V1.S4, V1.S4
	VADD V18.S4, V2.S4, V2.S4
	VADD V19.S4, V3.S4, V3.S4
	VST1 [V0.S4, V1.S4, V2.S4, V3.S4], (R11)
	ADD R5, R11
	VLD1 (R11), [V16.S4, V17.S4, V18.S4, V19.S4]
	VADD V16.S4, V8.S4, V8.S4
	VADD V17.S4, V9.S4, V9.S4
	VADD V18.S4, V10.S4, V10.S4
	VADD V19.S4, V11.S4, V11.S4
	VST1 [V8.S4, V9.S4, V10.S4, V11.S4], (R11)
	RET

// neonGemv: per panel, V0-V7 (even k groups) and V8-V15 (odd) hold the
// pair sums, added and folded before the store; np panels, ps bytes apart.
//
// func neonGemv(a *uint8, b *byte, ps int, kg int, c *int32, sums *int32, np int, acc int)
TEXT ·neonGemv(SB), NOSPLIT, $0-64
	MOVD b+8(FP), R2
	MOVD ps+16(FP), R5
	MOVD c+32(FP), R4
	MOVD sums+40(FP), R6
	MOVD np+48(FP), R8
	MOVD acc+56(FP), R7
	VMOVI $128, V30.B16

	// Per panel: two accumulator sets (even and odd k groups), sixteen
	// SADALP chains for one row.
v1panel:
	MOVD a+0(FP), R0
	MOVD kg+24(FP), R3
	MOVD R2, R12
	VEOR V0.B16, V0.B16, V0.B16
	VEOR V1.B16, V1.B16, V1.B16
	VEOR V2.B16, V2.B16, V2.B16
	VEOR V3.B16, V3.B16, V3.B16
	VEOR V4.B16, V4.B16, V4.B16
	VEOR V5.B16, V5.B16, V5.B16
	VEOR V6.B16, V6.B16, V6.B16
	VEOR V7.B16, V7.B16, V7.B16
	VEOR V8.B16, V8.B16, V8.B16
	VEOR V9.B16, V9.B16, V9.B16
	VEOR V10.B16, V10.B16, V10.B16
	VEOR V11.B16, V11.B16, V11.B16
	VEOR V12.B16, V12.B16, V12.B16
	VEOR V13.B16, V13.B16, V13.B16
	VEOR V14.B16, V14.B16, V14.B16
	VEOR V15.B16, V15.B16, V15.B16

v1pair:
	CMP $2, R3
	BLT v1single
	VLD1R.P 4(R0), [V20.S4]
	VLD1R.P 4(R0), [V21.S4]
	VEOR V30.B16, V20.B16, V20.B16
	VEOR V30.B16, V21.B16, V21.B16
	VLD1.P 64(R12), [V16.B16, V17.B16, V18.B16, V19.B16]
	SMULL(22, 16, 20)
	SMULL2(23, 16, 20)
	SMULL(24, 17, 20)
	SMULL2(25, 17, 20)
	SMULL(26, 18, 20)
	SMULL2(27, 18, 20)
	SMULL(28, 19, 20)
	SMULL2(29, 19, 20)
	SADALP(0, 22)
	SADALP(1, 23)
	SADALP(2, 24)
	SADALP(3, 25)
	SADALP(4, 26)
	SADALP(5, 27)
	SADALP(6, 28)
	SADALP(7, 29)
	VLD1.P 64(R12), [V16.B16, V17.B16, V18.B16, V19.B16]
	SMULL(22, 16, 21)
	SMULL2(23, 16, 21)
	SMULL(24, 17, 21)
	SMULL2(25, 17, 21)
	SMULL(26, 18, 21)
	SMULL2(27, 18, 21)
	SMULL(28, 19, 21)
	SMULL2(29, 19, 21)
	SADALP(8, 22)
	SADALP(9, 23)
	SADALP(10, 24)
	SADALP(11, 25)
	SADALP(12, 26)
	SADALP(13, 27)
	SADALP(14, 28)
	SADALP(15, 29)
	SUB $2, R3
	B v1pair

v1single:
	CBZ R3, v1end
	VLD1R.P 4(R0), [V20.S4]
	VEOR V30.B16, V20.B16, V20.B16
	VLD1.P 64(R12), [V16.B16, V17.B16, V18.B16, V19.B16]
	SMULL(22, 16, 20)
	SMULL2(23, 16, 20)
	SMULL(24, 17, 20)
	SMULL2(25, 17, 20)
	SMULL(26, 18, 20)
	SMULL2(27, 18, 20)
	SMULL(28, 19, 20)
	SMULL2(29, 19, 20)
	SADALP(0, 22)
	SADALP(1, 23)
	SADALP(2, 24)
	SADALP(3, 25)
	SADALP(4, 26)
	SADALP(5, 27)
	SADALP(6, 28)
	SADALP(7, 29)

v1end:
	VADD V8.S4, V0.S4, V0.S4
	VADD V9.S4, V1.S4, V1.S4
	VADD V10.S4, V2.S4, V2.S4
	VADD V11.S4, V3.S4, V3.S4
	VADD V12.S4, V4.S4, V4.S4
	VADD V13.S4, V5.S4, V5.S4
	VADD V14.S4, V6.S4, V6.S4
	VADD V15.S4, V7.S4, V7.S4
	VADDP V1.S4, V0.S4, V0.S4
	VADDP V3.S4, V2.S4, V1.S4
	VADDP V5.S4, V4.S4, V2.S4
	VADDP V7.S4, V6.S4, V3.S4
	CBNZ R7, v1acc
	VLD1 (R6), [V16.S4, V17.S4, V18.S4, V19.S4]
	VSHL $7, V16.S4, V16.S4
	VSHL $7, V17.S4, V17.S4
	VSHL $7, V18.S4, V18.S4
	VSHL $7, V19.S4, V19.S4
	B v1store

v1acc:
	VLD1 (R4), [V16.S4, V17.S4, V18.S4, V19.S4]

v1store:
	VADD V16.S4, V0.S4, V0.S4
	VADD V17.S4, V1.S4, V1.S4
	VADD V18.S4, V2.S4, V2.S4
	VADD V19.S4, V3.S4, V3.S4
	VST1.P [V0.S4, V1.S4, V2.S4, V3.S4], 64(R4)
	ADD $64, R6
	ADD R5, R2
	SUB $1, R8
	CBNZ R8, v1panel
	RET
