package main

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/engine"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/kernels"
	"github.com/sextant-ml/sextant/onnx"
	"github.com/sextant-ml/sextant/tensor"
)

// convNetONNX writes a Conv1d(4→6, k3, pad 1) → Relu → Conv1d(6→3, k3)
// model (the second convolution without bias) and returns its path.
func convNetONNX(t *testing.T) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(71, 72))
	rnd := func(shape ...int) *tensor.Tensor {
		x := tensor.New(tensor.Float32, shape...)
		for i := range tensor.Data[float32](x) {
			tensor.Data[float32](x)[i] = float32(rng.NormFloat64())
		}
		return x
	}
	b := graph.NewBuilder("convnet", 17)
	b.Input("x", tensor.Float32, 1, 4, 40)
	b.Initializer("c1.weight", rnd(6, 4, 3))
	b.Initializer("c1.bias", rnd(6))
	b.Initializer("c2.weight", rnd(3, 6, 3))
	h := b.Op("Conv", map[string]*graph.Attr{"kernel_shape": graph.IntsAttr(3), "pads": graph.IntsAttr(1, 1)}, "x", "c1.weight", "c1.bias")
	h = b.Op("Relu", nil, h)
	b.Node("Conv", []string{h, "c2.weight"}, []string{"y"}, map[string]*graph.Attr{"kernel_shape": graph.IntsAttr(3)})
	b.Output("y")
	data, err := onnx.Encode(b.Graph())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "convnet.onnx")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestConvertStoresConv1dWeights checks that convert stores each 1-D
// convolution's weight with its bias column (kernels.Conv1dLayout), that a
// compile from the bundle uses them in place while one from ONNX builds
// them, and that both compute the same thing.
func TestConvertStoresConv1dWeights(t *testing.T) {
	src := convNetONNX(t)
	sxm := filepath.Join(t.TempDir(), "convnet.sxm")
	if _, err := sextant(t, "convert", src, "-o", sxm); err != nil {
		t.Fatal(err)
	}
	b, err := bundle.Open(sxm)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	packed := 0
	for _, v := range b.Graph.Initializers {
		if p, ok := v.Layouts[kernels.Conv1dLayout]; ok {
			packed++
			m, ck := v.Const.Shape[0], v.Const.Shape[1]*v.Const.Shape[2]
			if len(p.Raw) != 4*m*(ck+1) {
				t.Errorf("%s: %d bytes stored, want %d", v.Name, len(p.Raw), 4*m*(ck+1))
			}
		}
	}
	if packed != 2 {
		t.Fatalf("%d conv weights stored packed, want 2", packed)
	}
	ops := map[string]int{}
	for _, n := range b.Graph.Nodes {
		ops[n.Op]++
	}
	if ops["FusedConv"] != 1 || ops["Conv"] != 1 || ops["Relu"] != 0 {
		t.Errorf("bundle ops %v, want one FusedConv and one Conv", ops)
	}
	fromBundle, err := engine.Compile(b.Graph, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := fromBundle.Repacked(); n != 0 {
		t.Errorf("compiling the bundle repacked %d nodes, want 0", n)
	}
	g, err := onnx.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	fromONNX, err := engine.Compile(g, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := fromONNX.Repacked(); n != 2 {
		t.Errorf("compiling the ONNX file repacked %d nodes, want 2", n)
	}
	x := tensor.New(tensor.Float32, 1, 4, 40)
	for i := range tensor.Data[float32](x) {
		tensor.Data[float32](x)[i] = float32(i%7) - 3
	}
	a, err := fromBundle.NewSession().Run(context.Background(), []*tensor.Tensor{x})
	if err != nil {
		t.Fatal(err)
	}
	r, err := fromONNX.NewSession().Run(context.Background(), []*tensor.Tensor{x})
	if err != nil {
		t.Fatal(err)
	}
	if d, err := maxAbsDiff(a[0], r[0]); err != nil || d != 0 {
		t.Fatalf("bundle and ONNX outputs %v apart (%v)", d, err)
	}
}
