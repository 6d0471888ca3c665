package eval

import (
	"fmt"
	"math"
)

// Scores is what a predictor produced: Width values per example, row-major.
type Scores struct {
	Width  int
	Values []float64
}

// Len is the number of examples.
func (s Scores) Len() int {
	if s.Width == 0 {
		return 0
	}
	return len(s.Values) / s.Width
}

// Row returns example i's scores.
func (s Scores) Row(i int) []float64 { return s.Values[i*s.Width : (i+1)*s.Width] }

// ScoreKind says how ranking and classification scores are read.
type ScoreKind string

// The score kinds.
const (
	// Logits are unnormalized; probabilities are their softmax (for a single
	// score, its logistic sigmoid).
	Logits ScoreKind = "logits"
	// Probabilities are used as given.
	Probabilities ScoreKind = "probabilities"
	// AutoScores picks Probabilities when every example's scores lie in
	// [0, 1] and (for K > 1) sum to 1 within 1e-3, else Logits.
	AutoScores ScoreKind = "auto"
)

// Outputs are one model's scores on a data set with the labels, from which
// metrics are computed. For ranking and classification it derives once:
//
//   - the label's rank, 1 + #{j : s_j > s_y} + #{j < y : s_j = s_y}: ties are
//     broken by index, as a stable descending sort would order them (so a
//     model that scores every candidate equally predicts candidate 0);
//   - the label's probability p_y (softmax of logits, or as given);
//   - the confidence max_j p_j and whether the top-ranked index is the label.
//
// A single score per example (K = 1) is a binary problem: it is expanded to
// two classes, (0, z) as logits or (1−p, p) as probabilities, and labels
// must be 0 or 1.
type Outputs struct {
	Task   Task
	Kind   ScoreKind
	Scores Scores
	Labels []float64
	// Temperature, when positive, divides logits before the softmax
	// (temperature scaling); it changes probabilities and confidence, not
	// ranks.
	Temperature float64

	prepared bool
	err      error
	rank     []int
	pLabel   []float64
	conf     []float64
	correct  []float64
}

// NewOutputs checks that scores and labels agree in length.
func NewOutputs(task Task, kind ScoreKind, s Scores, labels []float64) (*Outputs, error) {
	if s.Len() != len(labels) || s.Width*len(labels) != len(s.Values) {
		return nil, fmt.Errorf("eval: %d scores of width %d for %d labels", len(s.Values), s.Width, len(labels))
	}
	if task == Regression && s.Width != 1 {
		return nil, fmt.Errorf("eval: a regression model must output one value per example, got %d", s.Width)
	}
	if kind == "" {
		kind = AutoScores
	}
	if kind == AutoScores && task != Regression {
		kind = detectKind(s)
	}
	return &Outputs{Task: task, Kind: kind, Scores: s, Labels: labels}, nil
}

func detectKind(s Scores) ScoreKind {
	for i := range s.Len() {
		sum := 0.0
		for _, x := range s.Row(i) {
			if !(x >= 0 && x <= 1) {
				return Logits
			}
			sum += x
		}
		if s.Width > 1 && math.Abs(sum-1) > 1e-3 {
			return Logits
		}
	}
	return Probabilities
}

// Rank returns the label's rank in example i (1 is the top).
func (o *Outputs) Rank(i int) int { return o.rank[i] }

func (o *Outputs) prepare() error {
	if o.prepared {
		return o.err
	}
	o.prepared = true
	o.err = o.derive()
	return o.err
}

func (o *Outputs) derive() error {
	n := len(o.Labels)
	o.rank = make([]int, n)
	o.pLabel = make([]float64, n)
	o.conf = make([]float64, n)
	o.correct = make([]float64, n)
	binary := o.Scores.Width == 1
	k := max(o.Scores.Width, 2)
	row := make([]float64, k)
	prob := make([]float64, k)
	for i := range n {
		yf := o.Labels[i]
		y := int(yf)
		if float64(y) != yf || y < 0 || y >= k {
			return fmt.Errorf("eval: example %d: label %v is not an index in [0, %d)", i, yf, k)
		}
		if binary {
			z := o.Scores.Values[i]
			if o.Kind == Probabilities {
				row[0], row[1] = 1-z, z
			} else {
				row[0], row[1] = 0, z
			}
		} else {
			copy(row, o.Scores.Row(i))
		}
		r := 1
		top := 0
		for j, s := range row {
			if s > row[y] || (s == row[y] && j < y) {
				r++
			}
			if s > row[top] {
				top = j
			}
		}
		o.rank[i] = r
		if o.Kind == Probabilities {
			copy(prob, row)
		} else if t := o.Temperature; t > 0 && t != 1 {
			for j := range row {
				prob[j] = row[j] / t
			}
			softmax(prob, prob)
		} else {
			softmax(prob, row)
		}
		o.pLabel[i] = prob[y]
		o.conf[i] = prob[top]
		if top == y {
			o.correct[i] = 1
		}
	}
	return nil
}

// softmax writes the softmax of x into dst, subtracting the maximum first
// so large logits do not overflow.
func softmax(dst, x []float64) {
	m := math.Inf(-1)
	for _, v := range x {
		m = max(m, v)
	}
	s := 0.0
	for j, v := range x {
		dst[j] = math.Exp(v - m)
		s += dst[j]
	}
	for j := range dst {
		dst[j] /= s
	}
}
