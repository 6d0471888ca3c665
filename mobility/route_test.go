package mobility_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sextant-ml/sextant/mobility"
)

// TestAStarMatchesDijkstra checks A* against the full Dijkstra tree and the
// route table's accumulated features against a walk of the path.
func TestAStarMatchesDijkstra(t *testing.T) {
	c := testCity(t)
	rng := rand.New(rand.NewPCG(7, 7))
	tree, astar := mobility.NewRouter(c), mobility.NewRouter(c)
	table := mobility.NewRouteTable(c)
	for range 20 {
		o := int32(rng.IntN(len(c.Places)))
		tree.Tree(c.Places[o].Node)
		for range 10 {
			d := int32(rng.IntN(len(c.Places)))
			dst := c.Places[d].Node
			if !astar.Path(c.Places[o].Node, dst) {
				t.Fatalf("place %d unreachable from %d in a strongly connected city", d, o)
			}
			want, got := tree.Dist(dst), astar.Dist(dst)
			if math.Abs(want-got) > 1e-6*math.Max(1, want) {
				t.Fatalf("A* %g s, Dijkstra %g s from %d to %d", got, want, o, d)
			}
			path := tree.AppendPath(nil, dst)
			var length, ff float64
			turns := 0
			for i, ei := range path {
				e := &c.Edges[ei]
				length += float64(e.Length)
				ff += e.FreeFlow()
				if i > 0 && mobility.IsTurn(&c.Edges[path[i-1]], e) {
					turns++
				}
				if i > 0 && c.Edges[path[i-1]].To != tailOf(c, ei) {
					t.Fatalf("path is not contiguous at edge %d", i)
				}
			}
			if math.Abs(ff-want) > 1e-6*math.Max(1, want) {
				t.Fatalf("path free-flow %g, tree distance %g", ff, want)
			}
			f := table.Route(o, d)
			acc := 0.0
			if o != d {
				acc = mobility.Haversine(c.Places[o].Lat, c.Places[o].Lon, c.NodeLat[c.Places[o].Node], c.NodeLon[c.Places[o].Node]) +
					mobility.Haversine(c.Places[d].Lat, c.Places[d].Lon, c.NodeLat[dst], c.NodeLon[dst])
			}
			if math.Abs(f.Length-(length+acc)) > 0.01*(length+acc)+1 || f.Turns != turns || f.Edges != len(path) {
				t.Fatalf("table says %+v; path has length %g + access %g, %d turns, %d edges", f, length, acc, turns, len(path))
			}
			var sum float64
			for _, x := range f.ClassLength {
				sum += x
			}
			if o != d && math.Abs(sum-1) > 0.03 {
				t.Fatalf("class mix sums to %g", sum)
			}
		}
	}
}

func tailOf(c *mobility.City, edge int32) int32 {
	for v := 0; v < c.NumNodes(); v++ {
		if c.EdgeStart[v] <= edge && edge < c.EdgeStart[v+1] {
			return int32(v)
		}
	}
	return -1
}

func BenchmarkTree(b *testing.B) {
	c := testCity(b)
	r := mobility.NewRouter(c)
	i := 0
	for b.Loop() {
		r.Tree(c.Places[i%len(c.Places)].Node)
		i++
	}
}
