package mobility_test

import (
	"bytes"
	"math"
	"testing"

	"github.com/sextant-ml/sextant/mobility"
)

func TestFixtureLoads(t *testing.T) {
	c := testCity(t)
	if c.NumNodes() < 10000 || len(c.Edges) < 20000 || len(c.Places) < 1000 {
		t.Fatalf("fixture too small: %d nodes, %d edges, %d places", c.NumNodes(), len(c.Edges), len(c.Places))
	}
	var cats [mobility.NumCategories]int
	for _, p := range c.Places {
		cats[p.Category]++
		if math.Abs(p.Lat-39.7) > 0.1 || math.Abs(p.Lon+75.65) > 0.16 {
			t.Fatalf("place %+v outside the Wilmington-Newark box", p)
		}
	}
	for cat, n := range cats {
		if n == 0 {
			t.Errorf("no places of category %s", mobility.Category(cat))
		}
	}
}

func TestCityRoundTrip(t *testing.T) {
	c := testCity(t)
	var buf bytes.Buffer
	if err := mobility.WriteCity(&buf, c); err != nil {
		t.Fatal(err)
	}
	d, err := mobility.ReadCity(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != c.Name || d.NumNodes() != c.NumNodes() || len(d.Edges) != len(c.Edges) || len(d.Places) != len(c.Places) {
		t.Fatalf("round trip changed sizes")
	}
	for i := range c.Edges {
		if c.Edges[i] != d.Edges[i] {
			t.Fatalf("edge %d: %+v became %+v", i, c.Edges[i], d.Edges[i])
		}
	}
	for i := range c.Places {
		if c.Places[i] != d.Places[i] {
			t.Fatalf("place %d: %+v became %+v", i, c.Places[i], d.Places[i])
		}
	}
	for v := range c.NodeLat {
		if c.NodeLat[v] != d.NodeLat[v] || c.NodeLon[v] != d.NodeLon[v] {
			t.Fatalf("node %d moved", v)
		}
	}
	// A truncated file fails cleanly.
	if _, err := mobility.ReadCity(bytes.NewReader(buf.Bytes()[:buf.Len()/2])); err == nil {
		t.Fatal("truncated city file decoded")
	}
	if _, err := mobility.ReadCity(bytes.NewReader([]byte("not gzip"))); err == nil {
		t.Fatal("garbage decoded")
	}
}
