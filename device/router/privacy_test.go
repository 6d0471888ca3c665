package router

import (
	"errors"
	"math"
	"testing"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/tensor"
)

func TestProject(t *testing.T) {
	m := manifest()
	got, err := Project(m, inputs(42))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got["home"]; ok || len(got) != 3 {
		t.Fatalf("projected %v", got)
	}
	if h := tensor.Data[float32](got["hour"])[0]; h != 7*60+30 {
		t.Fatalf("hour 7:43 coarsened to %v, want the 7:30 slot (450)", h)
	}
	if s := tensor.Data[float32](got["speed"])[0]; s != 2 {
		t.Fatalf("speed 62 bucket %v, want 2 (edges 10, 50, 90)", s)
	}
	if w := tensor.Data[float32](got["weather"])[0]; w != 3 {
		t.Fatalf("public input changed to %v", w)
	}
	m.ServerVariant.Inputs = []string{"home"}
	if _, err := Project(m, inputs(1)); !errors.Is(err, ErrStayOnDevice) {
		t.Fatalf("private input projected: %v", err)
	}
	m = manifest()
	m.Signature.Inputs[1].Coarsening = &bundle.Coarsening{Kind: bundle.CoarsenH3, Resolution: 7}
	if _, err := Project(m, inputs(1)); !errors.Is(err, ErrStayOnDevice) || !errors.Is(err, ErrCoarsening) {
		t.Fatalf("h3: %v", err)
	}
	m.ServerVariant = nil
	if _, err := Project(m, inputs(1)); !errors.Is(err, ErrStayOnDevice) {
		t.Fatalf("no variant: %v", err)
	}
}

func TestCoarsenBucketEdgesAndNaN(t *testing.T) {
	c := &bundle.Coarsening{Kind: bundle.CoarsenBucket, Edges: []float64{0, 1}}
	out, err := Coarsen(c, tensor.From([]float64{-1, 0, 0.5, 1, 7}, 5))
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{0, 1, 1, 2, 2}
	for i, v := range tensor.Data[float64](out) {
		if v != want[i] {
			t.Fatalf("buckets %v, want %v", tensor.Data[float64](out), want)
		}
	}
	if _, err := Coarsen(c, tensor.From([]float32{float32(math.NaN())}, 1)); !errors.Is(err, ErrCoarsening) {
		t.Fatalf("NaN: %v", err)
	}
}

func TestConfidence(t *testing.T) {
	logits := tensor.From([]float32{2, 0, 0}, 1, 3)
	e2 := math.Exp(2)
	p := e2 / (e2 + 2)
	for _, tc := range []struct {
		m    Measure
		temp float64
		want float64
	}{
		{MaxProb, 1, p},
		{Margin, 1, p - 1/(e2+2)},
		{MaxProb, 2, math.E / (math.E + 2)},
		{Entropy, 1, 1 - (-(p*math.Log(p) + 2/(e2+2)*math.Log(1/(e2+2))))/math.Log(3)},
	} {
		got, err := Confidence(logits, tc.temp, tc.m)
		if err != nil || math.Abs(got-tc.want) > 1e-6 {
			t.Fatalf("%v T=%v: %v %v, want %v", tc.m, tc.temp, got, err, tc.want)
		}
	}
	if c, err := Confidence(tensor.From([]float32{0.9, 0.4, 0.7}, 3, 1), 2, Score); err != nil || math.Abs(c-0.4) > 1e-6 {
		t.Fatalf("score: %v %v, want the least row, 0.4", c, err)
	}
	if _, err := Confidence(tensor.From([]float32{0.9, 1.5}, 2, 1), 1, Score); err == nil {
		t.Fatal("score 1.5 accepted")
	}
}
