package x25519batch

import (
	"fmt"

	"github.com/cloudflare/circl/dh/x25519"
)

// Size is the size of a scalar, a u-coordinate and an output.
const Size = 32

// Lanes is the number of agreements one vector ladder computes at once.
const Lanes = 8

// useVector reports whether the IFMA ladder runs; tests clear it to check
// the fallback.
var useVector = hasIFMA

// Accelerated reports whether batches run on the AVX-512 IFMA ladder.
func Accelerated() bool { return useVector }

// X25519 sets out[i] = X25519(scalars[i], points[i]) for every i, Lanes at
// a time, and ok[i] to whether out[i] is not all zero (false for a
// low-order point). The four slices must have the same length.
func X25519(out [][Size]byte, ok []bool, scalars, points [][Size]byte) {
	if len(out) != len(points) || len(ok) != len(points) || len(scalars) != len(points) {
		panic(fmt.Sprintf("x25519batch: %d outputs, %d flags, %d scalars, %d points", len(out), len(ok), len(scalars), len(points)))
	}
	run(out, ok, func(i int) *[Size]byte { return &scalars[i] }, points)
}

// Shared is X25519 with one scalar for every point: out[i] =
// X25519(scalar, points[i]), ok[i] whether out[i] is not all zero.
func Shared(out [][Size]byte, ok []bool, scalar *[Size]byte, points [][Size]byte) {
	if len(out) != len(points) || len(ok) != len(points) {
		panic(fmt.Sprintf("x25519batch: %d outputs, %d flags, %d points", len(out), len(ok), len(points)))
	}
	run(out, ok, func(int) *[Size]byte { return scalar }, points)
}

func run(out [][Size]byte, ok []bool, scalar func(int) *[Size]byte, points [][Size]byte) {
	if !useVector {
		for i := range points {
			k, u := x25519.Key(*scalar(i)), x25519.Key(points[i])
			var o x25519.Key
			valid := x25519.Shared(&o, &k, &u)
			out[i] = o
			ok[i] = nonzero(&out[i]) && valid
		}
		return
	}
	var ks, us, os [Lanes][Size]byte
	for lo := 0; lo < len(points); lo += Lanes {
		n := min(Lanes, len(points)-lo)
		for l := range Lanes {
			// Unused lanes repeat lane 0: any valid input will do.
			j := lo + l
			if l >= n {
				j = lo
			}
			ks[l], us[l] = *scalar(j), points[j]
		}
		scalarMult8(&os, &ks, &us)
		for l := range n {
			out[lo+l] = os[l]
			ok[lo+l] = nonzero(&os[l])
		}
	}
	clear(ks[:])
}

// nonzero reports whether b has a nonzero byte, reading every byte.
func nonzero(b *[Size]byte) bool {
	var acc byte
	for _, c := range b {
		acc |= c
	}
	return acc != 0
}
