package aggregate

import (
	"fmt"
	"math"

	"github.com/google/differential-privacy/go/v3/noise"
)

// Noise selects the library's noise distribution.
type Noise int

const (
	// Laplace noise gives pure ε-DP; δ must be 0.
	Laplace Noise = iota
	// Gaussian noise gives (ε, δ)-DP with δ > 0.
	Gaussian
)

// ParseNoise maps "laplace" and "gaussian".
func ParseNoise(s string) (Noise, error) {
	switch s {
	case "laplace":
		return Laplace, nil
	case "gaussian":
		return Gaussian, nil
	}
	return 0, fmt.Errorf("aggregate: unknown noise %q (want laplace or gaussian)", s)
}

func (n Noise) String() string {
	if n == Gaussian {
		return "gaussian"
	}
	return "laplace"
}

func (n Noise) lib() noise.Noise {
	if n == Gaussian {
		return noise.Gaussian()
	}
	return noise.Laplace()
}

// laplaceGranularityParam is the library's granularityParam (2^40) for
// Laplace noise (noise/laplace_noise.go).
const laplaceGranularityParam = 1 << 40

// ceilPow2 is the smallest power of two ≥ x > 0.
func ceilPow2(x float64) float64 { return math.Exp2(math.Ceil(math.Log2(x))) }

// LaplaceScale is b = l0·l∞/ε, the scale of the library's Laplace noise.
func LaplaceScale(l0 int64, lInf, eps float64) float64 { return float64(l0) * lInf / eps }

// laplaceVariance is the variance of the library's float Laplace noise: g·Z
// with Z two-sided geometric of parameter λ = gε/(Δ+g).
func laplaceVariance(l0 int64, lInf, eps float64) float64 {
	d := float64(l0) * lInf
	g := ceilPow2(d / eps / laplaceGranularityParam)
	lambda := g * eps / (d + g)
	s := math.Sinh(lambda / 2)
	return g * g / (2 * s * s)
}

// roundedLaplaceVariance is Var(round(X)) for X ~ Laplace(b): the library
// rounds its fine-grained Laplace sample to an integer for int64 results.
// P(round(X) = k) = sinh(1/(2b))·e^(-|k|/b) for k ≠ 0, so the variance is
// 2·sinh(1/(2b))·Σ k² r^k = 2·sinh(1/(2b))·r(1+r)/(1-r)³, r = e^(-1/b).
func roundedLaplaceVariance(b float64) float64 {
	r := math.Exp(-1 / b)
	om := -math.Expm1(-1 / b) // 1 - r
	return 2 * math.Sinh(1/(2*b)) * r * (1 + r) / (om * om * om)
}

// roundedGaussianVariance is Var(round(X)) for X ~ N(0, σ²).
func roundedGaussianVariance(sigma float64) float64 {
	if sigma >= 2 {
		// Sheppard's correction; the error is below 2σ²·e^(-2π²σ²) < 1e-30.
		return sigma*sigma + 1.0/12
	}
	v := 0.0
	for k := 1; k <= 64; k++ {
		fk := float64(k)
		p := 0.5*math.Erfc((fk-0.5)/(sigma*math.Sqrt2)) - 0.5*math.Erfc((fk+0.5)/(sigma*math.Sqrt2))
		v += 2 * fk * fk * p
	}
	return v
}

// Mechanism is a scalar noise mechanism of the library for a fixed budget
// and sensitivity: L0 partitions per unit, each changed by at most LInf.
type Mechanism struct {
	Noise          Noise
	Epsilon, Delta float64
	L0             int64
	LInf           float64
}

// Check validates the parameters as the library would.
func (m Mechanism) Check() error {
	if _, err := m.Noise.lib().AddNoiseFloat64(0, m.L0, m.LInf, m.Epsilon, m.Delta); err != nil {
		return fmt.Errorf("aggregate: %w", err)
	}
	return nil
}

// Sigma is the library's σ for Gaussian noise, or √2·b for Laplace noise: the
// standard deviation of the continuous noise before any rounding.
func (m Mechanism) Sigma() float64 {
	if m.Noise == Gaussian {
		return noise.SigmaForGaussian(m.L0, m.LInf, m.Epsilon, m.Delta)
	}
	return math.Sqrt2 * LaplaceScale(m.L0, m.LInf, m.Epsilon)
}

// Variance is the variance of the noise AddFloat64 adds.
func (m Mechanism) Variance() float64 {
	if m.Noise == Gaussian {
		s := m.Sigma()
		return s * s
	}
	return laplaceVariance(m.L0, m.LInf, m.Epsilon)
}

// IntVariance is the variance of the noise AddInt64 adds (the library rounds
// to an integer).
func (m Mechanism) IntVariance() float64 {
	if m.Noise == Gaussian {
		return roundedGaussianVariance(m.Sigma())
	}
	return roundedLaplaceVariance(LaplaceScale(m.L0, m.LInf, m.Epsilon))
}

// AddFloat64 returns x plus the library's noise.
func (m Mechanism) AddFloat64(x float64) (float64, error) {
	v, err := m.Noise.lib().AddNoiseFloat64(x, m.L0, m.LInf, m.Epsilon, m.Delta)
	if err != nil {
		return 0, fmt.Errorf("aggregate: %w", err)
	}
	return v, nil
}

// AddInt64 returns x plus the library's integer noise; LInf must be an
// integer.
func (m Mechanism) AddInt64(x int64) (int64, error) {
	if m.LInf != math.Trunc(m.LInf) {
		return 0, fmt.Errorf("aggregate: integer noise needs an integer l∞ sensitivity (got %v)", m.LInf)
	}
	v, err := m.Noise.lib().AddNoiseInt64(x, m.L0, int64(m.LInf), m.Epsilon, m.Delta)
	if err != nil {
		return 0, fmt.Errorf("aggregate: %w", err)
	}
	return v, nil
}
