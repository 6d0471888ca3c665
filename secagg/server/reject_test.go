package server

import (
	"crypto/ed25519"
	"errors"
	"slices"
	"testing"

	"github.com/sextant-ml/sextant/secagg"
	"github.com/sextant-ml/sextant/secagg/client"
)

func errorsIs(err, target error) bool { return errors.Is(err, target) }

// stepTo runs a simulation's round up to (not including) the answers of
// step stop and returns the pending server messages for it.
func stepTo(t *testing.T, s *sim, stop secagg.Step) map[uint32]secagg.Message {
	t.Helper()
	for _, id := range s.ids {
		m, _ := s.clients[id].Start()
		if err := s.srv.Handle(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.srv.Advance(); err != nil {
		t.Fatal(err)
	}
	for {
		out := map[uint32]secagg.Message{}
		for _, id := range s.srv.Recipients() {
			m, err := s.srv.MessageFor(id)
			if err != nil {
				t.Fatal(err)
			}
			out[id] = m
		}
		if s.srv.Step() == stop {
			return out
		}
		for id, m := range out {
			reply, err := s.clients[id].Handle(m)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.srv.Handle(reply); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.srv.Advance(); err != nil {
			t.Fatal(err)
		}
	}
}

func wantErr(t *testing.T, name string, err, target error) {
	t.Helper()
	var pe *secagg.ProtocolError
	if !errors.Is(err, target) || !errors.As(err, &pe) {
		t.Errorf("%s: got %v, want a *ProtocolError wrapping %v", name, err, target)
	}
}

func TestServerRejects(t *testing.T) {
	s := newSim(t, testParams(6, 8, 0), 6, 11)
	pending := stepTo(t, s, secagg.StepMaskedInput)
	a, b := s.ids[0], s.ids[1]
	reply, err := s.clients[a].Handle(pending[a])
	if err != nil {
		t.Fatal(err)
	}
	mi := reply.(*secagg.MaskedInput)

	short := *mi
	short.Vector = mi.Vector[:3]
	wantErr(t, "short vector", s.srv.Handle(&short), secagg.ErrMalformed)

	old := *mi
	old.Round--
	wantErr(t, "replay from an earlier round", s.srv.Handle(&old), secagg.ErrWrongRound)

	if err := s.srv.Handle(mi); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "replay in the same step", s.srv.Handle(mi), secagg.ErrReplay)

	early := &secagg.UnmaskResponse{Header: secagg.Header{Round: 7, Sender: b, Step: secagg.StepUnmask}}
	wantErr(t, "message of a later step", s.srv.Handle(early), secagg.ErrWrongStep)

	late, _ := s.clients[b].Start() // b already advertised: a stale step-0 message
	if late != nil {
		t.Fatal("client restarted")
	}
	stranger := *mi
	stranger.Sender = 999
	wantErr(t, "uninvited sender", s.srv.Handle(&stranger), secagg.ErrUnknownSender)

	fromServer := &secagg.ShareBundle{Header: secagg.Header{Round: 7, Step: secagg.StepMaskedInput}}
	wantErr(t, "server message sent to the server", s.srv.Handle(fromServer), secagg.ErrUnknownSender)
}

func TestServerRefusesBothSecrets(t *testing.T) {
	s := newSim(t, testParams(6, 8, 0), 6, 12)
	pending := stepTo(t, s, secagg.StepUnmask)
	a := s.ids[0]
	reply, err := s.clients[a].Handle(pending[a])
	if err != nil {
		t.Fatal(err)
	}
	resp := reply.(*secagg.UnmaskResponse)
	if len(resp.SelfMask) != 5 || len(resp.MaskKey) != 0 {
		t.Fatalf("honest response: %d self-mask shares, %d key shares", len(resp.SelfMask), len(resp.MaskKey))
	}
	// A response that also hands over the mask key of a survivor.
	evil := *resp
	evil.MaskKey = []secagg.OwnedShare{{Of: resp.SelfMask[0].Of}}
	wantErr(t, "key share of a survivor", s.srv.Handle(&evil), secagg.ErrBothSecrets)
	if err := s.srv.Handle(resp); err != nil {
		t.Fatalf("honest response after the refused one: %v", err)
	}
}

func TestClientRejects(t *testing.T) {
	p := testParams(6, 8, 0)
	p.ConsistencyCheck = true
	s := newSim(t, p, 6, 13)
	pending := stepTo(t, s, secagg.StepMaskedInput)
	a := s.ids[0]
	c := s.clients[a]

	other := *pending[a].(*secagg.ShareBundle)
	other.Round = 8
	_, err := c.Handle(&other)
	wantErr(t, "bundle of another round", err, secagg.ErrWrongRound)

	kl := &secagg.KeyList{Header: secagg.Header{Round: 7, Step: secagg.StepShareKeys}}
	_, err = c.Handle(kl)
	wantErr(t, "replayed key list", err, secagg.ErrReplay)

	ur := &secagg.UnmaskRequest{Header: secagg.Header{Round: 7, Step: secagg.StepUnmask}}
	_, err = c.Handle(ur)
	wantErr(t, "unmask request before step 2", err, secagg.ErrWrongStep)

	forged := &secagg.MaskedInput{Header: secagg.Header{Round: 7, Sender: s.ids[1], Step: secagg.StepMaskedInput}}
	_, err = c.Handle(forged)
	wantErr(t, "a client's message", err, secagg.ErrUnknownSender)

	// Shares from a client that is not a neighbour.
	bad := *pending[a].(*secagg.ShareBundle)
	bad.Boxes = append(slices.Clone(bad.Boxes), secagg.Sealed{Peer: 4242})
	_, err = c.Handle(&bad)
	wantErr(t, "shares from a stranger", err, secagg.ErrUnknownSender)

	// The state is unchanged: the genuine bundle still works.
	if _, err := c.Handle(pending[a]); err != nil {
		t.Fatalf("genuine bundle after rejected ones: %v", err)
	}
}

// TestClientRefusesInconsistentSurvivors: with the consistency check, a
// server that tells a client in step 4 a different survivor set from the
// one signed in step 3 (to learn b_u from some and s_sk from others) gets
// nothing.
func TestClientRefusesInconsistentSurvivors(t *testing.T) {
	p := testParams(8, 8, 0)
	p.ConsistencyCheck = true
	s := newSim(t, p, 8, 14)
	pending := stepTo(t, s, secagg.StepUnmask)
	a := s.ids[0]
	req := *pending[a].(*secagg.UnmaskRequest)
	req.Survivors = slices.DeleteFunc(slices.Clone(req.Survivors), func(id uint32) bool { return id == s.ids[3] })
	_, err := s.clients[a].Handle(&req)
	wantErr(t, "survivor set differs from the signed one", err, secagg.ErrBadSignature)

	req = *pending[a].(*secagg.UnmaskRequest)
	req.Sigs = req.Sigs[:p.Threshold-1]
	_, err = s.clients[a].Handle(&req)
	wantErr(t, "fewer than t signatures", err, secagg.ErrTooFewClients)

	if _, err := s.clients[a].Handle(pending[a]); err != nil {
		t.Fatalf("honest request: %v", err)
	}
	_, err = s.clients[a].Handle(pending[a])
	wantErr(t, "second unmask request", err, secagg.ErrReplay)
}

func TestClientRefusesUntrustedKeys(t *testing.T) {
	p := testParams(4, 8, 0)
	p.ConsistencyCheck = true
	id, _ := secagg.NewIdentity(seeded(1))
	c, err := client.New(client.Config{Params: p, ID: 1, Rand: seeded(2), Identity: id,
		Trust: func(uint32, ed25519.PublicKey) error { return errors.New("no") }})
	if err == nil {
		_, err = c.Start()
	}
	if err != nil {
		t.Fatal(err)
	}
	s := newSim(t, p, 4, 15)
	pending := stepTo(t, s, secagg.StepShareKeys)
	kl := pending[s.ids[0]]
	_, err = c.Handle(kl)
	wantErr(t, "keys from untrusted identities", err, secagg.ErrBadSignature)
}

// TestClientRejectedBundleLeavesInputUnmasked: the client masks its input in
// place, so a step-2 message rejected half-way (a neighbour whose mask key
// is a low-order point) must leave the input untouched: the bundle that
// follows yields the same masked vector as a twin client that never saw
// the bad one.
func TestClientRejectedBundleLeavesInputUnmasked(t *testing.T) {
	p := testParams(4, 50, 0)
	h := func(s secagg.Step) secagg.Header { return secagg.Header{Round: p.Round, Step: s} }
	kl := &secagg.KeyList{Header: h(secagg.StepShareKeys)}
	r := seeded(3)
	for id := uint32(2); id <= 4; id++ {
		ck, _ := secagg.NewKey(r)
		sk, _ := secagg.NewKey(r)
		pk := secagg.PeerKeys{ID: id, CPub: ck.Public(), SPub: sk.Public()}
		if id == 4 {
			pk.SPub = [secagg.KeySize]byte{} // low order: no pairwise seed
		}
		kl.Peers = append(kl.Peers, pk)
	}
	input := make([]float32, p.Dim)
	for i := range input {
		input[i] = float32(i%7) / 10
	}
	twin := func() *client.Client {
		c, err := client.New(client.Config{Params: p, ID: 1, Rand: seeded(4)})
		if err != nil {
			t.Fatal(err)
		}
		c.SetInput(input)
		if _, err := c.Start(); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Handle(kl); err != nil {
			t.Fatal(err)
		}
		return c
	}
	bundle := func(peers ...uint32) *secagg.ShareBundle {
		m := &secagg.ShareBundle{Header: h(secagg.StepMaskedInput)}
		for _, v := range peers {
			m.Boxes = append(m.Boxes, secagg.Sealed{Peer: v})
		}
		return m
	}
	a, b := twin(), twin()
	_, err := a.Handle(bundle(2, 3, 4))
	wantErr(t, "bundle with a low-order mask key", err, secagg.ErrBadKey)
	ya, err := a.Handle(bundle(2, 3))
	if err != nil {
		t.Fatal(err)
	}
	yb, err := b.Handle(bundle(2, 3))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ya.(*secagg.MaskedInput).Vector, yb.(*secagg.MaskedInput).Vector) {
		t.Error("the rejected bundle changed the masked input")
	}
}
