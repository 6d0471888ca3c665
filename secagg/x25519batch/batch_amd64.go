//go:build amd64 && !purego

package x25519batch

import (
	"encoding/binary"

	"golang.org/x/sys/cpu"
)

// hasIFMA: the ladder needs AVX-512 F (512-bit registers, OS support
// included), IFMA (52-bit multiply-accumulate) and DQ (vpmullq).
var hasIFMA = cpu.X86.HasAVX512 && cpu.X86.HasAVX512IFMA && cpu.X86.HasAVX512DQ

// fe8 is eight field elements mod 2^255−19: limb i (radix 2^51) of lane l
// at [i][l], so a limb of the eight lanes is one 512-bit load.
type fe8 [5][Lanes]uint64

// ladderState is ladder8's memory: the ladder's points, its temporaries and
// the swap masks (setSwaps). batch_amd64.s hard-codes the offsets.
type ladderState struct {
	x1, x2, z2, x3, z3       fe8
	a, b, c, d, aa, bb, e, f fe8
	swaps                    [256]uint8
}

// ladder8 runs n ladder steps (255 for X25519) and the final swap.
//
//go:noescape
func ladder8(st *ladderState, n int)

//go:noescape
func feMul8(out, a, b *fe8)

//go:noescape
func feSqrN8(out, a *fe8, n int)

// Test hooks for the interleaved routines the ladder uses: two products
// (raw: limbs below 267·2^52, not carried) and two squares (carried).

//go:noescape
func feMul2x8(o1, a1, b1, o2, a2, b2 *fe8)

//go:noescape
func feSqr2x8(o1, a1, o2, a2 *fe8)

const mask51 = 1<<51 - 1

// scalarMult8 sets out[l] = X25519(scalars[l], points[l]) for the eight
// lanes.
func scalarMult8(out, scalars, points *[Lanes][Size]byte) {
	st := new(ladderState)
	var k [Lanes][4]uint64
	for l := range Lanes {
		// u: little-endian, top bit masked (RFC 7748 §5), split in
		// 51-bit limbs; a u ≥ p is a loose representative of u mod p.
		p := &points[l]
		w0 := binary.LittleEndian.Uint64(p[0:])
		w1 := binary.LittleEndian.Uint64(p[8:])
		w2 := binary.LittleEndian.Uint64(p[16:])
		w3 := binary.LittleEndian.Uint64(p[24:]) &^ (1 << 63)
		u := [5]uint64{
			w0 & mask51,
			(w0>>51 | w1<<13) & mask51,
			(w1>>38 | w2<<26) & mask51,
			(w2>>25 | w3<<39) & mask51,
			w3 >> 12,
		}
		for i := range 5 {
			st.x1[i][l], st.x3[i][l] = u[i], u[i]
		}
		st.x2[0][l], st.z3[0][l] = 1, 1

		// Clamp (RFC 7748 §5): clear bits 0–2 and 255, set bit 254.
		for j := range 4 {
			k[l][j] = binary.LittleEndian.Uint64(scalars[l][8*j:])
		}
		k[l][0] &^= 7
		k[l][3] = k[l][3]&^(1<<63) | 1<<62
	}
	st.setSwaps(&k, 255)
	clear(k[:])
	ladder8(st, 255)

	// out = x2 · z2^(p−2) (Fermat; 0 for z2 = 0, as RFC 7748 wants).
	var r fe8
	invert8(&r, &st.z2)
	feMul8(&r, &r, &st.x2)
	for l := range Lanes {
		var v [5]uint64
		for i := range 5 {
			v[i] = r[i][l]
		}
		encode(&out[l], &v)
	}
	// The swaps are the scalars' bits; the rest derives from them.
	*st = ladderState{}
	clear(r[:])
}

// setSwaps sets st.swaps for a ladder over bits 254, 253, …, 255 − n of
// the scalars k (k[l][j]: little-endian word j of lane l's scalar; bit 255
// counts as 0): swaps[t] has bit l set where lane l's bits t and t+1
// differ, swaps[255] where its bit 255 − n is set (the final swap). The
// swap bits s = k ⊕ (k >> 1) of the eight lanes are transposed eight by
// eight bits at a time, with no data-dependent branch or index.
func (st *ladderState) setSwaps(k *[Lanes][4]uint64, n int) {
	var s [Lanes][4]uint64
	for l := range Lanes {
		w := k[l]
		w[3] &^= 1 << 63
		for j := range 3 {
			s[l][j] = w[j] ^ (w[j]>>1 | w[j+1]<<63)
		}
		s[l][3] = w[3] ^ w[3]>>1
	}
	for b := range 32 {
		// x: byte l is lane l's bits 8b..8b+7; transposed, byte j has
		// bit l = lane l's bit 8b+j.
		var x uint64
		for l := range Lanes {
			x |= (s[l][b/8] >> (8 * (b % 8)) & 0xff) << (8 * l)
		}
		x = transpose8(x)
		for j := range 8 {
			if t := 8*b + j; t < 255 {
				st.swaps[t] = uint8(x >> (8 * j))
			}
		}
	}
	t := 255 - n
	var f uint8
	for l := range Lanes {
		f |= uint8(k[l][t/64]>>(t%64)&1) << l
	}
	st.swaps[255] = f
	clear(s[:])
}

// transpose8 transposes the 8×8 bit matrix x (row r = byte r, column c =
// bit c of it) by three rounds of swapping off-diagonal blocks: 1×1 blocks
// within 2×2, 2×2 within 4×4, 4×4 within 8×8.
func transpose8(x uint64) uint64 {
	t := (x ^ x>>7) & 0x00aa00aa00aa00aa
	x ^= t ^ t<<7
	t = (x ^ x>>14) & 0x0000cccc0000cccc
	x ^= t ^ t<<14
	t = (x ^ x>>28) & 0x00000000f0f0f0f0
	return x ^ t ^ t<<28
}

// invert8 sets out = z^(p−2) = z^(2^255−21) by a chain of 254 squarings
// and 11 multiplications (exponents noted as the 1-bits they hold).
func invert8(out, z *fe8) {
	var z2, z9, z11, t, z5, z10, z20, z50, z100 fe8
	feSqrN8(&z2, z, 1)      // 2
	feSqrN8(&t, &z2, 2)     // 8
	feMul8(&z9, &t, z)      // 9
	feMul8(&z11, &z9, &z2)  // 11
	feSqrN8(&t, &z11, 1)    // 22
	feMul8(&z5, &t, &z9)    // 31 = 2^5 − 1
	feSqrN8(&t, &z5, 5)     //
	feMul8(&z10, &t, &z5)   // 2^10 − 1
	feSqrN8(&t, &z10, 10)   //
	feMul8(&z20, &t, &z10)  // 2^20 − 1
	feSqrN8(&t, &z20, 20)   //
	feMul8(&t, &t, &z20)    // 2^40 − 1
	feSqrN8(&t, &t, 10)     //
	feMul8(&z50, &t, &z10)  // 2^50 − 1
	feSqrN8(&t, &z50, 50)   //
	feMul8(&z100, &t, &z50) // 2^100 − 1
	feSqrN8(&t, &z100, 100) //
	feMul8(&t, &t, &z100)   // 2^200 − 1
	feSqrN8(&t, &t, 50)     //
	feMul8(&t, &t, &z50)    // 2^250 − 1
	feSqrN8(&t, &t, 5)      // 2^255 − 32
	feMul8(out, &t, &z11)   // 2^255 − 21
}

// encode writes the canonical little-endian form of a loose element (limbs
// below 2^52): carry twice to 51-bit limbs (a value below 2^255), then
// subtract p when the value is ≥ p, i.e. when value + 19 reaches 2^255 —
// all without branches.
func encode(out *[Size]byte, v *[5]uint64) {
	for range 2 {
		for i := range 4 {
			v[i+1] += v[i] >> 51
			v[i] &= mask51
		}
		v[0] += 19 * (v[4] >> 51)
		v[4] &= mask51
	}
	q := (v[0] + 19) >> 51
	for i := 1; i < 5; i++ {
		q = (v[i] + q) >> 51
	}
	v[0] += 19 * q
	for i := range 4 {
		v[i+1] += v[i] >> 51
		v[i] &= mask51
	}
	v[4] &= mask51
	binary.LittleEndian.PutUint64(out[0:], v[0]|v[1]<<51)
	binary.LittleEndian.PutUint64(out[8:], v[1]>>13|v[2]<<38)
	binary.LittleEndian.PutUint64(out[16:], v[2]>>26|v[3]<<25)
	binary.LittleEndian.PutUint64(out[24:], v[3]>>39|v[4]<<12)
}
