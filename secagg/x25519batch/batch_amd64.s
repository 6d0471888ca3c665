//go:build amd64 && !purego

// Eight-lane X25519 with AVX-512 IFMA. A field element mod p = 2^255−19 is
// five radix-2^51 limbs; limb i of the eight lanes is one ZMM register (or
// 64 bytes of an fe8 in memory). Every operand of a multiplication is
// "loose": each limb below 2^52, which is what VPMADD52{L,H}UQ need (they
// read the low 52 bits of each operand).
//
// Products leave "raw" limbs, below 267·2^52 < 2^61 (see below), which
// CARRY makes loose. A product that only feeds sums and differences which
// are carried anyway is left raw: the ladder's points x2, z2, x3, z3 and
// DA, CB. Differences x − y add 2^10·p first, whose limbs (2^61 − 19·2^10
// and four of 2^61 − 2^10) exceed any raw or loose limb of y, so no limb
// goes negative, and the sum stays below 2^62 as CARRY needs.
//
// Register conventions of the internal routines (file-local, called with
// CALL): AX and BX point at the operands, DI at the result (DX, SI and R11
// for a second product); Z26 and Z27 hold the limbs of 2^10·p, Z29 a24 =
// 121665, Z30 the limb mask 2^51−1 and Z31 the constant 19 in every lane;
// Z28 and K1 hold the ladder's swap mask; Z0–Z25 are scratch.

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
#define O_TF 3840
#define O_SWAPS 4160

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

#define LOAD5(off, p, r0, r1, r2, r3, r4) \
	VMOVDQU64 (off+0)(p), r0; VMOVDQU64 (off+64)(p), r1; VMOVDQU64 (off+128)(p), r2; \
	VMOVDQU64 (off+192)(p), r3; VMOVDQU64 (off+256)(p), r4

#define STORE5(r0, r1, r2, r3, r4, off, p) \
	VMOVDQU64 r0, (off+0)(p); VMOVDQU64 r1, (off+64)(p); VMOVDQU64 r2, (off+128)(p); \
	VMOVDQU64 r3, (off+192)(p); VMOVDQU64 r4, (off+256)(p)

// The products are computed by output limb ("product scanning"), which
// needs few registers, so two independent products fit in the register
// file at once and their instructions can be issued interleaved: each
// product's IFMAs form short dependent chains (an accumulator takes a
// product's low or high half after the previous one) whose 4-cycle
// latencies the out-of-order core hides behind the other product's.
//
// Notation for c = a·b (a, b loose): L_k is the sum of the low halves
// (VPMADD52LUQ) of the a_i·b_j with i + j = k, H_k the sum of their high
// halves (VPMADD52HUQ), which weigh 2^52·2^51k = 2·2^51(k+1). Limb m of
// the product, before the carry, is
//
//	r_m = L_m + 2·H_{m−1} + 19·(L_{m+5} + 2·H_{m+4})    (H_{−1} = L_9 = 0)
//
// since 2^255 ≡ 19. Each limb is two accumulators: v = Q_m = 2·H_{m+4} +
// L_{m+5} (take the H terms, double, take the L terms), then y = 2·H_{m−1}
// + 19·v + L_m. Bounds: H_{m+4} and L_{m+5} have 5 − m and 4 − m terms,
// H_{m−1} and L_m have m and m + 1, each term below 2^52, so r_m <
// (19·(14 − 3m) + 3m + 1)·2^52 ≤ 267·2^52. These are the same integers,
// limb for limb, as a schoolbook product reduced column by column.
#define LO(m, a, acc) VPMADD52LUQ m, a, acc
#define HI(m, a, acc) VPMADD52HUQ m, a, acc

// MULLIMB0..4 compute r_m of a·b into y: a in registers a0..a4, b in
// b0..b4 (registers or memory operands); v is scratch. The v and y chains are written interleaved.
#define MULLIMB0(a0, a1, a2, a3, a4, b0, b1, b2, b3, b4, y, v) \
	VPXORQ v, v, v; \
	HI(b4, a0, v); HI(b3, a1, v); HI(b2, a2, v); HI(b1, a3, v); HI(b0, a4, v); \
	VPSLLQ $1, v, v; \
	LO(b4, a1, v); LO(b3, a2, v); LO(b2, a3, v); LO(b1, a4, v); \
	VPMULLQ Z31, v, y; \
	LO(b0, a0, y)

#define MULLIMB1(a0, a1, a2, a3, a4, b0, b1, b2, b3, b4, y, v) \
	VPXORQ v, v, v; VPXORQ y, y, y; \
	HI(b4, a1, v); HI(b0, a0, y); HI(b3, a2, v); HI(b2, a3, v); HI(b1, a4, v); \
	VPSLLQ $1, v, v; VPSLLQ $1, y, y; \
	LO(b4, a2, v); LO(b1, a0, y); LO(b3, a3, v); LO(b0, a1, y); LO(b2, a4, v); \
	VPMULLQ Z31, v, v; VPADDQ v, y, y

#define MULLIMB2(a0, a1, a2, a3, a4, b0, b1, b2, b3, b4, y, v) \
	VPXORQ v, v, v; VPXORQ y, y, y; \
	HI(b4, a2, v); HI(b1, a0, y); HI(b3, a3, v); HI(b0, a1, y); HI(b2, a4, v); \
	VPSLLQ $1, v, v; VPSLLQ $1, y, y; \
	LO(b4, a3, v); LO(b2, a0, y); LO(b3, a4, v); LO(b1, a1, y); LO(b0, a2, y); \
	VPMULLQ Z31, v, v; VPADDQ v, y, y

#define MULLIMB3(a0, a1, a2, a3, a4, b0, b1, b2, b3, b4, y, v) \
	VPXORQ v, v, v; VPXORQ y, y, y; \
	HI(b4, a3, v); HI(b2, a0, y); HI(b3, a4, v); HI(b1, a1, y); HI(b0, a2, y); \
	VPSLLQ $1, v, v; VPSLLQ $1, y, y; \
	LO(b4, a4, v); LO(b3, a0, y); LO(b2, a1, y); LO(b1, a2, y); LO(b0, a3, y); \
	VPMULLQ Z31, v, v; VPADDQ v, y, y

#define MULLIMB4(a0, a1, a2, a3, a4, b0, b1, b2, b3, b4, y, v) \
	VPXORQ v, v, v; VPXORQ y, y, y; \
	HI(b4, a4, v); HI(b3, a0, y); HI(b2, a1, y); HI(b1, a2, y); HI(b0, a3, y); \
	VPSLLQ $1, v, v; VPSLLQ $1, y, y; \
	VPMULLQ Z31, v, v; \
	LO(b4, a0, y); LO(b3, a1, y); LO(b2, a2, y); LO(b1, a3, y); LO(b0, a4, y); \
	VPADDQ v, y, y

// SQRLIMB0..4 compute r_m of a² into y (a in registers, v scratch). The
// cross products a_i·a_j (i < j) count twice, the squares a_i² once; the
// doublings are shifts placed so that each term ends up with its weight:
// e.g. Q_0 = 2·H_4 + L_5 with H_4 = 2·(H(a0a4) + H(a1a3)) + H(a2a2) and
// L_5 = 2·(L(a1a4) + L(a2a3)) is 2·(2·(H(a0a4) + H(a1a3)) + H(a2a2) +
// L(a1a4) + L(a2a3)).
#define SQRLIMB0(a0, a1, a2, a3, a4, y, v) \
	VPXORQ v, v, v; \
	HI(a4, a0, v); HI(a3, a1, v); VPSLLQ $1, v, v; \
	HI(a2, a2, v); LO(a4, a1, v); LO(a3, a2, v); VPSLLQ $1, v, v; \
	VPMULLQ Z31, v, y; LO(a0, a0, y)

#define SQRLIMB1(a0, a1, a2, a3, a4, y, v) \
	VPXORQ v, v, v; VPXORQ y, y, y; \
	HI(a4, a1, v); HI(a0, a0, y); HI(a3, a2, v); LO(a1, a0, y); VPSLLQ $1, v, v; VPSLLQ $1, y, y; \
	LO(a4, a2, v); VPSLLQ $1, v, v; LO(a3, a3, v); \
	VPMULLQ Z31, v, v; VPADDQ v, y, y

#define SQRLIMB2(a0, a1, a2, a3, a4, y, v) \
	VPXORQ v, v, v; VPXORQ y, y, y; \
	HI(a4, a2, v); HI(a1, a0, y); VPSLLQ $1, v, v; VPSLLQ $1, y, y; \
	HI(a3, a3, v); LO(a2, a0, y); LO(a4, a3, v); VPSLLQ $1, y, y; VPSLLQ $1, v, v; \
	LO(a1, a1, y); VPMULLQ Z31, v, v; VPADDQ v, y, y

#define SQRLIMB3(a0, a1, a2, a3, a4, y, v) \
	VPXORQ v, v, v; VPXORQ y, y, y; \
	HI(a4, a3, v); HI(a2, a0, y); VPSLLQ $2, v, v; VPSLLQ $1, y, y; \
	LO(a4, a4, v); HI(a1, a1, y); LO(a3, a0, y); LO(a2, a1, y); VPSLLQ $1, y, y; \
	VPMULLQ Z31, v, v; VPADDQ v, y, y

#define SQRLIMB4(a0, a1, a2, a3, a4, y, v) \
	VPXORQ v, v, v; VPXORQ y, y, y; \
	HI(a4, a4, v); HI(a3, a0, y); HI(a2, a1, y); VPSLLQ $1, v, v; VPSLLQ $1, y, y; \
	VPMULLQ Z31, v, v; LO(a4, a0, y); LO(a3, a1, y); VPSLLQ $1, y, y; \
	LO(a2, a2, y); VPADDQ v, y, y

// MULLIMBS0..4: MULLIMB's r_m with shorter dependency chains, for a
// product on the critical path with nothing to interleave it with: Q_m's H
// and L terms and y's go to separate accumulators (v, w; u, y), at most
// five deep, and are combined at the end.
#define MULLIMBS0(a0, a1, a2, a3, a4, b0, b1, b2, b3, b4, y, v, w, u) \
	VPXORQ v, v, v; VPXORQ w, w, w; VPXORQ y, y, y; \
	HI(b4, a0, v); LO(b4, a1, w); LO(b0, a0, y); HI(b3, a1, v); LO(b3, a2, w); \
	HI(b2, a2, v); LO(b2, a3, w); HI(b1, a3, v); LO(b1, a4, w); HI(b0, a4, v); \
	VPSLLQ $1, v, v; VPADDQ w, v, v; VPMULLQ Z31, v, v; VPADDQ v, y, y

#define MULLIMBS1(a0, a1, a2, a3, a4, b0, b1, b2, b3, b4, y, v, w, u) \
	VPXORQ v, v, v; VPXORQ w, w, w; VPXORQ u, u, u; VPXORQ y, y, y; \
	HI(b4, a1, v); LO(b4, a2, w); HI(b0, a0, u); LO(b1, a0, y); HI(b3, a2, v); \
	LO(b3, a3, w); LO(b0, a1, y); HI(b2, a3, v); LO(b2, a4, w); HI(b1, a4, v); \
	VPSLLQ $1, v, v; VPSLLQ $1, u, u; VPADDQ w, v, v; VPADDQ u, y, y; \
	VPMULLQ Z31, v, v; VPADDQ v, y, y

#define MULLIMBS2(a0, a1, a2, a3, a4, b0, b1, b2, b3, b4, y, v, w, u) \
	VPXORQ v, v, v; VPXORQ w, w, w; VPXORQ u, u, u; VPXORQ y, y, y; \
	HI(b4, a2, v); LO(b4, a3, w); HI(b1, a0, u); LO(b2, a0, y); HI(b3, a3, v); \
	LO(b3, a4, w); HI(b0, a1, u); LO(b1, a1, y); HI(b2, a4, v); LO(b0, a2, y); \
	VPSLLQ $1, v, v; VPSLLQ $1, u, u; VPADDQ w, v, v; VPADDQ u, y, y; \
	VPMULLQ Z31, v, v; VPADDQ v, y, y

#define MULLIMBS3(a0, a1, a2, a3, a4, b0, b1, b2, b3, b4, y, v, w, u) \
	VPXORQ v, v, v; VPXORQ w, w, w; VPXORQ u, u, u; VPXORQ y, y, y; \
	HI(b4, a3, v); LO(b4, a4, w); HI(b2, a0, u); LO(b3, a0, y); HI(b3, a4, v); \
	HI(b1, a1, u); LO(b2, a1, y); HI(b0, a2, u); LO(b1, a2, y); LO(b0, a3, y); \
	VPSLLQ $1, v, v; VPSLLQ $1, u, u; VPADDQ w, v, v; VPADDQ u, y, y; \
	VPMULLQ Z31, v, v; VPADDQ v, y, y

#define MULLIMBS4(a0, a1, a2, a3, a4, b0, b1, b2, b3, b4, y, v, w, u) \
	VPXORQ v, v, v; VPXORQ u, u, u; VPXORQ y, y, y; \
	HI(b4, a4, v); HI(b3, a0, u); LO(b4, a0, y); HI(b2, a1, u); LO(b3, a1, y); \
	HI(b1, a2, u); LO(b2, a2, y); HI(b0, a3, u); LO(b1, a3, y); LO(b0, a4, y); \
	VPSLLQ $1, v, v; VPSLLQ $1, u, u; VPMULLQ Z31, v, v; VPADDQ u, y, y; \
	VPADDQ v, y, y

// MUL5S: a single product's raw limbs into Z10–Z14, a in Z0–Z4, b at BX.
#define MUL5S \
	MULLIMBS0(Z0, Z1, Z2, Z3, Z4, 0(BX), 64(BX), 128(BX), 192(BX), 256(BX), Z10, Z15, Z16, Z17); \
	MULLIMBS1(Z0, Z1, Z2, Z3, Z4, 0(BX), 64(BX), 128(BX), 192(BX), 256(BX), Z11, Z18, Z19, Z20); \
	MULLIMBS2(Z0, Z1, Z2, Z3, Z4, 0(BX), 64(BX), 128(BX), 192(BX), 256(BX), Z12, Z21, Z22, Z23); \
	MULLIMBS3(Z0, Z1, Z2, Z3, Z4, 0(BX), 64(BX), 128(BX), 192(BX), 256(BX), Z13, Z5, Z6, Z7); \
	MULLIMBS4(Z0, Z1, Z2, Z3, Z4, 0(BX), 64(BX), 128(BX), 192(BX), 256(BX), Z14, Z8, Z9, Z24)

// MUL5X2: two independent products, (AX)·(BX) into Z10–Z14 and (DX)·(SI)
// into Z15–Z19, raw, interleaved limb by limb (a's limbs in Z0–Z9, b's read
// as memory operands; Z20–Z23 scratch).
#define MUL5X2 \
	LOAD5(0, AX, Z0, Z1, Z2, Z3, Z4); \
	LOAD5(0, DX, Z5, Z6, Z7, Z8, Z9); \
	MULLIMB0(Z0, Z1, Z2, Z3, Z4, 0(BX), 64(BX), 128(BX), 192(BX), 256(BX), Z10, Z20); \
	MULLIMB0(Z5, Z6, Z7, Z8, Z9, 0(SI), 64(SI), 128(SI), 192(SI), 256(SI), Z15, Z21); \
	MULLIMB1(Z0, Z1, Z2, Z3, Z4, 0(BX), 64(BX), 128(BX), 192(BX), 256(BX), Z11, Z22); \
	MULLIMB1(Z5, Z6, Z7, Z8, Z9, 0(SI), 64(SI), 128(SI), 192(SI), 256(SI), Z16, Z23); \
	MULLIMB2(Z0, Z1, Z2, Z3, Z4, 0(BX), 64(BX), 128(BX), 192(BX), 256(BX), Z12, Z20); \
	MULLIMB2(Z5, Z6, Z7, Z8, Z9, 0(SI), 64(SI), 128(SI), 192(SI), 256(SI), Z17, Z21); \
	MULLIMB3(Z0, Z1, Z2, Z3, Z4, 0(BX), 64(BX), 128(BX), 192(BX), 256(BX), Z13, Z22); \
	MULLIMB3(Z5, Z6, Z7, Z8, Z9, 0(SI), 64(SI), 128(SI), 192(SI), 256(SI), Z18, Z23); \
	MULLIMB4(Z0, Z1, Z2, Z3, Z4, 0(BX), 64(BX), 128(BX), 192(BX), 256(BX), Z14, Z20); \
	MULLIMB4(Z5, Z6, Z7, Z8, Z9, 0(SI), 64(SI), 128(SI), 192(SI), 256(SI), Z19, Z21)

// SQR5X2: two independent squares, of Z0–Z4 into Z10–Z14 and of Z5–Z9
// into Z15–Z19, raw, interleaved limb by limb (Z20–Z23 scratch).
#define SQR5X2 \
	SQRLIMB0(Z0, Z1, Z2, Z3, Z4, Z10, Z20); \
	SQRLIMB0(Z5, Z6, Z7, Z8, Z9, Z15, Z21); \
	SQRLIMB1(Z0, Z1, Z2, Z3, Z4, Z11, Z22); \
	SQRLIMB1(Z5, Z6, Z7, Z8, Z9, Z16, Z23); \
	SQRLIMB2(Z0, Z1, Z2, Z3, Z4, Z12, Z20); \
	SQRLIMB2(Z5, Z6, Z7, Z8, Z9, Z17, Z21); \
	SQRLIMB3(Z0, Z1, Z2, Z3, Z4, Z13, Z22); \
	SQRLIMB3(Z5, Z6, Z7, Z8, Z9, Z18, Z23); \
	SQRLIMB4(Z0, Z1, Z2, Z3, Z4, Z14, Z20); \
	SQRLIMB4(Z5, Z6, Z7, Z8, Z9, Z19, Z21)

// fmul: (DI) = (AX)·(BX), carried (short chains: for the inversion, whose
// products depend on each other). DI may alias AX or BX (stores come
// last).
TEXT fmul<>(SB), NOSPLIT, $0
	LOAD5(0, AX, Z0, Z1, Z2, Z3, Z4)
	MUL5S
	CARRY(Z10, Z11, Z12, Z13, Z14, Z0, Z1, Z2, Z3, Z4)
	STORE5(Z10, Z11, Z12, Z13, Z14, 0, DI)
	RET

// fmul2r: (DI) = (AX)·(BX) and (R11) = (DX)·(SI), raw, the two products
// interleaved. Outputs may alias inputs (stores come last).
TEXT fmul2r<>(SB), NOSPLIT, $0
	MUL5X2
	STORE5(Z10, Z11, Z12, Z13, Z14, 0, DI)
	STORE5(Z15, Z16, Z17, Z18, Z19, 0, R11)
	RET

// fsqr2: (DI) = a² and (R11) = b², carried, interleaved, for a in Z0–Z4 and
// b in Z5–Z9 (the ladder has them in registers).
TEXT fsqr2<>(SB), NOSPLIT, $0
	SQR5X2
	CARRY(Z10, Z11, Z12, Z13, Z14, Z0, Z1, Z2, Z3, Z4)
	CARRY(Z15, Z16, Z17, Z18, Z19, Z5, Z6, Z7, Z8, Z9)
	STORE5(Z10, Z11, Z12, Z13, Z14, 0, DI)
	STORE5(Z15, Z16, Z17, Z18, Z19, 0, R11)
	RET

// cswap swaps (AX) and (BX) in the lanes where Z28 is all ones (and leaves
// the lanes where it is zero): t = (a ⊕ b) ∧ mask, a ⊕= t, b ⊕= t.
#define CSWAPLIMB(off) \
	VMOVDQU64 off(AX), Z0; VMOVDQU64 off(BX), Z1; VPXORQ Z0, Z1, Z2; VPANDQ Z28, Z2, Z2; \
	VPXORQ Z2, Z0, Z0; VPXORQ Z2, Z1, Z1; VMOVDQU64 Z0, off(AX); VMOVDQU64 Z1, off(BX)

TEXT cswap<>(SB), NOSPLIT, $0
	CSWAPLIMB(0); CSWAPLIMB(64); CSWAPLIMB(128); CSWAPLIMB(192); CSWAPLIMB(256)
	RET

// carry5: (DI) carried in place.
TEXT carry5<>(SB), NOSPLIT, $0
	LOAD5(0, DI, Z0, Z1, Z2, Z3, Z4)
	CARRY(Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9)
	STORE5(Z0, Z1, Z2, Z3, Z4, 0, DI)
	RET

#define CONSTS \
	MOVQ $0x7ffffffffffff, R10; VPBROADCASTQ R10, Z30; \
	MOVQ $19, R10; VPBROADCASTQ R10, Z31; \
	MOVQ $121665, R10; VPBROADCASTQ R10, Z29; \
	MOVQ $0x1fffffffffffb400, R10; VPBROADCASTQ R10, Z26; \
	MOVQ $0x1ffffffffffffc00, R10; VPBROADCASTQ R10, Z27

// SWAPADDSUB does one limb (byte offset off) of the step's start: load
// x2, z2, x3, z3, swap (x2, x3) and (z2, z3) in the lanes K1 selects
// (VPBLENDMQ: an ALU select, its timing independent of the mask), then
// a = x2 + z2, b = x2 + 2^10·p − z2, c = x3 + z3, d = x3 + 2^10·p − z3
// (kp: that limb of 2^10·p), uncarried. Z20–Z24 are scratch.
#define SWAPADDSUB(off, kp, a, b, c, d) \
	VMOVDQU64 (O_X2+off)(R8), Z20; VMOVDQU64 (O_Z2+off)(R8), Z21; \
	VMOVDQU64 (O_X3+off)(R8), Z22; VMOVDQU64 (O_Z3+off)(R8), Z23; \
	VPBLENDMQ Z22, Z20, K1, Z24; VPBLENDMQ Z20, Z22, K1, Z22; \
	VPBLENDMQ Z23, Z21, K1, Z20; VPBLENDMQ Z21, Z23, K1, Z23; \
	VPADDQ Z20, Z24, a; VPADDQ kp, Z24, b; VPSUBQ Z20, b, b; \
	VPADDQ Z23, Z22, c; VPADDQ kp, Z22, d; VPSUBQ Z23, d, d

// ef: E = AA − BB and F = AA + a24·E, both carried, stored at O_TE and
// O_TF.
//
// a24·E: limb i's product E_i·a24 < 2^69 is split by IFMA into its low 52
// bits (added to AA_i) and its high part h_i < 2^17, which weighs twice
// limb i+1 (h_4: 2·19 times limb 0). F's limbs are then below 2^54.
TEXT ef<>(SB), NOSPLIT, $0
	LOAD5(O_TAA, R8, Z0, Z1, Z2, Z3, Z4)
	VPADDQ Z26, Z0, Z10; VPADDQ Z27, Z1, Z11; VPADDQ Z27, Z2, Z12
	VPADDQ Z27, Z3, Z13; VPADDQ Z27, Z4, Z14
	VPSUBQ (O_TBB+0)(R8), Z10, Z10; VPSUBQ (O_TBB+64)(R8), Z11, Z11
	VPSUBQ (O_TBB+128)(R8), Z12, Z12; VPSUBQ (O_TBB+192)(R8), Z13, Z13
	VPSUBQ (O_TBB+256)(R8), Z14, Z14
	CARRY(Z10, Z11, Z12, Z13, Z14, Z15, Z16, Z17, Z18, Z19)
	STORE5(Z10, Z11, Z12, Z13, Z14, O_TE, R8)
	VPXORQ Z15, Z15, Z15; VPXORQ Z16, Z16, Z16; VPXORQ Z17, Z17, Z17
	VPXORQ Z18, Z18, Z18; VPXORQ Z19, Z19, Z19
	VPMADD52LUQ Z29, Z10, Z0; VPMADD52HUQ Z29, Z10, Z15
	VPMADD52LUQ Z29, Z11, Z1; VPMADD52HUQ Z29, Z11, Z16
	VPMADD52LUQ Z29, Z12, Z2; VPMADD52HUQ Z29, Z12, Z17
	VPMADD52LUQ Z29, Z13, Z3; VPMADD52HUQ Z29, Z13, Z18
	VPMADD52LUQ Z29, Z14, Z4; VPMADD52HUQ Z29, Z14, Z19
	VPSLLQ $1, Z15, Z15; VPADDQ Z15, Z1, Z1
	VPSLLQ $1, Z16, Z16; VPADDQ Z16, Z2, Z2
	VPSLLQ $1, Z17, Z17; VPADDQ Z17, Z3, Z3
	VPSLLQ $1, Z18, Z18; VPADDQ Z18, Z4, Z4
	VPSLLQ $1, Z19, Z19; VPMULLQ Z31, Z19, Z19; VPADDQ Z19, Z0, Z0
	CARRY(Z0, Z1, Z2, Z3, Z4, Z15, Z16, Z17, Z18, Z19)
	STORE5(Z0, Z1, Z2, Z3, Z4, O_TF, R8)
	RET

// dacb: DA = (AX)·(BX) and CB = (DX)·(SI), raw and interleaved, then
// T1 = DA + CB and T2 = DA − CB, carried, then x3 = T1² (raw, stored)
// interleaved with T2² (carried), then z3 = x1·T2² (raw, stored), T2²
// staying in registers.
TEXT dacb<>(SB), NOSPLIT, $0
	MUL5X2
	VPADDQ Z15, Z10, Z0; VPADDQ Z16, Z11, Z1; VPADDQ Z17, Z12, Z2
	VPADDQ Z18, Z13, Z3; VPADDQ Z19, Z14, Z4
	VPADDQ Z26, Z10, Z5; VPADDQ Z27, Z11, Z6; VPADDQ Z27, Z12, Z7
	VPADDQ Z27, Z13, Z8; VPADDQ Z27, Z14, Z9
	VPSUBQ Z15, Z5, Z5; VPSUBQ Z16, Z6, Z6; VPSUBQ Z17, Z7, Z7
	VPSUBQ Z18, Z8, Z8; VPSUBQ Z19, Z9, Z9
	CARRY(Z0, Z1, Z2, Z3, Z4, Z20, Z21, Z22, Z23, Z24)
	CARRY(Z5, Z6, Z7, Z8, Z9, Z10, Z11, Z12, Z13, Z14)
	SQR5X2
	CARRY(Z15, Z16, Z17, Z18, Z19, Z5, Z6, Z7, Z8, Z9)
	STORE5(Z10, Z11, Z12, Z13, Z14, O_X3, R8)
	VMOVDQA64 Z15, Z0; VMOVDQA64 Z16, Z1; VMOVDQA64 Z17, Z2
	VMOVDQA64 Z18, Z3; VMOVDQA64 Z19, Z4
	LEAQ O_X1(R8), BX
	MUL5S
	STORE5(Z10, Z11, Z12, Z13, Z14, O_Z3, R8)
	RET

// func ladder8(st *ladderState, n int)
//
// RFC 7748 §5's Montgomery ladder, n steps (255 for X25519) for the scalar
// bits 254, 253, …, 255 − n, on eight lanes at once, then the final swap.
// Step t swaps (x2, x3) and (z2, z3) in the lanes of st.swaps[t] (those
// whose scalar bits t and t+1 differ: the ladder's "swap ^= k_t"), the
// final swap is st.swaps[255]; the swap bytes are used only as data (a
// mask register for VPBLENDMQ; no secret-dependent branch or address). On
// return x2 and z2 are carried (loose), x3 and z3 raw.
//
// A step's multiplications run in pairs of independent ones, each pair's
// instructions interleaved so that the out-of-order core overlaps the two
// chains' latencies: AA = A² with BB = B², DA = D·A with CB = C·B, x3 =
// (DA + CB)² with (DA − CB)², then z3 = x1·(DA − CB)² alone; x2 = AA·BB
// with z2 = E·F come last, so that they (and E, F) fill the wait for the
// chain DA, CB → (DA − CB)² → z3, which the next step needs first.
TEXT ·ladder8(SB), NOSPLIT, $0-16
	MOVQ st+0(FP), R8
	MOVQ n+8(FP), CX
	CONSTS
	LEAQ (O_SWAPS+254)(R8), R9

step:
	KMOVB (R9), K1
	// Swap, then A = x2 + z2, B = x2 − z2, C = x3 + z3, D = x3 − z3, in
	// registers (the swapped points are not stored: the step replaces
	// them). A, B, C, D in Z0–Z4, Z5–Z9, Z10–Z14, Z15–Z19.
	SWAPADDSUB(0, Z26, Z0, Z5, Z10, Z15)
	SWAPADDSUB(64, Z27, Z1, Z6, Z11, Z16)
	SWAPADDSUB(128, Z27, Z2, Z7, Z12, Z17)
	SWAPADDSUB(192, Z27, Z3, Z8, Z13, Z18)
	SWAPADDSUB(256, Z27, Z4, Z9, Z14, Z19)
	CARRY(Z0, Z1, Z2, Z3, Z4, Z20, Z21, Z22, Z23, Z24)
	CARRY(Z5, Z6, Z7, Z8, Z9, Z20, Z21, Z22, Z23, Z24)
	CARRY(Z10, Z11, Z12, Z13, Z14, Z20, Z21, Z22, Z23, Z24)
	CARRY(Z15, Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23, Z24)
	STORE5(Z0, Z1, Z2, Z3, Z4, O_TA, R8)
	STORE5(Z5, Z6, Z7, Z8, Z9, O_TB, R8)
	STORE5(Z10, Z11, Z12, Z13, Z14, O_TC, R8)
	STORE5(Z15, Z16, Z17, Z18, Z19, O_TD, R8)
	// AA = A², BB = B², from the registers.
	LEAQ O_TAA(R8), DI; LEAQ O_TBB(R8), R11
	CALL fsqr2<>(SB)
	// DA = D·A, CB = C·B; x3 = (DA + CB)², z3 = x1·(DA − CB)².
	LEAQ O_TD(R8), AX; LEAQ O_TA(R8), BX
	LEAQ O_TC(R8), DX; LEAQ O_TB(R8), SI
	CALL dacb<>(SB)
	// E = AA − BB, F = AA + a24·E.
	CALL ef<>(SB)
	// x2 = AA·BB, z2 = E·F.
	LEAQ O_TAA(R8), AX; LEAQ O_TBB(R8), BX; LEAQ O_X2(R8), DI
	LEAQ O_TE(R8), DX; LEAQ O_TF(R8), SI; LEAQ O_Z2(R8), R11
	CALL fmul2r<>(SB)
	DECQ R9
	DECQ CX
	JNZ  step

	KMOVB (O_SWAPS+255)(R8), K1
	VPMOVM2Q K1, Z28
	LEAQ O_X2(R8), AX; LEAQ O_X3(R8), BX; CALL cswap<>(SB)
	LEAQ O_Z2(R8), AX; LEAQ O_Z3(R8), BX; CALL cswap<>(SB)
	LEAQ O_X2(R8), DI; CALL carry5<>(SB)
	LEAQ O_Z2(R8), DI; CALL carry5<>(SB)
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
// out = a^(2^n), n ≥ 1. The value stays in Z0–Z4 between squarings.
TEXT ·feSqrN8(SB), NOSPLIT, $0-24
	CONSTS
	MOVQ out+0(FP), DI
	MOVQ a+8(FP), AX
	MOVQ n+16(FP), CX
	LOAD5(0, AX, Z0, Z1, Z2, Z3, Z4)

sqrloop:
	SQRLIMB0(Z0, Z1, Z2, Z3, Z4, Z10, Z20)
	SQRLIMB1(Z0, Z1, Z2, Z3, Z4, Z11, Z21)
	SQRLIMB2(Z0, Z1, Z2, Z3, Z4, Z12, Z22)
	SQRLIMB3(Z0, Z1, Z2, Z3, Z4, Z13, Z23)
	SQRLIMB4(Z0, Z1, Z2, Z3, Z4, Z14, Z24)
	CARRY(Z10, Z11, Z12, Z13, Z14, Z5, Z6, Z7, Z8, Z9)
	VMOVDQA64 Z10, Z0; VMOVDQA64 Z11, Z1; VMOVDQA64 Z12, Z2
	VMOVDQA64 Z13, Z3; VMOVDQA64 Z14, Z4
	DECQ CX
	JNZ  sqrloop
	STORE5(Z0, Z1, Z2, Z3, Z4, 0, DI)
	VZEROUPPER
	RET

// func feMul2x8(o1, a1, b1, o2, a2, b2 *fe8)
//
// o1 = a1·b1 and o2 = a2·b2, raw, by fmul2r (for tests).
TEXT ·feMul2x8(SB), NOSPLIT, $0-48
	CONSTS
	MOVQ o1+0(FP), DI
	MOVQ a1+8(FP), AX
	MOVQ b1+16(FP), BX
	MOVQ o2+24(FP), R11
	MOVQ a2+32(FP), DX
	MOVQ b2+40(FP), SI
	CALL fmul2r<>(SB)
	VZEROUPPER
	RET

// func feSqr2x8(o1, a1, o2, a2 *fe8)
//
// o1 = a1² and o2 = a2², carried, by fsqr2 (for tests).
TEXT ·feSqr2x8(SB), NOSPLIT, $0-32
	CONSTS
	MOVQ o1+0(FP), DI
	MOVQ a1+8(FP), AX
	MOVQ o2+16(FP), R11
	MOVQ a2+24(FP), DX
	LOAD5(0, AX, Z0, Z1, Z2, Z3, Z4)
	LOAD5(0, DX, Z5, Z6, Z7, Z8, Z9)
	CALL fsqr2<>(SB)
	VZEROUPPER
	RET
