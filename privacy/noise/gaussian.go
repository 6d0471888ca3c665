package noise

import (
	crand "crypto/rand"
	"fmt"
	"math"
	"math/rand/v2"
)

// CryptoRand returns a generator keyed from the operating system's CSPRNG:
// ChaCha8 (math/rand/v2) with a 32-byte seed from crypto/rand. It is not safe
// for concurrent use; give each goroutine its own.
func CryptoRand() *rand.Rand {
	var seed [32]byte
	if _, err := crand.Read(seed[:]); err != nil {
		// crypto/rand.Read does not fail on supported platforms.
		panic(fmt.Sprintf("noise: crypto/rand: %v", err))
	}
	return rand.New(rand.NewChaCha8(seed))
}

// Granularity returns the snapping grid Λ = 2^⌈log2(σ·2^-40)⌉ for noise of
// standard deviation σ > 0.
func Granularity(sigma float64) float64 {
	return math.Exp2(math.Ceil(math.Log2(sigma) - 40))
}

// snap rounds x to the nearest multiple of the power of two g.
func snap(x, g float64) float64 { return math.RoundToEven(x/g) * g }

// Gaussian adds N(0, σ²) noise to vectors, with snapping. The zero value is
// not usable; call NewGaussian.
type Gaussian struct {
	sigma, gran float64
	r           *rand.Rand
}

// NewGaussian returns a sampler of standard deviation sigma drawing from r.
func NewGaussian(sigma float64, r *rand.Rand) (*Gaussian, error) {
	if !(sigma > 0) || math.IsInf(sigma, 1) {
		return nil, fmt.Errorf("noise: sigma %v must be positive and finite", sigma)
	}
	if r == nil {
		return nil, fmt.Errorf("noise: nil random source")
	}
	return &Gaussian{sigma: sigma, gran: Granularity(sigma), r: r}, nil
}

// Sigma returns the sampler's standard deviation.
func (g *Gaussian) Sigma() float64 { return g.sigma }

// AddTo replaces each x[i] by snap(x[i]) + snap(σ·Z_i) with Z_i standard
// normal. It does not allocate.
func (g *Gaussian) AddTo(x []float64) {
	for i, v := range x {
		x[i] = snap(v, g.gran) + snap(g.sigma*g.r.NormFloat64(), g.gran)
	}
}

// AddToFloat32 is AddTo for float32 vectors (model updates); the sum is
// formed in float64 and rounded once.
func (g *Gaussian) AddToFloat32(x []float32) {
	for i, v := range x {
		x[i] = float32(snap(float64(v), g.gran) + snap(g.sigma*g.r.NormFloat64(), g.gran))
	}
}

// DiscreteGaussian samples the discrete Gaussian N_Z(0, σ²), whose mass at
// integer z is proportional to exp(-z²/(2σ²)), by rejection from a discrete
// Laplace (Canonne, Kamath, Steinke 2020, Algorithms 2 and 3, with
// t = ⌊σ⌋ + 1). The Bernoulli(exp(-γ)) trials compare a uniform float64 with
// exp(-γ) rather than using the paper's exact rational arithmetic, so the
// sampled distribution matches N_Z to about 2^-53 per trial.
type DiscreteGaussian struct {
	sigma, s2 float64
	t         int64
	r         *rand.Rand
}

// NewDiscreteGaussian returns a sampler of N_Z(0, σ²) drawing from r.
func NewDiscreteGaussian(sigma float64, r *rand.Rand) (*DiscreteGaussian, error) {
	if !(sigma > 0) || sigma > 1<<40 {
		return nil, fmt.Errorf("noise: discrete Gaussian sigma %v outside (0, 2^40]", sigma)
	}
	if r == nil {
		return nil, fmt.Errorf("noise: nil random source")
	}
	return &DiscreteGaussian{sigma: sigma, s2: sigma * sigma, t: int64(math.Floor(sigma)) + 1, r: r}, nil
}

func (d *DiscreteGaussian) bernoulliExp(gamma float64) bool {
	return d.r.Float64() < math.Exp(-gamma)
}

// discreteLaplace samples P(y) ∝ exp(-|y|/t) (Algorithm 2).
func (d *DiscreteGaussian) discreteLaplace() int64 {
	t := d.t
	for {
		u := d.r.Int64N(t)
		if !d.bernoulliExp(float64(u) / float64(t)) {
			continue
		}
		v := int64(0)
		for d.bernoulliExp(1) {
			v++
		}
		y := u + t*v
		neg := d.r.Uint64()&1 == 1
		if neg && y == 0 {
			continue
		}
		if neg {
			return -y
		}
		return y
	}
}

// Sample returns one draw.
func (d *DiscreteGaussian) Sample() int64 {
	ft := float64(d.t)
	for {
		y := d.discreteLaplace()
		a := math.Abs(float64(y)) - d.s2/ft
		if d.bernoulliExp(a * a / (2 * d.s2)) {
			return y
		}
	}
}

// AddTo adds independent draws to each coordinate of x.
func (d *DiscreteGaussian) AddTo(x []int64) {
	for i := range x {
		x[i] += d.Sample()
	}
}
