package eval

import (
	"context"
	"fmt"
	"strings"

	"github.com/sextant-ml/sextant/dataset"
)

// History says where the built-in ranking baselines find a user's recent
// places. Column holds, per example, the last L places as candidate indices
// in [0, K), oldest first, so the last non-pad entry is the current place;
// Pad marks unused slots (short histories are padded at the front or the
// back, either works). An entry outside [0, K) that is not Pad is a place
// that is not a candidate: it counts for nothing and breaks transitions.
//
// Candidates are assumed ordered by the user's overall visit frequency
// (index 0 the most visited), as the next-destination features order them,
// so ranks tied on history counts fall back to that order (Outputs breaks
// ties by index).
type History struct {
	// Column is the history column; "" means "history".
	Column string `json:"column"`
	// Pad is the padding value.
	Pad float64 `json:"pad"`
	// Candidates is K, the number of candidates scored.
	Candidates int `json:"candidates"`
}

// DefaultHistory is the convention the flags default to.
func DefaultHistory() History { return History{Column: "history", Pad: -1} }

// NewBaseline returns a built-in baseline by name: "most-frequent",
// "markov", or "column:NAME" (a data column of K scores per example used as
// they are, e.g. a candidate feature such as visit counts).
func NewBaseline(name string, h History) (Predictor, error) {
	if h.Column == "" {
		h.Column = "history"
	}
	if col, ok := strings.CutPrefix(name, "column:"); ok {
		return ColumnScores{Column: col}, nil
	}
	if h.Candidates < 1 {
		return nil, fmt.Errorf("eval: baseline %s needs the number of candidates", name)
	}
	switch name {
	case "most-frequent":
		return MostFrequent{h}, nil
	case "markov":
		return Markov{h}, nil
	}
	return nil, fmt.Errorf("eval: unknown baseline %q (want a .sxm file, most-frequent, markov or column:NAME)", name)
}

// history returns the column and its width, checking it exists.
func (h History) history(d *dataset.Dataset) (hist []float64, w int, err error) {
	t, ok := d.Column(h.Column)
	if !ok {
		return nil, 0, fmt.Errorf("no history column %q (columns: %v; set the history column)", h.Column, d.Columns())
	}
	hist, err = Floats(t)
	if err != nil {
		return nil, 0, fmt.Errorf("history column %q: %w", h.Column, err)
	}
	return hist, dataset.Width(t), nil
}

// counts adds, for one example's history, each candidate's occurrences to
// freq and the transitions out of the current place to trans; it returns
// the history's length (non-pad entries).
func (h History) counts(row []float64, freq, trans []float64) int {
	k := len(freq)
	clear(freq)
	clear(trans)
	cur, n := -1, 0
	for i := len(row) - 1; i >= 0; i-- {
		if row[i] != h.Pad {
			cur = candidate(row[i], k)
			break
		}
	}
	prev := -1
	for _, x := range row {
		if x == h.Pad {
			continue
		}
		n++
		c := candidate(x, k)
		if c >= 0 {
			freq[c]++
		}
		if trans != nil && prev >= 0 && c >= 0 && prev == cur {
			trans[c]++
		}
		prev = c
	}
	return n
}

func candidate(x float64, k int) int {
	c := int(x)
	if float64(c) != x || c < 0 || c >= k {
		return -1
	}
	return c
}

// MostFrequent scores each candidate by its share of the user's history
// with add-½ smoothing: p_c = (n_c + ½) / (Σn + K/2), so ranks follow
// visit counts in the history and, on ties, candidate order.
type MostFrequent struct{ History }

// Name is "most-frequent".
func (MostFrequent) Name() string { return "most-frequent" }

// ScoreKind is Probabilities.
func (MostFrequent) ScoreKind() ScoreKind { return Probabilities }

// Predict scores b.
func (m MostFrequent) Predict(_ context.Context, b Batch) (Scores, error) {
	hist, w, err := m.history(b.Data)
	if err != nil {
		return Scores{}, err
	}
	k := m.Candidates
	s := Scores{Width: k, Values: make([]float64, b.Len()*k)}
	freq := make([]float64, k)
	for i := b.Lo; i < b.Hi; i++ {
		m.counts(hist[i*w:(i+1)*w], freq, nil)
		total := 0.0
		for _, f := range freq {
			total += f
		}
		out := s.Row(i - b.Lo)
		for c, f := range freq {
			out[c] = (f + 0.5) / (total + float64(k)/2)
		}
	}
	return s, nil
}

// Markov is a first-order Markov chain fitted to each example's own
// history: the probability of candidate c after the current place u is
//
//	p_c = (T_uc + q_c) / (Σ_j T_uj + 1)
//
// where T_uc counts the history's transitions u → c and q is MostFrequent's
// distribution — an interpolation with one pseudo-transition spread by
// visit frequency (add-one backoff), so transitions decide the ranking
// first (q_c < 1), then frequency, then candidate order. With no
// transitions out of u it is the most-frequent baseline.
type Markov struct{ History }

// Name is "markov".
func (Markov) Name() string { return "markov" }

// ScoreKind is Probabilities.
func (Markov) ScoreKind() ScoreKind { return Probabilities }

// Predict scores b.
func (m Markov) Predict(ctx context.Context, b Batch) (Scores, error) {
	s, err := MostFrequent(m).Predict(ctx, b)
	if err != nil {
		return Scores{}, err
	}
	hist, w, _ := m.history(b.Data)
	k := m.Candidates
	freq := make([]float64, k)
	trans := make([]float64, k)
	for i := b.Lo; i < b.Hi; i++ {
		m.counts(hist[i*w:(i+1)*w], freq, trans)
		total := 0.0
		for _, t := range trans {
			total += t
		}
		out := s.Row(i - b.Lo)
		for c := range out {
			out[c] = (trans[c] + out[c]) / (total + 1)
		}
	}
	return s, nil
}

// ColumnScores uses a data column of K values per example as the scores,
// e.g. a candidate feature such as visit counts or transition counts.
type ColumnScores struct{ Column string }

// Name is "column:NAME".
func (c ColumnScores) Name() string { return "column:" + c.Column }

// Predict returns the column's values for b.
func (c ColumnScores) Predict(_ context.Context, b Batch) (Scores, error) {
	t, ok := b.Data.Column(c.Column)
	if !ok {
		return Scores{}, fmt.Errorf("no column %q", c.Column)
	}
	v, err := Floats(dataset.Rows(t, b.Lo, b.Hi))
	if err != nil {
		return Scores{}, err
	}
	return Scores{Width: dataset.Width(t), Values: v}, nil
}
