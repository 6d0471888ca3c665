package flsim

import (
	"encoding/binary"
	"math"
	"math/rand/v2"

	"github.com/sextant-ml/sextant/tensor"
)

// population is the synthetic devices' data. Nothing per device is kept:
// a device's examples are drawn from its own seed when it joins a round, so
// memory stays flat as the population grows.
//
// Classes are Gaussian blobs: class c has a mean μ_c ~ N(0, I·sep²) in
// Inputs dimensions; an example of class c is μ_c + N(0, noise²·I). Device i
// has two favourite classes; a LabelSkew share of its examples comes from
// them, the rest from all classes uniformly (non-IID labels).
type population struct {
	spec  DataSpec
	model ModelSpec
	means [][]float32
}

func newPopulation(d DataSpec, m ModelSpec) *population {
	r := rand.New(rand.NewChaCha8(seed(d.Seed, 0xc1a55)))
	p := &population{spec: d, model: m}
	// Two class means are about 2.5 noise standard deviations apart: the
	// classes overlap, so accuracy has room to grow over the rounds.
	sep := 2.5 * d.Noise / math.Sqrt(2*float64(m.Inputs))
	for range m.Classes {
		mu := make([]float32, m.Inputs)
		for j := range mu {
			mu[j] = float32(r.NormFloat64() * sep)
		}
		p.means = append(p.means, mu)
	}
	return p
}

func seed(s, i uint64) [32]byte {
	var b [32]byte
	binary.LittleEndian.PutUint64(b[:], s)
	binary.LittleEndian.PutUint64(b[8:], i)
	b[16] = 0x5e
	return b
}

// device returns device i's examples: x [n, inputs] float32 and labels [n]
// int64. Held-out devices are numbered after the population.
func (p *population) device(i uint64) []*tensor.Tensor {
	r := rand.New(rand.NewChaCha8(seed(p.spec.Seed, i+1)))
	n, k, c := p.spec.Examples, p.model.Inputs, p.model.Classes
	fav := [2]int{r.IntN(c), r.IntN(c)}
	x := make([]float32, 0, n*k)
	y := make([]int64, 0, n)
	for range n {
		cls := r.IntN(c)
		if r.Float64() < *p.spec.LabelSkew {
			cls = fav[r.IntN(2)]
		}
		for _, m := range p.means[cls] {
			x = append(x, m+float32(r.NormFloat64()*p.spec.Noise))
		}
		y = append(y, int64(cls))
	}
	return []*tensor.Tensor{tensor.From(x, n, k), tensor.From(y, n)}
}
