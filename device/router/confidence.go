package router

import (
	"fmt"
	"math"

	"github.com/sextant-ml/sextant/tensor"
)

// Measure is how the cascade turns calibrated probabilities into one
// confidence in [0, 1].
type Measure int

// The confidence measures (Geifman & El-Yaniv, "Selective classification
// for deep neural networks", NeurIPS 2017, for max probability; margin and
// entropy as in the cascade literature).
const (
	// MaxProb is the largest class probability.
	MaxProb Measure = iota
	// Margin is the largest probability minus the second largest.
	Margin
	// Entropy is 1 − H(p)/ln K: 1 for a one-hot answer, 0 for uniform.
	Entropy
	// Score reads the output as a confidence the model computes itself,
	// each element in [0, 1] (a regressor's uncertainty head, say: the
	// flagship ETA model's is in models/flagship); the temperature does not
	// apply.
	Score
)

func (m Measure) String() string {
	switch m {
	case MaxProb:
		return "max-prob"
	case Margin:
		return "margin"
	case Entropy:
		return "entropy"
	case Score:
		return "score"
	}
	return fmt.Sprintf("Measure(%d)", int(m))
}

// Confidence computes the calibrated confidence of a logits tensor (or,
// for Score, reads the least element of a confidence output): the
// last axis holds a row's class logits, each row is temperature-scaled
// (logits / temperature; 0 means 1) and soft-maxed, and the least
// confident row decides. A last axis of one element is a binary logit:
// p = σ(z / T) against 1 − p.
func Confidence(logits *tensor.Tensor, temperature float64, m Measure) (float64, error) {
	if temperature == 0 {
		temperature = 1
	}
	if !(temperature > 0) || math.IsInf(temperature, 0) {
		return 0, fmt.Errorf("router: temperature %v", temperature)
	}
	var vals []float64
	switch logits.DType {
	case tensor.Float32:
		src := tensor.Data[float32](logits)
		vals = make([]float64, len(src))
		for i, v := range src {
			vals[i] = float64(v)
		}
	case tensor.Float64:
		vals = append([]float64(nil), tensor.Data[float64](logits)...)
	default:
		return 0, fmt.Errorf("router: confidence of a %s output", logits.DType)
	}
	if m == Score {
		return score(vals)
	}
	k := 1
	if r := len(logits.Shape); r > 0 {
		k = logits.Shape[r-1]
	}
	if k == 0 || len(vals) == 0 || len(vals)%k != 0 {
		return 0, fmt.Errorf("router: confidence of an empty output %v", logits.Shape)
	}
	conf := 1.0
	p := make([]float64, max(k, 2))
	for row := 0; row < len(vals); row += k {
		z := vals[row : row+k]
		if k == 1 {
			p[0] = 1 / (1 + math.Exp(-z[0]/temperature))
			p[1] = 1 - p[0]
		} else {
			hi := math.Inf(-1)
			for _, v := range z {
				hi = math.Max(hi, v)
			}
			var sum float64
			for i, v := range z {
				p[i] = math.Exp((v - hi) / temperature)
				sum += p[i]
			}
			for i := range z {
				p[i] /= sum
			}
		}
		c := measure(p, m)
		if math.IsNaN(c) {
			return 0, fmt.Errorf("router: non-finite logits")
		}
		conf = math.Min(conf, c)
	}
	return conf, nil
}

// score is the least of vals, each of which must lie in [0, 1].
func score(vals []float64) (float64, error) {
	if len(vals) == 0 {
		return 0, fmt.Errorf("router: empty confidence output")
	}
	c := 1.0
	for _, v := range vals {
		if !(v >= 0 && v <= 1) {
			return 0, fmt.Errorf("router: confidence %v outside [0, 1]", v)
		}
		c = math.Min(c, v)
	}
	return c, nil
}

func measure(p []float64, m Measure) float64 {
	switch m {
	case Margin:
		a, b := 0.0, 0.0
		for _, v := range p {
			if v > a {
				a, b = v, a
			} else if v > b {
				b = v
			}
		}
		return a - b
	case Entropy:
		var h float64
		for _, v := range p {
			if v > 0 {
				h -= v * math.Log(v)
			}
		}
		return 1 - h/math.Log(float64(len(p)))
	default:
		var a float64
		for _, v := range p {
			a = math.Max(a, v)
		}
		return a
	}
}
