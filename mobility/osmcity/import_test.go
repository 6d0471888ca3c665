package osmcity

import (
	"testing"

	"github.com/paulmach/osm"

	"github.com/sextant-ml/sextant/mobility"
)

func TestParseMaxspeed(t *testing.T) {
	for in, want := range map[string]float64{"50": 50, "35 mph": 35 * 1.609344, "40 km/h": 40, " 25mph": 25 * 1.609344} {
		if got, ok := parseMaxspeed(in); !ok || got < want-1e-9 || got > want+1e-9 {
			t.Errorf("parseMaxspeed(%q) = %g, %v; want %g", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "none", "signals", "US:urban", "2", "900"} {
		if v, ok := parseMaxspeed(in); ok {
			t.Errorf("parseMaxspeed(%q) = %g, want rejected", in, v)
		}
	}
}

func TestRoadAndCategoryTags(t *testing.T) {
	tags := func(kv ...string) osm.Tags {
		var ts osm.Tags
		for i := 0; i < len(kv); i += 2 {
			ts = append(ts, osm.Tag{Key: kv[i], Value: kv[i+1]})
		}
		return ts
	}
	if spec, mps, dir, ok := road(tags("highway", "motorway")); !ok || spec.class != mobility.Motorway || dir != 1 || mps != 90/3.6 {
		t.Errorf("motorway: %+v %g %d %v", spec, mps, dir, ok)
	}
	if _, mps, dir, ok := road(tags("highway", "residential", "maxspeed", "25 mph", "oneway", "-1")); !ok || dir != -1 || mps < 11.17 || mps > 11.18 {
		t.Errorf("residential one-way reverse: %g %d %v", mps, dir, ok)
	}
	for _, ts := range []osm.Tags{tags("highway", "footway"), tags("highway", "service", "service", "parking_aisle"), tags("highway", "primary", "access", "private")} {
		if _, _, _, ok := road(ts); ok {
			t.Errorf("%v imported as a road", ts)
		}
	}
	cases := []struct {
		tags osm.Tags
		cat  mobility.Category
		ok   bool
	}{
		{tags("amenity", "cafe"), mobility.Food, true},
		{tags("shop", "supermarket"), mobility.Shop, true},
		{tags("amenity", "school"), mobility.School, true},
		{tags("amenity", "pharmacy"), mobility.Health, true},
		{tags("leisure", "park"), mobility.Leisure, true},
		{tags("railway", "station"), mobility.Transit, true},
		{tags("office", "company"), mobility.Work, true},
		{tags("amenity", "bench"), 0, false},
		{tags("amenity", "parking"), 0, false},
	}
	for _, c := range cases {
		if cat, ok := category(c.tags); ok != c.ok || (ok && cat != c.cat) {
			t.Errorf("category(%v) = %s, %v; want %s, %v", c.tags, cat, ok, c.cat, c.ok)
		}
	}
}

// TestBuild imports a hand-made network: a two-way residential square with
// a one-way spur that cannot be left (dropped with the largest strongly
// connected component), a cafe node and a shop way.
func TestBuild(t *testing.T) {
	im := &importer{opt: Options{HomeSpacing: 100}, coords: map[osm.NodeID][2]float64{}}
	// Nodes ~500 m apart around a square near Newark, DE.
	pts := map[osm.NodeID][2]float64{1: {39.680, -75.750}, 2: {39.680, -75.744}, 3: {39.6845, -75.744}, 4: {39.6845, -75.750}, 5: {39.690, -75.750},
		10: {39.6822, -75.747}, 20: {39.6823, -75.7472}, 21: {39.6823, -75.7468}, 22: {39.6826, -75.7468}}
	for id, p := range pts {
		n := &osm.Node{ID: id, Lat: p[0], Lon: p[1]}
		if id == 10 {
			n.Tags = osm.Tags{{Key: "amenity", Value: "cafe"}, {Key: "name", Value: "Cafe"}}
		}
		im.node(n)
	}
	way := func(id osm.WayID, tags osm.Tags, nodes ...osm.NodeID) {
		w := &osm.Way{ID: id, Tags: tags}
		for _, n := range nodes {
			w.Nodes = append(w.Nodes, osm.WayNode{ID: n})
		}
		im.way(w)
	}
	way(100, osm.Tags{{Key: "highway", Value: "residential"}}, 1, 2, 3, 4, 1)
	way(101, osm.Tags{{Key: "highway", Value: "tertiary"}, {Key: "oneway", Value: "yes"}}, 4, 5)
	way(102, osm.Tags{{Key: "shop", Value: "bakery"}}, 20, 21, 22, 20)
	city, err := im.build()
	if err != nil {
		t.Fatal(err)
	}
	// The square splits only at node 1 (its way's end) and node 4 (shared
	// with the one-way); node 5 is a one-way dead end and must be gone. Two
	// two-way segments remain: 1-2-3-4 and 4-1.
	if city.NumNodes() != 2 || len(city.Edges) != 4 {
		t.Fatalf("graph has %d nodes and %d edges, want 2 and 4", city.NumNodes(), len(city.Edges))
	}
	for v := range city.NodeLat {
		if city.NodeLat[v] == 39.690 {
			t.Fatal("the one-way dead end survived the component filter")
		}
	}
	if im.stats.DroppedNodes != 1 {
		t.Errorf("dropped %d nodes, want 1", im.stats.DroppedNodes)
	}
	for v := range city.NodeLat {
		for _, e := range city.Out(int32(v)) {
			if e.Class != mobility.Residential || e.Speed != float32(25/3.6) {
				t.Errorf("edge %+v: want residential at 25 km/h", e)
			}
		}
	}
	var cafe, shop, homes int
	for _, p := range city.Places {
		switch p.Category {
		case mobility.Food:
			cafe++
		case mobility.Shop:
			shop++
			if p.OSMID != -102 {
				t.Errorf("shop way id %d, want -102", p.OSMID)
			}
		case mobility.Home:
			homes++
		}
	}
	// The square has about 4 × 500 m of residential road: ~20 sites at 100 m.
	if cafe != 1 || shop != 1 || homes < 15 || homes > 25 {
		t.Errorf("places: %d cafes, %d shops, %d homes", cafe, shop, homes)
	}
}
