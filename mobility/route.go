package mobility

import (
	"math"
)

// TurnDegrees is the change of heading at a node above which a route counts
// a turn.
const TurnDegrees = 30

// Router finds fastest (free-flow time) paths on a city's road graph with
// Dijkstra's algorithm or A*, both on a binary heap. It reuses its buffers
// between queries and is not safe for concurrent use: give each goroutine
// its own.
type Router struct {
	city   *City
	dist   []float64 // free-flow seconds from the source
	parent []int32   // index of the edge into the node, -1 at the source
	tail   []int32   // tail node of each edge, for walking parents
	stamp  []uint32  // dist/parent are valid where stamp == epoch
	done   []uint32  // settled where done == epoch
	epoch  uint32
	heap   nodeHeap
	order  []int32 // nodes in the order Dijkstra settled them
	vmax   float64 // fastest edge speed, for the A* bound
}

// NewRouter returns a router over c.
func NewRouter(c *City) *Router {
	n := c.NumNodes()
	r := &Router{
		city:   c,
		dist:   make([]float64, n),
		parent: make([]int32, n),
		tail:   make([]int32, len(c.Edges)),
		stamp:  make([]uint32, n),
		done:   make([]uint32, n),
	}
	for v := 0; v < n; v++ {
		for i := c.EdgeStart[v]; i < c.EdgeStart[v+1]; i++ {
			r.tail[i] = int32(v)
			r.vmax = math.Max(r.vmax, float64(c.Edges[i].Speed))
		}
	}
	return r
}

func (r *Router) reset(src int32) {
	r.epoch++
	if r.epoch == 0 { // wrapped: clear the stamps
		clear(r.stamp)
		clear(r.done)
		r.epoch = 1
	}
	r.heap.items = r.heap.items[:0]
	r.order = r.order[:0]
	r.dist[src], r.parent[src], r.stamp[src] = 0, -1, r.epoch
	r.heap.push(heapItem{node: src})
}

// relax settles the heap's minimum and relaxes its edges; h is the A*
// heuristic (nil for Dijkstra). It returns the settled node, or -1 when the
// heap is empty.
func (r *Router) relax(h func(int32) float64) int32 {
	for len(r.heap.items) > 0 {
		it := r.heap.pop()
		u := it.node
		if r.done[u] == r.epoch {
			continue // stale entry
		}
		r.done[u] = r.epoch
		r.order = append(r.order, u)
		du := r.dist[u]
		for i := r.city.EdgeStart[u]; i < r.city.EdgeStart[u+1]; i++ {
			e := &r.city.Edges[i]
			nd := du + e.FreeFlow()
			v := e.To
			if r.stamp[v] != r.epoch || nd < r.dist[v] {
				r.dist[v], r.parent[v], r.stamp[v] = nd, i, r.epoch
				key := nd
				if h != nil {
					key += h(v)
				}
				r.heap.push(heapItem{node: v, key: key})
			}
		}
		return u
	}
	return -1
}

// Tree runs Dijkstra from src over the whole graph. Afterwards Dist and
// Path answer for every node.
func (r *Router) Tree(src int32) {
	r.reset(src)
	for r.relax(nil) >= 0 {
	}
}

// Path runs A* from src to dst (straight-line distance at the fastest speed
// in the city is an admissible bound) and reports whether dst is reachable.
// Afterwards Dist(dst) and Path(dst) answer.
func (r *Router) Path(src, dst int32) bool {
	c := r.city
	lat, lon := c.NodeLat[dst], c.NodeLon[dst]
	h := func(v int32) float64 { return Haversine(c.NodeLat[v], c.NodeLon[v], lat, lon) / r.vmax * 0.999 }
	r.reset(src)
	for {
		u := r.relax(h)
		if u < 0 {
			return false
		}
		if u == dst {
			return true
		}
	}
}

// Dist is the free-flow seconds to v found by the last query (+Inf if it
// was not reached).
func (r *Router) Dist(v int32) float64 {
	if r.stamp[v] != r.epoch {
		return math.Inf(1)
	}
	return r.dist[v]
}

// AppendPath appends the edge indices of the last query's path to v, from
// the source, to dst.
func (r *Router) AppendPath(dst []int32, v int32) []int32 {
	if r.stamp[v] != r.epoch {
		return dst
	}
	start := len(dst)
	for p := r.parent[v]; p >= 0; p = r.parent[r.tail[p]] {
		dst = append(dst, p)
	}
	for i, j := start, len(dst)-1; i < j; i, j = i+1, j-1 {
		dst[i], dst[j] = dst[j], dst[i]
	}
	return dst
}

// IsTurn reports whether going from edge a onto edge b changes heading by
// more than TurnDegrees.
func IsTurn(a, b *Edge) bool {
	d := math.Abs(float64(b.Start - a.End))
	if d > 180 {
		d = 360 - d
	}
	return d > TurnDegrees
}

type heapItem struct {
	node int32
	key  float64
}

// nodeHeap is a binary min-heap on key (lazy deletion: stale entries are
// skipped when popped).
type nodeHeap struct{ items []heapItem }

func (h *nodeHeap) push(it heapItem) {
	h.items = append(h.items, it)
	i := len(h.items) - 1
	for i > 0 {
		p := (i - 1) / 2
		if h.items[p].key <= it.key {
			break
		}
		h.items[i] = h.items[p]
		i = p
	}
	h.items[i] = it
}

func (h *nodeHeap) pop() heapItem {
	top := h.items[0]
	last := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	n := len(h.items)
	if n == 0 {
		return top
	}
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		if r := l + 1; r < n && h.items[r].key < h.items[l].key {
			l = r
		}
		if h.items[l].key >= last.key {
			break
		}
		h.items[i] = h.items[l]
		i = l
	}
	h.items[i] = last
	return top
}
