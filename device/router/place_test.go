package router

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/golang/geo/s2"
	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// earthKm is the mean Earth radius the S2 statistics use (s2earth).
const earthKm = 6371.01

// randomPlace returns a point uniform on the sphere, in degrees.
func randomPlace(rng *rand.Rand) (lat, lng float64) {
	return math.Asin(2*rng.Float64()-1) * 180 / math.Pi, rng.Float64()*360 - 180
}

// placeInCell returns a random leaf cell's centre inside id, in degrees.
func placeInCell(rng *rand.Rand, id s2.CellID) (lat, lng float64) {
	leaves := uint64(1) << (2 * (bundle.MaxS2Level - id.Level()))
	leaf := s2.CellID(uint64(id.RangeMin()) + 2*rng.Uint64N(leaves))
	ll := leaf.LatLng()
	return ll.Lat.Degrees(), ll.Lng.Degrees()
}

// Reference S2 cell centre from the published S2 definitions, written
// independently of golang/geo: a point goes to the cube face of its largest
// coordinate, to (u, v) on that face, through the quadratic transform to
// (s, t) ∈ [0, 1]², to leaf coordinates i = ⌊2³⁰·s⌋ (clamped); a level-L
// cell is the 2^(30−L)-aligned block of leaves, and its centre maps back
// through the same steps. Source: s2geometry.io, "S2 Cells" (the
// cell-hierarchy and coordinate-system sections), and the face and
// quadratic-projection formulas of s2coords.h in google/s2geometry.

func refUVToST(u float64) float64 {
	if u >= 0 {
		return 0.5 * math.Sqrt(1+3*u)
	}
	return 1 - 0.5*math.Sqrt(1-3*u)
}

func refSTToUV(s float64) float64 {
	if s >= 0.5 {
		return (4*s*s - 1) / 3
	}
	return (1 - 4*(1-s)*(1-s)) / 3
}

func refFaceUV(x, y, z float64) (face int, u, v float64) {
	ax, ay, az := math.Abs(x), math.Abs(y), math.Abs(z)
	switch {
	case ax >= ay && ax >= az:
		face = 0
		if x < 0 {
			face = 3
		}
	case ay >= az:
		face = 1
		if y < 0 {
			face = 4
		}
	default:
		face = 2
		if z < 0 {
			face = 5
		}
	}
	switch face {
	case 0:
		return face, y / x, z / x
	case 1:
		return face, -x / y, z / y
	case 2:
		return face, -x / z, -y / z
	case 3:
		return face, z / x, y / x
	case 4:
		return face, z / y, -x / y
	default:
		return face, -y / z, -x / z
	}
}

func refXYZ(face int, u, v float64) (x, y, z float64) {
	switch face {
	case 0:
		return 1, u, v
	case 1:
		return -u, 1, v
	case 2:
		return -u, -v, 1
	case 3:
		return -1, -v, -u
	case 4:
		return v, -1, -u
	default:
		return v, u, -1
	}
}

func refCentre(lat, lng float64, level int) (float64, float64) {
	const leaves = 1 << 30
	φ, λ := lat*math.Pi/180, lng*math.Pi/180
	face, u, v := refFaceUV(math.Cos(φ)*math.Cos(λ), math.Cos(φ)*math.Sin(λ), math.Sin(φ))
	size := int64(1) << (30 - level)
	centre := func(uv float64) float64 {
		i := min(max(int64(math.Floor(leaves*refUVToST(uv))), 0), leaves-1)
		i &^= size - 1
		return refSTToUV((float64(i) + float64(size)/2) / leaves)
	}
	x, y, z := refXYZ(face, centre(u), centre(v))
	return math.Atan2(z, math.Hypot(x, y)) * 180 / math.Pi, math.Atan2(y, x) * 180 / math.Pi
}

func s2Coarsening(level int) *bundle.Coarsening {
	return &bundle.Coarsening{Kind: bundle.CoarsenS2, Level: new(level)}
}

// TestS2CentreMatchesGolangGeo coarsens random places at every level and
// compares them with golang/geo's cell centre (bit for bit) and with the
// reference written from the published S2 math.
func TestS2CentreMatchesGolangGeo(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 12))
	const n = 4000
	lat64, lat32 := make([]float64, 2*n), make([]float32, 2*n)
	levels := make([]int, n)
	for i := range n {
		levels[i] = i % (bundle.MaxS2Level + 1)
		lat64[2*i], lat64[2*i+1] = randomPlace(rng)
		lat32[2*i], lat32[2*i+1] = float32(lat64[2*i]), float32(lat64[2*i+1])
	}
	var worst float64
	for i := range n {
		L := levels[i]
		got, err := Coarsen(s2Coarsening(L), tensor.From(lat64[2*i:2*i+2], 1, 2))
		if err != nil {
			t.Fatal(err)
		}
		g := tensor.Data[float64](got)
		want := s2.CellIDFromLatLng(s2.LatLngFromDegrees(lat64[2*i], lat64[2*i+1])).Parent(L).LatLng()
		if g[0] != want.Lat.Degrees() || g[1] != want.Lng.Degrees() {
			t.Fatalf("level %d (%v, %v): centre (%v, %v), golang/geo (%v, %v)", L, lat64[2*i], lat64[2*i+1], g[0], g[1], want.Lat.Degrees(), want.Lng.Degrees())
		}
		rlat, rlng := refCentre(lat64[2*i], lat64[2*i+1], L)
		d := s2.LatLngFromDegrees(g[0], g[1]).Distance(s2.LatLngFromDegrees(rlat, rlng)).Radians()
		worst = max(worst, d)
		// 1e-13 rad is 0.6 mm on the Earth; the smallest (leaf) cells
		// are about 7 mm across.
		if d > 1e-13 {
			t.Fatalf("level %d (%v, %v): centre (%v, %v), reference (%v, %v), %g rad apart", L, lat64[2*i], lat64[2*i+1], g[0], g[1], rlat, rlng, d)
		}
		// float32: the cell of the float32 place, its centre rounded.
		got32, err := Coarsen(s2Coarsening(L), tensor.From(lat32[2*i:2*i+2], 1, 2))
		if err != nil {
			t.Fatal(err)
		}
		want = s2.CellIDFromLatLng(s2.LatLngFromDegrees(float64(lat32[2*i]), float64(lat32[2*i+1]))).Parent(L).LatLng()
		if g := tensor.Data[float32](got32); g[0] != float32(want.Lat.Degrees()) || g[1] != float32(want.Lng.Degrees()) {
			t.Fatalf("float32 level %d: centre (%v, %v), golang/geo (%v, %v)", L, g[0], g[1], want.Lat.Degrees(), want.Lng.Degrees())
		}
	}
	// A whole batch at once gives the same values as one place at a time.
	all, err := Coarsen(s2Coarsening(12), tensor.From(lat64, n, 2))
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range tensor.Data[float64](all) {
		ll := s2.CellIDFromLatLng(s2.LatLngFromDegrees(lat64[i&^1], lat64[i|1])).Parent(12).LatLng()
		if want := [2]float64{ll.Lat.Degrees(), ll.Lng.Degrees()}[i&1]; v != want {
			t.Fatalf("batch element %d: %v, want %v", i, v, want)
		}
	}
	t.Logf("%d places at levels 0–30: golang/geo's centres exactly; reference within %.2g rad", n, worst)
}

// TestS2SameCellSameBytes predicts through a router with places in one
// level-12 cell and checks that the request bodies it posts are equal,
// byte for byte, and that places in different cells give different
// bodies.
func TestS2SameCellSameBytes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(3, 4))
		srv := &fakeServer{status: 200}
		r := newRouter(srv, &hostState{HostState{Online: true}})
		r.Register("m", Model{Manifest: placeManifest(&bundle.Coarsening{Kind: bundle.CoarsenS2}), Policy: ServerOnly,
			Local: &fakeLocal{logits: []float32{1, 0}}})
		body := func(lat, lng float64) string {
			in := tensor.From([]float32{float32(lat), float32(lng)}, 1, 2)
			if _, err := r.Predict(context.Background(), "m", map[string]*tensor.Tensor{"place": in, "home": in}); err != nil {
				t.Fatal(err)
			}
			srv.mu.Lock()
			defer srv.mu.Unlock()
			return string(srv.bodies[len(srv.bodies)-1])
		}
		seen := map[string]s2.CellID{}
		same := 0
		for range 300 {
			lat, lng := randomPlace(rng)
			cell := s2.CellIDFromLatLng(s2.LatLngFromDegrees(float64(float32(lat)), float64(float32(lng)))).Parent(bundle.DefaultS2Level)
			a := body(lat, lng)
			for range 3 {
				plat, plng := placeInCell(rng, cell)
				// The float32 place must still be in the cell.
				if s2.CellIDFromLatLng(s2.LatLngFromDegrees(float64(float32(plat)), float64(float32(plng)))).Parent(bundle.DefaultS2Level) != cell {
					continue
				}
				if b := body(plat, plng); b != a {
					t.Fatalf("two places in cell %s leave as different bytes:\n%s\n%s", cell.ToToken(), a, b)
				}
				same++
			}
			if c, ok := seen[a]; ok && c != cell {
				t.Fatalf("cells %s and %s leave as the same bytes %s", c.ToToken(), cell.ToToken(), a)
			}
			seen[a] = cell
		}
		if same < 800 {
			t.Fatalf("only %d places compared within their cell", same)
		}
	})
}

// TestS2CoarsenedWithinCell checks that a coarsened place lies in the
// place's own cell (float64) and within the cell's maximum diagonal of it
// (float32 and float64), at every level.
func TestS2CoarsenedWithinCell(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var farthest12 float64
	for i := range 3100 {
		L := i % (bundle.MaxS2Level + 1)
		lat, lng := randomPlace(rng)
		out, err := Coarsen(s2Coarsening(L), tensor.From([]float64{lat, lng}, 2))
		if err != nil {
			t.Fatal(err)
		}
		c := tensor.Data[float64](out)
		p := s2.LatLngFromDegrees(lat, lng)
		cell := s2.CellFromCellID(s2.CellIDFromLatLng(p).Parent(L))
		if !cell.ContainsPoint(s2.PointFromLatLng(s2.LatLngFromDegrees(c[0], c[1]))) {
			t.Fatalf("level %d: (%v, %v) coarsened to (%v, %v), outside its cell", L, lat, lng, c[0], c[1])
		}
		diag := s2.MaxDiagMetric.Value(L)
		if d := p.Distance(s2.LatLngFromDegrees(c[0], c[1])).Radians(); d > diag {
			t.Fatalf("level %d: moved %g rad, more than the max diagonal %g", L, d, diag)
		} else if L == 12 {
			farthest12 = max(farthest12, d*earthKm)
		}
		// float32: rounding the centre moves it by at most half an ulp
		// of 180°, about 0.8 m.
		out32, err := Coarsen(s2Coarsening(L), tensor.From([]float32{float32(lat), float32(lng)}, 2))
		if err != nil {
			t.Fatal(err)
		}
		c32 := tensor.Data[float32](out32)
		slack := float64(math.Nextafter32(180, 360)-180) * math.Pi / 180
		p32 := s2.LatLngFromDegrees(float64(float32(lat)), float64(float32(lng)))
		if d := p32.Distance(s2.LatLngFromDegrees(float64(c32[0]), float64(c32[1]))).Radians(); d > diag+slack {
			t.Fatalf("float32 level %d: moved %g rad, more than the max diagonal %g", L, d, diag)
		}
	}
	t.Logf("level 12: max diagonal %.3f km, farthest move seen %.3f km", s2.MaxDiagMetric.Value(12)*earthKm, farthest12)
}

// TestS2Level12Area backs the design note's figure: the mean level-12 cell
// is 4πR²/(6·4¹²) ≈ 5.07 km², next to H3 resolution 7's 5.16 km².
func TestS2Level12Area(t *testing.T) {
	a := s2.AvgAreaMetric.Value(bundle.DefaultS2Level) * earthKm * earthKm
	if math.Abs(a-5.07) > 0.005 {
		t.Fatalf("mean level-12 area %.4f km², want 5.07", a)
	}
	km2 := earthKm * earthKm
	t.Logf("level 12: area %.3f to %.3f km², mean %.4f km²; max diagonal %.3f km, min width %.3f km",
		s2.MinAreaMetric.Value(12)*km2, s2.MaxAreaMetric.Value(12)*km2, a, s2.MaxDiagMetric.Value(12)*earthKm, s2.MinWidthMetric.Value(12)*earthKm)
}

func TestS2CoarseningRefusals(t *testing.T) {
	ok := tensor.From([]float32{39.7, -75.5}, 1, 2)
	for _, tc := range []struct {
		name string
		c    *bundle.Coarsening
		t    *tensor.Tensor
	}{
		{"no coarsening", nil, ok},
		{"level 31", s2Coarsening(31), ok},
		{"level -1", s2Coarsening(-1), ok},
		{"h3", &bundle.Coarsening{Kind: bundle.CoarsenH3, Resolution: 7}, ok},
		{"last axis 3", s2Coarsening(12), tensor.From([]float32{1, 2, 3}, 1, 3)},
		{"scalar", s2Coarsening(12), tensor.From([]float32{1})},
		{"int32", s2Coarsening(12), tensor.From([]int32{39, -75}, 1, 2)},
		{"NaN", s2Coarsening(12), tensor.From([]float64{math.NaN(), 0}, 1, 2)},
		{"latitude 91", s2Coarsening(12), tensor.From([]float64{0, 0, 91, 0}, 2, 2)},
		{"longitude -181", s2Coarsening(12), tensor.From([]float32{0, -181}, 1, 2)},
		{"infinite", s2Coarsening(12), tensor.From([]float32{0, float32(math.Inf(1))}, 1, 2)},
	} {
		if _, err := Coarsen(tc.c, tc.t); !errors.Is(err, ErrCoarsening) {
			t.Errorf("%s: %v, want ErrCoarsening", tc.name, err)
		} else if tc.name == "latitude 91" && strings.Contains(err.Error(), "91") {
			t.Errorf("the error echoes the place: %v", err)
		}
	}
	// The edges of the range are places.
	for _, p := range [][2]float64{{90, 180}, {-90, -180}, {0, 180}, {0, -180}} {
		if _, err := Coarsen(s2Coarsening(12), tensor.From(p[:], 2)); err != nil {
			t.Errorf("%v: %v", p, err)
		}
	}
}

// placeManifest is a model with a private input and a sensitive place the
// server variant sees through c.
func placeManifest(c *bundle.Coarsening) *bundle.Manifest {
	f := graph.Fixed
	return &bundle.Manifest{Name: "m", Version: "1.0.0",
		Signature: bundle.Signature{
			Inputs: []bundle.Input{
				{Name: "home", DType: "float32", Shape: bundle.Shape{f(1), f(2)}, Privacy: bundle.Private},
				{Name: "place", DType: "float32", Shape: bundle.Shape{f(1), f(2)}, Privacy: bundle.Sensitive, Coarsening: c},
			},
			Outputs: []bundle.Output{{Name: "y", DType: "float32", Shape: bundle.Shape{f(1), f(2)}}},
		},
		ServerVariant: &bundle.ServerVariant{Model: "m-server", Inputs: []string{"place"}},
	}
}

// TestSensitivePlaceThroughRouter predicts through a router: a place with
// an s2 coarsening goes to the server as its cell centre; one with no
// declared coarsening, or h3, never reaches the server and is answered on
// device.
func TestSensitivePlaceThroughRouter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := &fakeServer{status: 200}
		r := newRouter(srv, &hostState{HostState{Online: true}})
		in := func(lat, lng float32) map[string]*tensor.Tensor {
			return map[string]*tensor.Tensor{"place": tensor.From([]float32{lat, lng}, 1, 2), "home": tensor.From([]float32{lat, lng}, 1, 2)}
		}
		r.Register("s2", Model{Manifest: placeManifest(s2Coarsening(12)), Policy: ServerOnly, Local: &fakeLocal{logits: []float32{1, 0}}})
		res, err := r.Predict(context.Background(), "s2", in(39.7391, -75.5398))
		if err != nil || res.Source != SourceServer || srv.count() != 1 {
			t.Fatalf("s2: %v %s calls %d", err, res.Source, srv.count())
		}
		ll := s2.CellIDFromLatLng(s2.LatLngFromDegrees(float64(float32(39.7391)), float64(float32(-75.5398)))).Parent(12).LatLng()
		w, err := EncodeTensor(tensor.From([]float32{float32(ll.Lat.Degrees()), float32(ll.Lng.Degrees())}, 1, 2))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(srv.bodies[0]), `"data":"`+w.Data+`"`) || strings.Contains(string(srv.bodies[0]), "home") {
			t.Fatalf("body %s, want the place as its cell centre %s", srv.bodies[0], w.Data)
		}
		for _, c := range []*bundle.Coarsening{nil, {Kind: bundle.CoarsenH3, Resolution: 7}, {Kind: "geohash"}} {
			r.Register("x", Model{Manifest: placeManifest(c), Policy: ServerOnly, Local: &fakeLocal{logits: []float32{1, 0}}})
			res, err := r.Predict(context.Background(), "x", in(39.7391, -75.5398))
			if err != nil || res.Source != SourceDevice || srv.count() != 1 {
				t.Fatalf("coarsening %+v: %v %s calls %d", c, err, res.Source, srv.count())
			}
		}
	})
}
