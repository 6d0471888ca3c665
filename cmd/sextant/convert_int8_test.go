package main

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/engine"
	"github.com/sextant-ml/sextant/kernels"
	"github.com/sextant-ml/sextant/kernels/gemm8"
	"github.com/sextant-ml/sextant/tensor"
)

// TestConvertStoresInt8PackedWeights checks that convert --quantize
// int8-dynamic stores each int8 weight in the int8 kernels' layout too, and
// that a compile from the bundle uses them in place (no repacking where the
// CPU has an int8 SIMD set) and computes what a compile that repacks does.
func TestConvertStoresInt8PackedWeights(t *testing.T) {
	const src = "../../testdata/torch/mlp_op17.onnx"
	sxm := filepath.Join(t.TempDir(), "mlp8.sxm")
	if _, err := sextant(t, "convert", src, "-o", sxm, "--quantize", "int8-dynamic"); err != nil {
		t.Fatal(err)
	}
	b, err := bundle.Open(sxm)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	packed := 0
	for _, v := range b.Graph.Initializers {
		p, ok := v.Layouts[kernels.Int8PanelLayout()]
		if !ok {
			continue
		}
		packed++
		if v.Const.DType != tensor.Int8 || len(v.Const.Shape) != 2 {
			t.Fatalf("%s: int8 layout stored for %v", v.Name, v.Const)
		}
		if want := gemm8.PackedLen(v.Const.Shape[0], v.Const.Shape[1]); len(p.Raw) != want {
			t.Errorf("%s: %d packed bytes, want %d", v.Name, len(p.Raw), want)
		}
	}
	if packed != 2 {
		t.Fatalf("%d int8 weights stored packed, want 2 (the two Gemm weights)", packed)
	}
	fromBundle, err := engine.Compile(b.Graph, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if gemm8.Best().Name() != "purego" {
		if n := fromBundle.Repacked(); n != 0 {
			t.Errorf("compiling the bundle repacked %d nodes, want 0", n)
		}
	}
	// The same graph without the stored layouts packs at compile time.
	g := cloneGraph(b.Graph)
	for _, v := range g.Initializers {
		v.Layouts = nil
	}
	repacking, err := engine.Compile(g, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := repacking.Repacked(); n != 2 {
		t.Errorf("compiling without stored layouts repacked %d nodes, want 2", n)
	}
	x, err := tensor.ReadNPYFile("../../testdata/torch/mlp_op17/x.npy")
	if err != nil {
		t.Fatal(err)
	}
	a, err := fromBundle.NewSession().Run(context.Background(), []*tensor.Tensor{x})
	if err != nil {
		t.Fatal(err)
	}
	r, err := repacking.NewSession().Run(context.Background(), []*tensor.Tensor{x})
	if err != nil {
		t.Fatal(err)
	}
	if d, err := maxAbsDiff(a[0], r[0]); err != nil || d != 0 {
		t.Fatalf("stored and repacked weights give outputs %v apart (%v)", d, err)
	}
}
