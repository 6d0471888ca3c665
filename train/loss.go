package train

import (
	"fmt"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// Loss is a training objective on one graph output (the prediction). It adds
// the target input it compares against and the loss node; the loss is a
// scalar, the mean over the batch.
type Loss interface {
	// output names the graph output the loss reads ("" for the first).
	output() string
	// build adds the target input and loss node for prediction pred.
	build(e *emitter, pred *graph.Value) (loss, target *graph.Value, err error)
}

// SoftmaxCrossEntropy is cross-entropy between softmax(logits) and integer
// class labels, as torch.nn.functional.cross_entropy: logits [N, C], labels
// an int64 input "labels" [N].
type SoftmaxCrossEntropy struct {
	Output string
	// LabelSmoothing in [0, 1] mixes the one-hot target with the uniform
	// distribution.
	LabelSmoothing float64
	// ClassWeights, when set, has one weight per class; the mean is then
	// weighted by the labels' weights.
	ClassWeights []float64
}

// MSE is the mean squared error against a float input "target" shaped like
// the prediction.
type MSE struct{ Output string }

// Huber is the mean Huber loss (torch.nn.HuberLoss) against "target", with
// Delta (default 1) where it turns from quadratic to linear.
type Huber struct {
	Output string
	Delta  float64
}

func (l SoftmaxCrossEntropy) output() string { return l.Output }
func (l MSE) output() string                 { return l.Output }
func (l Huber) output() string               { return l.Output }

func (l SoftmaxCrossEntropy) build(e *emitter, pred *graph.Value) (*graph.Value, *graph.Value, error) {
	t := pred.Type
	if !t.Known || len(t.Shape) != 2 {
		return nil, nil, fmt.Errorf("train: cross-entropy needs [N, C] logits, %q is %v", pred.Name, t)
	}
	labels := &graph.Value{Name: "labels", Type: graph.Type{DType: tensor.Int64, Shape: []graph.Dim{t.Shape[0]}, Known: true}}
	e.g.Inputs = append(e.g.Inputs, labels)
	ins := []*graph.Value{pred, labels}
	if l.ClassWeights != nil {
		if c := t.Shape[1]; c.IsFixed() && int(c.Size) != len(l.ClassWeights) {
			return nil, nil, fmt.Errorf("train: %d class weights for %d classes", len(l.ClassWeights), c.Size)
		}
		w := tensor.New(t.DType, len(l.ClassWeights))
		for i, v := range l.ClassWeights {
			setFloat(w, i, v)
		}
		ins = append(ins, e.constant(w))
	}
	loss, err := e.one("SoftmaxCrossEntropy", map[string]*graph.Attr{"label_smoothing": graph.FloatAttr(float32(l.LabelSmoothing))}, ins...)
	return loss, labels, err
}

func regressionTarget(e *emitter, pred *graph.Value) *graph.Value {
	target := &graph.Value{Name: "target", Type: pred.Type}
	e.g.Inputs = append(e.g.Inputs, target)
	return target
}

func (l MSE) build(e *emitter, pred *graph.Value) (*graph.Value, *graph.Value, error) {
	target := regressionTarget(e, pred)
	loss, err := e.one("MSELoss", nil, pred, target)
	return loss, target, err
}

func (l Huber) build(e *emitter, pred *graph.Value) (*graph.Value, *graph.Value, error) {
	delta := l.Delta
	if delta == 0 {
		delta = 1
	}
	target := regressionTarget(e, pred)
	loss, err := e.one("HuberLoss", map[string]*graph.Attr{"delta": graph.FloatAttr(float32(delta))}, pred, target)
	return loss, target, err
}

// setFloat stores v at element i of a float32 or float64 tensor.
func setFloat(t *tensor.Tensor, i int, v float64) {
	if t.DType == tensor.Float64 {
		tensor.Data[float64](t)[i] = v
		return
	}
	tensor.Data[float32](t)[i] = float32(v)
}
