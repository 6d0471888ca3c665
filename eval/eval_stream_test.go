package eval

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/sextant-ml/sextant/dataset"
	"github.com/sextant-ml/sextant/engine"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/internal/heapstat"
	"github.com/sextant-ml/sextant/tensor"
)

const (
	synthK = 6 // candidates
	synthL = 5 // history length
)

// synthRanking is a next-destination-like table of users (3 to 14 rows
// each, grouped by user_id): K candidates' visit counts, a history of
// candidate indices (−1 pads), the label (often the most visited), an
// hour, the next place's id and wide float32 filler columns (width wide,
// like the candidates' features of the real table). Rows of the last
// user have flip = 1.
func synthRanking(users, wide int, seed uint64) *dataset.Dataset {
	rng := rand.New(rand.NewPCG(seed, 7))
	var (
		uid, hist, label, hour, next, flip []int64
		visits, filler                     []float32
	)
	for u := range users {
		for range 3 + rng.IntN(12) {
			uid = append(uid, int64(1000+u))
			best, bv := 0, float32(-1)
			for j := range synthK {
				v := float32(rng.IntN(9))
				visits = append(visits, v)
				if v > bv {
					best, bv = j, v
				}
			}
			for range synthL {
				hist = append(hist, int64(rng.IntN(synthK+1))-1)
			}
			y := rng.IntN(synthK)
			if rng.Float64() < 0.5 {
				y = best
			}
			label = append(label, int64(y))
			hour = append(hour, int64(rng.IntN(168)))
			next = append(next, int64(rng.IntN(4)+10*u))
			f := int64(0)
			if u == users-1 {
				f = 1
			}
			flip = append(flip, f)
			for range wide {
				filler = append(filler, rng.Float32())
			}
		}
	}
	n := len(uid)
	names := []string{"user_id", "history", "visits", "label", "hour", "next_place", "flip"}
	cols := []*tensor.Tensor{tensor.From(uid, n), tensor.From(hist, n, synthL), tensor.From(visits, n, synthK),
		tensor.From(label, n), tensor.From(hour, n), tensor.From(next, n), tensor.From(flip, n)}
	if wide > 0 {
		names, cols = append(names, "filler"), append(cols, tensor.From(filler, n, wide))
	}
	d, err := dataset.New(names, cols)
	if err != nil {
		panic(err)
	}
	return d
}

// visitScores ranks by the visits column: as probabilities (visits
// normalized) or raw as logits; with flipping, probabilities except on
// rows marked flip, so only the last user's rows say "logits".
type visitScores struct{ probs, flipping bool }

func (visitScores) Name() string { return "visits" }

func (v visitScores) Predict(_ context.Context, b Batch) (Scores, error) {
	vc, _ := b.Data.Column("visits")
	fc, _ := b.Data.Column("flip")
	s := Scores{Width: synthK}
	for i := b.Lo; i < b.Hi; i++ {
		row := make([]float64, synthK)
		sum := 0.0
		for j := range row {
			row[j] = vc.Float64At(i*synthK+j) + 0.5
			sum += row[j]
		}
		if v.probs && !(v.flipping && fc.Float64At(i) == 1) {
			for j := range row {
				row[j] /= sum
			}
		}
		s.Values = append(s.Values, row...)
	}
	return s, nil
}

// visitsModel is a compiled model scoring 2 × visits: a predictor that
// must be re-bound to each chunk.
func visitsModel(t testing.TB) *engine.Model {
	b := graph.NewBuilder("visits", 17)
	b.Input("visits", tensor.Float32, "batch", synthK)
	b.Initializer("scale", tensor.From([]float32{2}, 1))
	b.Output(b.Op("Mul", nil, "visits", "scale"))
	g := b.Graph()
	if err := graph.Infer(g, nil); err != nil {
		t.Fatal(err)
	}
	m, err := engine.Compile(g, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// parquetSource writes d as Parquet and opens it as a Source.
func parquetSource(t testing.TB, d *dataset.Dataset) *Source {
	path := filepath.Join(t.TempDir(), "d.parquet")
	names := d.Columns()
	cols := make([]*tensor.Tensor, len(names))
	for i, n := range names {
		cols[i], _ = d.Column(n)
	}
	if err := dataset.WriteParquet(path, names, cols); err != nil {
		t.Fatal(err)
	}
	src, err := OpenSource(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

func reportJSON(t *testing.T, r *Report) string {
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestEvaluateSourceMatchesEvaluate: the streaming evaluation of a
// table, in chunks that split users and batches' runs, from memory and
// from Parquet, writes the report Evaluate writes on the whole table —
// for logits, for probabilities, for scores that look like probabilities
// until the last user's rows (the automatic kind must end up logits for
// every example), for a compiled model re-bound to each chunk, with a
// Markov baseline and slices of every kind.
func TestEvaluateSourceMatchesEvaluate(t *testing.T) {
	ctx := context.Background()
	d := synthRanking(40, 0, 1)
	pq := parquetSource(t, d)
	markov, err := NewBaseline("markov", History{Column: "history", Pad: -1, Candidates: synthK})
	if err != nil {
		t.Fatal(err)
	}
	mp, err := NewModelPredictor("visits-model", visitsModel(t), d, "")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Task: Ranking, Labels: "label", Bootstrap: Bootstrap{Replicates: 40, Seed: 3}, BatchSize: 4,
		Slices: []SliceSpec{{Column: "len(history)"}, {Column: "hour", Edges: []float64{24, 48, 96}}, {Column: "label"}}}
	for _, c := range []struct {
		name      string
		cand      Predictor
		wantKind  ScoreKind
		scoreKind ScoreKind
	}{
		{"logits", visitScores{}, Logits, ""},
		{"probabilities", visitScores{probs: true}, Probabilities, ""},
		{"probabilities until the last user", visitScores{probs: true, flipping: true}, Logits, AutoScores},
		{"said to be probabilities", visitScores{probs: true}, Probabilities, Probabilities},
		{"compiled model", mp, Logits, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := cfg
			cfg.ScoreKind = c.scoreKind
			if b, ok := c.cand.(Binder); ok {
				if err := b.Bind(d); err != nil {
					t.Fatal(err)
				}
			}
			ref, err := Evaluate(ctx, d, c.cand, markov, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if ref.Scores != c.wantKind {
				t.Fatalf("whole table read as %s, want %s", ref.Scores, c.wantKind)
			}
			want := reportJSON(t, ref)
			for _, chunk := range []int{1, 10, 37, d.N} {
				for _, src := range []*Source{SourceOf(d), pq} {
					cfg.ChunkRows = chunk
					got, err := EvaluateSource(ctx, src, c.cand, markov, cfg)
					if err != nil {
						t.Fatal(err)
					}
					got.Data = ref.Data
					if g := reportJSON(t, got); g != want {
						t.Fatalf("%s in chunks of %d rows: report differs from the whole table's\ngot  %.600s\nwant %.600s", src.Format, chunk, g, want)
					}
				}
			}
		})
	}
}

// TestEvaluateSourceRegression: regression with a column baseline,
// streamed, is the whole table's report.
func TestEvaluateSourceRegression(t *testing.T) {
	ctx := context.Background()
	d := synthRanking(30, 0, 2)
	pq := parquetSource(t, d)
	cfg := Config{Task: Regression, Labels: "hour", Bootstrap: Bootstrap{Replicates: 30}, BatchSize: 8, ChunkRows: 20,
		Slices: []SliceSpec{{Column: "label"}}}
	ref, err := Evaluate(ctx, d, ColumnScores{Column: "next_place"}, ColumnScores{Column: "label"}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	got, err := EvaluateSource(ctx, pq, ColumnScores{Column: "next_place"}, ColumnScores{Column: "label"}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	got.Data = ref.Data
	if g, w := reportJSON(t, got), reportJSON(t, ref); g != w {
		t.Fatalf("streamed regression report differs:\ngot  %.400s\nwant %.400s", g, w)
	}
}

// TestPredictabilityOfSourceMatches: per-user Π_max and the model's
// per-user Acc@1, streamed in chunks that split users, are
// UserPredictability's, TopOneHits' and Summarize's — with the users
// let go as they end (Parquet, grouped) and kept (in memory).
func TestPredictabilityOfSourceMatches(t *testing.T) {
	ctx := context.Background()
	d := synthRanking(25, 0, 4)
	per, err := UserPredictability(d, "user_id", "next_place")
	if err != nil {
		t.Fatal(err)
	}
	mp, err := NewModelPredictor("visits-model", visitsModel(t), d, "")
	if err != nil {
		t.Fatal(err)
	}
	hit, err := TopOneHits(ctx, mp, d, "label", 4)
	if err != nil {
		t.Fatal(err)
	}
	pq := parquetSource(t, d)
	if pq.UserGroups("user_id") == nil {
		t.Fatal("the Parquet table is not seen as grouped by user")
	}
	for _, model := range []Predictor{nil, mp} {
		var h []float64
		if model != nil {
			h = hit
		}
		ref := Summarize(append([]Predictability(nil), per...), h)
		want := mustJSON(t, ref)
		for _, src := range []*Source{SourceOf(d), pq} {
			for _, chunk := range []int{1, 9, d.N} {
				got, err := PredictabilityOfSource(ctx, src, model, PredictabilityConfig{User: "user_id", Sequence: "next_place", Labels: "label", BatchSize: 4, ChunkRows: chunk})
				if err != nil {
					t.Fatal(err)
				}
				if g := mustJSON(t, got); g != want {
					t.Fatalf("model %v, %s in chunks of %d: summary differs\ngot  %.500s\nwant %.500s", model != nil, src.Format, chunk, g, want)
				}
			}
		}
		if model != nil && ref.MeanAcc1 == nil {
			t.Fatal("no mean Acc@1 with a model")
		}
	}
}

func mustJSON(t *testing.T, v PredictabilitySummary) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// heapPeak wraps a predictor and records the largest live heap seen when
// it is called (after a collection).
type heapPeak struct {
	Predictor
	peak uint64
}

func (h *heapPeak) Predict(ctx context.Context, b Batch) (Scores, error) {
	h.peak = max(h.peak, heapstat.Live())
	return h.Predictor.Predict(ctx, b)
}

// TestEvaluateSourceMemoryFlat evaluates tables of N and 4N users whose
// rows are wide (512 float32s, about what a next-destination row's
// candidate features are) and measures the live heap while the models
// run: the 3N extra users may cost the per-example numbers the bootstrap
// resamples (about 150 bytes a row), not their rows (2 KiB each decoded). Reading the table whole, as Evaluate's callers did, fails
// the bound by far; the test checks that too, so it can fail.
func TestEvaluateSourceMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and evaluates tables of 100 and 400 users")
	}
	ctx := context.Background()
	const n, wide = 100, 512
	paths := map[int]string{}
	rows := map[int]int{}
	for _, users := range []int{n, 4 * n} {
		d := synthRanking(users, wide, 9)
		src := parquetSource(t, d)
		paths[users], rows[users] = src.Path, d.N
	}
	markov, err := NewBaseline("markov", History{Column: "history", Pad: -1, Candidates: synthK})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Task: Ranking, Labels: "label", Bootstrap: Bootstrap{Replicates: 20}, BatchSize: 64, ChunkRows: 256}
	growth := func(whole bool) int64 {
		heap := map[int]uint64{}
		for _, users := range []int{n, 4 * n} {
			base := heapstat.Live()
			cand := &heapPeak{Predictor: visitScores{}}
			if whole {
				d, err := dataset.Read(paths[users])
				if err != nil {
					t.Fatal(err)
				}
				if _, err := Evaluate(ctx, d, cand, markov, cfg); err != nil {
					t.Fatal(err)
				}
			} else {
				src, err := OpenSource(paths[users])
				if err != nil {
					t.Fatal(err)
				}
				if _, err := EvaluateSource(ctx, src, cand, markov, cfg); err != nil {
					t.Fatal(err)
				}
				src.Close()
			}
			heap[users] = cand.peak - min(cand.peak, base)
			t.Logf("whole %v, %d users (%d rows): live heap %.0f KiB above the start", whole, users, rows[users], float64(heap[users])/1024)
		}
		return int64(heap[4*n]) - int64(heap[n])
	}
	extra := int64(rows[4*n] - rows[n])
	// The per-example numbers are about 150 bytes a row here (18 floats:
	// both models' metric values, confidence and correctness) and their
	// slices may hold up to twice that while they grow; a row is 2 KiB.
	bound := extra * 512
	streamed, whole := growth(false), growth(true)
	t.Logf("%d more users, %d more rows: streamed %+d KiB (%d bytes a user), whole table %+d KiB (bound %d KiB, rows decoded %d KiB)",
		3*n, extra, streamed/1024, streamed/(3*n), whole/1024, bound/1024, extra*wide*4/1024)
	if streamed > bound {
		t.Errorf("streamed: live heap grew %d KiB for %d more rows (over %d bytes a row): rows are held", streamed/1024, extra, bound/extra)
	}
	if whole <= bound {
		t.Errorf("the bound does not separate: the whole table grew only %d KiB", whole/1024)
	}
}
