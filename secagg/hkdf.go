package secagg

import "crypto/sha256"

// HKDF-SHA256 (RFC 5869) of one output block, written out with
// sha256.Sum256 on stack buffers: crypto/hkdf builds two crypto/hmac
// states (hash objects, pads and clones on the heap) for each of the 3k
// keys a client derives a round (AES-GCM keys to seal and open, mask
// seeds), which cost several times the eight SHA-256 compressions.
// TestHKDFMatchesStdlib checks it against crypto/hkdf.Key.

// hmacBlock is SHA-256's block size, the HMAC pad length (RFC 2104).
const hmacBlock = 64

// hmacMaxMsg is the longest message hmacSHA256 takes (derive's info with
// its counter byte is under 64 bytes).
const hmacMaxMsg = 2 * hmacBlock

// hmacSHA256 returns HMAC-SHA256(key, msg ‖ tail) for a key of at most 64
// bytes and len(msg)+len(tail) ≤ hmacMaxMsg.
func hmacSHA256(key, msg, tail []byte) [sha256.Size]byte {
	if len(key) > hmacBlock || len(msg)+len(tail) > hmacMaxMsg {
		panic("secagg: hmacSHA256 input too long")
	}
	var in [hmacBlock + hmacMaxMsg]byte
	copy(in[:], key)
	for i := range hmacBlock {
		in[i] ^= 0x36
	}
	n := hmacBlock + copy(in[hmacBlock:], msg)
	n += copy(in[n:], tail)
	inner := sha256.Sum256(in[:n])
	var out [hmacBlock + sha256.Size]byte
	copy(out[:], key)
	for i := range hmacBlock {
		out[i] ^= 0x5c
	}
	copy(out[hmacBlock:], inner[:])
	return sha256.Sum256(out[:])
}

// hkdfSHA256 is HKDF-SHA256 with an empty salt (RFC 5869 §2.2: HashLen
// zero bytes) and a 32-byte output: PRK = HMAC(0^32, ikm), then
// T(1) = HMAC(PRK, info ‖ 0x01).
func hkdfSHA256(ikm, info []byte) [32]byte {
	var salt [sha256.Size]byte
	prk := hmacSHA256(salt[:], ikm, nil)
	return hmacSHA256(prk[:], info, []byte{1})
}
