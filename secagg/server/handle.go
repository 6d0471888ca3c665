package server

import (
	"fmt"
	"slices"

	"github.com/sextant-ml/sextant/secagg"
)

// Handle accepts one client message of the current step. It rejects, with
// a *secagg.ProtocolError wrapping a sentinel and without changing the
// round: another round's message (ErrWrongRound), a server message or an
// uninvited sender (ErrUnknownSender), a message of another step
// (ErrWrongStep), a second message from one sender in a step (ErrReplay), a
// sender that did not complete the previous step (ErrUnknownSender), and a
// message that breaks its step's rules (ErrMalformed, ErrBadSignature,
// ErrBothSecrets).
func (r *Round) Handle(m secagg.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := m.Head()
	if err := r.handle(m, h); err != nil {
		return secagg.Reject(h, err)
	}
	return nil
}

func (r *Round) handle(m secagg.Message, h secagg.Header) error {
	switch {
	case r.failed != nil:
		return r.failed
	case h.Round != r.p.Round:
		return fmt.Errorf("%w: round %d, this is %d", secagg.ErrWrongRound, h.Round, r.p.Round)
	case m.Kind().FromServer() || !r.invited[h.Sender]:
		return fmt.Errorf("%w: %v from %d", secagg.ErrUnknownSender, m.Kind(), h.Sender)
	case h.Step != m.Kind().Step():
		return fmt.Errorf("%w: %v in step %v", secagg.ErrMalformed, m.Kind(), h.Step)
	case h.Step != r.step:
		return fmt.Errorf("%w: %v while in step %v", secagg.ErrWrongStep, m.Kind(), r.step)
	}
	switch m := m.(type) {
	case *secagg.AdvertiseKeys:
		return r.advertise(m)
	case *secagg.EncryptedShares:
		return r.shares(m)
	case *secagg.MaskedInput:
		return r.masked(m)
	case *secagg.ConsistencySig:
		return r.signature(m)
	case *secagg.UnmaskResponse:
		return r.unmaskResponse(m)
	}
	return fmt.Errorf("%w: %v", secagg.ErrWrongStep, m.Kind())
}

func (r *Round) advertise(m *secagg.AdvertiseKeys) error {
	if r.keys[m.Sender] != nil {
		return secagg.ErrReplay
	}
	if r.p.ConsistencyCheck {
		if m.Identity == nil || !secagg.VerifyKeys(m.Identity.Public, r.p.Round, m.Sender, m.CPub[:], m.SPub[:], m.Identity.Sig) {
			return fmt.Errorf("%w: keys not signed by the sender's identity", secagg.ErrBadSignature)
		}
	} else if m.Identity != nil {
		return fmt.Errorf("%w: identity without the consistency check", secagg.ErrMalformed)
	}
	r.keys[m.Sender] = m
	return nil
}

func (r *Round) shares(m *secagg.EncryptedShares) error {
	if r.keys[m.Sender] == nil {
		return fmt.Errorf("%w: client %d did not advertise keys", secagg.ErrUnknownSender, m.Sender)
	}
	if r.out[m.Sender] != nil {
		return secagg.ErrReplay
	}
	nb := r.graph.AppendNeighbours(nil, m.Sender)
	if len(nb) != len(m.Boxes) {
		return fmt.Errorf("%w: %d boxes for %d neighbours", secagg.ErrMalformed, len(m.Boxes), len(nb))
	}
	for i, b := range m.Boxes {
		if b.Peer != nb[i] {
			return fmt.Errorf("%w: box for client %d, not a neighbour", secagg.ErrMalformed, b.Peer)
		}
	}
	r.out[m.Sender] = m.Boxes
	return nil
}

func (r *Round) masked(m *secagg.MaskedInput) error {
	if _, ok := slices.BinarySearch(r.u2, m.Sender); !ok {
		return fmt.Errorf("%w: client %d did not share keys", secagg.ErrUnknownSender, m.Sender)
	}
	if r.u3[m.Sender] {
		return secagg.ErrReplay
	}
	if len(m.Vector) != r.p.Dim+1 {
		return fmt.Errorf("%w: vector of %d words, want %d", secagg.ErrMalformed, len(m.Vector), r.p.Dim+1)
	}
	// The sum is kept, not the vectors: memory is one vector per round.
	sum := r.sum[:len(m.Vector)] // one bounds check, not one a word
	for i, w := range m.Vector {
		sum[i] += w
	}
	r.u3[m.Sender] = true
	return nil
}

func (r *Round) signature(m *secagg.ConsistencySig) error {
	if !r.u3[m.Sender] {
		return fmt.Errorf("%w: client %d sent no masked input", secagg.ErrUnknownSender, m.Sender)
	}
	if _, dup := r.sigs[m.Sender]; dup {
		return secagg.ErrReplay
	}
	if !secagg.VerifySurvivors(r.keys[m.Sender].Identity.Public, r.p.Round, r.sortedU3(), m.Sig[:]) {
		return fmt.Errorf("%w: client %d's signature over U3", secagg.ErrBadSignature, m.Sender)
	}
	r.sigs[m.Sender] = secagg.SignedBy{ID: m.Sender, Sig: m.Sig}
	return nil
}

// unmaskResponse accepts a client's shares after checking each against the
// round: a share of b_v only for a neighbour v in U3, of s_sk only for a
// neighbour v in U2 \ U3. A share of the other kind would give the server
// both secrets of one client: ErrBothSecrets, and the response is refused.
func (r *Round) unmaskResponse(m *secagg.UnmaskResponse) error {
	if !r.u3[m.Sender] || (r.p.ConsistencyCheck && r.sigs[m.Sender].ID == 0) {
		return fmt.Errorf("%w: client %d was not asked to unmask", secagg.ErrUnknownSender, m.Sender)
	}
	if r.resp[m.Sender] != nil {
		return secagg.ErrReplay
	}
	check := func(s []secagg.OwnedShare, survivor bool) error {
		for _, o := range s {
			if _, inU2 := slices.BinarySearch(r.u2, o.Of); !inU2 || !r.graph.Adjacent(m.Sender, o.Of) {
				return fmt.Errorf("%w: share of client %d, which shared nothing with %d", secagg.ErrMalformed, o.Of, m.Sender)
			}
			if r.u3[o.Of] != survivor {
				return fmt.Errorf("%w: client %d", secagg.ErrBothSecrets, o.Of)
			}
		}
		return nil
	}
	if err := check(m.SelfMask, true); err != nil {
		return err
	}
	if err := check(m.MaskKey, false); err != nil {
		return err
	}
	r.resp[m.Sender] = m
	return nil
}

// Advance closes the current step at its deadline: the clients that
// answered go on, the others have dropped. If fewer remain than the
// threshold needs, the round fails with ErrTooFewClients (and every later
// call returns that error); the coordinator retries with a new round. After
// step 4 it rebuilds the masks and the result is ready.
func (r *Round) Advance() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failed != nil {
		return r.failed
	}
	if err := r.advance(); err != nil {
		r.failed = &secagg.ProtocolError{Step: r.step, Sender: secagg.ServerID, Err: err}
		return r.failed
	}
	return nil
}

func (r *Round) advance() error {
	t := r.p.Threshold
	switch r.step {
	case secagg.StepAdvertiseKeys:
		ids := make([]uint32, 0, len(r.keys))
		for id := range r.keys {
			ids = append(ids, id)
		}
		if len(ids) < t+1 {
			return fmt.Errorf("%w: %d advertised keys, threshold %d", secagg.ErrTooFewClients, len(ids), t)
		}
		g, err := secagg.NewGraph(ids, r.p.Degree, r.rand)
		if err != nil {
			return err
		}
		if g.Degree() < t {
			return fmt.Errorf("%w: %d neighbours each, threshold %d", secagg.ErrTooFewClients, g.Degree(), t)
		}
		r.graph, r.out = g, map[uint32][]secagg.Sealed{}
		r.step = secagg.StepShareKeys
	case secagg.StepShareKeys:
		for id := range r.out {
			r.u2 = append(r.u2, id)
		}
		slices.Sort(r.u2)
		if len(r.u2) < t+1 {
			return fmt.Errorf("%w: %d shared keys, threshold %d", secagg.ErrTooFewClients, len(r.u2), t)
		}
		r.inbox = make(map[uint32][]secagg.Sealed, len(r.u2))
		for _, u := range r.u2 { // ascending, so each inbox is ascending
			for _, b := range r.out[u] {
				if r.out[b.Peer] != nil {
					r.inbox[b.Peer] = append(r.inbox[b.Peer], secagg.Sealed{Peer: u, Box: b.Box})
				}
			}
		}
		r.out = nil
		r.sum = make([]uint32, r.p.Dim+1)
		r.u3 = map[uint32]bool{}
		r.step = secagg.StepMaskedInput
	case secagg.StepMaskedInput:
		r.inbox = nil
		if len(r.u3) < t {
			return fmt.Errorf("%w: %d masked inputs, threshold %d", secagg.ErrTooFewClients, len(r.u3), t)
		}
		r.u3list = r.sortedU3()
		r.resp = map[uint32]*secagg.UnmaskResponse{}
		if r.p.ConsistencyCheck {
			r.sigs = map[uint32]secagg.SignedBy{}
			r.step = secagg.StepConsistencyCheck
		} else {
			r.step = secagg.StepUnmask
		}
	case secagg.StepConsistencyCheck:
		if len(r.sigs) < t {
			return fmt.Errorf("%w: %d signatures, threshold %d", secagg.ErrTooFewClients, len(r.sigs), t)
		}
		r.step = secagg.StepUnmask
	case secagg.StepUnmask:
		res, err := r.finish()
		if err != nil {
			return err
		}
		r.result, r.resp, r.sum = res, nil, nil
		r.step = secagg.StepDone
	default:
		return fmt.Errorf("secagg server: round already done")
	}
	return nil
}
