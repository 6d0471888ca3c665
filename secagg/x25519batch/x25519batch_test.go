package x25519batch

import (
	"bytes"
	"crypto/ecdh"
	"encoding/hex"
	"math/rand/v2"
	"testing"
)

// paths runs f on the IFMA ladder (where the CPU has it) and on the
// fallback, forced.
func paths(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	if hasIFMA {
		t.Run("ifma", f)
	} else {
		t.Log("no AVX-512 IFMA on this CPU: fallback only")
	}
	t.Run("fallback", func(t *testing.T) {
		useVector = false
		defer func() { useVector = hasIFMA }()
		f(t)
	})
}

func unhex(t testing.TB, s string) (b [Size]byte) {
	t.Helper()
	if n, err := hex.Decode(b[:], []byte(s)); err != nil || n != Size {
		t.Fatalf("bad hex %q", s)
	}
	return b
}

// one is a single agreement through the batch API.
func one(k, u [Size]byte) ([Size]byte, bool) {
	out, ok := make([][Size]byte, 1), make([]bool, 1)
	X25519(out, ok, [][Size]byte{k}, [][Size]byte{u})
	return out[0], ok[0]
}

// ecdhRef is crypto/ecdh's X25519, nil for a refused (low-order) point.
func ecdhRef(t testing.TB, k, u [Size]byte) []byte {
	t.Helper()
	priv, err := ecdh.X25519().NewPrivateKey(k[:])
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ecdh.X25519().NewPublicKey(u[:])
	if err != nil {
		t.Fatal(err)
	}
	s, err := priv.ECDH(pub)
	if err != nil {
		return nil
	}
	return s
}

// TestRFC7748Vectors: the two §5.2 scalar-multiplication vectors, in one
// batch and singly.
func TestRFC7748Vectors(t *testing.T) {
	vec := []struct{ k, u, out string }{
		{"a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
			"e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
			"c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"},
		{"4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
			"e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
			"95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957"},
	}
	paths(t, func(t *testing.T) {
		var ks, us [][Size]byte
		for _, v := range vec {
			k, u, want := unhex(t, v.k), unhex(t, v.u), unhex(t, v.out)
			if got, ok := one(k, u); got != want || !ok {
				t.Errorf("X25519(%s, %s) = %x, %v; want %s", v.k, v.u, got, ok, v.out)
			}
			ks, us = append(ks, k), append(us, u)
		}
		out, ok := make([][Size]byte, len(vec)), make([]bool, len(vec))
		X25519(out, ok, ks, us)
		for i, v := range vec {
			if hex.EncodeToString(out[i][:]) != v.out || !ok[i] {
				t.Errorf("batch lane %d = %x, %v; want %s", i, out[i], ok[i], v.out)
			}
		}
	})
}

// TestRFC7748Iterated: §5.2's k, u ← X25519(k, u), k from k = u = 9, after
// 1 and 1,000 iterations.
func TestRFC7748Iterated(t *testing.T) {
	paths(t, func(t *testing.T) {
		var k, u [Size]byte
		k[0], u[0] = 9, 9
		for i := 1; i <= 1000; i++ {
			r, _ := one(k, u)
			k, u = r, k
			if i == 1 && k != unhex(t, "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079") {
				t.Fatalf("after 1 iteration: %x", k)
			}
		}
		if k != unhex(t, "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51") {
			t.Fatalf("after 1,000 iterations: %x", k)
		}
	})
}

// TestMatchesECDH: 10,000+ random (scalar, point) pairs in batches of every
// size 1..8 (and longer ones that span several ladders), lane by lane
// against crypto/ecdh; points include non-canonical u ≥ p and a set top bit.
func TestMatchesECDH(t *testing.T) {
	paths(t, func(t *testing.T) {
		r := rand.New(rand.NewChaCha8([32]byte{1}))
		total := 0
		for size := 1; total < 10_400; size = size%19 + 1 {
			ks, us := make([][Size]byte, size), make([][Size]byte, size)
			for i := range size {
				fill(r, &ks[i])
				fill(r, &us[i])
				switch r.IntN(16) {
				case 0: // p ≤ u < 2^255: 2^255 − 19 + small
					us[i] = [Size]byte{0xed + byte(r.IntN(18))}
					for j := 1; j < 31; j++ {
						us[i][j] = 0xff
					}
					us[i][31] = 0x7f | byte(r.IntN(2))<<7
				case 1: // same scalar as lane 0
					ks[i] = ks[0]
				}
			}
			out, ok := make([][Size]byte, size), make([]bool, size)
			X25519(out, ok, ks, us)
			for i := range size {
				want := ecdhRef(t, ks[i], us[i])
				if (want == nil) == ok[i] || want != nil && !bytes.Equal(out[i][:], want) {
					t.Fatalf("size %d lane %d: k=%x u=%x: got %x, %v; crypto/ecdh %x", size, i, ks[i], us[i], out[i], ok[i], want)
				}
			}
			total += size
		}
	})
}

func fill(r *rand.Rand, b *[Size]byte) {
	for i := 0; i < Size; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
}

// TestShared: one scalar against n points equals X25519 with the scalar
// repeated, for n = 0..17.
func TestShared(t *testing.T) {
	paths(t, func(t *testing.T) {
		r := rand.New(rand.NewChaCha8([32]byte{2}))
		for n := range 18 {
			var k [Size]byte
			fill(r, &k)
			us, ks := make([][Size]byte, n), make([][Size]byte, n)
			for i := range n {
				fill(r, &us[i])
				ks[i] = k
			}
			a, aok := make([][Size]byte, n), make([]bool, n)
			b, bok := make([][Size]byte, n), make([]bool, n)
			Shared(a, aok, &k, us)
			X25519(b, bok, ks, us)
			for i := range n {
				want := ecdhRef(t, k, us[i])
				if a[i] != b[i] || aok[i] != bok[i] || !bytes.Equal(a[i][:], want) {
					t.Fatalf("n %d lane %d: Shared %x, X25519 %x, crypto/ecdh %x", n, i, a[i], b[i], want)
				}
			}
		}
	})
}

// lowOrder are u-coordinates of points of order dividing 8 and their
// non-canonical forms (u + p), whose X25519 output is all zero for every
// clamped scalar.
func lowOrder(t testing.TB) [][Size]byte {
	var out [][Size]byte
	for _, s := range []string{
		"0000000000000000000000000000000000000000000000000000000000000000",
		"0100000000000000000000000000000000000000000000000000000000000000",
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
		"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p − 1
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p + 1
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // p, top bit set
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880", // order 8, top bit set
	} {
		out = append(out, unhex(t, s))
	}
	return out
}

// TestLowOrder: low-order points give all-zero outputs flagged not ok,
// like crypto/ecdh's error, mixed in a batch with valid lanes that stay
// right.
func TestLowOrder(t *testing.T) {
	paths(t, func(t *testing.T) {
		r := rand.New(rand.NewChaCha8([32]byte{3}))
		low := lowOrder(t)
		var k [Size]byte
		fill(r, &k)
		var us [][Size]byte
		for i, u := range low {
			us = append(us, u)
			if i%2 == 0 {
				var v [Size]byte
				fill(r, &v)
				us = append(us, v)
			}
		}
		out, ok := make([][Size]byte, len(us)), make([]bool, len(us))
		Shared(out, ok, &k, us)
		for i, u := range us {
			want := ecdhRef(t, k, u)
			if want == nil {
				if ok[i] || out[i] != ([Size]byte{}) {
					t.Errorf("low-order u %x: got %x, ok %v", u, out[i], ok[i])
				}
			} else if !ok[i] || !bytes.Equal(out[i][:], want) {
				t.Errorf("u %x: got %x, ok %v; want %x", u, out[i], ok[i], want)
			}
		}
		for _, u := range low {
			if ecdhRef(t, k, u) != nil {
				t.Errorf("crypto/ecdh accepts low-order u %x", u)
			}
		}
	})
}

// TestLengthMismatch: slices of different lengths panic.
func TestLengthMismatch(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	X25519(make([][Size]byte, 2), make([]bool, 2), make([][Size]byte, 1), make([][Size]byte, 2))
}

// FuzzMatchesECDH compares a batch of up to eight fuzzed (scalar, point)
// pairs with crypto/ecdh, on the path the CPU runs.
func FuzzMatchesECDH(f *testing.F) {
	f.Add(bytes.Repeat([]byte{9}, 64))
	f.Add(append(bytes.Repeat([]byte{0xff}, 32), make([]byte, 32)...))
	f.Add(bytes.Repeat([]byte{0x5a, 0xa5, 0x00, 0xff}, 128))
	f.Fuzz(func(t *testing.T, data []byte) {
		n := min(len(data)/64, Lanes)
		ks, us := make([][Size]byte, n), make([][Size]byte, n)
		for i := range n {
			copy(ks[i][:], data[64*i:])
			copy(us[i][:], data[64*i+32:])
		}
		out, ok := make([][Size]byte, n), make([]bool, n)
		X25519(out, ok, ks, us)
		for i := range n {
			want := ecdhRef(t, ks[i], us[i])
			if (want == nil) == ok[i] || want != nil && !bytes.Equal(out[i][:], want) {
				t.Fatalf("lane %d: k=%x u=%x: got %x, %v; crypto/ecdh %x", i, ks[i], us[i], out[i], ok[i], want)
			}
		}
	})
}
