package secagg

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"
)

// refMask is the definition: crypto/aes CTR keystream, words added.
func refMask(dst []uint32, seed *[SecretSize]byte, neg bool) {
	block, _ := aes.NewCipher(seed[:])
	var iv [16]byte
	ks := make([]byte, 4*len(dst))
	cipher.NewCTR(block, iv[:]).XORKeyStream(ks, ks)
	for i := range dst {
		w := binary.LittleEndian.Uint32(ks[4*i:])
		if neg {
			dst[i] -= w
		} else {
			dst[i] += w
		}
	}
}

// TestMaskMatchesAESCTR: the mask (vector kernel where the CPU has it, the
// portable loop otherwise) equals AES-256-CTR's keystream added word by
// word, for lengths around the kernel's 64-word chunks and its tail, both
// signs, random seeds and inputs.
func TestMaskMatchesAESCTR(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	scratch := NewScratch()
	for _, n := range []int{0, 1, 3, 4, 5, 63, 64, 65, 127, 128, 129, 200, 1000, 4096, 4097, 37025, 100_003} {
		for _, neg := range []bool{false, true} {
			var seed [SecretSize]byte
			for i := range seed {
				seed[i] = byte(r.Uint32())
			}
			x := make([]uint32, n)
			for i := range x {
				x[i] = r.Uint32()
			}
			got, want, port := append([]uint32(nil), x...), append([]uint32(nil), x...), append([]uint32(nil), x...)
			Mask(got, &seed, neg, scratch)
			refMask(want, &seed, neg)
			block, _ := aes.NewCipher(seed[:])
			maskCTR(port, block, neg, nil)
			for i := range want {
				if got[i] != want[i] || port[i] != want[i] {
					t.Fatalf("n=%d neg=%v: word %d = %#x (portable %#x), want %#x", n, neg, i, got[i], port[i], want[i])
				}
			}
			// Adding then subtracting the same mask restores the input.
			Mask(got, &seed, !neg, scratch)
			for i := range x {
				if got[i] != x[i] {
					t.Fatalf("n=%d: mask and its negation do not cancel at %d", n, i)
				}
			}
		}
	}
}

func BenchmarkMask(b *testing.B) {
	for _, impl := range []string{"auto", "portable"} {
		b.Run(impl+"/d=37025", func(b *testing.B) {
			var seed [SecretSize]byte
			dst := make([]uint32, 37025)
			scratch := NewScratch()
			block, _ := aes.NewCipher(seed[:])
			b.SetBytes(4 * int64(len(dst)))
			for b.Loop() {
				if impl == "auto" {
					Mask(dst, &seed, false, scratch)
				} else {
					maskCTR(dst, block, false, scratch)
				}
			}
		})
	}
}

// TestNewKeyMatchesECDH: NewKey's public key (circl's fixed-base
// multiplication) is crypto/ecdh's for the same private bytes.
func TestNewKeyMatchesECDH(t *testing.T) {
	r := rand.NewChaCha8([32]byte{8})
	for range 500 {
		k, err := NewKey(r)
		if err != nil {
			t.Fatal(err)
		}
		e, err := ecdh.X25519().NewPrivateKey(k.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if pub := k.Public(); !bytes.Equal(pub[:], e.PublicKey().Bytes()) {
			t.Fatalf("NewKey public %x, crypto/ecdh %x", pub, e.PublicKey().Bytes())
		}
	}
	if _, err := KeyFromBytes(make([]byte, 31)); !errors.Is(err, ErrBadKey) {
		t.Errorf("short private key: %v", err)
	}
}

// TestAgreeMatchesECDH: agree (circl's ladder) gives crypto/ecdh's X25519
// output for random keys, and rejects what crypto/ecdh rejects: low-order
// points (all-zero output) and keys of the wrong length.
func TestAgreeMatchesECDH(t *testing.T) {
	r := rand.NewChaCha8([32]byte{7})
	ecdhKey := func(k *PrivateKey) *ecdh.PrivateKey {
		e, err := ecdh.X25519().NewPrivateKey(k.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	for range 200 {
		a, _ := NewKey(r)
		b, _ := NewKey(r)
		bp := b.Public()
		got, err := agree(a, bp[:])
		if err != nil {
			t.Fatal(err)
		}
		want, _ := ecdhKey(a).ECDH(ecdhKey(b).PublicKey())
		if !bytes.Equal(got, want) {
			t.Fatalf("agree = %x, crypto/ecdh = %x", got, want)
		}
	}
	a, _ := NewKey(r)
	// u = 0, 1 and p−1 (−1) are low-order; so is u = p (a non-canonical 0).
	low := [][]byte{make([]byte, 32), append([]byte{1}, make([]byte, 31)...)}
	pm1 := bytes.Repeat([]byte{0xff}, 32)
	pm1[0], pm1[31] = 0xec, 0x7f
	p := bytes.Clone(pm1)
	p[0] = 0xed
	low = append(low, pm1, p)
	for _, k := range low {
		if _, err := agree(a, k); !errors.Is(err, ErrBadKey) {
			t.Errorf("low-order key %x: %v", k, err)
		}
		if pub, err := ecdh.X25519().NewPublicKey(k); err == nil {
			if _, err := ecdhKey(a).ECDH(pub); err == nil {
				t.Errorf("crypto/ecdh accepts %x", k)
			}
		}
	}
	if _, err := agree(a, make([]byte, 31)); !errors.Is(err, ErrBadKey) {
		t.Errorf("short key: %v", err)
	}
}
