package main

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/tensor"
)

// TestCorruptWeights checks the demo's planted bugs: the narrow one
// replaces only float matrices of 64 or more elements, the wide one every
// float tensor of two or more, reversed; both change every value they
// replace (at most a quarter, those on the int8 grid's zero, may stay).
func TestCorruptWeights(t *testing.T) {
	sxm := filepath.Join(t.TempDir(), "mlp.sxm")
	if _, err := sextant(t, "convert", "../../testdata/torch/mlp_op17.onnx", "-o", sxm); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		mutate  func(*bundle.Bundle) (map[string]bool, error)
		minLen  int
		reverse bool
	}{{"narrow", corruptQuantization, 64, false}, {"wide", corruptQuantizationAll, 2, true}} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := bundle.Open(sxm)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			before := map[string][]float32{}
			for _, v := range b.Graph.Initializers {
				if v.Const != nil && v.Const.DType == tensor.Float32 {
					before[v.Name] = slices.Clone(tensor.Data[float32](v.Const))
				}
			}
			changed, err := tc.mutate(b)
			if err != nil {
				t.Fatal(err)
			}
			small := 0
			for name, old := range before {
				if len(old) < 64 && len(old) >= 2 {
					small++
				}
				if want := len(old) >= tc.minLen; changed[name] != want {
					t.Errorf("%s (%d values): replaced %v, want %v", name, len(old), changed[name], want)
				}
			}
			if tc.minLen < 64 && small == 0 {
				t.Fatal("the model has no small float tensor: the wide bug is not tested")
			}
			for _, v := range b.Graph.Initializers {
				old, ok := before[v.Name]
				if !ok || !changed[v.Name] {
					continue
				}
				got := tensor.Data[float32](v.Const)
				if tc.reverse && len(old) > 1 && got[0] == old[0] && got[len(got)-1] == old[len(old)-1] {
					t.Errorf("%s: ends unchanged by the reversed read", v.Name)
				}
				same := 0
				for i := range got {
					if got[i] == old[i] {
						same++
					}
				}
				if same > len(got)/4 {
					t.Errorf("%s: %d of %d values unchanged", v.Name, same, len(got))
				}
			}
		})
	}
}
