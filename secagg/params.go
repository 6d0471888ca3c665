package secagg

import "fmt"

// ServerID is the sender id of messages from the server. Client ids are
// non-zero (they are Shamir evaluation points).
const ServerID uint32 = 0

// Step is a step of the protocol (Bonawitz et al. 2017, Fig. 4, rounds 0–4).
type Step uint8

// The steps, in order.
const (
	StepAdvertiseKeys Step = iota
	StepShareKeys
	StepMaskedInput
	StepConsistencyCheck
	StepUnmask
	// StepDone follows the last step; no message belongs to it.
	StepDone
)

func (s Step) String() string {
	switch s {
	case StepAdvertiseKeys:
		return "0:AdvertiseKeys"
	case StepShareKeys:
		return "1:ShareKeys"
	case StepMaskedInput:
		return "2:MaskedInputCollection"
	case StepConsistencyCheck:
		return "3:ConsistencyCheck"
	case StepUnmask:
		return "4:Unmasking"
	case StepDone:
		return "done"
	}
	return fmt.Sprintf("step(%d)", uint8(s))
}

// Params are the parameters of one round; the coordinator gives the same
// Params to the server and to every client.
type Params struct {
	// Round identifies the round; every message carries it and keys derived
	// in the round are bound to it.
	Round uint64
	// Dim is the number of coordinates of an update. The masked vector has
	// Dim+1: the last coordinate carries the client's count of clipped
	// coordinates, so the server learns only the round's total.
	Dim int
	// Threshold t: shares needed to rebuild a client's secrets; a client's
	// secrets are split among its neighbours (all other clients in full-graph
	// mode), so at least t of them must survive to step 4. Against a server
	// colluding with c clients, t > c is needed (§6); see
	// docs/threat-model.md.
	Threshold int
	// Degree selects SecAgg+: each client has Degree neighbours on a Harary
	// graph over a random labelling (Bell et al. 2020). 0, or a value ≥ n−1,
	// means the complete graph of Bonawitz et al. Must be even otherwise.
	Degree int
	// Encoding maps float updates to Z_{2^32}.
	Encoding Encoding
	// ConsistencyCheck enables step 3 and Ed25519 identity signatures (the
	// active-adversary variant of Bonawitz et al.).
	ConsistencyCheck bool
}

// Validate checks the parameters for a round of n clients.
func (p Params) Validate(n int) error {
	if p.Dim < 1 || p.Dim > MaxDim {
		return fmt.Errorf("secagg: dimension %d outside [1, %d]", p.Dim, MaxDim)
	}
	if n < 2 || n > MaxClients {
		return fmt.Errorf("secagg: %d clients outside [2, %d]", n, MaxClients)
	}
	k := p.Neighbours(n)
	if p.Degree != 0 && p.Degree < n-1 && p.Degree%2 != 0 {
		return fmt.Errorf("secagg: SecAgg+ degree %d must be even", p.Degree)
	}
	if p.Threshold < 1 || p.Threshold > k {
		return fmt.Errorf("secagg: threshold %d outside [1, %d neighbours]", p.Threshold, k)
	}
	if err := p.Encoding.Validate(); err != nil {
		return err
	}
	if ov := p.Encoding.Bound(n, p.Dim); ov.MayWrap {
		return fmt.Errorf("%w: %d clients × %d units > 2^31−1", ErrMayWrap, n, ov.MaxUnits)
	}
	return nil
}

// Neighbours returns how many neighbours each client has in a round of n.
func (p Params) Neighbours(n int) int {
	if p.Degree <= 0 || p.Degree >= n-1 {
		return n - 1
	}
	return p.Degree
}

// DefaultDegree is the SecAgg+ degree for n clients under
// DefaultAssumptions (5% dropout, 2% colluding clients, σ = 40, η = 20):
// Degree(n, DefaultAssumptions), 0 (the complete graph) when no degree
// below n−1 meets them. See Degree for the formula and
// docs/threat-model.md.
func DefaultDegree(n int) int { return Degree(n, DefaultAssumptions) }

// DefaultThreshold is ⌊k/2⌋+1 of k neighbours: a majority, so the server
// needs shares from more than half of a client's neighbours.
func DefaultThreshold(k int) int { return k/2 + 1 }
