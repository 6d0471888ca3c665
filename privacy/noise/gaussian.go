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
