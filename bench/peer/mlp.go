package peer

import (
	"math"
	"math/rand/v2"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/onnx"
	"github.com/sextant-ml/sextant/tensor"
)

// largeMLPSeed fixes the 1024-wide MLP's weights.
const largeMLPSeed = 20240517

// LargeMLP builds the MLP 256→1024→1024→256 at batch 1 (input "x" [1,256],
// output "y" [1,256]) and encodes it as ONNX, opset 17. It has the layout
// torch.onnx.export gives nn.Linear layers (Gemm with transB=1, weights
// [out,in], bias [out]) with ReLU between them, and torch's default
// initialisation, uniform in ±1/√fan_in, drawn from a PCG stream with a fixed
// seed: the same bytes on every run and machine. Its 1.5 M weights (~6 MB)
// exceed the L2 cache, which is the point of the model; generating it keeps
// the file out of the repository.
func LargeMLP() ([]byte, error) {
	sizes := []int{256, 1024, 1024, 256}
	rng := rand.New(rand.NewPCG(largeMLPSeed, 0))
	b := graph.NewBuilder("mlp_large", 17)
	b.Input("x", tensor.Float32, 1, sizes[0])
	cur := "x"
	for i := 0; i+1 < len(sizes); i++ {
		in, out := sizes[i], sizes[i+1]
		bound := 1 / math.Sqrt(float64(in))
		w := uniform(rng, out*in, bound)
		bias := uniform(rng, out, bound)
		wn, bn := layerName(i, "weight"), layerName(i, "bias")
		b.Initializer(wn, tensor.From(w, out, in))
		b.Initializer(bn, tensor.From(bias, out))
		y := layerName(i, "out")
		if i+2 == len(sizes) {
			y = "y"
		}
		b.Node("Gemm", []string{cur, wn, bn}, []string{y}, map[string]*graph.Attr{
			"alpha": graph.FloatAttr(1), "beta": graph.FloatAttr(1), "transB": graph.IntAttr(1),
		})
		cur = y
		if i+2 < len(sizes) {
			cur = b.Op("Relu", nil, y)
		}
	}
	b.Output("y")
	return onnx.Encode(b.Graph())
}

func layerName(i int, what string) string {
	return "fc" + string(rune('0'+i)) + "." + what
}

func uniform(rng *rand.Rand, n int, bound float64) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32((2*rng.Float64() - 1) * bound)
	}
	return s
}
