package client

import (
	"crypto/cipher"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/sextant-ml/sextant/secagg"
)

// shareKeys is step 1 (ShareKeys): check the neighbours' keys, draw b_u,
// split s_sk and b_u t-of-k among the neighbours and seal each pair.
func (c *Client) shareKeys(m *secagg.KeyList) (*secagg.EncryptedShares, error) {
	if len(m.Peers) < c.p.Threshold {
		return nil, fmt.Errorf("%w: %d neighbours advertised keys, threshold %d", secagg.ErrTooFewClients, len(m.Peers), c.p.Threshold)
	}
	// All keys must be distinct, and none may be ours: a server that relays
	// a client's own key back could otherwise make masks cancel to nothing.
	seen := make(map[[secagg.KeySize]byte]struct{}, 2*len(m.Peers)+2)
	own := [2][secagg.KeySize]byte{c.cKey.Public(), c.sKey.Public()}
	seen[own[0]], seen[own[1]] = struct{}{}, struct{}{}
	peers := make(map[uint32]*secagg.PeerKeys, len(m.Peers))
	xs := make([]uint32, 0, len(m.Peers))
	for i := range m.Peers {
		p := &m.Peers[i]
		if p.ID == c.id || p.ID == secagg.ServerID {
			return nil, fmt.Errorf("%w: key list names client %d", secagg.ErrMalformed, p.ID)
		}
		for _, k := range [2][secagg.KeySize]byte{p.CPub, p.SPub} {
			if _, dup := seen[k]; dup {
				return nil, fmt.Errorf("%w: client %d repeats a key", secagg.ErrBadKey, p.ID)
			}
			seen[k] = struct{}{}
		}
		if c.p.ConsistencyCheck {
			if p.Identity == nil || c.trust(p.ID, p.Identity.Public) != nil ||
				!secagg.VerifyKeys(p.Identity.Public, c.p.Round, p.ID, p.CPub[:], p.SPub[:], p.Identity.Sig) {
				return nil, fmt.Errorf("%w: keys of client %d", secagg.ErrBadSignature, p.ID)
			}
		}
		peers[p.ID] = p
		xs = append(xs, p.ID)
	}
	var b [secagg.SecretSize]byte
	if _, err := io.ReadFull(c.rand, b[:]); err != nil {
		return nil, fmt.Errorf("secagg client: self-mask seed: %w", err)
	}
	var sk [secagg.SecretSize]byte
	copy(sk[:], c.sKey.Bytes())
	sShares, err := secagg.Split(&sk, c.p.Threshold, xs, c.rand)
	if err != nil {
		return nil, err
	}
	bShares, err := secagg.Split(&b, c.p.Threshold, xs, c.rand)
	if err != nil {
		return nil, err
	}
	out := &secagg.EncryptedShares{Header: c.header(secagg.StepShareKeys), Boxes: make([]secagg.Sealed, len(xs))}
	c.boxKeys = make(map[uint32]cipher.AEAD, len(xs))
	// Both keys' agreements with every neighbour in one batch (eight lanes
	// of an X25519 ladder at a time where the CPU has AVX-512 IFMA): the
	// c-key ones seal the boxes now, the s-key ones wait for step 2, which
	// reports a failure only for a neighbour in U2, as before.
	n := len(xs)
	privs := make([]*secagg.PrivateKey, 2*n)
	pubs := make([][secagg.KeySize]byte, 2*n)
	for i, v := range xs {
		privs[i], pubs[i] = c.cKey, peers[v].CPub
		privs[n+i], pubs[n+i] = c.sKey, peers[v].SPub
	}
	secrets, errs := secagg.Agreements(privs, pubs)
	c.sAgreed = make(map[uint32]agreed, n)
	for i, v := range xs {
		c.sAgreed[v] = agreed{secrets[n+i], errs[n+i]}
	}
	for i, v := range xs {
		out.Boxes[i].Peer = v
		secret, err := secrets[i], errs[i]
		if err != nil {
			return nil, fmt.Errorf("sealing for client %d: %w", v, err)
		}
		key, err := secagg.BoxKey(secret, c.p.Round, c.id, v)
		if err != nil {
			return nil, fmt.Errorf("sealing for client %d: %w", v, err)
		}
		c.boxKeys[v] = key
		box := secagg.SealSharesBox(out.Boxes[i].Box[:0], key, c.p.Round, c.id, v, &sShares[i], &bShares[i])
		if len(box) != secagg.SealedSize {
			return nil, fmt.Errorf("secagg client: sealed box of %d bytes", len(box))
		}
	}
	c.bSeed, c.peers = b, peers
	c.next = secagg.StepMaskedInput
	return out, nil
}

// maskScratch holds keystream buffers for secagg.Mask (*[]byte of
// secagg.NewScratch's size), shared by the clients of a process.
var maskScratch = sync.Pool{New: func() any { b := secagg.NewScratch(); return &b }}

// maskInput is step 2 (MaskedInputCollection): keep the boxes of the
// neighbours in U2 and send y_u = x_u + PRG(b_u) + Σ_{v∈U2, v>u} PRG(s_uv)
// − Σ_{v∈U2, v<u} PRG(s_uv) mod 2^32.
func (c *Client) maskInput(m *secagg.ShareBundle) (*secagg.MaskedInput, error) {
	if c.input == nil {
		return nil, secagg.ErrNoInput
	}
	if len(m.Boxes) < c.p.Threshold {
		return nil, fmt.Errorf("%w: %d neighbours shared keys, threshold %d", secagg.ErrTooFewClients, len(m.Boxes), c.p.Threshold)
	}
	for _, b := range m.Boxes {
		if _, ok := c.peers[b.Peer]; !ok {
			return nil, fmt.Errorf("%w: shares from client %d, not a neighbour", secagg.ErrUnknownSender, b.Peer)
		}
	}
	// Every agreement first (made in step 1): a peer key that fails leaves
	// the input untouched, so the rejected message changes nothing.
	seeds := make([][secagg.SecretSize]byte, len(m.Boxes))
	for i, b := range m.Boxes {
		a := c.sAgreed[b.Peer]
		if a.err != nil {
			return nil, fmt.Errorf("mask with client %d: %w", b.Peer, a.err)
		}
		seeds[i] = secagg.PairwiseSeedWith(a.secret, c.p.Round, c.id, b.Peer)
	}
	c.sAgreed = nil
	// The input is masked in place and becomes the message's vector (no
	// copy of Dim+1 words); the client needs it no more.
	y := c.input
	c.input = nil
	// The keystream buffer only the portable expansion uses: pooled, so a
	// client on the vector path (which never touches it) allocates none.
	sp := maskScratch.Get().(*[]byte)
	defer maskScratch.Put(sp)
	scratch := *sp
	secagg.Mask(y, &c.bSeed, false, scratch)
	for i, b := range m.Boxes {
		secagg.Mask(y, &seeds[i], b.Peer < c.id, scratch)
	}
	c.boxes = make(map[uint32]*[secagg.SealedSize]byte, len(m.Boxes))
	for i := range m.Boxes {
		c.boxes[m.Boxes[i].Peer] = &m.Boxes[i].Box
	}
	if c.p.ConsistencyCheck {
		c.next = secagg.StepConsistencyCheck
	} else {
		c.next = secagg.StepUnmask
	}
	return &secagg.MaskedInput{Header: c.header(secagg.StepMaskedInput), Vector: y}, nil
}

// survivorsOK checks a survivor set: it names this client, and at least t
// of this client's share holders survive (else its self mask could not be
// removed and the round fails anyway).
func (c *Client) survivorsOK(u3 []uint32) error {
	if _, ok := slices.BinarySearch(u3, c.id); !ok {
		return fmt.Errorf("%w: survivor set omits this client", secagg.ErrMalformed)
	}
	n := 0
	for _, v := range u3 {
		if _, ok := c.boxes[v]; ok {
			n++
		}
	}
	if n < c.p.Threshold {
		return fmt.Errorf("%w: %d neighbours survive, threshold %d", secagg.ErrTooFewClients, n, c.p.Threshold)
	}
	return nil
}

// signSurvivors is step 3 (ConsistencyCheck): sign U3.
func (c *Client) signSurvivors(m *secagg.SurvivorList) (*secagg.ConsistencySig, error) {
	if err := c.survivorsOK(m.Survivors); err != nil {
		return nil, err
	}
	out := &secagg.ConsistencySig{Header: c.header(secagg.StepConsistencyCheck)}
	copy(out.Sig[:], secagg.SignSurvivors(c.ident, c.p.Round, m.Survivors))
	c.signed = slices.Clone(m.Survivors)
	c.next = secagg.StepUnmask
	return out, nil
}

// unmask is step 4 (Unmasking): for each neighbour v whose box this client
// holds, return the share of b_v if v ∈ U3 and of s_sk_v otherwise — never
// both. With the consistency check, U3 must be the set signed in step 3 and
// at least t neighbours must have signed it.
func (c *Client) unmask(m *secagg.UnmaskRequest) (*secagg.UnmaskResponse, error) {
	if err := c.survivorsOK(m.Survivors); err != nil {
		return nil, err
	}
	if c.p.ConsistencyCheck {
		if !slices.Equal(m.Survivors, c.signed) {
			return nil, fmt.Errorf("%w: survivor set differs from the one signed", secagg.ErrBadSignature)
		}
		valid := 0
		for _, s := range m.Sigs {
			p, ok := c.peers[s.ID]
			if !ok || p.Identity == nil {
				continue // not a neighbour: its key is unknown here
			}
			if _, in := slices.BinarySearch(m.Survivors, s.ID); !in {
				return nil, fmt.Errorf("%w: signature of client %d outside U3", secagg.ErrBadSignature, s.ID)
			}
			if !secagg.VerifySurvivors(p.Identity.Public, c.p.Round, m.Survivors, s.Sig[:]) {
				return nil, fmt.Errorf("%w: client %d's signature over U3", secagg.ErrBadSignature, s.ID)
			}
			valid++
		}
		if valid < c.p.Threshold {
			return nil, fmt.Errorf("%w: %d neighbours signed U3, threshold %d", secagg.ErrTooFewClients, valid, c.p.Threshold)
		}
	}
	out := &secagg.UnmaskResponse{Header: c.header(secagg.StepUnmask)}
	ids := make([]uint32, 0, len(c.boxes))
	for v := range c.boxes {
		ids = append(ids, v)
	}
	slices.Sort(ids)
	for _, v := range ids {
		key := c.boxKeys[v]
		if key == nil {
			continue // a box from a peer the client sent no shares to
		}
		s, b, err := secagg.OpenSharesBox(key, c.p.Round, v, c.id, c.boxes[v][:])
		if err != nil {
			continue // a neighbour's bad box costs only its own recovery
		}
		if _, survived := slices.BinarySearch(m.Survivors, v); survived {
			out.SelfMask = append(out.SelfMask, secagg.OwnedShare{Of: v, Y: b.Y})
		} else {
			out.MaskKey = append(out.MaskKey, secagg.OwnedShare{Of: v, Y: s.Y})
		}
	}
	c.next = secagg.StepDone
	c.cKey, c.sKey, c.boxes, c.input, c.boxKeys = nil, nil, nil, nil, nil // nothing more to reveal
	return out, nil
}
