package secagg

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

// TestAgreementsMatchAgree: the batched agreements (Agreements, and
// PairwiseSeedWith on their results) give agree's and PairwiseSeed's
// results pair by pair, for batches of 0..40 pairs of two private keys
// with low-order peer keys among them.
func TestAgreementsMatchAgree(t *testing.T) {
	r := rand.NewChaCha8([32]byte{11})
	pm1 := bytes.Repeat([]byte{0xff}, 32)
	pm1[0], pm1[31] = 0xec, 0x7f
	a, _ := NewKey(r)
	b, _ := NewKey(r)
	for n := range 41 {
		privs := make([]*PrivateKey, n)
		peers := make([][KeySize]byte, n)
		for i := range n {
			privs[i] = a
			if i%3 == 1 {
				privs[i] = b
			}
			switch i % 7 {
			case 3: // u = 0
			case 5:
				copy(peers[i][:], pm1)
			default:
				p, _ := NewKey(r)
				peers[i] = p.Public()
			}
		}
		secrets, errs := Agreements(privs, peers)
		for i := range n {
			want, werr := agree(privs[i], peers[i][:])
			if !bytes.Equal(secrets[i], want) || (errs[i] == nil) != (werr == nil) {
				t.Fatalf("n %d pair %d: Agreements %x, %v; agree %x, %v", n, i, secrets[i], errs[i], want, werr)
			}
			if werr != nil {
				if !errors.Is(errs[i], ErrBadKey) || errs[i].Error() != werr.Error() {
					t.Fatalf("n %d pair %d: error %v, want %v", n, i, errs[i], werr)
				}
				continue
			}
			seed, err := PairwiseSeed(privs[i], peers[i][:], 9, 42, uint32(100+i))
			if err != nil || PairwiseSeedWith(secrets[i], 9, 42, uint32(100+i)) != seed {
				t.Fatalf("n %d pair %d: PairwiseSeedWith differs from PairwiseSeed (%v)", n, i, err)
			}
		}
	}
}
