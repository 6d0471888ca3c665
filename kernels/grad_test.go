package kernels

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// The gradient values themselves are checked against finite differences in
// train/gradcheck_test.go (float64) and against PyTorch in
// train/parity_test.go (float32). These tests cover the kernel contract:
// Run writes every output element, does not allocate, and reports bad data.

func gradCases(t *testing.T) map[string]*nodeRun {
	rng := rand.New(rand.NewPCG(5, 6))
	all := []bool{true, true, true, true, true}
	labels := tensor.From([]int64{0, 2, 1, 2}, 4)
	return map[string]*nodeRun{
		"ReluGrad":      prepareNode(t, "ReluGrad", 17, nil, all[:1], randT(rng, 4, 8), randT(rng, 4, 8)),
		"GeluGrad":      prepareNode(t, "GeluGrad", 17, map[string]*graph.Attr{"approximate": attrStr("tanh")}, all[:1], randT(rng, 4, 8), randT(rng, 4, 8)),
		"SoftmaxGrad":   prepareNode(t, "SoftmaxGrad", 17, map[string]*graph.Attr{"axis": attrInt(0)}, all[:1], randT(rng, 4, 8), randT(rng, 4, 8)),
		"LogSoftmaxGrd": prepareNode(t, "LogSoftmaxGrad", 17, nil, all[:1], randT(rng, 4, 8), randT(rng, 4, 8)),
		"LayerNormGrad": prepareNode(t, "LayerNormalizationGrad", 17, nil, all[:3], randT(rng, 4, 8), randT(rng, 4, 8), randT(rng, 8)),
		"ReduceSumTo":   prepareNode(t, "ReduceSumTo", 17, nil, all[:1], randT(rng, 2, 4, 8), randT(rng, 4, 1)),
		"ReduceGrad":    prepareNode(t, "ReduceGrad", 17, map[string]*graph.Attr{"axes": attrInts(1), "mean": attrInt(1)}, all[:1], randT(rng, 2, 8), randT(rng, 2, 4, 8)),
		"GatherGrad":    prepareNode(t, "GatherGrad", 17, nil, all[:1], randT(rng, 4, 3), labels, randT(rng, 5, 3)),
		"SliceGrad":     prepareNode(t, "SliceGrad", 17, nil, all[:1], randT(rng, 2, 3), randT(rng, 4, 6), tensor.From([]int64{1, 0}, 2), tensor.From([]int64{3, 6}, 2), tensor.From([]int64{0, 1}, 2), tensor.From([]int64{1, 2}, 2)),
		"ConcatGrad":    prepareNode(t, "ConcatGrad", 17, map[string]*graph.Attr{"axis": attrInt(1)}, all[:2], randT(rng, 2, 5), randT(rng, 2, 2), randT(rng, 2, 3)),
		"ConvGrad":      prepareNode(t, "ConvGrad", 17, map[string]*graph.Attr{"pads": attrInts(1, 1)}, all[:3], randT(rng, 2, 4, 6), randT(rng, 2, 3, 6), randT(rng, 4, 3, 3)),
		"GRUGrad": prepareNode(t, "GRUGrad", 17, map[string]*graph.Attr{"hidden_size": attrInt(5)}, all[:5], randT(rng, 4, 1, 2, 5), nil,
			randT(rng, 4, 2, 3), randT(rng, 1, 15, 3), randT(rng, 1, 15, 5), nil, nil),
		"DropoutTrain":  prepareNode(t, "DropoutTrain", 17, map[string]*graph.Attr{"ratio": attrFloat(0.5)}, all[:2], randT(rng, 4, 8), tensor.Scalar(int64(3))),
		"SoftmaxCE":     prepareNode(t, "SoftmaxCrossEntropy", 17, map[string]*graph.Attr{"label_smoothing": attrFloat(0.1)}, all[:1], randT(rng, 4, 3), labels),
		"SoftmaxCEGrad": prepareNode(t, "SoftmaxCrossEntropyGrad", 17, nil, all[:1], tensor.Scalar(float32(1)), randT(rng, 4, 3), labels, randT(rng, 3)),
		"HuberGrad":     prepareNode(t, "HuberLossGrad", 17, nil, all[:1], tensor.Scalar(float32(1)), randT(rng, 4, 3), randT(rng, 4, 3)),
		"GlobalNorm":    prepareNode(t, "GlobalNormScale", 17, nil, all[:1], randT(rng, 4, 3), randT(rng, 5)),
		"AdamUpdate":    prepareNode(t, "AdamUpdate", 17, nil, all[:3], randT(rng, 8), randT(rng, 8), tensor.From([]float32{0.1, 0.5, 0.3}, 3), tensor.Scalar(float32(0.5)), randT(rng, 8), tensor.New(tensor.Float32, 8)),
		"SparseRowSGD":  prepareNode(t, "SparseRowSGD", 17, nil, all[:1], randT(rng, 5, 3), randT(rng, 4, 3), labels, tensor.From([]float32{0.1}, 1)),
		"SGDUpdate":     prepareNode(t, "SGDUpdate", 17, map[string]*graph.Attr{"momentum": attrFloat(0.9), "nesterov": attrInt(1)}, all[:2], randT(rng, 8), randT(rng, 8), tensor.From([]float32{0.1, 0, 0}, 3), nil, randT(rng, 8)),
	}
}

func TestGradKernelsWriteEveryElementWithoutAllocating(t *testing.T) {
	for name, r := range gradCases(t) {
		r.run(t)
		for i, o := range r.out {
			if o == nil {
				continue
			}
			for j := 0; j < o.Len(); j++ {
				if v := o.Float64At(j); math.IsNaN(v) {
					t.Errorf("%s: output %d element %d not written", name, i, j)
					break
				}
			}
		}
		if n := testing.AllocsPerRun(10, func() { r.run(t) }); n != 0 {
			t.Errorf("%s: Run allocates %v times", name, n)
		}
	}
}

func TestDropoutTrainKeepsTheRightShare(t *testing.T) {
	x := tensor.New(tensor.Float32, 100, 100)
	for i := range tensor.Data[float32](x) {
		tensor.Data[float32](x)[i] = 2
	}
	masks := map[int64]*tensor.Tensor{}
	for _, seed := range []int64{1, 2} {
		out := runOp(t, "DropoutTrain", 17, map[string]*graph.Attr{"ratio": attrFloat(0.3)}, 2, x, tensor.Scalar(seed))
		dropped := 0
		for i, m := range tensor.Data[float32](out[1]) {
			y := tensor.Data[float32](out[0])[i]
			switch {
			case m == 0 && y == 0:
				dropped++
			case math.Abs(float64(m)-1/0.7) < 1e-6 && math.Abs(float64(y)-2/0.7) < 1e-5:
			default:
				t.Fatalf("element %d: mask %v, y %v", i, m, y)
			}
		}
		if share := float64(dropped) / 1e4; math.Abs(share-0.3) > 0.02 {
			t.Errorf("seed %d dropped %.3f of the elements, want 0.3", seed, share)
		}
		masks[seed] = out[1]
	}
	if string(masks[1].Raw) == string(masks[2].Raw) {
		t.Error("seeds 1 and 2 drew the same mask")
	}
}

func TestUpdatesRunInPlace(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	p, g, m, v := randT(rng, 16), randT(rng, 16), randT(rng, 16), randT(rng, 16)
	for i := range tensor.Data[float32](v) {
		tensor.Data[float32](v)[i] *= tensor.Data[float32](v)[i]
	}
	hyper := tensor.From([]float32{0.1, 0.2, 0.3}, 3)
	r := prepareNode(t, "AdamUpdate", 17, map[string]*graph.Attr{"weight_decay": attrFloat(0.01), "decoupled": attrInt(1)}, []bool{true, true, true},
		p, g, hyper, nil, m, v)
	r.run(t)
	want := []*tensor.Tensor{r.out[0].Clone(), r.out[1].Clone(), r.out[2].Clone()}
	// Now alias each output with its input, as the trainer does.
	pc, mc, vc := p.Clone(), m.Clone(), v.Clone()
	if err := r.step.Run([]*tensor.Tensor{pc, g, hyper, nil, mc, vc}, []*tensor.Tensor{pc, mc, vc}, r.buf); err != nil {
		t.Fatal(err)
	}
	for i, got := range []*tensor.Tensor{pc, mc, vc} {
		if string(got.Raw) != string(want[i].Raw) {
			t.Errorf("output %d differs when computed in place", i)
		}
	}
}

func TestSoftmaxCrossEntropyRejectsBadLabels(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	r := prepareNode(t, "SoftmaxCrossEntropy", 17, nil, []bool{true}, randT(rng, 2, 3), tensor.From([]int64{0, 3}, 2))
	if err := r.step.Run(r.in, r.out, r.buf); err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Errorf("label 3 of 3 classes: got %v", err)
	}
	k, err := New(&graph.Node{Op: "SGDUpdate", Attrs: map[string]*graph.Attr{"momentum": attrFloat(0.9)}}, 17)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Prepare([]*tensor.Tensor{randT(rng, 4), randT(rng, 4), tensor.From([]float32{1}, 1)}, []*tensor.Tensor{randT(rng, 4)}); err == nil {
		t.Error("SGDUpdate with momentum and no velocity was prepared")
	}
}
