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
// the per-step swap masks. batch_amd64.s hard-codes the offsets.
type ladderState struct {
	x1, x2, z2, x3, z3                fe8
	a, b, c, d, aa, bb, e, da, cb, tt fe8
	masks                             [256][Lanes]uint64
}

//go:noescape
func ladder8(st *ladderState)

//go:noescape
func feMul8(out, a, b *fe8)

//go:noescape
func feSqrN8(out, a *fe8, n int)

const mask51 = 1<<51 - 1

// scalarMult8 sets out[l] = X25519(scalars[l], points[l]) for the eight
// lanes.
func scalarMult8(out, scalars, points *[Lanes][Size]byte) {
	st := new(ladderState)
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

		// Clamp (RFC 7748 §5): clear bits 0–2 and 255, set bit 254. Row i
		// of the masks swaps for bit 254−i: all ones where that bit
		// differs from the previous one (the ladder's "swap ^= k_t").
		var k [Size]byte = scalars[l]
		k[0] &= 248
		k[31] = k[31]&127 | 64
		var prev uint64
		for i := range 255 {
			t := 254 - i
			bit := uint64(k[t>>3]>>(t&7)) & 1
			st.masks[i][l] = -(bit ^ prev)
			prev = bit
		}
		st.masks[255][l] = -prev
		clear(k[:])
	}
	ladder8(st)

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
	// The masks are the scalars' bits; the rest derives from them.
	*st = ladderState{}
	clear(r[:])
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
