package sim

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"path"
	"time"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/engine"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/models"
	"github.com/sextant-ml/sextant/onnx"
	"github.com/sextant-ml/sextant/tensor"
)

// ModelName is the name the simulated fleet's model is published under.
const ModelName = "block"

// shippedModel is the embedded PyTorch export the fleet runs: Linear(16→32)
// → LayerNorm → GELU → Linear(32→8) → Softmax.
const shippedModel = "block_op17"

// builtBundle is one version of the fleet's model, ready to publish.
type builtBundle struct {
	version string
	data    []byte
	// input is the golden input, a template for prediction inputs.
	input map[string]*tensor.Tensor
}

// buildBundle converts the embedded ONNX model into a bundle of version with
// golden self-test data. scale multiplies every float32 weight, so that
// versions differ in content as retrained models do.
func buildBundle(ctx context.Context, version, parent string, scale float32) (*builtBundle, error) {
	src, err := fs.ReadFile(models.Torch, path.Join("torch", shippedModel+".onnx"))
	if err != nil {
		return nil, err
	}
	decode := func() (*graph.Graph, error) {
		g, err := onnx.Decode(src)
		if err != nil {
			return nil, fmt.Errorf("sim: decode %s: %w", shippedModel, err)
		}
		for _, v := range g.Initializers {
			if v.Const != nil && v.Const.DType == tensor.Float32 {
				c := v.Const.Clone()
				for i, x := range tensor.Data[float32](c) {
					tensor.Data[float32](c)[i] = x * scale
				}
				v.Const = c
			}
		}
		return g, nil
	}
	g, err := decode()
	if err != nil {
		return nil, err
	}
	if _, err := graph.Optimize(g, engine.Evaluator{}, graph.OptimizeOptions{}); err != nil {
		return nil, fmt.Errorf("sim: optimize: %w", err)
	}
	// Compile a fresh copy for the golden outputs: Compile rewrites its
	// graph, and the bundle must hold g as optimized.
	cg, err := decode()
	if err != nil {
		return nil, err
	}
	model, err := engine.Compile(cg, engine.Options{})
	if err != nil {
		return nil, fmt.Errorf("sim: compile: %w", err)
	}
	m := &bundle.Manifest{Name: ModelName, Version: version, ParentVersion: parent, Signature: bundle.SignatureOf(g),
		Provenance: bundle.Provenance{CreatedAt: time.Now().UTC().Truncate(time.Second), DataSnapshot: "sim:" + shippedModel,
			Producer: bundle.Producer{Tool: "sextant sim"}},
		Golden: &bundle.Golden{Tolerance: bundle.Tolerance{Abs: 1e-5, Rel: 1e-4}}}
	feeds := map[string]*tensor.Tensor{}
	var extras []bundle.Extra
	for _, name := range model.InputNames() {
		f, err := models.Torch.Open(path.Join("torch", shippedModel, name+".npy"))
		if err != nil {
			return nil, err
		}
		t, err := tensor.ReadNPY(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("sim: golden input %s: %w", name, err)
		}
		feeds[name] = t
		ref := "golden/in/" + name
		m.Golden.Inputs = append(m.Golden.Inputs, bundle.TensorRef{Name: name, Tensor: ref})
		extras = append(extras, bundle.Extra{Name: ref, Tensor: t})
	}
	outs, err := model.NewSession().RunNamed(ctx, feeds)
	if err != nil {
		return nil, fmt.Errorf("sim: golden run: %w", err)
	}
	for _, name := range model.OutputNames() {
		ref := "golden/out/" + name
		m.Golden.Outputs = append(m.Golden.Outputs, bundle.TensorRef{Name: name, Tensor: ref})
		extras = append(extras, bundle.Extra{Name: ref, Tensor: outs[name]})
	}
	var buf bytes.Buffer
	if err := bundle.Write(&buf, g, m, extras...); err != nil {
		return nil, fmt.Errorf("sim: write bundle %s: %w", version, err)
	}
	return &builtBundle{version: version, data: buf.Bytes(), input: feeds}, nil
}
