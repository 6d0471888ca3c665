package peer

import (
	"fmt"
	"math/rand/v2"

	"github.com/sextant-ml/sextant/tensor"
)

// InputSets is how many distinct input sets each model's runs rotate over,
// so neither runtime sees the same input twice in a row.
const InputSets = 16

// inputSeed fixes the input data.
const inputSeed = 16

// Shape is a fixed tensor shape.
type Shape []int64

// MakeInputs returns n input sets for inputs of the given shapes: each set
// holds one float32 tensor per input with standard normal entries from a
// PCG stream with a fixed seed. The tensors' data is 64-byte aligned and is
// shared as is by both runtimes.
func MakeInputs(shapes []Shape, n int) ([][]*tensor.Tensor, error) {
	rng := rand.New(rand.NewPCG(inputSeed, uint64(len(shapes))))
	sets := make([][]*tensor.Tensor, n)
	for i := range sets {
		sets[i] = make([]*tensor.Tensor, len(shapes))
		for j, s := range shapes {
			dims := make([]int, len(s))
			for k, d := range s {
				if d <= 0 {
					return nil, fmt.Errorf("peer: input %d has dynamic shape %v; the set uses fixed shapes", j, s)
				}
				dims[k] = int(d)
			}
			t := tensor.New(tensor.Float32, dims...)
			data := tensor.Data[float32](t)
			for k := range data {
				data[k] = float32(rng.NormFloat64())
			}
			sets[i][j] = t
		}
	}
	return sets, nil
}
