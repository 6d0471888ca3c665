package mobility

import (
	"math"
	"sync"
	"sync/atomic"
)

// RouteFeatures describe the fastest free-flow route between two places:
// what the ETA models see. Access legs (place to its road node, straight
// line at AccessSpeed) count as service road.
type RouteFeatures struct {
	Length   float64 // metres
	FreeFlow float64 // seconds at free-flow speeds
	Turns    int     // heading changes above TurnDegrees
	Edges    int     // road edges traversed
	// ClassLength and ClassTime are the fractions of the length and of the
	// free-flow time on each road class; each sums to 1 (to quantization).
	ClassLength [NumRoadClasses]float64
	ClassTime   [NumRoadClasses]float64
}

// AccessSpeed is the speed in m/s of the straight legs between a place and
// its road node (15 km/h: parking lots, driveways).
const AccessSpeed = 15 / 3.6

// routeRec is RouteFeatures packed for the table: class fractions in 1/255.
type routeRec struct {
	length, freeFlow float32
	turns, edges     uint16
	classLen         [NumRoadClasses]uint8
	classTime        [NumRoadClasses]uint8
}

// RouteTable answers place-to-place route features, computing one
// shortest-path tree per origin place on first use and keeping its row
// (about 28 bytes per place) for the table's life. It is safe for
// concurrent use; its memory is bounded by places² × 28 bytes.
type RouteTable struct {
	city    *City
	rows    []atomic.Pointer[[]routeRec]
	access  []float64 // metres from each place to its node
	routers sync.Pool
	trees   atomic.Int64
}

// NewRouteTable returns an empty table over c.
func NewRouteTable(c *City) *RouteTable {
	t := &RouteTable{city: c, rows: make([]atomic.Pointer[[]routeRec], len(c.Places)), access: make([]float64, len(c.Places))}
	for i := range c.Places {
		p := &c.Places[i]
		t.access[i] = Haversine(p.Lat, p.Lon, c.NodeLat[p.Node], c.NodeLon[p.Node])
	}
	t.routers.New = func() any { return newTreeWork(c) }
	return t
}

// Trees is how many shortest-path trees the table has computed.
func (t *RouteTable) Trees() int64 { return t.trees.Load() }

// Route returns the features of the route from place o to place d.
func (t *RouteTable) Route(o, d int32) RouteFeatures {
	row := t.rows[o].Load()
	if row == nil {
		w := t.routers.Get().(*treeWork)
		r := w.row(t, o)
		t.routers.Put(w)
		t.trees.Add(1)
		if !t.rows[o].CompareAndSwap(nil, &r) {
			row = t.rows[o].Load()
		} else {
			row = &r
		}
	}
	rec := &(*row)[d]
	f := RouteFeatures{Length: float64(rec.length), FreeFlow: float64(rec.freeFlow), Turns: int(rec.turns), Edges: int(rec.edges)}
	for c := 0; c < NumRoadClasses; c++ {
		f.ClassLength[c] = float64(rec.classLen[c]) / 255
		f.ClassTime[c] = float64(rec.classTime[c]) / 255
	}
	return f
}

// treeWork is one goroutine's router and per-node accumulators.
type treeWork struct {
	r        *Router
	length   []float64
	turns    []int32
	edges    []int32
	classLen [][NumRoadClasses]float32
	classT   [][NumRoadClasses]float32
}

func newTreeWork(c *City) *treeWork {
	n := c.NumNodes()
	return &treeWork{
		r: NewRouter(c), length: make([]float64, n), turns: make([]int32, n), edges: make([]int32, n),
		classLen: make([][NumRoadClasses]float32, n), classT: make([][NumRoadClasses]float32, n),
	}
}

// row computes the shortest-path tree from place o's node and accumulates
// each node's route features in settle order (a parent settles before its
// children).
func (w *treeWork) row(t *RouteTable, o int32) []routeRec {
	c := t.city
	src := c.Places[o].Node
	w.r.Tree(src)
	for _, v := range w.r.order {
		p := w.r.parent[v]
		if p < 0 {
			w.length[v], w.turns[v], w.edges[v] = 0, 0, 0
			w.classLen[v], w.classT[v] = [NumRoadClasses]float32{}, [NumRoadClasses]float32{}
			continue
		}
		u := w.r.tail[p]
		e := &c.Edges[p]
		w.length[v] = w.length[u] + float64(e.Length)
		w.edges[v] = w.edges[u] + 1
		w.turns[v] = w.turns[u]
		if pu := w.r.parent[u]; pu >= 0 && IsTurn(&c.Edges[pu], e) {
			w.turns[v]++
		}
		w.classLen[v], w.classT[v] = w.classLen[u], w.classT[u]
		w.classLen[v][e.Class] += e.Length
		w.classT[v][e.Class] += float32(e.FreeFlow())
	}
	row := make([]routeRec, len(c.Places))
	for d := range c.Places {
		v := c.Places[d].Node
		acc := t.access[o] + t.access[d]
		if int32(d) == o {
			acc = 0
		}
		length := w.length[v] + acc
		ff := w.r.Dist(v) + acc/AccessSpeed
		cl, ct := w.classLen[v], w.classT[v]
		cl[Service] += float32(acc)
		ct[Service] += float32(acc / AccessSpeed)
		rec := routeRec{length: float32(length), freeFlow: float32(ff), turns: sat16(w.turns[v]), edges: sat16(w.edges[v])}
		for k := 0; k < NumRoadClasses; k++ {
			if length > 0 {
				rec.classLen[k] = uint8(math.Round(255 * float64(cl[k]) / length))
			}
			if ff > 0 {
				rec.classTime[k] = uint8(math.Round(255 * float64(ct[k]) / ff))
			}
		}
		row[d] = rec
	}
	return row
}

func sat16(v int32) uint16 {
	if v > math.MaxUint16 {
		return math.MaxUint16
	}
	return uint16(v)
}
