package x25519batch

import (
	"crypto/ecdh"
	"math/rand/v2"
	"testing"

	"github.com/cloudflare/circl/dh/x25519"
)

// BenchmarkAgreement: the cost of one agreement (ns/op is per agreement)
// on the batch API's paths, crypto/ecdh and circl, one scalar against
// eight points as a SecAgg+ client runs them.
func BenchmarkAgreement(b *testing.B) {
	r := rand.New(rand.NewChaCha8([32]byte{4}))
	var k [Size]byte
	fill(r, &k)
	us := make([][Size]byte, Lanes)
	for i := range us {
		fill(r, &us[i])
	}
	out, ok := make([][Size]byte, Lanes), make([]bool, Lanes)
	batch := func(b *testing.B) {
		for i := 0; i < b.N; i += Lanes {
			Shared(out, ok, &k, us)
		}
	}
	if hasIFMA {
		b.Run("batch8-ifma", batch)
	}
	b.Run("batch8-fallback", func(b *testing.B) {
		useVector = false
		defer func() { useVector = hasIFMA }()
		batch(b)
	})
	b.Run("crypto-ecdh", func(b *testing.B) {
		priv, err := ecdh.X25519().NewPrivateKey(k[:])
		if err != nil {
			b.Fatal(err)
		}
		pubs := make([]*ecdh.PublicKey, Lanes)
		for i := range pubs {
			if pubs[i], err = ecdh.X25519().NewPublicKey(us[i][:]); err != nil {
				b.Fatal(err)
			}
		}
		for i := 0; b.Loop(); i++ {
			if _, err := priv.ECDH(pubs[i%Lanes]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("circl", func(b *testing.B) {
		sk := x25519.Key(k)
		for i := 0; b.Loop(); i++ {
			var o x25519.Key
			pk := x25519.Key(us[i%Lanes])
			x25519.Shared(&o, &sk, &pk)
		}
	})
}
