package train

import (
	"fmt"
	"runtime"

	"github.com/sextant-ml/sextant/privacy/noise"
	"github.com/sextant-ml/sextant/tensor"
)

// dpState is a DP trainer's noise: one N(0, (σC)²) tensor per parameter
// per step. Drawing it is about half the cost of a DP step (one Gaussian
// sample per parameter element from the CSPRNG-keyed generator), so it is
// drawn one step ahead on a goroutine of its own, into the second of two
// buffer sets, while the engine runs the current step on the first. The
// goroutine is the generator's only user once started, so the draws come
// in the same order as drawing them inline would give (a seeded run is
// reproducible). It exits when the trainer becomes unreachable.
type dpState struct {
	cfg   DP
	gauss *noise.Gaussian // nil when σ = 0: the noise stays zero
	sets  [2][]*tensor.Tensor
	cur   int
	first bool
	fill  chan struct{}  // request: draw into the set not in use
	ready chan struct{}  // done (buffered, so an abandoned draw can finish)
	scale *tensor.Tensor // 1/ExpectedBatch
}

// noises returns the set the next step reads.
func (d *dpState) noises() []*tensor.Tensor { return d.sets[d.cur] }

func draw(g *noise.Gaussian, set []*tensor.Tensor) {
	for _, t := range set {
		if t.DType == tensor.Float64 {
			x := tensor.Data[float64](t)
			clear(x)
			g.AddTo(x)
			continue
		}
		x := tensor.Data[float32](t)
		clear(x)
		g.AddToFloat32(x)
	}
}

// next makes fresh noise current, copies the current set into slots (the
// trainer's noise inputs) and starts drawing the following step's. It does
// not allocate.
func (d *dpState) next(slots []*tensor.Tensor) {
	if d.gauss == nil {
		return
	}
	if d.first {
		d.first = false
	} else {
		<-d.ready
		d.cur ^= 1
	}
	copy(slots, d.sets[d.cur])
	d.fill <- struct{}{}
}

func newDPState(cfg DP, params []*tensor.Tensor, dt tensor.DType) (*dpState, error) {
	d := &dpState{cfg: cfg, scale: tensor.New(dt), first: true}
	setFloat(d.scale, 0, 1/cfg.ExpectedBatch)
	for k := range d.sets {
		for _, p := range params {
			d.sets[k] = append(d.sets[k], tensor.New(p.DType, p.Shape...))
		}
	}
	if cfg.NoiseMultiplier > 0 {
		r := cfg.Rand
		if r == nil {
			r = noise.CryptoRand()
		}
		var err error
		if d.gauss, err = noise.NewGaussian(cfg.NoiseMultiplier*cfg.ClipNorm, r); err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
		draw(d.gauss, d.sets[0])
		d.fill, d.ready = make(chan struct{}), make(chan struct{}, 1)
		go func(g *noise.Gaussian, sets [2][]*tensor.Tensor, fill <-chan struct{}, ready chan<- struct{}) {
			k := 1
			for range fill {
				draw(g, sets[k])
				k ^= 1
				ready <- struct{}{}
			}
		}(d.gauss, d.sets, d.fill, d.ready)
	}
	return d, nil
}

// stopWhenUnreachable ends t's noise goroutine once t is garbage.
func stopWhenUnreachable(t *Trainer) {
	if t.dp != nil && t.dp.fill != nil {
		runtime.AddCleanup(t, func(fill chan struct{}) { close(fill) }, t.dp.fill)
	}
}
