package flagship

import (
	"fmt"

	"github.com/sextant-ml/sextant/features"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
	"github.com/sextant-ml/sextant/train/arch"
)

// Next-destination widths.
const (
	histEmbed = 16 // history, hour-of-week and candidate-affinity embeddings
	catEmbed  = 8  // category embedding
	ndHidden1 = 64
	ndHidden2 = 32
	maskedOut = 1e4 // subtracted from padding candidates' logits
)

// NextDestination is the next-destination ranker: it scores the K
// candidates of package features' inputs and outputs "logits" [batch, K].
//
// The history's candidate indices are embedded (rows 0..K−1 the
// candidates, K a place outside them, K+1 — reached by the pad index −1 —
// padding) with a position embedding added; the hour of week is embedded
// and added to a projection of the context; that query attends over the
// history (padding masked) to a summary of the user's recent movement.
// Each candidate is then scored by the same MLP from its features, its
// category embedding, where it occurs in the history (a K×L match of
// indices, computed in the graph), its affinity with the summary, and the
// summary and query themselves; padding candidates get −1e4. Parameters:
// hist_emb, pos_emb, how_emb, cat_emb, ctx.*, cand_emb, user.weight,
// fc1.*, fc2.*, head.* (the last layer). Spec.Hidden overrides the two
// scorer widths (64, 32).
func NextDestination(spec arch.Spec) (*arch.Model, error) {
	k, l, f, c := features.K, features.HistoryLen, features.CandidateFeatures, features.ContextFeatures
	want := map[string]arch.Column{
		"candidates":     {DType: tensor.Float32, Shape: []int{k * f}},
		"candidate_mask": {DType: tensor.Float32, Shape: []int{k}},
		"category":       {DType: tensor.Int64, Shape: []int{k}},
		"history":        {DType: tensor.Int64, Shape: []int{l}},
		"hour_of_week":   {DType: tensor.Int64, Shape: []int{}},
		"context":        {DType: tensor.Float32, Shape: []int{c}},
	}
	if spec.Columns != nil {
		for name, w := range want {
			got, ok := spec.Columns[name]
			if !ok {
				return nil, fmt.Errorf("arch next-destination: the data has no column %q (make it with sextant data features)", name)
			}
			if numel(got.Shape) != numel(w.Shape) {
				return nil, fmt.Errorf("arch next-destination: column %q has examples shaped %v; want %v", name, got.Shape, w.Shape)
			}
		}
	}
	h1, h2 := ndHidden1, ndHidden2
	if len(spec.Hidden) == 2 {
		h1, h2 = spec.Hidden[0], spec.Hidden[1]
	} else if len(spec.Hidden) != 0 {
		return nil, fmt.Errorf("arch next-destination: --hidden takes two widths, got %v", spec.Hidden)
	}
	r := spec.Rand
	b := graph.NewBuilder("next-destination", 17)
	b.Input("candidates", tensor.Float32, "batch", k*f)
	b.Input("candidate_mask", tensor.Float32, "batch", k)
	b.Input("category", tensor.Int64, "batch", k)
	b.Input("history", tensor.Int64, "batch", l)
	b.Input("hour_of_week", tensor.Int64, "batch")
	b.Input("context", tensor.Float32, "batch", c)

	b.Initializer("hist_emb", normal(r, 0.1, k+2, histEmbed))
	b.Initializer("pos_emb", normal(r, 0.1, l, histEmbed))
	b.Initializer("how_emb", normal(r, 0.1, features.HoursPerWeek, histEmbed))
	b.Initializer("cat_emb", normal(r, 0.1, len(features.Categories)+1, catEmbed))
	linear(b, r, "ctx", c, histEmbed, true)
	b.Initializer("cand_emb", normal(r, 0.1, histEmbed, k))
	din := f + catEmbed + l + 1
	linear(b, r, "fc1", din, h1, true)
	linear(b, r, "user", 2*histEmbed, h1, false)
	linear(b, r, "fc2", h1, h2, true)
	linear(b, r, "head", h2, 1, true)

	x := b.Op("Reshape", nil, "candidates", ints(b, -1, int64(k), int64(f)))
	ce := b.Op("Gather", nil, "cat_emb", "category")
	hp := b.Op("Add", nil, b.Op("Gather", nil, "hist_emb", "history"), "pos_emb")
	ctx := b.Op("Relu", nil, b.Op("Add", nil, b.Op("MatMul", nil, "context", "ctx.weight"), "ctx.bias"))
	q := b.Op("Add", nil, b.Op("Gather", nil, "how_emb", "hour_of_week"), ctx)

	// Attention of the query over the history, padding masked.
	axis2 := ints(b, 2)
	s := b.Op("MatMul", nil, hp, b.Op("Unsqueeze", nil, q, axis2))
	pad := b.Op("Cast", map[string]*graph.Attr{"to": graph.IntAttr(int64(tensor.Float32))}, b.Op("Equal", nil, "history", ints(b, features.Pad)))
	s = b.Op("Add", nil, s, b.Op("Unsqueeze", nil, b.Op("Mul", nil, pad, scalar(b, -maskedOut)), axis2))
	a := b.Op("Softmax", map[string]*graph.Attr{"axis": graph.IntAttr(1)}, s)
	sum := b.Op("ReduceSum", map[string]*graph.Attr{"keepdims": graph.IntAttr(0)}, b.Op("Mul", nil, hp, a), ints(b, 1))

	// Per-candidate inputs: features, category, history matches, affinity.
	idx := make([]int64, k)
	for i := range idx {
		idx[i] = int64(i)
	}
	cand := b.Constant(tensor.From(idx, 1, k, 1))
	match := b.Op("Cast", map[string]*graph.Attr{"to": graph.IntAttr(int64(tensor.Float32))},
		b.Op("Equal", nil, b.Op("Unsqueeze", nil, "history", ints(b, 1)), cand))
	aff := b.Op("Unsqueeze", nil, b.Op("MatMul", nil, sum, "cand_emb"), axis2)
	z := b.Op("Concat", map[string]*graph.Attr{"axis": graph.IntAttr(2)}, x, ce, match, aff)

	user := b.Op("MatMul", nil, b.Op("Concat", map[string]*graph.Attr{"axis": graph.IntAttr(1)}, sum, q), "user.weight")
	h := b.Op("Add", nil, b.Op("MatMul", nil, z, "fc1.weight"), b.Op("Unsqueeze", nil, user, ints(b, 1)))
	h = b.Op("Relu", nil, b.Op("Add", nil, h, "fc1.bias"))
	h = b.Op("Relu", nil, b.Op("Add", nil, b.Op("MatMul", nil, h, "fc2.weight"), "fc2.bias"))
	o := b.Op("Add", nil, b.Op("MatMul", nil, h, "head.weight"), "head.bias")
	o = b.Op("Reshape", nil, o, ints(b, -1, int64(k)))
	masked := b.Op("Mul", nil, b.Op("Sub", nil, "candidate_mask", scalar(b, 1)), scalar(b, maskedOut))
	b.Node("Add", []string{o, masked}, []string{"logits"}, nil)
	b.Output("logits")
	return &arch.Model{Graph: b.Graph(), Output: "logits"}, nil
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}
