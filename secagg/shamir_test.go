package secagg

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"
)

func seeded(s uint64) *rand.ChaCha8 {
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], s)
	return rand.NewChaCha8(seed)
}

// Vectors computed with Python's integers (pow(a, p−2, p), %): see the
// commit that added them.
func TestFieldVectors(t *testing.T) {
	for _, c := range []struct{ a, b, want uint64 }{
		{123456789123456789, 987654321987654321, 587437849037674763},
		{fieldP - 1, fieldP - 1, 1},
		{1 << 60, 16, 8},
	} {
		if got := fmul(c.a%fieldP, c.b%fieldP); got != c.want {
			t.Errorf("%d·%d = %d, want %d", c.a, c.b, got, c.want)
		}
	}
	if got := finv(3); got != 1537228672809129301 {
		t.Errorf("3^-1 = %d", got)
	}
	if got := finv(1234567); got != 2075443053657954280 {
		t.Errorf("1234567^-1 = %d", got)
	}
	r := rand.New(seeded(1))
	for range 1000 {
		a := r.Uint64N(fieldP-1) + 1
		if fmul(a, finv(a)) != 1 {
			t.Fatalf("a·a^-1 ≠ 1 for %d", a)
		}
		b := r.Uint64N(fieldP)
		if fadd(fsub(a, b), b) != a {
			t.Fatalf("(a−b)+b ≠ a for %d, %d", a, b)
		}
	}
}

// TestShamirVectors evaluates a fixed polynomial per chunk of the secret
// 01 02 … 20 with coefficients a1 = 0x1234567890abcdef mod p,
// a2 = 0x0fedcba987654321 (values from Python).
func TestShamirVectors(t *testing.T) {
	var s [SecretSize]byte
	for i := range s {
		s[i] = byte(i + 1)
	}
	wantChunks := []uint64{0x7060504030201, 0xe0d0c0b0a0908, 0x1514131211100f, 0x1c1b1a19181716, 0x201f1e1d}
	want := map[uint32][ShareChunks]uint64{
		1:     {0x22928271c141312, 0x2302f2e231b1a19, 0x23736352a222120, 0x23e3d3c31292827, 0x222222238302f2e},
		2:     {0x426e19c42efaa66, 0x42de8a349f6b16d, 0x434efaa50fdb874, 0x43bf6b15804bf7b, 0x41fdb975f0bc682},
		7:     {0xbf95ec3e3177cf7, 0xc0065caea1e83fe, 0xc076cd1f1258b05, 0xc0e73d8f82c920c, 0xbf258beff339913},
		65535: {0x44b4038c1d76745, 0x452473fc8de6e4c, 0x4594e46cfe57553, 0x460554dd6ec7c5a, 0x4443a33ddf38361},
	}
	// A reader that yields a1, a2 for every chunk (Split reads chunk-major).
	var coef []byte
	for range ShareChunks {
		coef = binary.LittleEndian.AppendUint64(coef, 0x1234567890abcdef)
		coef = binary.LittleEndian.AppendUint64(coef, 0x0fedcba987654321)
	}
	shares, err := Split(&s, 3, []uint32{1, 2, 7, 65535}, bytes.NewReader(coef))
	if err != nil {
		t.Fatal(err)
	}
	for c := range ShareChunks {
		if got := chunkValue(&s, c); got != wantChunks[c] {
			t.Errorf("chunk %d = %#x, want %#x", c, got, wantChunks[c])
		}
	}
	for _, sh := range shares {
		if sh.Y != want[sh.X] {
			t.Errorf("share at %d = %#x, want %#x", sh.X, sh.Y, want[sh.X])
		}
	}
	var cb Combiner
	for _, set := range [][]int{{0, 1, 2}, {1, 2, 3}, {3, 0, 2}} {
		got, err := cb.Combine([]Share{shares[set[0]], shares[set[1]], shares[set[2]]})
		if err != nil || got != s {
			t.Errorf("combine %v = %x, %v", set, got, err)
		}
	}
}

func TestShamirRoundTrip(t *testing.T) {
	r := seeded(2)
	var cb Combiner
	for _, c := range []struct{ t, n int }{{1, 1}, {1, 5}, {2, 3}, {5, 9}, {34, 99}, {100, 100}} {
		var s [SecretSize]byte
		r.Read(s[:])
		s[0], s[31] = 0xff, 0xff // top chunk bits set
		xs := make([]uint32, c.n)
		for i := range xs {
			xs[i] = uint32(3*i + 1)
		}
		shares, err := Split(&s, c.t, xs, r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := cb.Combine(shares[c.n-c.t:])
		if err != nil || got != s {
			t.Errorf("t=%d n=%d: combine = %x, %v", c.t, c.n, got, err)
		}
		if c.t > 1 {
			// t−1 shares define a lower-degree polynomial: with overwhelming
			// probability its constant term is not the secret (or is rejected).
			got, err := cb.Combine(shares[:c.t-1])
			if err == nil && got == s {
				t.Errorf("t=%d: %d shares rebuilt the secret", c.t, c.t-1)
			}
		}
	}
	if _, err := Split(&[SecretSize]byte{}, 3, []uint32{1, 2}, r); err == nil {
		t.Error("threshold above share count accepted")
	}
	if _, err := Split(&[SecretSize]byte{}, 2, []uint32{1, 0}, r); err == nil {
		t.Error("evaluation point 0 accepted")
	}
	if _, err := cb.Combine([]Share{{X: 1}, {X: 1}}); !errors.Is(err, ErrReconstruct) {
		t.Errorf("repeated point: %v", err)
	}
}

// polyThrough returns the coefficients of the unique polynomial of degree
// < len(xs) through the points (xs[i], ys[i]) (Lagrange, expanded).
func polyThrough(xs, ys []elem) []elem {
	n := len(xs)
	out := make([]elem, n)
	for i := range n {
		// basis_i(x) = Π_{j≠i} (x − x_j)/(x_i − x_j), built coefficient-wise.
		basis := []elem{1}
		den := elem(1)
		for j := range n {
			if j == i {
				continue
			}
			next := make([]elem, len(basis)+1)
			for k, c := range basis {
				next[k+1] = fadd(next[k+1], c)
				next[k] = fsub(next[k], fmul(c, xs[j]))
			}
			basis = next
			den = fmul(den, fsub(xs[i], xs[j]))
		}
		scale := fmul(ys[i], finv(den))
		for k, c := range basis {
			out[k] = fadd(out[k], fmul(c, scale))
		}
	}
	return out
}

// TestShamirThresholdHidesSecret is the privacy property of the shares a
// server holds below the threshold: for the t−1 shares of a client's
// secret that the server holds, and for every candidate secret, the test
// constructs a polynomial of degree t−1 through those shares whose constant
// term is the candidate. Each candidate is explained by exactly one such
// polynomial (t points fix it), and Split draws the t−1 non-constant
// coefficients uniformly, so every candidate is equally likely given the
// shares: t−1 shares say nothing about the secret.
func TestShamirThresholdHidesSecret(t *testing.T) {
	r := seeded(3)
	rr := rand.New(seeded(4))
	for _, th := range []int{2, 3, 7, 20} {
		var secret [SecretSize]byte
		r.Read(secret[:])
		xs := make([]uint32, 2*th)
		for i := range xs {
			xs[i] = uint32(i*5 + 2)
		}
		shares, err := Split(&secret, th, xs, r)
		if err != nil {
			t.Fatal(err)
		}
		held := shares[:th-1] // what a server colluding below t sees
		candidates := [][SecretSize]byte{secret, {}, {0xff}}
		for range 20 {
			var c [SecretSize]byte
			r.Read(c[:])
			candidates = append(candidates, c)
		}
		for _, cand := range candidates {
			for c := range ShareChunks {
				px := []elem{0}
				py := []elem{chunkValue(&cand, c)}
				for _, s := range held {
					px = append(px, elem(s.X))
					py = append(py, s.Y[c])
				}
				poly := polyThrough(px, py)
				if len(poly) != th {
					t.Fatalf("polynomial of %d coefficients for t=%d", len(poly), th)
				}
				if poly[0] != chunkValue(&cand, c) {
					t.Fatalf("t=%d: constant term is not the candidate", th)
				}
				for _, s := range held {
					if evalPoly(poly, elem(s.X)) != s.Y[c] {
						t.Fatalf("t=%d: polynomial misses held share at %d", th, s.X)
					}
				}
			}
			// The candidate's polynomial also yields a full, consistent
			// share set: add one share from it and the candidate rebuilds.
			extra := Share{X: 1_000_003}
			for c := range ShareChunks {
				px := []elem{0}
				py := []elem{chunkValue(&cand, c)}
				for _, s := range held {
					px = append(px, elem(s.X))
					py = append(py, s.Y[c])
				}
				extra.Y[c] = evalPoly(polyThrough(px, py), elem(extra.X))
			}
			var cb Combiner
			got, err := cb.Combine(append(append([]Share(nil), held...), extra))
			if err != nil || got != cand {
				t.Fatalf("t=%d: held shares + candidate's share rebuild %x, %v", th, got, err)
			}
		}
		// And the real shares really determine the secret at t.
		var cb Combiner
		if got, _ := cb.Combine(shares[rr.IntN(th) : rr.IntN(th)+th]); got != secret {
			t.Errorf("t=%d: t shares did not rebuild the secret", th)
		}
	}
}
