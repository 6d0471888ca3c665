package secagg

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

// TestBoxKeyMatchesSealShares: a box sealed with the pair's BoxKey is the
// box SealShares makes, byte for byte; the peer's BoxKey (made from its own
// side of the agreement) opens it to the same shares, and refuses it with
// the direction reversed, another round or a flipped bit.
func TestBoxKeyMatchesSealShares(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	cr := rand.NewChaCha8([32]byte{7})
	for i := range 20 {
		a, err := NewKey(cr)
		if err != nil {
			t.Fatal(err)
		}
		b, err := NewKey(cr)
		if err != nil {
			t.Fatal(err)
		}
		apub, bpub := a.Public(), b.Public()
		round, from, to := r.Uint64(), uint32(i+1), uint32(1000+i)
		var s, m Share
		for c := range ShareChunks {
			s.Y[c], m.Y[c] = r.Uint64()%fieldP, r.Uint64()%fieldP
		}
		want, err := SealShares(nil, a, bpub[:], round, from, to, &s, &m)
		if err != nil {
			t.Fatal(err)
		}
		sa, err := ShareSecret(a, bpub[:])
		if err != nil {
			t.Fatal(err)
		}
		ka, err := BoxKey(sa, round, from, to)
		if err != nil {
			t.Fatal(err)
		}
		if got := SealSharesBox(nil, ka, round, from, to, &s, &m); !bytes.Equal(got, want) {
			t.Fatalf("pair %d: SealSharesBox differs from SealShares", i)
		}
		sb, err := ShareSecret(b, apub[:])
		if err != nil {
			t.Fatal(err)
		}
		kb, err := BoxKey(sb, round, to, from) // the peer names the pair its way round
		if err != nil {
			t.Fatal(err)
		}
		gs, gm, err := OpenSharesBox(kb, round, from, to, want)
		if err != nil || gs.Y != s.Y || gm.Y != m.Y || gs.X != to || gm.X != to {
			t.Fatalf("pair %d: opened %v %v, %v", i, gs, gm, err)
		}
		ws, wm, err := OpenShares(b, apub[:], round, from, to, want)
		if err != nil || ws != gs || wm != gm {
			t.Fatalf("pair %d: OpenShares %v %v, %v", i, ws, wm, err)
		}
		if _, _, err := OpenSharesBox(kb, round, to, from, want); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("pair %d: reversed direction opened: %v", i, err)
		}
		if _, _, err := OpenSharesBox(kb, round+1, from, to, want); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("pair %d: other round opened: %v", i, err)
		}
		bad := bytes.Clone(want)
		bad[r.IntN(len(bad))] ^= 1
		if _, _, err := OpenSharesBox(kb, round, from, to, bad); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("pair %d: flipped bit opened: %v", i, err)
		}
	}
}
