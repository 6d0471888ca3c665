package osmcity

import (
	"errors"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/paulmach/osm"

	"github.com/sextant-ml/sextant/mobility"
)

// rawEdge is a directed edge between graph vertices (indices into verts).
type rawEdge struct {
	from, to   int32
	length     float64
	mps        float64
	class      mobility.RoadClass
	start, end float64
}

// build splits the roads into edges, keeps the largest strongly connected
// component, adds home sites and snaps the places.
func (im *importer) build() (*mobility.City, error) {
	// A node is a vertex where roads meet or end; runs of a way inside the
	// extract are split at vertices.
	uses := make(map[osm.NodeID]int)
	for _, r := range im.roads {
		for i, id := range r.nodes {
			if _, ok := im.coords[id]; !ok {
				im.stats.SkippedUnknownCoords++
				continue
			}
			uses[id]++
			if i == 0 || i == len(r.nodes)-1 {
				uses[id]++ // way ends are vertices
			}
		}
	}
	vertex := make(map[osm.NodeID]int32)
	var verts []osm.NodeID
	vid := func(id osm.NodeID) int32 {
		if v, ok := vertex[id]; ok {
			return v
		}
		v := int32(len(verts))
		vertex[id] = v
		verts = append(verts, id)
		return v
	}
	var edges []rawEdge
	for _, r := range im.roads {
		var run []osm.NodeID
		flush := func() {
			im.splitRun(run, r, uses, vid, &edges)
			run = run[:0]
		}
		for _, id := range r.nodes {
			if _, ok := im.coords[id]; !ok {
				flush()
				continue
			}
			run = append(run, id)
		}
		flush()
	}
	keep := largestSCC(len(verts), edges)
	remap := make([]int32, len(verts))
	city := &mobility.City{Name: im.opt.Name}
	for v := range verts {
		remap[v] = -1
		if keep[v] {
			remap[v] = int32(len(city.NodeLat))
			c := im.coords[verts[v]]
			city.NodeLat = append(city.NodeLat, c[0])
			city.NodeLon = append(city.NodeLon, c[1])
		} else {
			im.stats.DroppedNodes++
		}
	}
	if len(city.NodeLat) < 2 {
		return nil, errors.New("osmcity: no connected road network in the extract")
	}
	kept := edges[:0]
	for _, e := range edges {
		if keep[e.from] && keep[e.to] {
			e.from, e.to = remap[e.from], remap[e.to]
			kept = append(kept, e)
		}
	}
	sort.SliceStable(kept, func(i, j int) bool { return kept[i].from < kept[j].from })
	city.EdgeStart = make([]int32, len(city.NodeLat)+1)
	for _, e := range kept {
		city.EdgeStart[e.from+1]++
		city.Edges = append(city.Edges, mobility.Edge{
			To: e.to, Length: float32(e.length), Speed: float32(e.mps), Class: e.class,
			Start: int16(math.Round(e.start)) % 360, End: int16(math.Round(e.end)) % 360,
		})
	}
	for v := 1; v < len(city.EdgeStart); v++ {
		city.EdgeStart[v] += city.EdgeStart[v-1]
	}
	im.stats.GraphNodes, im.stats.Edges = len(city.NodeLat), len(city.Edges)
	im.addHomeSites(city)
	im.snapPlaces(city)
	return city, city.Validate()
}

// splitRun turns a contiguous run of a way's nodes into edges between
// vertices, in the directions the way allows.
func (im *importer) splitRun(run []osm.NodeID, r rawRoad, uses map[osm.NodeID]int, vid func(osm.NodeID) int32, edges *[]rawEdge) {
	if len(run) < 2 {
		return
	}
	start := 0
	for i := 1; i < len(run); i++ {
		if i != len(run)-1 && uses[run[i]] < 2 {
			continue
		}
		seg := run[start : i+1]
		start = i
		var length float64
		for k := 1; k < len(seg); k++ {
			a, b := im.coords[seg[k-1]], im.coords[seg[k]]
			length += mobility.Haversine(a[0], a[1], b[0], b[1])
		}
		if seg[0] == seg[len(seg)-1] {
			continue // a closed loop with no other vertex
		}
		p0, p1 := im.coords[seg[0]], im.coords[seg[1]]
		q0, q1 := im.coords[seg[len(seg)-2]], im.coords[seg[len(seg)-1]]
		fwdStart := mobility.Bearing(p0[0], p0[1], p1[0], p1[1])
		fwdEnd := mobility.Bearing(q0[0], q0[1], q1[0], q1[1])
		a, b := vid(seg[0]), vid(seg[len(seg)-1])
		if r.dir >= 0 {
			*edges = append(*edges, rawEdge{from: a, to: b, length: length, mps: r.mps, class: r.class, start: fwdStart, end: fwdEnd})
		}
		if r.dir <= 0 {
			*edges = append(*edges, rawEdge{from: b, to: a, length: length, mps: r.mps, class: r.class,
				start: math.Mod(fwdEnd+180, 360), end: math.Mod(fwdStart+180, 360)})
		}
	}
}

// largestSCC marks the vertices of the largest strongly connected component
// (Kosaraju's algorithm, iterative).
func largestSCC(n int, edges []rawEdge) []bool {
	fwd := adjacency(n, edges, false)
	rev := adjacency(n, edges, true)
	order := make([]int32, 0, n)
	seen := make([]bool, n)
	type frame struct{ v, i int32 }
	var stack []frame
	for s := 0; s < n; s++ {
		if seen[s] {
			continue
		}
		seen[s] = true
		stack = append(stack, frame{int32(s), 0})
		for len(stack) > 0 {
			f := &stack[len(stack)-1]
			if int(f.i) < len(fwd[f.v]) {
				w := fwd[f.v][f.i]
				f.i++
				if !seen[w] {
					seen[w] = true
					stack = append(stack, frame{w, 0})
				}
				continue
			}
			order = append(order, f.v)
			stack = stack[:len(stack)-1]
		}
	}
	comp := make([]int32, n)
	for i := range comp {
		comp[i] = -1
	}
	var sizes []int
	var queue []int32
	for k := n - 1; k >= 0; k-- {
		s := order[k]
		if comp[s] >= 0 {
			continue
		}
		c := int32(len(sizes))
		sizes = append(sizes, 0)
		comp[s] = c
		queue = append(queue[:0], s)
		for len(queue) > 0 {
			v := queue[len(queue)-1]
			queue = queue[:len(queue)-1]
			sizes[c]++
			for _, w := range rev[v] {
				if comp[w] < 0 {
					comp[w] = c
					queue = append(queue, w)
				}
			}
		}
	}
	best := 0
	for c := range sizes {
		if sizes[c] > sizes[best] {
			best = c
		}
	}
	keep := make([]bool, n)
	for v := range keep {
		keep[v] = len(sizes) > 0 && comp[v] == int32(best)
	}
	return keep
}

func adjacency(n int, edges []rawEdge, reverse bool) [][]int32 {
	adj := make([][]int32, n)
	for _, e := range edges {
		if reverse {
			adj[e.to] = append(adj[e.to], e.from)
		} else {
			adj[e.from] = append(adj[e.from], e.to)
		}
	}
	return adj
}

// addHomeSites places one home site per HomeSpacing metres of residential
// road (each undirected road once), at evenly spaced points along the
// straight line between its end nodes.
func (im *importer) addHomeSites(city *mobility.City) {
	for v := int32(0); v < int32(city.NumNodes()); v++ {
		for _, e := range city.Out(v) {
			if e.Class != mobility.Residential || (e.To < v && hasEdge(city, e.To, v)) {
				continue
			}
			k := int(float64(e.Length) / im.opt.HomeSpacing)
			for s := 0; s < k; s++ {
				f := (float64(s) + 0.5) / float64(k)
				lat := city.NodeLat[v] + f*(city.NodeLat[e.To]-city.NodeLat[v])
				lon := city.NodeLon[v] + f*(city.NodeLon[e.To]-city.NodeLon[v])
				im.places = append(im.places, rawPlace{cat: mobility.Home, lat: lat, lon: lon, weight: 1})
			}
		}
	}
}

func hasEdge(city *mobility.City, from, to int32) bool {
	for _, e := range city.Out(from) {
		if e.To == to {
			return true
		}
	}
	return false
}

// snapPlaces attaches every place candidate to its nearest graph node and
// draws its relevance: the category's base times the place's weight (area)
// times a log-normal factor (σ = 0.8) from the import seed.
func (im *importer) snapPlaces(city *mobility.City) {
	g := newGrid(city)
	rng := rand.New(rand.NewPCG(im.opt.Seed, 0x9e3779b97f4a7c15))
	for _, p := range im.places {
		if !im.inBox(p.lat, p.lon) {
			continue
		}
		node, dist := g.nearest(p.lat, p.lon)
		if node < 0 || dist > 1000 {
			continue // not reachable by road within a kilometre
		}
		rel := baseRelevance[p.cat] * p.weight * math.Exp(0.8*rng.NormFloat64())
		city.Places = append(city.Places, mobility.Place{
			OSMID: p.osmID, Name: p.name, Category: p.cat, Lat: p.lat, Lon: p.lon,
			Node: node, Relevance: float32(rel),
		})
		im.stats.PlacesByCategory[p.cat]++
		if p.cat == mobility.Home {
			im.stats.Homes++
		} else {
			im.stats.POIs++
		}
	}
}

// grid buckets graph nodes into cells of about 500 m for nearest-node
// queries.
type grid struct {
	city         *mobility.City
	lat0, lon0   float64
	dlat, dlon   float64
	nx, ny       int
	cells        map[[2]int][]int32
	maxRingCells int
}

func newGrid(city *mobility.City) *grid {
	g := &grid{city: city, cells: make(map[[2]int][]int32), lat0: math.Inf(1), lon0: math.Inf(1)}
	for v := range city.NodeLat {
		g.lat0 = math.Min(g.lat0, city.NodeLat[v])
		g.lon0 = math.Min(g.lon0, city.NodeLon[v])
	}
	g.dlat = 500.0 / 110540
	g.dlon = 500.0 / (111320 * math.Cos(g.lat0*math.Pi/180))
	for v := range city.NodeLat {
		k := g.cell(city.NodeLat[v], city.NodeLon[v])
		g.cells[k] = append(g.cells[k], int32(v))
	}
	g.maxRingCells = 4 // search up to 2 km
	return g
}

func (g *grid) cell(lat, lon float64) [2]int {
	return [2]int{int(math.Floor((lat - g.lat0) / g.dlat)), int(math.Floor((lon - g.lon0) / g.dlon))}
}

// nearest returns the closest node and its distance, searching rings of
// cells outward; -1 when none is within the search radius.
func (g *grid) nearest(lat, lon float64) (int32, float64) {
	c := g.cell(lat, lon)
	best, bestD := int32(-1), math.Inf(1)
	for ring := 0; ring <= g.maxRingCells; ring++ {
		for i := c[0] - ring; i <= c[0]+ring; i++ {
			for j := c[1] - ring; j <= c[1]+ring; j++ {
				if max(abs(i-c[0]), abs(j-c[1])) != ring {
					continue
				}
				for _, v := range g.cells[[2]int{i, j}] {
					if d := mobility.Haversine(lat, lon, g.city.NodeLat[v], g.city.NodeLon[v]); d < bestD {
						best, bestD = v, d
					}
				}
			}
		}
		// A node in ring r is at least (r)·500 m away; stop once the best is
		// closer than the next ring can be.
		if best >= 0 && bestD <= float64(ring)*500 {
			break
		}
	}
	return best, bestD
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
