package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang/geo/s2"
	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/device/router"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// canaries64 are the encodings of a float64 v an observer could search
// for: v itself as float64 little- and big-endian (the first two, also
// looked for inside decoded base64), their base64, its shortest decimal,
// and every encoding canaries lists for v rounded to float32.
func canaries64(v float64) (raw, text [][]byte) {
	b8 := make([]byte, 8)
	binary.LittleEndian.PutUint64(b8, math.Float64bits(v))
	raw = append(raw, append([]byte(nil), b8...))
	binary.BigEndian.PutUint64(b8, math.Float64bits(v))
	raw = append(raw, append([]byte(nil), b8...))
	for _, r := range raw[:2] {
		text = append(text, []byte(base64.StdEncoding.EncodeToString(r)))
	}
	text = append(text, []byte(strconv.FormatFloat(v, 'g', -1, 64)))
	c32 := canaries(float32(v))
	return append(raw, c32[:4]...), append(text, c32[4:]...)
}

// wirePlaceBundles writes geo@1.0.0, the server variant (y = place, a
// float64[1,2] of degrees), and geo-device@1.0.0, the on-device model with
// a private place (home) and a sensitive one (place) coarsened to its
// level-12 S2 cell, with golden data for the updater's self-test. The
// server variant sees place coarsened and never home.
func wirePlaceBundles(t *testing.T) (server, device string) {
	write := func(name string, g *graph.Graph, m *bundle.Manifest, extras ...bundle.Extra) string {
		if err := graph.Infer(g, nil); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := bundle.Write(&buf, g, m, extras...); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), name+".sxm")
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	b := graph.NewBuilder("geo", 17)
	b.Input("place", tensor.Float64, 1, 2)
	b.Initializer("one", tensor.From([]float64{1, 1}, 1, 2))
	b.Node("Mul", []string{"place", "one"}, []string{"y"}, nil)
	b.Output("y")
	g := b.Graph()
	if err := graph.Infer(g, nil); err != nil {
		t.Fatal(err)
	}
	m := &bundle.Manifest{Name: "geo", Version: "1.0.0", Signature: bundle.SignatureOf(g)}
	m.Signature.Inputs[0].Privacy = bundle.Public
	server = write("geo", g, m)

	b = graph.NewBuilder("geo-device", 17)
	b.Input("home", tensor.Float64, 1, 2)
	b.Input("place", tensor.Float64, 1, 2)
	b.Initializer("one", tensor.From([]float64{1, 1}, 1, 2))
	b.Initializer("zero", tensor.From([]float64{0, 0}, 1, 2))
	b.Node("Mul", []string{"place", "one"}, []string{"y"}, nil)
	b.Node("Mul", []string{"home", "zero"}, []string{"h"}, nil)
	b.Output("y", "h")
	g = b.Graph()
	if err := graph.Infer(g, nil); err != nil {
		t.Fatal(err)
	}
	m = &bundle.Manifest{Name: "geo-device", Version: "1.0.0", Signature: bundle.SignatureOf(g),
		ServerVariant: &bundle.ServerVariant{Model: "geo", Inputs: []string{"place"}},
		Golden: &bundle.Golden{
			Inputs:    []bundle.TensorRef{{Name: "home", Tensor: "golden/in/home"}, {Name: "place", Tensor: "golden/in/place"}},
			Outputs:   []bundle.TensorRef{{Name: "y", Tensor: "golden/out/y"}},
			Tolerance: bundle.Tolerance{Abs: 1e-9, Rel: 1e-9},
		},
		Provenance: bundle.Provenance{CreatedAt: time.Unix(1700000000, 0).UTC(), DataSnapshot: "sha256:feed", TrainingRun: "run-1"}}
	in := m.Signature.Inputs
	in[0].Privacy = bundle.Private
	in[1].Privacy, in[1].Coarsening = bundle.Sensitive, &bundle.Coarsening{Kind: bundle.CoarsenS2, Level: new(12)}
	device = write("geo-device", g, m,
		bundle.Extra{Name: "golden/in/home", Tensor: tensor.From([]float64{0, 0}, 1, 2)},
		bundle.Extra{Name: "golden/in/place", Tensor: tensor.From([]float64{1, 2}, 1, 2)},
		bundle.Extra{Name: "golden/out/y", Tensor: tensor.From([]float64{1, 2}, 1, 2)})
	return server, device
}

// TestWireSensitivePlaceLeavesAsCellCentre is the place sibling of
// TestWirePrivateInputsNeverLeave: the device SDK runs against a real
// server on loopback through the recording proxy, predicting 1,000 times
// with a prefer-server hybrid model whose sensitive place is coarsened to
// its level-12 S2 cell and whose private place (home) never leaves. Each
// place is a random point in one of eight cells around Wilmington,
// Delaware. The test shows that every inference request carries only the
// centre of the place's cell (and the server answers with it), that
// requests for one cell are byte-identical, that other requests do not
// vary, and that no encoding of any raw coordinate appears in the traffic
// — while the centres, searched for the same way, do.
func TestWireSensitivePlaceLeavesAsCellCentre(t *testing.T) {
	srvPath, devPath := wirePlaceBundles(t)
	w := newWireDevice(t, nil, [][2]string{{"geo", srvPath}, {"geo-device", devPath}},
		map[string]router.Policy{"geo-device": router.PreferServer})
	s, rc, setup := w.sdk, w.rc, w.setup
	ctx := context.Background()

	// Eight level-12 cells around Wilmington, DE, and their centres.
	rng := rand.New(rand.NewPCG(9, 12))
	const level = 12
	var cells []s2.CellID
	for len(cells) < 8 {
		c := s2.CellIDFromLatLng(s2.LatLngFromDegrees(39.70+rng.Float64()*0.1, -75.60+rng.Float64()*0.1)).Parent(level)
		if !containsCell(cells, c) {
			cells = append(cells, c)
		}
	}
	centre := map[s2.CellID][2]float64{}
	centreData := map[string]s2.CellID{} // base64 of the centre as float64 LE
	for _, c := range cells {
		ll := c.LatLng()
		cc := [2]float64{ll.Lat.Degrees(), ll.Lng.Degrees()}
		centre[c] = cc
		w, err := router.EncodeTensor(tensor.From(cc[:], 1, 2))
		if err != nil {
			t.Fatal(err)
		}
		centreData[w.Data] = c
	}
	var secret []float64
	const n = 1000
	for i := range n {
		c := cells[rng.IntN(len(cells))]
		leaf := s2.CellID(uint64(c.RangeMin()) + 2*rng.Uint64N(1<<(2*(30-level)))).LatLng()
		place := []float64{leaf.Lat.Degrees(), leaf.Lng.Degrees()}
		home := []float64{39 + rng.Float64(), -76 + rng.Float64()}
		secret = append(append(secret, place...), home...)
		res, err := s.Predict(ctx, "geo-device", map[string]*tensor.Tensor{
			"home": tensor.From(home, 1, 2), "place": tensor.From(place, 1, 2),
		})
		if err != nil || res.Source != router.SourceServer {
			t.Fatalf("request %d: %v %+v", i, err, res)
		}
		if y := tensor.Data[float64](res.Outputs["y"]); y[0] != centre[c][0] || y[1] != centre[c][1] {
			t.Fatalf("request %d: the server saw (%v, %v), want the centre %v of cell %s", i, y[0], y[1], centre[c], c.ToToken())
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for range 500 {
		rc.mu.Lock()
		k := len(rc.conns)
		rc.mu.Unlock()
		if k >= setup+n {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	rc.mu.Lock()
	conns := append([][]byte(nil), rc.conns...)
	rc.mu.Unlock()

	byKind := map[string][][]byte{}
	byCell := map[s2.CellID][][]byte{}
	var all []byte
	for i, c := range conns {
		if len(c) == 0 {
			continue
		}
		all = append(all, c...)
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(c)))
		if err != nil {
			t.Fatalf("recorded bytes are not an HTTP request: %v\n%q", err, c[:min(len(c), 200)])
		}
		key := req.Method + " " + strings.ReplaceAll(req.URL.Path, w.id, "{device}")
		if key == "POST /v1/infer/geo" {
			// Only the coarsened place, and it is one of the centres.
			var body router.InferRequest
			if err := json.NewDecoder(io.LimitReader(req.Body, 1<<20)).Decode(&body); err != nil {
				t.Fatal(err)
			}
			w, ok := body.Inputs["place"]
			cell, known := centreData[w.Data]
			if !ok || len(body.Inputs) != 1 || !known {
				t.Fatalf("an inference request carries %+v, not one cell centre", body.Inputs)
			}
			byCell[cell] = append(byCell[cell], c)
		}
		if i < setup {
			continue
		}
		masked := c
		for _, re := range declaredNonces {
			masked = re.ReplaceAll(masked, []byte("<nonce>"))
		}
		masked = healthReport.ReplaceAll(masked, nil)
		byKind[key] = append(byKind[key], masked)
	}
	counts := map[string]int{}
	for key, reqs := range byKind {
		counts[key] = len(reqs)
		if strings.HasPrefix(key, "GET ") || key == "POST /v1/infer/geo" {
			continue // downloads differ by file; inference by cell, below
		}
		for i, c := range reqs {
			if !bytes.Equal(c, reqs[0]) {
				t.Errorf("%s: request %d differs from request 0:\n%q\n%q", key, i, c, reqs[0])
				break
			}
		}
	}
	if counts["POST /v1/infer/geo"] != n || counts["POST /v1/devices/{device}/checkin"] < 2 {
		t.Fatalf("requests by kind %v, want %d inferences and check-ins", counts, n)
	}
	inferences := 0
	for cell, reqs := range byCell {
		inferences += len(reqs)
		for i, c := range reqs {
			if !bytes.Equal(c, reqs[0]) {
				t.Fatalf("cell %s: request %d differs from request 0:\n%q\n%q", cell.ToToken(), i, c, reqs[0])
			}
		}
	}
	if len(byCell) != len(cells) || inferences != n {
		t.Fatalf("%d inferences over %d cells, want %d over %d", inferences, len(byCell), n, len(cells))
	}
	decoded := decodeBase64Strings(all)
	for _, v := range secret {
		raw, text := canaries64(v)
		for _, enc := range raw {
			if bytes.Contains(all, enc) || bytes.Contains(decoded, enc) {
				t.Fatalf("raw coordinate %v appears on the wire (% x)", v, enc)
			}
		}
		for _, enc := range text {
			if bytes.Contains(all, enc) {
				t.Fatalf("raw coordinate %v appears on the wire as %q", v, enc)
			}
		}
	}
	// The same search finds the centres: the absence above is not a blind
	// search.
	for _, c := range cells {
		for _, v := range centre[c] {
			raw, _ := canaries64(v)
			if !bytes.Contains(decoded, raw[0]) {
				t.Fatalf("centre coordinate %v of cell %s is not on the wire", v, c.ToToken())
			}
		}
	}
	raw, text := canaries64(0)
	t.Logf("%d connections (%d in setup), %d bytes; %d inferences over %d level-%d cells, byte-identical per cell; %d raw coordinates × %d encodings absent; %v",
		len(conns), setup, len(all), inferences, len(byCell), level, len(secret), len(raw)+len(text), counts)
}

func containsCell(cells []s2.CellID, c s2.CellID) bool {
	for _, x := range cells {
		if x == c {
			return true
		}
	}
	return false
}
