package server

import (
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/secagg"
	"github.com/sextant-ml/sextant/secagg/client"

	"github.com/sextant-ml/sextant/internal/cputime"
)

func seeded(s uint64) *rand.ChaCha8 {
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], s)
	return rand.NewChaCha8(seed)
}

// sim runs one round in memory: the server, n clients, and every message
// marshalled and parsed on the way, as a transport would.
type sim struct {
	t       testing.TB
	p       secagg.Params
	srv     *Round
	clients map[uint32]*client.Client
	inputs  map[uint32][]uint32
	ids     []uint32
	wire    bool
	// drop[s] are the clients that stop answering at step s.
	drop map[secagg.Step][]uint32
	// masked records what the server received in step 2.
	masked map[uint32][]uint32
	// srvTime is the time spent inside the server's methods; srvCPU the
	// process's CPU time meanwhile (the sim calls the server alone, so it is
	// the server's, GC included), which a loaded machine hardly moves.
	srvTime time.Duration
	srvCPU  time.Duration
}

// timed runs f and adds its duration to the server's time.
func (s *sim) timed(f func() error) error {
	t0, c0 := time.Now(), cputime.Used()
	err := f()
	s.srvTime += time.Since(t0)
	s.srvCPU += cputime.Used() - c0
	return err
}

func testParams(n, dim, degree int) secagg.Params {
	p := secagg.Params{Round: 7, Dim: dim, Degree: degree, Encoding: secagg.Encoding{Clip: 1, Scale: 1 << 16}}
	p.Threshold = secagg.DefaultThreshold(p.Neighbours(n))
	return p
}

func newSim(t testing.TB, p secagg.Params, n int, seed uint64) *sim {
	t.Helper()
	s := &sim{t: t, p: p, clients: map[uint32]*client.Client{}, inputs: map[uint32][]uint32{},
		drop: map[secagg.Step][]uint32{}, masked: map[uint32][]uint32{}, wire: true}
	idents := map[uint32]ed25519.PublicKey{}
	trust := func(id uint32, pub ed25519.PublicKey) error {
		if !pub.Equal(idents[id]) {
			return fmt.Errorf("untrusted key for %d", id)
		}
		return nil
	}
	for i := range n {
		id := uint32(10 + 3*i) // ids need not be dense
		s.ids = append(s.ids, id)
		cfg := client.Config{Params: p, ID: id, Rand: seeded(seed<<20 + uint64(id))}
		if p.ConsistencyCheck {
			priv, err := secagg.NewIdentity(seeded(seed<<40 + uint64(id)))
			if err != nil {
				t.Fatal(err)
			}
			idents[id] = priv.Public().(ed25519.PublicKey)
			cfg.Identity, cfg.Trust = priv, trust
		}
		c, err := client.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(seeded(seed<<30 + uint64(id)))
		in := make([]uint32, p.Dim)
		for j := range in {
			in[j] = r.Uint32()
		}
		if err := c.SetEncodedInput(in); err != nil {
			t.Fatal(err)
		}
		s.clients[id], s.inputs[id] = c, in
	}
	srv, err := New(Config{Params: p, Clients: s.ids, Rand: seeded(seed)})
	if err != nil {
		t.Fatal(err)
	}
	s.srv = srv
	return s
}

// send passes m through the wire format (when enabled).
func (s *sim) send(m secagg.Message, lim secagg.Limits) secagg.Message {
	s.t.Helper()
	if !s.wire {
		return m
	}
	b, err := secagg.Marshal(m)
	if err != nil {
		s.t.Fatalf("marshal %v: %v", m.Kind(), err)
	}
	out, err := secagg.Unmarshal(b, lim)
	if err != nil {
		s.t.Fatalf("unmarshal %v: %v", m.Kind(), err)
	}
	return out
}

func (s *sim) dropped(step secagg.Step, id uint32) bool {
	for st := secagg.StepAdvertiseKeys; st <= step; st++ {
		if slices.Contains(s.drop[st], id) {
			return true
		}
	}
	return false
}

// run drives all steps and returns the server's result.
func (s *sim) run() (*Result, error) {
	s.t.Helper()
	for _, id := range s.ids {
		if s.dropped(secagg.StepAdvertiseKeys, id) {
			continue
		}
		m, err := s.clients[id].Start()
		if err != nil {
			return nil, err
		}
		m2 := s.send(m, s.srv.Limits())
		if err := s.timed(func() error { return s.srv.Handle(m2) }); err != nil {
			return nil, err
		}
	}
	if err := s.timed(s.srv.Advance); err != nil {
		return nil, err
	}
	for s.srv.Step() != secagg.StepDone {
		step := s.srv.Step()
		for _, id := range s.srv.Recipients() {
			if s.dropped(step, id) {
				continue
			}
			var m secagg.Message
			err := s.timed(func() (err error) { m, err = s.srv.MessageFor(id); return err })
			if err != nil {
				return nil, err
			}
			reply, err := s.clients[id].Handle(s.send(m, secagg.Limits{}))
			if err != nil {
				return nil, fmt.Errorf("client %d: %w", id, err)
			}
			reply = s.send(reply, s.srv.Limits())
			if mi, ok := reply.(*secagg.MaskedInput); ok {
				s.masked[id] = mi.Vector
			}
			if err := s.timed(func() error { return s.srv.Handle(reply) }); err != nil {
				return nil, err
			}
		}
		if err := s.timed(s.srv.Advance); err != nil {
			return nil, err
		}
	}
	return s.srv.Result()
}

// check compares the result with the plaintext sum of the clients that
// should have contributed: those that did not drop before step 3.
func (s *sim) check(res *Result) {
	s.t.Helper()
	want := make([]uint32, s.p.Dim)
	var contrib []uint32
	for _, id := range s.ids {
		if s.dropped(secagg.StepMaskedInput, id) {
			continue
		}
		contrib = append(contrib, id)
		for j, x := range s.inputs[id] {
			want[j] += x
		}
	}
	if !slices.Equal(res.Contributors, contrib) {
		s.t.Fatalf("contributors %v, want %v", res.Contributors, contrib)
	}
	if !slices.Equal(res.Sum, want) {
		diff := 0
		for j := range want {
			if res.Sum[j] != want[j] {
				diff++
			}
		}
		s.t.Fatalf("sum differs from the plaintext sum in %d of %d coordinates", diff, len(want))
	}
	for id, y := range s.masked {
		if slices.Equal(y[:s.p.Dim], s.inputs[id]) {
			s.t.Fatalf("client %d's input reached the server unmasked", id)
		}
	}
}
