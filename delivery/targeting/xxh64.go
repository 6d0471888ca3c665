package targeting

import "math/bits"

// XXH64 is Yann Collet's xxHash64, written from the specification
// (github.com/Cyan4973/xxHash, doc/xxhash_spec.md, "XXH64 algorithm
// description"), not from any implementation. It is checked against the
// reference C library (Debian's libxxhash 0.8.1) by the golden file and by
// the published vectors in the tests.
//
// Why xxHash64 rather than FNV-1a: both are fast and non-cryptographic, but
// xxHash64 avalanches fully on its own (FNV-1a needs an added finalizer whose
// exact constants every SDK would have to copy), it takes a 64-bit seed,
// which is how a salt enters without any concatenation ambiguity, and every
// platform a host app runs on already has a vetted implementation (Kotlin,
// Swift, JavaScript, C), so an SDK in another language can reproduce an
// assignment from the spec or a library and check itself on the golden file.
func XXH64(s string, seed uint64) uint64 {
	n := len(s)
	var acc uint64
	i := 0
	if n >= 32 {
		v1 := seed + prime1 + prime2
		v2 := seed + prime2
		v3 := seed
		v4 := seed - prime1
		for ; i+32 <= n; i += 32 {
			v1 = xxRound(v1, le64(s[i:]))
			v2 = xxRound(v2, le64(s[i+8:]))
			v3 = xxRound(v3, le64(s[i+16:]))
			v4 = xxRound(v4, le64(s[i+24:]))
		}
		acc = bits.RotateLeft64(v1, 1) + bits.RotateLeft64(v2, 7) +
			bits.RotateLeft64(v3, 12) + bits.RotateLeft64(v4, 18)
		acc = xxMerge(acc, v1)
		acc = xxMerge(acc, v2)
		acc = xxMerge(acc, v3)
		acc = xxMerge(acc, v4)
	} else {
		acc = seed + prime5
	}
	acc += uint64(n)
	for ; i+8 <= n; i += 8 {
		acc ^= xxRound(0, le64(s[i:]))
		acc = bits.RotateLeft64(acc, 27)*prime1 + prime4
	}
	if i+4 <= n {
		acc ^= uint64(le32(s[i:])) * prime1
		acc = bits.RotateLeft64(acc, 23)*prime2 + prime3
		i += 4
	}
	for ; i < n; i++ {
		acc ^= uint64(s[i]) * prime5
		acc = bits.RotateLeft64(acc, 11) * prime1
	}
	acc ^= acc >> 33
	acc *= prime2
	acc ^= acc >> 29
	acc *= prime3
	acc ^= acc >> 32
	return acc
}

// The five 64-bit primes of the specification.
const (
	prime1 uint64 = 0x9E3779B185EBCA87
	prime2 uint64 = 0xC2B2AE3D27D4EB4F
	prime3 uint64 = 0x165667B19E3779F9
	prime4 uint64 = 0x85EBCA77C2B2AE63
	prime5 uint64 = 0x27D4EB2F165667C5
)

func xxRound(acc, lane uint64) uint64 {
	acc += lane * prime2
	acc = bits.RotateLeft64(acc, 31)
	return acc * prime1
}

func xxMerge(acc, v uint64) uint64 {
	acc ^= xxRound(0, v)
	return acc*prime1 + prime4
}

func le64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

func le32(s string) uint32 {
	_ = s[3]
	return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
}
