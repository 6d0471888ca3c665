package secagg

import (
	"encoding/binary"
	"fmt"
	"io"
	"slices"
)

// Graph says which clients mask with, and share secrets among, each other:
// the complete graph (Bonawitz et al. 2017) or, for SecAgg+, the Harary graph
// H(k, n) on a uniformly random labelling of the clients (Bell et al. 2020):
// place the clients on a ring in random order and join each to the k/2
// nearest on either side. Every client has exactly k neighbours and the
// relation is symmetric, so pairwise masks cancel.
type Graph struct {
	ring []uint32       // clients in ring order
	pos  map[uint32]int // client → index in ring
	half int            // k/2; 0 for the complete graph
}

// NewGraph builds the graph over ids (distinct, non-zero) with the given
// degree (0 or ≥ len(ids)−1: complete; else even), drawing the labelling
// from r.
func NewGraph(ids []uint32, degree int, r io.Reader) (*Graph, error) {
	n := len(ids)
	if err := checkPoints(ids); err != nil {
		return nil, err
	}
	g := &Graph{ring: slices.Clone(ids), pos: make(map[uint32]int, n)}
	slices.Sort(g.ring)
	if degree > 0 && degree < n-1 {
		if degree%2 != 0 {
			return nil, fmt.Errorf("secagg: SecAgg+ degree %d must be even", degree)
		}
		g.half = degree / 2
		if err := shuffle(g.ring, r); err != nil {
			return nil, err
		}
	}
	for i, id := range g.ring {
		g.pos[id] = i
	}
	return g, nil
}

// shuffle is Fisher–Yates with unbiased draws (rejection sampling).
func shuffle(a []uint32, r io.Reader) error {
	var b [8]byte
	for i := len(a) - 1; i > 0; i-- {
		bound := uint64(i + 1)
		limit := ^uint64(0) - (^uint64(0) % bound)
		var v uint64
		for {
			if _, err := io.ReadFull(r, b[:]); err != nil {
				return fmt.Errorf("secagg: graph randomness: %w", err)
			}
			v = binary.LittleEndian.Uint64(b[:])
			if v < limit {
				break
			}
		}
		j := int(v % bound)
		a[i], a[j] = a[j], a[i]
	}
	return nil
}

// Complete reports whether every client neighbours every other.
func (g *Graph) Complete() bool { return g.half == 0 }

// Degree is the number of neighbours of each client.
func (g *Graph) Degree() int {
	if g.half == 0 {
		return len(g.ring) - 1
	}
	return 2 * g.half
}

// Contains reports whether id is a vertex.
func (g *Graph) Contains(id uint32) bool { _, ok := g.pos[id]; return ok }

// Adjacent reports whether u and v are distinct neighbours.
func (g *Graph) Adjacent(u, v uint32) bool {
	pu, ok1 := g.pos[u]
	pv, ok2 := g.pos[v]
	if !ok1 || !ok2 || u == v {
		return false
	}
	if g.half == 0 {
		return true
	}
	d := pu - pv
	if d < 0 {
		d = -d
	}
	d = min(d, len(g.ring)-d)
	return d <= g.half
}

// AppendNeighbours appends id's neighbours to dst in ascending order.
func (g *Graph) AppendNeighbours(dst []uint32, id uint32) []uint32 {
	p, ok := g.pos[id]
	if !ok {
		return dst
	}
	start := len(dst)
	n := len(g.ring)
	if g.half == 0 {
		for _, v := range g.ring {
			if v != id {
				dst = append(dst, v)
			}
		}
		return dst
	}
	for d := 1; d <= g.half; d++ {
		dst = append(dst, g.ring[(p+d)%n], g.ring[(p-d+n)%n])
	}
	slices.Sort(dst[start:])
	return dst
}
