package secagg

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sextant-ml/sextant/internal/cputime"
)

func TestEncodingClipsAndCounts(t *testing.T) {
	e := Encoding{Clip: 2, Scale: 1 << 10}
	x := []float32{0, 1.5, -1.25, 2, 2.5, -3, float32(math.NaN()), float32(math.Inf(1)), 1.0 / 1024}
	units, clipped := e.AppendEncode(nil, x)
	if clipped != 4 {
		t.Errorf("clipped %d, want 4 (2.5, −3, NaN, +Inf)", clipped)
	}
	want := []int32{0, 1536, -1280, 2048, 2048, -2048, 0, 2048, 1}
	for i, u := range units {
		if int32(u) != want[i] {
			t.Errorf("x[%d]=%v → %d, want %d", i, x[i], int32(u), want[i])
		}
	}
	// Summing encodings in Z_{2^32} decodes to the clipped sum.
	sum := make([]uint32, len(units))
	for range 3 {
		for i, u := range units {
			sum[i] += u
		}
	}
	got := e.AppendDecode(nil, sum)
	for i := range got {
		if got[i] != 3*float64(want[i])/1024 {
			t.Errorf("sum[%d] = %v", i, got[i])
		}
	}
}

func TestEncodingOverflowBound(t *testing.T) {
	e := Encoding{Clip: 1, Scale: 1 << 20} // 2^20 units per client
	if ov := e.Bound(2047, 10); ov.MayWrap {
		t.Errorf("2047 × 2^20 < 2^31 reported as wrapping")
	}
	if ov := e.Bound(2048, 10); !ov.MayWrap || ov.MaxUnits != 1<<20 {
		t.Errorf("2048 × 2^20 = 2^31 not reported: %+v", ov)
	}
	p := Params{Dim: 10, Threshold: 2, Encoding: e}
	if err := p.Validate(4096); !errors.Is(err, ErrMayWrap) {
		t.Errorf("Validate with a wrapping range: %v", err)
	}
	if err := (Encoding{Clip: 1 << 20, Scale: 1 << 12}).Validate(); !errors.Is(err, ErrMayWrap) {
		t.Errorf("a single client beyond int32: %v", err)
	}
	if err := (Encoding{Clip: math.NaN(), Scale: 1}).Validate(); err == nil {
		t.Error("NaN clip accepted")
	}
}

func TestGraph(t *testing.T) {
	ids := make([]uint32, 50)
	for i := range ids {
		ids[i] = uint32(i*7 + 3)
	}
	full, err := NewGraph(ids, 0, seeded(5))
	if err != nil || !full.Complete() || full.Degree() != 49 {
		t.Fatalf("complete graph: %v %v", full, err)
	}
	g, err := NewGraph(ids, 8, seeded(5))
	if err != nil || g.Complete() || g.Degree() != 8 {
		t.Fatalf("Harary graph: %v", err)
	}
	g2, _ := NewGraph(ids, 8, seeded(6))
	same := true
	for _, u := range ids {
		nb := g.AppendNeighbours(nil, u)
		if len(nb) != 8 || !slices.IsSorted(nb) {
			t.Fatalf("client %d: neighbours %v", u, nb)
		}
		for _, v := range nb {
			if !g.Adjacent(u, v) || !g.Adjacent(v, u) {
				t.Fatalf("adjacency of %d, %d not symmetric", u, v)
			}
		}
		if !slices.Equal(nb, g2.AppendNeighbours(nil, u)) {
			same = false
		}
	}
	if same {
		t.Error("two seeds gave the same labelling")
	}
	if _, err := NewGraph(ids, 7, seeded(5)); err == nil {
		t.Error("odd degree accepted")
	}
}

// TestEncodingMatchesDefinition: the encoder equals clip-then-round-then-
// clamp, value by value, on random values around the clip range and at its
// edges, appending after existing words.
func TestEncodingMatchesDefinition(t *testing.T) {
	e := Encoding{Clip: 1.5, Scale: 1 << 20}
	r := rand.New(rand.NewPCG(3, 4))
	x := []float32{1.5, -1.5, math.Nextafter32(1.5, 2), math.Nextafter32(-1.5, -2), 0, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 1.4999999, -0.5 / (1 << 20)}
	for range 10_000 {
		x = append(x, float32(r.NormFloat64()))
	}
	got, clipped := e.AppendEncode([]uint32{7}, x)
	if len(got) != len(x)+1 || got[0] != 7 {
		t.Fatalf("appended %d words after %v", len(got), got[:1])
	}
	want := 0
	m := float64(e.MaxUnits())
	for i, v := range x {
		f := float64(v)
		if math.IsNaN(f) || math.Abs(f) > e.Clip {
			want++
		}
		if math.IsNaN(f) {
			f = 0
		}
		f = math.Max(-e.Clip, math.Min(e.Clip, f))
		q := math.Max(-m, math.Min(m, math.Round(f*e.Scale)))
		if w := uint32(int32(q)); got[i+1] != w {
			t.Fatalf("x=%v: %#x, want %#x", v, got[i+1], w)
		}
	}
	if clipped != want {
		t.Fatalf("clipped %d, want %d", clipped, want)
	}
}

// BenchmarkEncode encodes one update of RoundCost's size (37,024 values),
// reporting process CPU time per value beside wall time.
func BenchmarkEncode(b *testing.B) {
	x := make([]float32, 37024)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range x {
		x[i] = float32(r.NormFloat64() * 0.01)
	}
	e := Encoding{Clip: 1, Scale: 1 << 20}
	dst := make([]uint32, 0, len(x))
	cpu := cputime.Used()
	for b.Loop() {
		dst, _ = e.AppendEncode(dst[:0], x)
	}
	cpu = cputime.Used() - cpu
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N)/float64(len(x)), "cpu-ns/value")
}

// TestRoundMatchesMath: the encoder's round is math.Round on halves, their
// neighbours, large and huge values, signed zeros and random values.
func TestRoundMatchesMath(t *testing.T) {
	xs := []float64{0, math.Copysign(0, -1), 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 0.49999999999999994, -0.49999999999999994,
		math.Nextafter(0.5, 1), math.Nextafter(1.5, 0), 1 << 31, -(1 << 31), (1 << 31) - 0.5, 1<<51 + 0.5, 1<<52 + 1, 1 << 53, 1e300, -1e300,
		math.SmallestNonzeroFloat64, math.Inf(1), math.Inf(-1)}
	r := rand.New(rand.NewPCG(3, 4))
	for range 1_000_000 {
		e := r.IntN(64) - 20
		xs = append(xs, math.Ldexp(r.Float64()-0.5, e), float64(r.Int64N(1<<40)-1<<39)+0.5)
	}
	for _, x := range xs {
		got, want := round(x), math.Round(x)
		if got != want || math.Signbit(got) != math.Signbit(want) && got != 0 {
			t.Fatalf("round(%v) = %v, math.Round = %v", x, got, want)
		}
	}
}
