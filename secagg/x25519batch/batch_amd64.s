//go:build amd64 && !purego

// Eight-lane X25519 with AVX-512 IFMA. A field element mod p = 2^255−19 is
// five radix-2^51 limbs; limb i of the eight lanes is one ZMM register (or
// 64 bytes of an fe8 in memory). Every stored element is "loose": each limb
// below 2^52, which is what VPMADD52{L,H}UQ need (they read the low 52 bits
// of each operand).
//
// Register conventions of the internal routines (file-local, called with
// CALL): AX and BX point at the operands, DI at the result; Z29 holds
// a24 = 121665, Z30 the limb mask 2^51−1 and Z31 the constant 19 in every
// lane; Z0–Z28 are scratch.

#include "textflag.h"

// Offsets of ladderState's fields (checked by TestStateLayout).
#define O_X1 0
#define O_X2 320
#define O_Z2 640
#define O_X3 960
#define O_Z3 1280
#define O_TA 1600
#define O_TB 1920
#define O_TC 2240
#define O_TD 2560
#define O_TAA 2880
#define O_TBB 3200
#define O_TE 3520
#define O_TDA 3840
#define O_TCB 4160
#define O_TT 4480
#define O_MASKS 4800

// CARRY propagates carries through limbs r0..r4 (each below 2^62 on
// entry), all limbs at once: each keeps its low 51 bits plus the carry out
// of the limb below, r0 the carry out of r4 times 19 (weight 2^255 ≡ 19).
// The carries are below 2^11, so on exit every limb is below 2^51 + 2^16:
// loose. t0..t4 are scratch.
#define CARRY(r0, r1, r2, r3, r4, t0, t1, t2, t3, t4) \
	VPSRLQ $51, r0, t0; VPSRLQ $51, r1, t1; VPSRLQ $51, r2, t2; VPSRLQ $51, r3, t3; VPSRLQ $51, r4, t4; \
	VPANDQ Z30, r0, r0; VPANDQ Z30, r1, r1; VPANDQ Z30, r2, r2; VPANDQ Z30, r3, r3; VPANDQ Z30, r4, r4; \
	VPADDQ t0, r1, r1; VPADDQ t1, r2, r2; VPADDQ t2, r3, r3; VPADDQ t3, r4, r4; \
	VPMULLQ Z31, t4, t4; VPADDQ t4, r0, r0

// MAC adds a·b (each below 2^52) to the column pair: its low 52 bits to lo,
// its high 52 bits to hi (hi is one radix-2^51 position up, at twice the
// weight; fmul doubles the hi columns before adding them).
#define MAC(b, a, lo, hi) VPMADD52LUQ b, a, lo; VPMADD52HUQ b, a, hi

#define LOAD5(off, p, r0, r1, r2, r3, r4) \
	VMOVDQU64 (off+0)(p), r0; VMOVDQU64 (off+64)(p), r1; VMOVDQU64 (off+128)(p), r2; \
	VMOVDQU64 (off+192)(p), r3; VMOVDQU64 (off+256)(p), r4

#define STORE5(r0, r1, r2, r3, r4, off, p) \
	VMOVDQU64 r0, (off+0)(p); VMOVDQU64 r1, (off+64)(p); VMOVDQU64 r2, (off+128)(p); \
	VMOVDQU64 r3, (off+192)(p); VMOVDQU64 r4, (off+256)(p)

// fmul: (DI) = (AX)·(BX). Schoolbook 5×5: column k (weight 2^51k) gets the
// low halves L_k of the products a_i·b_j with i+j = k and twice the high
// halves H_k of those with i+j = k−1 (2^52 = 2·2^51). Columns 5..9 fold into
// 0..4 times 19 (2^255 ≡ 19 mod p). Bounds: L_k, H_k < 5·2^52, so a column
// is below 15·2^52 and a folded one below 300·2^52 < 2^61.
// Loads everything before storing, so DI may alias AX or BX.
TEXT fmul<>(SB), NOSPLIT, $0
	LOAD5(0, AX, Z0, Z1, Z2, Z3, Z4)
	LOAD5(0, BX, Z5, Z6, Z7, Z8, Z9)
	// L_0..L_8 in Z10..Z18, H_1..H_9 in Z19..Z27.
	VPXORQ Z10, Z10, Z10; VPXORQ Z11, Z11, Z11; VPXORQ Z12, Z12, Z12
	VPXORQ Z13, Z13, Z13; VPXORQ Z14, Z14, Z14; VPXORQ Z15, Z15, Z15
	VPXORQ Z16, Z16, Z16; VPXORQ Z17, Z17, Z17; VPXORQ Z18, Z18, Z18
	VPXORQ Z19, Z19, Z19; VPXORQ Z20, Z20, Z20; VPXORQ Z21, Z21, Z21
	VPXORQ Z22, Z22, Z22; VPXORQ Z23, Z23, Z23; VPXORQ Z24, Z24, Z24
	VPXORQ Z25, Z25, Z25; VPXORQ Z26, Z26, Z26; VPXORQ Z27, Z27, Z27
	// i = 0
	MAC(Z5, Z0, Z10, Z19); MAC(Z6, Z0, Z11, Z20); MAC(Z7, Z0, Z12, Z21); MAC(Z8, Z0, Z13, Z22); MAC(Z9, Z0, Z14, Z23)
	// i = 1
	MAC(Z5, Z1, Z11, Z20); MAC(Z6, Z1, Z12, Z21); MAC(Z7, Z1, Z13, Z22); MAC(Z8, Z1, Z14, Z23); MAC(Z9, Z1, Z15, Z24)
	// i = 2
	MAC(Z5, Z2, Z12, Z21); MAC(Z6, Z2, Z13, Z22); MAC(Z7, Z2, Z14, Z23); MAC(Z8, Z2, Z15, Z24); MAC(Z9, Z2, Z16, Z25)
	// i = 3
	MAC(Z5, Z3, Z13, Z22); MAC(Z6, Z3, Z14, Z23); MAC(Z7, Z3, Z15, Z24); MAC(Z8, Z3, Z16, Z25); MAC(Z9, Z3, Z17, Z26)
	// i = 4
	MAC(Z5, Z4, Z14, Z23); MAC(Z6, Z4, Z15, Z24); MAC(Z7, Z4, Z16, Z25); MAC(Z8, Z4, Z17, Z26); MAC(Z9, Z4, Z18, Z27)
	JMP reduce<>(SB)

// fsqr: (DI) = (AX)². The cross products a_i·a_j (i < j) are taken once and
// their columns doubled, then the squares a_i² added.
TEXT fsqr<>(SB), NOSPLIT, $0
	LOAD5(0, AX, Z0, Z1, Z2, Z3, Z4)
	VPXORQ Z10, Z10, Z10; VPXORQ Z11, Z11, Z11; VPXORQ Z12, Z12, Z12
	VPXORQ Z13, Z13, Z13; VPXORQ Z14, Z14, Z14; VPXORQ Z15, Z15, Z15
	VPXORQ Z16, Z16, Z16; VPXORQ Z17, Z17, Z17; VPXORQ Z18, Z18, Z18
	VPXORQ Z19, Z19, Z19; VPXORQ Z20, Z20, Z20; VPXORQ Z21, Z21, Z21
	VPXORQ Z22, Z22, Z22; VPXORQ Z23, Z23, Z23; VPXORQ Z24, Z24, Z24
	VPXORQ Z25, Z25, Z25; VPXORQ Z26, Z26, Z26; VPXORQ Z27, Z27, Z27
	// Cross products: column i+j.
	MAC(Z1, Z0, Z11, Z20); MAC(Z2, Z0, Z12, Z21); MAC(Z3, Z0, Z13, Z22); MAC(Z4, Z0, Z14, Z23)
	MAC(Z2, Z1, Z13, Z22); MAC(Z3, Z1, Z14, Z23); MAC(Z4, Z1, Z15, Z24)
	MAC(Z3, Z2, Z15, Z24); MAC(Z4, Z2, Z16, Z25)
	MAC(Z4, Z3, Z17, Z26)
	// Double them (each column below 4·2^52 before, 8·2^52 after).
	VPSLLQ $1, Z11, Z11; VPSLLQ $1, Z12, Z12; VPSLLQ $1, Z13, Z13; VPSLLQ $1, Z14, Z14
	VPSLLQ $1, Z15, Z15; VPSLLQ $1, Z16, Z16; VPSLLQ $1, Z17, Z17
	VPSLLQ $1, Z20, Z20; VPSLLQ $1, Z21, Z21; VPSLLQ $1, Z22, Z22; VPSLLQ $1, Z23, Z23
	VPSLLQ $1, Z24, Z24; VPSLLQ $1, Z25, Z25; VPSLLQ $1, Z26, Z26
	// Squares: column 2i.
	MAC(Z0, Z0, Z10, Z19); MAC(Z1, Z1, Z12, Z21); MAC(Z2, Z2, Z14, Z23); MAC(Z3, Z3, Z16, Z25); MAC(Z4, Z4, Z18, Z27)
	JMP reduce<>(SB)

// reduce finishes fmul and fsqr: columns L_k + 2·H_k, fold, carry, store.
TEXT reduce<>(SB), NOSPLIT, $0
	VPSLLQ $1, Z19, Z19; VPADDQ Z19, Z11, Z11
	VPSLLQ $1, Z20, Z20; VPADDQ Z20, Z12, Z12
	VPSLLQ $1, Z21, Z21; VPADDQ Z21, Z13, Z13
	VPSLLQ $1, Z22, Z22; VPADDQ Z22, Z14, Z14
	VPSLLQ $1, Z23, Z23; VPADDQ Z23, Z15, Z15
	VPSLLQ $1, Z24, Z24; VPADDQ Z24, Z16, Z16
	VPSLLQ $1, Z25, Z25; VPADDQ Z25, Z17, Z17
	VPSLLQ $1, Z26, Z26; VPADDQ Z26, Z18, Z18
	VPSLLQ $1, Z27, Z27
	// Columns 5..9 (Z15..Z18, Z27) fold into 0..4.
	VPMULLQ Z31, Z15, Z15; VPADDQ Z15, Z10, Z10
	VPMULLQ Z31, Z16, Z16; VPADDQ Z16, Z11, Z11
	VPMULLQ Z31, Z17, Z17; VPADDQ Z17, Z12, Z12
	VPMULLQ Z31, Z18, Z18; VPADDQ Z18, Z13, Z13
	VPMULLQ Z31, Z27, Z27; VPADDQ Z27, Z14, Z14
	CARRY(Z10, Z11, Z12, Z13, Z14, Z0, Z1, Z2, Z3, Z4)
	STORE5(Z10, Z11, Z12, Z13, Z14, 0, DI)
	RET

// fadd: (DI) = (AX) + (BX), carried (limbs below 2^53 before the carry).
TEXT fadd<>(SB), NOSPLIT, $0
	LOAD5(0, AX, Z0, Z1, Z2, Z3, Z4)
	VPADDQ 0(BX), Z0, Z0; VPADDQ 64(BX), Z1, Z1; VPADDQ 128(BX), Z2, Z2
	VPADDQ 192(BX), Z3, Z3; VPADDQ 256(BX), Z4, Z4
	CARRY(Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9)
	STORE5(Z0, Z1, Z2, Z3, Z4, 0, DI)
	RET

// fsub: (DI) = (AX) + 2p − (BX), carried. 2p's limbs are 2^52−38 and four
// of 2^52−2, each above a loose limb, so no limb goes negative.
TEXT fsub<>(SB), NOSPLIT, $0
	MOVQ $0xfffffffffffda, R10
	VPBROADCASTQ R10, Z6
	MOVQ $0xffffffffffffe, R10
	VPBROADCASTQ R10, Z7
	VPADDQ 0(AX), Z6, Z0; VPADDQ 64(AX), Z7, Z1; VPADDQ 128(AX), Z7, Z2
	VPADDQ 192(AX), Z7, Z3; VPADDQ 256(AX), Z7, Z4
	VPSUBQ 0(BX), Z0, Z0; VPSUBQ 64(BX), Z1, Z1; VPSUBQ 128(BX), Z2, Z2
	VPSUBQ 192(BX), Z3, Z3; VPSUBQ 256(BX), Z4, Z4
	CARRY(Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9)
	STORE5(Z0, Z1, Z2, Z3, Z4, 0, DI)
	RET

// fmula24: (DI) = (AX)·121665. Limb i's product a_i·a24 < 2^69 is split by
// IFMA into lo_i (column i) and hi_i (< 2^17, column i+1 at twice the
// weight); hi_4 wraps to column 0 times 19.
TEXT fmula24<>(SB), NOSPLIT, $0
	LOAD5(0, AX, Z0, Z1, Z2, Z3, Z4)
	VPXORQ Z10, Z10, Z10; VPXORQ Z11, Z11, Z11; VPXORQ Z12, Z12, Z12
	VPXORQ Z13, Z13, Z13; VPXORQ Z14, Z14, Z14; VPXORQ Z15, Z15, Z15
	VPXORQ Z16, Z16, Z16; VPXORQ Z17, Z17, Z17; VPXORQ Z18, Z18, Z18
	VPXORQ Z19, Z19, Z19
	MAC(Z29, Z0, Z10, Z15); MAC(Z29, Z1, Z11, Z16); MAC(Z29, Z2, Z12, Z17)
	MAC(Z29, Z3, Z13, Z18); MAC(Z29, Z4, Z14, Z19)
	VPSLLQ $1, Z15, Z15; VPADDQ Z15, Z11, Z11
	VPSLLQ $1, Z16, Z16; VPADDQ Z16, Z12, Z12
	VPSLLQ $1, Z17, Z17; VPADDQ Z17, Z13, Z13
	VPSLLQ $1, Z18, Z18; VPADDQ Z18, Z14, Z14
	VPSLLQ $1, Z19, Z19; VPMULLQ Z31, Z19, Z19; VPADDQ Z19, Z10, Z10
	CARRY(Z10, Z11, Z12, Z13, Z14, Z0, Z1, Z2, Z3, Z4)
	STORE5(Z10, Z11, Z12, Z13, Z14, 0, DI)
	RET

// cswap swaps (AX) and (BX) in the lanes where Z28 is all ones (and leaves
// the lanes where it is zero): t = (a ⊕ b) ∧ mask, a ⊕= t, b ⊕= t.
#define CSWAPLIMB(off) \
	VMOVDQU64 off(AX), Z0; VMOVDQU64 off(BX), Z1; VPXORQ Z0, Z1, Z2; VPANDQ Z28, Z2, Z2; \
	VPXORQ Z2, Z0, Z0; VPXORQ Z2, Z1, Z1; VMOVDQU64 Z0, off(AX); VMOVDQU64 Z1, off(BX)

TEXT cswap<>(SB), NOSPLIT, $0
	CSWAPLIMB(0); CSWAPLIMB(64); CSWAPLIMB(128); CSWAPLIMB(192); CSWAPLIMB(256)
	RET

#define CONSTS \
	MOVQ $0x7ffffffffffff, R10; VPBROADCASTQ R10, Z30; \
	MOVQ $19, R10; VPBROADCASTQ R10, Z31; \
	MOVQ $121665, R10; VPBROADCASTQ R10, Z29

// SWAPADDSUB does one limb (byte offset off) of the step's start: load
// x2, z2, x3, z3, swap (x2, x3) and (z2, z3) in the lanes where Z28 is all
// ones, then a = x2 + z2, b = x2 + 2p − z2, c = x3 + z3, d = x3 + 2p − z3
// (twop: the limb of 2p), uncarried.
#define SWAPADDSUB(off, twop, a, b, c, d) \
	VMOVDQU64 (O_X2+off)(R8), Z0; VMOVDQU64 (O_Z2+off)(R8), Z1; \
	VMOVDQU64 (O_X3+off)(R8), Z2; VMOVDQU64 (O_Z3+off)(R8), Z3; \
	VPXORQ Z0, Z2, Z4; VPANDQ Z28, Z4, Z4; VPXORQ Z4, Z0, Z0; VPXORQ Z4, Z2, Z2; \
	VPXORQ Z1, Z3, Z4; VPANDQ Z28, Z4, Z4; VPXORQ Z4, Z1, Z1; VPXORQ Z4, Z3, Z3; \
	VPADDQ Z1, Z0, a; VPADDQ twop, Z0, b; VPSUBQ Z1, b, b; \
	VPADDQ Z3, Z2, c; VPADDQ twop, Z2, d; VPSUBQ Z3, d, d

#define OP3(fn, a, b, d) LEAQ a(R8), AX; LEAQ b(R8), BX; LEAQ d(R8), DI; CALL fn(SB)

// func ladder8(st *ladderState)
//
// RFC 7748 §5's Montgomery ladder, 255 steps, on eight lanes at once. The
// swap mask of step i (for bit 254−i) is row i of st.masks, row 255 the
// final swap; the masks are the only scalar-dependent input and are used
// only as data (no secret-dependent branch or address).
TEXT ·ladder8(SB), NOSPLIT, $0-8
	MOVQ st+0(FP), R8
	CONSTS
	LEAQ O_MASKS(R8), R9
	MOVQ $255, CX

step:
	// Swap, then A = x2 + z2, B = x2 − z2, C = x3 + z3, D = x3 − z3, in
	// registers (the swapped points are not stored: the step replaces
	// them). A, B, C, D in Z8–Z12, Z13–Z17, Z18–Z22, Z23–Z27.
	VMOVDQU64 (R9), Z28
	MOVQ $0xfffffffffffda, R10
	VPBROADCASTQ R10, Z6
	MOVQ $0xffffffffffffe, R10
	VPBROADCASTQ R10, Z7
	SWAPADDSUB(0, Z6, Z8, Z13, Z18, Z23)
	SWAPADDSUB(64, Z7, Z9, Z14, Z19, Z24)
	SWAPADDSUB(128, Z7, Z10, Z15, Z20, Z25)
	SWAPADDSUB(192, Z7, Z11, Z16, Z21, Z26)
	SWAPADDSUB(256, Z7, Z12, Z17, Z22, Z27)
	CARRY(Z8, Z9, Z10, Z11, Z12, Z0, Z1, Z2, Z3, Z4)
	CARRY(Z13, Z14, Z15, Z16, Z17, Z0, Z1, Z2, Z3, Z4)
	CARRY(Z18, Z19, Z20, Z21, Z22, Z0, Z1, Z2, Z3, Z4)
	CARRY(Z23, Z24, Z25, Z26, Z27, Z0, Z1, Z2, Z3, Z4)
	STORE5(Z8, Z9, Z10, Z11, Z12, O_TA, R8)
	STORE5(Z13, Z14, Z15, Z16, Z17, O_TB, R8)
	STORE5(Z18, Z19, Z20, Z21, Z22, O_TC, R8)
	STORE5(Z23, Z24, Z25, Z26, Z27, O_TD, R8)
	OP3(fsqr<>, O_TA, O_TA, O_TAA)  // AA = A²
	OP3(fsqr<>, O_TB, O_TB, O_TBB)  // BB = B²
	OP3(fsub<>, O_TAA, O_TBB, O_TE) // E = AA − BB
	OP3(fmul<>, O_TD, O_TA, O_TDA)  // DA = D·A
	OP3(fmul<>, O_TC, O_TB, O_TCB)  // CB = C·B
	OP3(fadd<>, O_TDA, O_TCB, O_TT) // x3 = (DA + CB)²
	OP3(fsqr<>, O_TT, O_TT, O_X3)
	OP3(fsub<>, O_TDA, O_TCB, O_TT) // z3 = x1·(DA − CB)²
	OP3(fsqr<>, O_TT, O_TT, O_TT)
	OP3(fmul<>, O_X1, O_TT, O_Z3)
	OP3(fmul<>, O_TAA, O_TBB, O_X2) // x2 = AA·BB
	OP3(fmula24<>, O_TE, O_TE, O_TT) // z2 = E·(AA + a24·E)
	OP3(fadd<>, O_TAA, O_TT, O_TT)
	OP3(fmul<>, O_TE, O_TT, O_Z2)
	ADDQ $64, R9
	DECQ CX
	JNZ  step

	VMOVDQU64 (R9), Z28
	LEAQ O_X2(R8), AX; LEAQ O_X3(R8), BX; CALL cswap<>(SB)
	LEAQ O_Z2(R8), AX; LEAQ O_Z3(R8), BX; CALL cswap<>(SB)
	VZEROUPPER
	RET

// func feMul8(out, a, b *fe8)
TEXT ·feMul8(SB), NOSPLIT, $0-24
	CONSTS
	MOVQ out+0(FP), DI
	MOVQ a+8(FP), AX
	MOVQ b+16(FP), BX
	CALL fmul<>(SB)
	VZEROUPPER
	RET

// func feSqrN8(out, a *fe8, n int)
//
// out = a^(2^n), n ≥ 1.
TEXT ·feSqrN8(SB), NOSPLIT, $0-24
	CONSTS
	MOVQ out+0(FP), DI
	MOVQ a+8(FP), AX
	MOVQ n+16(FP), CX
	CALL fsqr<>(SB)
	MOVQ DI, AX
	DECQ CX
	JLE  sqrdone

sqrloop:
	CALL fsqr<>(SB)
	DECQ CX
	JNZ  sqrloop

sqrdone:
	VZEROUPPER
	RET
