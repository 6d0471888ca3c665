// Package server is the coordinator half of secure aggregation (Bonawitz et
// al. 2017; SecAgg+, Bell et al. 2020): a Round collects the clients'
// messages of each step, relays what each client needs for the next one,
// and at the end rebuilds the secrets of the survivors' self masks and of
// the dropped clients' mask keys to obtain the sum of the inputs — and
// nothing else.
//
// The transport (the fl coordinator, over HTTP or in memory) drives it:
//
//	r, err := server.New(server.Config{Params: p, Clients: ids})
//	// step s: deliver r.MessageFor(id) to each id in r.Recipients() (none
//	// for step 0), pass every answer to r.Handle, and at the deadline call
//	// r.Advance(); after the last step r.Result() holds the sum.
//
// Every method is safe for concurrent use.
package server

import (
	"fmt"
	"io"
	"slices"
	"sync"

	"crypto/rand"

	"github.com/sextant-ml/sextant/secagg"
)

// Config configures one round.
type Config struct {
	// Params must equal the clients'.
	Params secagg.Params
	// Clients are the ids invited to the round (distinct, non-zero). Params
	// are validated for len(Clients), including the overflow bound.
	Clients []uint32
	// Rand supplies the SecAgg+ graph labelling; nil means crypto/rand.
	Rand io.Reader
	// Workers bounds the goroutines that rebuild masks in the last step;
	// 0 means one per CPU.
	Workers int
}

// Result is the outcome of a finished round.
type Result struct {
	Round uint64
	// Sum is Σ x_u over the contributors, Params.Dim words mod 2^32.
	Sum []uint32
	// Values is Sum decoded with Params.Encoding.
	Values []float64
	// Overflow reports the clipped coordinates and the wrap bound.
	Overflow secagg.Overflow
	// Contributors (U3) are the clients whose inputs are in the sum.
	Contributors []uint32
	// Dropped (U2 \ U3) sent shares but no masked input; their mask keys
	// were rebuilt to remove their pairwise masks.
	Dropped []uint32
	// Sizes are |U1| … |U5|: clients left after each step.
	Sizes [5]int
}

// Round is the server's state for one round.
type Round struct {
	// mu guards every field below.
	mu      sync.Mutex
	p       secagg.Params
	rand    io.Reader
	workers int
	invited map[uint32]bool
	step    secagg.Step
	failed  error

	keys   map[uint32]*secagg.AdvertiseKeys  // U1
	graph  *secagg.Graph                     // over U1
	out    map[uint32][]secagg.Sealed        // step 1: boxes by sender (U2)
	inbox  map[uint32][]secagg.Sealed        // step 2: boxes by recipient
	u2     []uint32                          // sorted
	sum    []uint32                          // Σ y_u, Dim+1 words
	u3     map[uint32]bool                   // masked input received
	u3list []uint32                          // U3 sorted, set when step 2 closes
	sigs   map[uint32]secagg.SignedBy        // U4
	resp   map[uint32]*secagg.UnmaskResponse // U5
	result *Result
}

// New starts a round in step 0 (AdvertiseKeys).
func New(cfg Config) (*Round, error) {
	if err := cfg.Params.Validate(len(cfg.Clients)); err != nil {
		return nil, err
	}
	invited := make(map[uint32]bool, len(cfg.Clients))
	for _, id := range cfg.Clients {
		if id == secagg.ServerID || invited[id] {
			return nil, fmt.Errorf("secagg server: client id %d zero or repeated", id)
		}
		invited[id] = true
	}
	r := cfg.Rand
	if r == nil {
		r = rand.Reader
	}
	return &Round{
		p: cfg.Params, rand: r, workers: cfg.Workers, invited: invited,
		keys: map[uint32]*secagg.AdvertiseKeys{},
	}, nil
}

// Limits are the bounds to parse this round's client messages with.
func (r *Round) Limits() secagg.Limits {
	return secagg.Limits{MaxPeers: len(r.invited), MaxVector: r.p.Dim + 1}
}

// Step returns the current step.
func (r *Round) Step() secagg.Step {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.step
}

// Result returns the round's result once the last step has been advanced.
func (r *Round) Result() (*Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failed != nil {
		return nil, r.failed
	}
	if r.result == nil {
		return nil, fmt.Errorf("secagg server: round in step %v", r.step)
	}
	return r.result, nil
}

// Recipients returns the clients that get a message in the current step.
func (r *Round) Recipients() []uint32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []uint32
	switch r.step {
	case secagg.StepShareKeys:
		for id := range r.keys {
			ids = append(ids, id)
		}
	case secagg.StepMaskedInput:
		ids = slices.Clone(r.u2)
	case secagg.StepConsistencyCheck:
		ids = slices.Clone(r.sortedU3())
	case secagg.StepUnmask:
		if r.p.ConsistencyCheck {
			for id := range r.sigs {
				ids = append(ids, id)
			}
		} else {
			ids = slices.Clone(r.sortedU3())
		}
	}
	slices.Sort(ids)
	return ids
}

func (r *Round) sortedU3() []uint32 {
	if r.u3list != nil {
		return r.u3list
	}
	ids := make([]uint32, 0, len(r.u3))
	for id := range r.u3 {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (r *Round) header() secagg.Header {
	return secagg.Header{Round: r.p.Round, Sender: secagg.ServerID, Step: r.step}
}

// MessageFor returns the message client id needs for the current step.
func (r *Round) MessageFor(id uint32) (secagg.Message, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failed != nil {
		return nil, r.failed
	}
	h := r.header()
	unknown := secagg.Reject(secagg.Header{Round: h.Round, Sender: id, Step: h.Step},
		fmt.Errorf("%w: client %d takes no part in this step", secagg.ErrUnknownSender, id))
	switch r.step {
	case secagg.StepShareKeys:
		if r.keys[id] == nil {
			return nil, unknown
		}
		nb := r.graph.AppendNeighbours(nil, id)
		m := &secagg.KeyList{Header: h, Peers: make([]secagg.PeerKeys, len(nb))}
		for i, v := range nb {
			k := r.keys[v]
			m.Peers[i] = secagg.PeerKeys{ID: v, CPub: k.CPub, SPub: k.SPub, Identity: k.Identity}
		}
		return m, nil
	case secagg.StepMaskedInput:
		if _, ok := slices.BinarySearch(r.u2, id); !ok {
			return nil, unknown
		}
		return &secagg.ShareBundle{Header: h, Boxes: r.inbox[id]}, nil
	case secagg.StepConsistencyCheck:
		if !r.u3[id] {
			return nil, unknown
		}
		return &secagg.SurvivorList{Header: h, Survivors: r.sortedU3()}, nil
	case secagg.StepUnmask:
		if !r.u3[id] || (r.p.ConsistencyCheck && r.sigs[id].ID == 0) {
			return nil, unknown
		}
		m := &secagg.UnmaskRequest{Header: h, Survivors: r.sortedU3()}
		if r.p.ConsistencyCheck {
			for _, v := range r.sortedU3() {
				if s, ok := r.sigs[v]; ok && r.graph.Adjacent(id, v) {
					m.Sigs = append(m.Sigs, s)
				}
			}
		}
		return m, nil
	}
	return nil, fmt.Errorf("secagg server: no message in step %v", r.step)
}
