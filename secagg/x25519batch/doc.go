// Package x25519batch computes batches of X25519 functions (RFC 7748 §5):
// one client's SecAgg+ key agreements, one scalar (or several) against up
// to Lanes peer u-coordinates at a time.
//
// On amd64 CPUs with AVX-512 IFMA (vpmadd52luq/vpmadd52huq) a batch of up
// to eight runs as eight lanes of one Montgomery ladder: field elements mod
// 2^255−19 are five radix-2^51 limbs, limb i of the eight lanes one 512-bit
// register, products by 52-bit multiply-accumulate. Elsewhere (or built
// with the purego tag) each agreement is circl's single-point X25519
// (github.com/cloudflare/circl/dh/x25519), the path secagg used before.
//
// Both paths are constant time in the scalars and the points: the ladder's
// conditional swaps are masks, no branch or memory address depends on a
// secret. Scalars are clamped and the u-coordinate's top bit is masked as
// RFC 7748 says; non-canonical u (p ≤ u < 2^255) are taken mod p; outputs
// are canonical. An all-zero output (a low-order point, which
// crypto/ecdh's ECDH refuses with an error) is reported per agreement.
package x25519batch
