package eval

import (
	"context"
	"reflect"
	"testing"

	"github.com/sextant-ml/sextant/dataset"
	"github.com/sextant-ml/sextant/tensor"
)

// sliceData is five examples with string, integer, vector and sequence
// columns.
func sliceData(t *testing.T) *dataset.Dataset {
	t.Helper()
	kind := &tensor.Tensor{DType: tensor.String, Shape: tensor.Shape{5}, Strs: []string{"explorer", "returner", "explorer", "returner", "explorer"}}
	d, err := dataset.New(
		[]string{"hour", "kind", "feat", "history", "label"},
		[]*tensor.Tensor{
			tensor.From([]int64{0, 7, 13, 20, 23}, 5),
			kind,
			tensor.From([]float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 5, 2),
			tensor.From([]int64{-1, 0, 1, 2, 0, 1, -1, -1, 3, 1, 1, 1, -1, -1, -1}, 5, 3),
			tensor.From([]float64{0.5, 1.5, 2.5, 3.5, 4.5}, 5),
		})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestLabelsAndSlices(t *testing.T) {
	d := sliceData(t)
	labels, err := Labels(d, "label")
	if err != nil || !reflect.DeepEqual(labels, []float64{0.5, 1.5, 2.5, 3.5, 4.5}) {
		t.Errorf("labels %v %v", labels, err)
	}
	if _, err := Labels(d, "feat"); err == nil {
		t.Error("a vector column read as labels")
	}
	if _, err := Labels(d, "kind"); err == nil {
		t.Error("a string column read as labels")
	}

	// Slices: categorical, binned by edges, and by history length.
	check := func(spec string, want map[string][]int) {
		t.Helper()
		s, err := ParseSliceSpec(spec)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Slices(d, s)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string][]int{}
		for _, sl := range got {
			m[sl.Value] = sl.Index
		}
		if !reflect.DeepEqual(m, want) {
			t.Errorf("%s: %v, want %v", spec, m, want)
		}
	}
	check("kind", map[string][]int{"explorer": {0, 2, 4}, "returner": {1, 3}})
	check("hour:6,12,18", map[string][]int{"(-inf,6)": {0}, "[6,12)": {1}, "[12,18)": {2}, "[18,inf)": {3, 4}})
	check("len(history)", map[string][]int{"0": {4}, "1": {2}, "2": {0}, "3": {1, 3}})
	if _, err := Slices(d, SliceSpec{Column: "feat"}); err == nil {
		t.Error("sliced by a vector column")
	}
	if _, err := ParseSliceSpec("hour:12,6"); err == nil {
		t.Error("decreasing edges accepted")
	}
}

func TestBuiltinBaselines(t *testing.T) {
	// History (oldest first, -1 pads): 0 1 0 1 0 — the current place is 0,
	// its transitions go to 1 twice; 0 is the most frequent.
	hist := tensor.From([]int64{-1, 0, 1, 0, 1, 0, -1, -1, -1, -1, -1, -1}, 2, 6)
	d, err := dataset.New([]string{"history", "label"}, []*tensor.Tensor{hist, tensor.From([]int64{1, 2}, 2)})
	if err != nil {
		t.Fatal(err)
	}
	h := DefaultHistory()
	h.Candidates = 3
	ranks := func(name string) []int {
		p, err := NewBaseline(name, h)
		if err != nil {
			t.Fatal(err)
		}
		s, err := PredictAll(context.Background(), p, d, 1)
		if err != nil {
			t.Fatal(err)
		}
		o, err := NewOutputs(Ranking, p.(ScoreKinder).ScoreKind(), s, []float64{1, 2})
		if err != nil {
			t.Fatal(err)
		}
		if err := o.prepare(); err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			sum := 0.0
			for _, x := range s.Row(i) {
				sum += x
			}
			near(t, name+" probabilities sum", sum, 1, 1e-12)
		}
		return []int{o.Rank(0), o.Rank(1)}
	}
	// most-frequent: 0 (3 visits) then 1 (2): label 1 ranks 2; an empty
	// history falls back to candidate order: label 2 ranks 3.
	if got := ranks("most-frequent"); !reflect.DeepEqual(got, []int{2, 3}) {
		t.Errorf("most-frequent ranks %v", got)
	}
	// markov: after 0 comes 1: label 1 ranks 1.
	if got := ranks("markov"); !reflect.DeepEqual(got, []int{1, 3}) {
		t.Errorf("markov ranks %v", got)
	}
	if _, err := NewBaseline("oracle", h); err == nil {
		t.Error("unknown baseline accepted")
	}
}
