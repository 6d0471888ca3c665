package mobility

import (
	"errors"
	"fmt"
	"math"
)

// RoadClass is the coarse class of a road edge, the vocabulary of the trips'
// road-class mix.
type RoadClass uint8

// Road classes, from OSM highway=* (links fold into their class; unclassified,
// living_street and road fold into Residential).
const (
	Motorway RoadClass = iota
	Trunk
	Primary
	Secondary
	Tertiary
	Residential
	Service
	NumRoadClasses = 7
)

var roadClassNames = [NumRoadClasses]string{"motorway", "trunk", "primary", "secondary", "tertiary", "residential", "service"}

func (c RoadClass) String() string {
	if int(c) < len(roadClassNames) {
		return roadClassNames[c]
	}
	return fmt.Sprintf("RoadClass(%d)", c)
}

// Category is a place's category, a small vocabulary shared by the place
// table, the visits and the next-destination features.
type Category uint8

// Place categories.
const (
	Home Category = iota
	Work
	Food
	Shop
	School
	Health
	Leisure
	Transit
	Other
	NumCategories = 9
)

var categoryNames = [NumCategories]string{"home", "work", "food", "shop", "school", "health", "leisure", "transit", "other"}

func (c Category) String() string {
	if int(c) < len(categoryNames) {
		return categoryNames[c]
	}
	return fmt.Sprintf("Category(%d)", c)
}

// Edge is a directed road segment between two graph nodes (intersections or
// way ends). Bearings are in whole degrees clockwise from north: Start is the
// heading leaving the tail node, End the heading arriving at the head node;
// a route counts a turn where they differ by more than TurnDegrees.
type Edge struct {
	To     int32
	Length float32 // metres
	Speed  float32 // free-flow speed, metres per second
	Class  RoadClass
	Start  int16
	End    int16
}

// FreeFlow is the edge's free-flow traversal time in seconds.
func (e *Edge) FreeFlow() float64 { return float64(e.Length) / float64(e.Speed) }

// Place is a location agents stay at: a point of interest or a home site.
// Node is the road-graph node it is snapped to; Relevance is its
// attractiveness to exploration (d-EPR's relevance, dimensionless, > 0).
type Place struct {
	OSMID     int64 // node id, or minus the way id; 0 for synthetic home sites
	Name      string
	Category  Category
	Lat, Lon  float64
	Node      int32
	Relevance float32
}

// City is a road graph and a place table. The graph is in compressed sparse
// row form: the edges leaving node v are Edges[EdgeStart[v]:EdgeStart[v+1]].
// Every node is in one strongly connected component, so every place can
// reach every other.
type City struct {
	Name      string
	NodeLat   []float64
	NodeLon   []float64
	EdgeStart []int32
	Edges     []Edge
	Places    []Place
}

// NumNodes is the number of road-graph nodes.
func (c *City) NumNodes() int { return len(c.NodeLat) }

// Out returns the edges leaving node v.
func (c *City) Out(v int32) []Edge { return c.Edges[c.EdgeStart[v]:c.EdgeStart[v+1]] }

// Validate checks the structural invariants a decoded or imported city must
// hold.
func (c *City) Validate() error {
	n := len(c.NodeLat)
	if n == 0 {
		return errors.New("mobility: city has no road nodes")
	}
	if len(c.NodeLon) != n || len(c.EdgeStart) != n+1 {
		return fmt.Errorf("mobility: city arrays disagree: %d lat, %d lon, %d edge starts", n, len(c.NodeLon), len(c.EdgeStart))
	}
	if c.EdgeStart[0] != 0 || int(c.EdgeStart[n]) != len(c.Edges) {
		return fmt.Errorf("mobility: edge starts do not cover %d edges", len(c.Edges))
	}
	for v := 0; v < n; v++ {
		if c.EdgeStart[v] > c.EdgeStart[v+1] {
			return fmt.Errorf("mobility: edge starts decrease at node %d", v)
		}
	}
	for i := range c.Edges {
		e := &c.Edges[i]
		if e.To < 0 || int(e.To) >= n {
			return fmt.Errorf("mobility: edge %d points to node %d of %d", i, e.To, n)
		}
		if !(e.Length >= 0) || !(e.Speed > 0) || e.Class >= NumRoadClasses {
			return fmt.Errorf("mobility: edge %d has length %g, speed %g, class %d", i, e.Length, e.Speed, e.Class)
		}
	}
	if len(c.Places) == 0 {
		return errors.New("mobility: city has no places")
	}
	homes := 0
	for i := range c.Places {
		p := &c.Places[i]
		if p.Node < 0 || int(p.Node) >= n || p.Category >= NumCategories || !(p.Relevance > 0) {
			return fmt.Errorf("mobility: place %d: node %d, category %d, relevance %g", i, p.Node, p.Category, p.Relevance)
		}
		if p.Category == Home {
			homes++
		}
	}
	if homes == 0 || homes == len(c.Places) {
		return fmt.Errorf("mobility: city needs homes and other places, has %d homes of %d places", homes, len(c.Places))
	}
	return nil
}

// earthRadius is the mean Earth radius in metres (IUGG).
const earthRadius = 6371008.8

// Haversine is the great-circle distance in metres between two points given
// in degrees.
func Haversine(lat1, lon1, lat2, lon2 float64) float64 {
	const rad = math.Pi / 180
	dlat := (lat2 - lat1) * rad
	dlon := (lon2 - lon1) * rad
	a := math.Sin(dlat/2)*math.Sin(dlat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dlon/2)*math.Sin(dlon/2)
	return 2 * earthRadius * math.Asin(math.Min(1, math.Sqrt(a)))
}

// Bearing is the initial heading in degrees [0, 360) from the first point to
// the second.
func Bearing(lat1, lon1, lat2, lon2 float64) float64 {
	const rad = math.Pi / 180
	y := math.Sin((lon2-lon1)*rad) * math.Cos(lat2*rad)
	x := math.Cos(lat1*rad)*math.Sin(lat2*rad) - math.Sin(lat1*rad)*math.Cos(lat2*rad)*math.Cos((lon2-lon1)*rad)
	b := math.Atan2(y, x) / rad
	if b < 0 {
		b += 360
	}
	return b
}

// PlaceDistance is the straight-line distance in metres between places i and j.
func (c *City) PlaceDistance(i, j int32) float64 {
	a, b := &c.Places[i], &c.Places[j]
	return Haversine(a.Lat, a.Lon, b.Lat, b.Lon)
}
