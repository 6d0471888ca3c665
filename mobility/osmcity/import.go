// Package osmcity builds a mobility.City from an OpenStreetMap PBF extract:
// the drivable road graph (highway=* ways split at shared nodes, speeds from
// maxspeed or per-class defaults, one-ways, restricted to its largest
// strongly connected component) and the place table (amenity, shop, tourism,
// leisure, office and station nodes and ways, ways at their centroid, with
// categories; home sites along residential roads and at residential areas),
// every place snapped to its nearest graph node. It reads with the osmpbf
// scanner of github.com/paulmach/osm.
//
// OSM data is © OpenStreetMap contributors, available under the Open
// Database License 1.0; cities derived from it carry that attribution.
package osmcity

import (
	"context"
	"fmt"
	"io"
	"math"

	"github.com/paulmach/osm"
	"github.com/paulmach/osm/osmpbf"

	"github.com/sextant-ml/sextant/mobility"
)

// BBox is a latitude/longitude box in degrees.
type BBox struct {
	MinLat, MinLon, MaxLat, MaxLon float64
}

// Contains reports whether the point is inside the box.
func (b BBox) Contains(lat, lon float64) bool {
	return lat >= b.MinLat && lat <= b.MaxLat && lon >= b.MinLon && lon <= b.MaxLon
}

// Options configure an import. The zero value imports everything with the
// defaults below.
type Options struct {
	// Name is stored in the city.
	Name string
	// BBox clips the extract; the zero box keeps everything.
	BBox BBox
	// HomeSpacing is the road length in metres per home site along
	// residential roads (default 200).
	HomeSpacing float64
	// Seed drives the per-place relevance factors.
	Seed uint64
}

// Stats counts what an import kept and dropped.
type Stats struct {
	Nodes, Ways          int // OSM elements read
	RoadWays             int
	GraphNodes, Edges    int // after keeping the largest component
	DroppedNodes         int // graph nodes outside the largest component
	POIs, Homes          int
	PlacesByCategory     [mobility.NumCategories]int
	ResidentialAreas     int
	SkippedUnknownCoords int // way nodes whose coordinates were not in the extract
}

// rawRoad is a drivable way before splitting.
type rawRoad struct {
	nodes []osm.NodeID
	class mobility.RoadClass
	mps   float64
	dir   int
}

// rawPlace is a place candidate before snapping.
type rawPlace struct {
	osmID    int64
	name     string
	cat      mobility.Category
	lat, lon float64
	weight   float64 // area-based weight for ways (1 for nodes)
}

type importer struct {
	opt    Options
	coords map[osm.NodeID][2]float64
	roads  []rawRoad
	places []rawPlace
	// wayPlaces and residential need node coordinates, which PBF files store
	// before ways; they are resolved when the ways are read.
	stats Stats
}

// Import reads a PBF extract and builds the city.
func Import(ctx context.Context, r io.Reader, opt Options) (*mobility.City, Stats, error) {
	if opt.HomeSpacing <= 0 {
		opt.HomeSpacing = 200
	}
	im := &importer{opt: opt, coords: make(map[osm.NodeID][2]float64)}
	sc := osmpbf.New(ctx, r, 1)
	defer sc.Close()
	sc.SkipRelations = true
	for sc.Scan() {
		switch o := sc.Object().(type) {
		case *osm.Node:
			im.node(o)
		case *osm.Way:
			im.way(o)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, im.stats, fmt.Errorf("osmcity: scan: %w", err)
	}
	city, err := im.build()
	if err != nil {
		return nil, im.stats, err
	}
	return city, im.stats, nil
}

func (im *importer) inBox(lat, lon float64) bool {
	b := im.opt.BBox
	if b == (BBox{}) {
		return true
	}
	return b.Contains(lat, lon)
}

func (im *importer) node(n *osm.Node) {
	im.stats.Nodes++
	if !im.inBox(n.Lat, n.Lon) {
		return
	}
	im.coords[n.ID] = [2]float64{n.Lat, n.Lon}
	if cat, ok := category(n.Tags); ok {
		im.places = append(im.places, rawPlace{osmID: int64(n.ID), name: n.Tags.Find("name"), cat: cat, lat: n.Lat, lon: n.Lon, weight: 1})
	}
}

func (im *importer) way(w *osm.Way) {
	im.stats.Ways++
	if spec, mps, dir, ok := road(w.Tags); ok {
		ids := make([]osm.NodeID, len(w.Nodes))
		for i, wn := range w.Nodes {
			ids[i] = wn.ID
		}
		im.roads = append(im.roads, rawRoad{nodes: ids, class: spec.class, mps: mps, dir: dir})
		im.stats.RoadWays++
		return
	}
	cat, isPlace := category(w.Tags)
	residential := w.Tags.Find("landuse") == "residential"
	if !isPlace && !residential {
		return
	}
	lat, lon, area, ok := im.centroid(w.Nodes)
	if !ok {
		return
	}
	weight := math.Max(1, math.Sqrt(area)/50) // a 50 m square counts as one node
	if residential {
		im.stats.ResidentialAreas++
		im.places = append(im.places, rawPlace{osmID: -int64(w.ID), name: w.Tags.Find("name"), cat: mobility.Home, lat: lat, lon: lon, weight: weight})
		return
	}
	im.places = append(im.places, rawPlace{osmID: -int64(w.ID), name: w.Tags.Find("name"), cat: cat, lat: lat, lon: lon, weight: weight})
}

// centroid is the mean of a way's known node coordinates, with the area in
// square metres of their polygon (shoelace on a local projection); ok is
// false when any node is unknown (outside the box).
func (im *importer) centroid(nodes osm.WayNodes) (lat, lon, area float64, ok bool) {
	if len(nodes) == 0 {
		return 0, 0, 0, false
	}
	pts := make([][2]float64, 0, len(nodes))
	for _, wn := range nodes {
		c, ok := im.coords[wn.ID]
		if !ok {
			return 0, 0, 0, false
		}
		pts = append(pts, c)
		lat += c[0]
		lon += c[1]
	}
	lat /= float64(len(pts))
	lon /= float64(len(pts))
	kx := 111320 * math.Cos(lat*math.Pi/180)
	const ky = 110540.0
	var s float64
	for i := range pts {
		a, b := pts[i], pts[(i+1)%len(pts)]
		s += (a[1]-lon)*kx*(b[0]-lat)*ky - (b[1]-lon)*kx*(a[0]-lat)*ky
	}
	return lat, lon, math.Abs(s) / 2, true
}
