package server

import (
	"fmt"
	"runtime"
	"slices"
	"sync"

	"github.com/sextant-ml/sextant/secagg"
)

// maskJob is one mask to remove from the sum: a survivor's self mask
// (seed set) or a pairwise mask between a dropped client and a survivor
// (key set; removeMasks agrees the seed).
type maskJob struct {
	seed [secagg.SecretSize]byte
	key  *secagg.PrivateKey // dropped client's s_sk
	peer []byte             // survivor's s_pk
	u, v uint32             // dropped, survivor
	neg  bool
	self bool
}

// finish rebuilds, for each client in U2, exactly one secret — b_u if it
// survived step 2, s_sk if it dropped — from t shares of its neighbours,
// and removes the masks: Σ y_u − Σ_{u∈U3} PRG(b_u) ∓ Σ PRG(s_uv) for the
// pairs of a dropped u and a surviving neighbour v (Bonawitz et al. Fig. 4,
// round 4 on the server).
func (r *Round) finish() (*Result, error) {
	t := r.p.Threshold
	if len(r.resp) < t {
		return nil, fmt.Errorf("%w: %d unmask responses, threshold %d", secagg.ErrTooFewClients, len(r.resp), t)
	}
	// Gather shares per owner, in ascending holder order.
	holders := make([]uint32, 0, len(r.resp))
	for id := range r.resp {
		holders = append(holders, id)
	}
	slices.Sort(holders)
	selfShares := map[uint32][]secagg.Share{}
	keyShares := map[uint32][]secagg.Share{}
	for _, h := range holders {
		m := r.resp[h]
		for _, o := range m.SelfMask {
			if len(selfShares[o.Of]) < t {
				selfShares[o.Of] = append(selfShares[o.Of], secagg.Share{X: h, Y: o.Y})
			}
		}
		for _, o := range m.MaskKey {
			if len(keyShares[o.Of]) < t {
				keyShares[o.Of] = append(keyShares[o.Of], secagg.Share{X: h, Y: o.Y})
			}
		}
	}
	// The invariant the protocol's privacy rests on: no client has both
	// secrets rebuilt. unmaskResponse already refuses such shares; this
	// check guards the reconstruction itself.
	for id := range selfShares {
		if _, both := keyShares[id]; both {
			return nil, fmt.Errorf("%w: client %d", secagg.ErrBothSecrets, id)
		}
	}
	var cb secagg.Combiner
	var jobs []maskJob
	var dropped, nb []uint32
	survivors := r.sortedU3()
	for _, u := range r.u2 {
		if r.u3[u] {
			s := selfShares[u]
			if len(s) < t {
				return nil, fmt.Errorf("%w: %d shares of client %d's self mask, threshold %d", secagg.ErrTooFewClients, len(s), u, t)
			}
			seed, err := cb.Combine(s)
			if err != nil {
				return nil, fmt.Errorf("client %d's self mask: %w", u, err)
			}
			jobs = append(jobs, maskJob{seed: seed, neg: true, self: true})
			continue
		}
		dropped = append(dropped, u)
		s := keyShares[u]
		if len(s) < t {
			return nil, fmt.Errorf("%w: %d shares of dropped client %d's key, threshold %d", secagg.ErrTooFewClients, len(s), u, t)
		}
		sk, err := cb.Combine(s)
		if err != nil {
			return nil, fmt.Errorf("client %d's mask key: %w", u, err)
		}
		key, err := secagg.KeyFromBytes(sk[:])
		if err != nil {
			return nil, fmt.Errorf("client %d's mask key: %w", u, err)
		}
		if key.Public() != r.keys[u].SPub {
			return nil, fmt.Errorf("%w: client %d's rebuilt key does not match its public key", secagg.ErrReconstruct, u)
		}
		// u's neighbours (ascending) that survived: O(k), not O(n), per
		// dropped client.
		nb = r.graph.AppendNeighbours(nb[:0], u)
		for _, v := range nb {
			if r.u3[v] {
				// v added +PRG(s_uv) if v < u, −PRG(s_uv) if v > u.
				jobs = append(jobs, maskJob{key: key, peer: r.keys[v].SPub[:], u: u, v: v, neg: v < u})
			}
		}
	}
	if err := r.removeMasks(jobs); err != nil {
		return nil, err
	}
	d := r.p.Dim
	res := &Result{
		Round:        r.p.Round,
		Sum:          r.sum[:d:d],
		Contributors: survivors,
		Dropped:      dropped,
		Overflow:     r.p.Encoding.Bound(len(survivors), d),
	}
	res.Overflow.Clipped = uint64(r.sum[d])
	res.Values = r.p.Encoding.AppendDecode(make([]float64, 0, d), res.Sum)
	res.Sizes = [5]int{len(r.keys), len(r.u2), len(r.u3), len(r.sigs), len(r.resp)}
	if !r.p.ConsistencyCheck {
		res.Sizes[3] = len(r.u3)
	}
	return res, nil
}

// removeMasks expands every job's mask into per-worker partial sums and
// subtracts them from the sum (AES-CTR expansion dominates the server's
// cost, so it is spread over the CPUs).
func (r *Round) removeMasks(jobs []maskJob) error {
	// The dropped clients' agreements first, all in one batch (eight
	// lanes of an X25519 ladder at a time where the CPU has AVX-512
	// IFMA, as a client makes its own), then every job is a seed.
	var pair []int
	var privs []*secagg.PrivateKey
	var peers [][secagg.KeySize]byte
	for j := range jobs {
		if job := &jobs[j]; !job.self {
			pair = append(pair, j)
			privs = append(privs, job.key)
			peers = append(peers, [secagg.KeySize]byte(job.peer))
		}
	}
	if len(pair) > 0 {
		secrets, errs := secagg.Agreements(privs, peers)
		for i, j := range pair {
			job := &jobs[j]
			if errs[i] != nil {
				return fmt.Errorf("mask of clients %d and %d: %w", job.u, job.v, errs[i])
			}
			job.seed = secagg.PairwiseSeedWith(secrets[i], r.p.Round, job.u, job.v)
		}
	}
	w := r.workers
	if w <= 0 {
		w = runtime.GOMAXPROCS(0)
	}
	w = max(1, min(w, len(jobs)))
	parts := make([][]uint32, w)
	var wg sync.WaitGroup
	for i := range w {
		wg.Add(1)
		go func() {
			defer wg.Done()
			acc := make([]uint32, len(r.sum))
			scratch := secagg.NewScratch()
			for j := i; j < len(jobs); j += w {
				secagg.Mask(acc, &jobs[j].seed, jobs[j].neg, scratch)
			}
			parts[i] = acc
		}()
	}
	wg.Wait()
	for i := range w {
		for k, x := range parts[i] {
			r.sum[k] += x
		}
	}
	return nil
}
