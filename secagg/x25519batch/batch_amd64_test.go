//go:build amd64 && !purego

package x25519batch

import (
	"math/big"
	"math/rand/v2"
	"testing"
	"unsafe"
)

// TestStateLayout: the offsets batch_amd64.s hard-codes.
func TestStateLayout(t *testing.T) {
	var s ladderState
	got := []uintptr{
		unsafe.Offsetof(s.x1), unsafe.Offsetof(s.x2), unsafe.Offsetof(s.z2),
		unsafe.Offsetof(s.x3), unsafe.Offsetof(s.z3), unsafe.Offsetof(s.a),
		unsafe.Offsetof(s.b), unsafe.Offsetof(s.c), unsafe.Offsetof(s.d),
		unsafe.Offsetof(s.aa), unsafe.Offsetof(s.bb), unsafe.Offsetof(s.e),
		unsafe.Offsetof(s.f), unsafe.Offsetof(s.swaps),
	}
	for i, off := range got {
		if off != uintptr(320*i) {
			t.Errorf("field %d at %d, want %d", i, off, 320*i)
		}
	}
}

// p25519 is 2^255 − 19.
var p25519 = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))

// feValue is lane l of a as an integer (not reduced).
func feValue(a *fe8, l int) *big.Int {
	v := new(big.Int)
	for i := 4; i >= 0; i-- {
		v.Lsh(v, 51)
		v.Add(v, new(big.Int).SetUint64(a[i][l]))
	}
	return v
}

// feRandom fills a with limbs below lim0 (limb 0) and lim (the others):
// the maxima lim0−1 and lim−1, zero, or random below the bound or below
// 2^51, each limb drawn independently, so that lanes mix extremes.
func feRandom(r *rand.Rand, a *fe8, lim0, lim uint64) {
	for i := range 5 {
		bound := lim
		if i == 0 {
			bound = lim0
		}
		for l := range Lanes {
			switch r.IntN(5) {
			case 0:
				a[i][l] = bound - 1
			case 1:
				a[i][l] = 0
			case 2:
				a[i][l] = r.Uint64N(1 << 51)
			default:
				a[i][l] = r.Uint64N(bound)
			}
		}
	}
}

// rawBound bounds the limbs of a product before its carry (batch_amd64.s).
const rawBound = 267 << 52

// checkFE fails unless every limb of lane l of a is below bound and the
// lane is ≡ want mod p.
func checkFE(t *testing.T, what string, a *fe8, l int, bound uint64, want *big.Int) {
	t.Helper()
	for i := range 5 {
		if a[i][l] >= bound {
			t.Fatalf("%s lane %d: limb %d = %#x not below %#x", what, l, i, a[i][l], bound)
		}
	}
	got := new(big.Int).Mod(feValue(a, l), p25519)
	if w := new(big.Int).Mod(want, p25519); got.Cmp(w) != 0 {
		t.Fatalf("%s lane %d: %x, want %x", what, l, got, w)
	}
}

// carry8 is batch_amd64.s's CARRY in Go.
func carry8(a *fe8) {
	for l := range Lanes {
		var c [5]uint64
		for i := range 5 {
			c[i] = a[i][l] >> 51
			a[i][l] &= mask51
		}
		for i := range 4 {
			a[i+1][l] += c[i]
		}
		a[0][l] += 19 * c[4]
	}
}

// TestFusedProducts: the interleaved pair routines (two raw products, two
// carried squares) give limb for limb what the single ones give, and the
// right values mod p within their bounds, on random inputs and on limbs at
// their maximum 2^52 − 1.
func TestFusedProducts(t *testing.T) {
	if !hasIFMA {
		t.Skip("no AVX-512 IFMA on this CPU")
	}
	r := rand.New(rand.NewChaCha8([32]byte{5}))
	var top fe8
	for i := range 5 {
		for l := range Lanes {
			top[i][l] = 1<<52 - 1
		}
	}
	for trial := range 2000 {
		var a1, b1, a2, b2 fe8
		feRandom(r, &a1, 1<<52, 1<<52)
		feRandom(r, &b1, 1<<52, 1<<52)
		feRandom(r, &a2, 1<<52, 1<<52)
		feRandom(r, &b2, 1<<52, 1<<52)
		if trial == 0 {
			a1, b1, a2, b2 = top, top, top, top
		}
		var o1, o2, s1, s2 fe8
		feMul2x8(&o1, &a1, &b1, &o2, &a2, &b2)
		for l := range Lanes {
			checkFE(t, "a1·b1", &o1, l, rawBound, new(big.Int).Mul(feValue(&a1, l), feValue(&b1, l)))
			checkFE(t, "a2·b2", &o2, l, rawBound, new(big.Int).Mul(feValue(&a2, l), feValue(&b2, l)))
		}
		feMul8(&s1, &a1, &b1)
		feMul8(&s2, &a2, &b2)
		if carry8(&o1); o1 != s1 {
			t.Fatalf("trial %d: first product of fmul2r, carried, differs from fmul", trial)
		}
		if carry8(&o2); o2 != s2 {
			t.Fatalf("trial %d: second product of fmul2r, carried, differs from fmul", trial)
		}
		feSqr2x8(&o1, &a1, &o2, &a2)
		feSqrN8(&s1, &a1, 1)
		feSqrN8(&s2, &a2, 1)
		if o1 != s1 || o2 != s2 {
			t.Fatalf("trial %d: fsqr2 differs from two fsqr", trial)
		}
		for l := range Lanes {
			v1, v2 := feValue(&a1, l), feValue(&a2, l)
			checkFE(t, "a1²", &o1, l, 1<<52, new(big.Int).Mul(v1, v1))
			checkFE(t, "a2²", &o2, l, 1<<52, new(big.Int).Mul(v2, v2))
		}
	}
}

// TestLadderStep: one to three ladder steps and the final swap, from
// states at the extremes the ladder allows — raw x2, z2, x3, z3 (limbs up
// to 267·2^52 − 1), x1 as decoded (below 2^51) — and random scalar words,
// against RFC 7748 §5's ladder mod p; x2 and z2 come out loose, x3 and z3
// raw.
func TestLadderStep(t *testing.T) {
	if !hasIFMA {
		t.Skip("no AVX-512 IFMA on this CPU")
	}
	r := rand.New(rand.NewChaCha8([32]byte{6}))
	mod := func(v *big.Int) *big.Int { return v.Mod(v, p25519) }
	mul := func(a, b *big.Int) *big.Int { return mod(new(big.Int).Mul(a, b)) }
	add := func(a, b *big.Int) *big.Int { return mod(new(big.Int).Add(a, b)) }
	sub := func(a, b *big.Int) *big.Int { return mod(new(big.Int).Sub(a, b)) }
	for trial := range 3000 {
		n := 1 + trial%3
		st := new(ladderState)
		feRandom(r, &st.x1, 1<<51, 1<<51)
		feRandom(r, &st.x2, rawBound, rawBound)
		feRandom(r, &st.z2, rawBound, rawBound)
		feRandom(r, &st.x3, rawBound, rawBound)
		feRandom(r, &st.z3, rawBound, rawBound)
		var k [Lanes][4]uint64
		for l := range Lanes {
			for j := range 4 {
				k[l][j] = r.Uint64()
			}
			if trial == 0 {
				for i := range 5 {
					st.x2[i][l], st.z2[i][l], st.x3[i][l] = rawBound-1, 0, rawBound-1
					st.z3[i][l], st.x1[i][l] = rawBound-1, 1<<51-1
				}
			}
		}
		st.setSwaps(&k, n)
		in := *st
		ladder8(st, n)
		for l := range Lanes {
			x1 := feValue(&in.x1, l)
			x2, z2 := feValue(&in.x2, l), feValue(&in.z2, l)
			x3, z3 := feValue(&in.x3, l), feValue(&in.z3, l)
			var swap uint64
			for i := range n {
				bit := k[l][(254-i)/64] >> ((254 - i) % 64) & 1
				if swap^bit != 0 {
					x2, x3, z2, z3 = x3, x2, z3, z2
				}
				swap = bit
				a, b := add(x2, z2), sub(x2, z2)
				aa, bb := mul(a, a), mul(b, b)
				e := sub(aa, bb)
				c, d := add(x3, z3), sub(x3, z3)
				da, cb := mul(d, a), mul(c, b)
				x3 = mul(add(da, cb), add(da, cb))
				z3 = mul(x1, mul(sub(da, cb), sub(da, cb)))
				x2 = mul(aa, bb)
				z2 = mul(e, add(aa, mul(big.NewInt(121665), e)))
			}
			if swap != 0 {
				x2, x3, z2, z3 = x3, x2, z3, z2
			}
			checkFE(t, "x2", &st.x2, l, 1<<52, x2)
			checkFE(t, "z2", &st.z2, l, 1<<52, z2)
			checkFE(t, "x3", &st.x3, l, rawBound, x3)
			checkFE(t, "z3", &st.z3, l, rawBound, z3)
		}
	}
}

// TestSetSwaps: the transposed swap masks equal the bitwise definition,
// for random scalar words (bit 255 set or not) and every ladder length.
func TestSetSwaps(t *testing.T) {
	r := rand.New(rand.NewChaCha8([32]byte{7}))
	for trial := range 200 {
		var k [Lanes][4]uint64
		for l := range Lanes {
			for j := range 4 {
				k[l][j] = r.Uint64()
			}
		}
		n := 1 + trial%255
		var st ladderState
		st.setSwaps(&k, n)
		bit := func(l, t int) uint8 {
			if t == 255 {
				return 0
			}
			return uint8(k[l][t/64] >> (t % 64) & 1)
		}
		for tt := range 256 {
			var want uint8
			for l := range Lanes {
				if tt < 255 {
					want |= (bit(l, tt) ^ bit(l, tt+1)) << l
				} else {
					want |= bit(l, 255-n) << l
				}
			}
			if st.swaps[tt] != want {
				t.Fatalf("trial %d (n %d): swaps[%d] = %08b, want %08b", trial, n, tt, st.swaps[tt], want)
			}
		}
	}
}
