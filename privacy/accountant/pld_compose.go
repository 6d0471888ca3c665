package accountant

import (
	"fmt"
	"math"
)

// Compose returns the PLD of running p's mechanism and then o's (their
// losses add, so each direction's PMFs convolve). Both must use the same
// interval. The convolution is a linear one by FFT; the result's extreme
// tails (pldTrimMass at each end) are trimmed pessimistically, as for a
// single step.
func (p *PLD) Compose(o *PLD) (*PLD, error) {
	if p.Remove.Interval != o.Remove.Interval || p.Add.Interval != o.Add.Interval {
		return nil, fmt.Errorf("accountant: composing PLDs of intervals %v and %v", p.Remove.Interval, o.Remove.Interval)
	}
	r, err := convolve(&p.Remove, &o.Remove)
	if err != nil {
		return nil, err
	}
	a, err := convolve(&p.Add, &o.Add)
	if err != nil {
		return nil, err
	}
	return &PLD{Remove: r, Add: a}, nil
}

// convolve is the PMF of the sum of independent losses from a and b.
func convolve(a, b *LossPMF) (LossPMF, error) {
	n := len(a.PMF) + len(b.PMF) - 1
	size := 1
	for size < n {
		size <<= 1
	}
	if size > maxFFTSize {
		return LossPMF{}, fmt.Errorf("accountant: PLD composition needs an FFT of %d points; use a coarser interval", size)
	}
	// One complex FFT of a + i·b gives both spectra.
	buf := make([]complex128, size)
	for j, v := range a.PMF {
		buf[j] = complex(v, 0)
	}
	for j, v := range b.PMF {
		buf[j] += complex(0, v)
	}
	fft(buf, false)
	prod := make([]complex128, size)
	for k := 0; k < size; k++ {
		m := (size - k) % size
		zk, zm := buf[k], buf[m]
		ak := (zk + conj(zm)) / 2
		bk := (zk - conj(zm)) / complex(0, 2)
		prod[k] = ak * bk
	}
	fft(prod, true)
	out := LossPMF{Interval: a.Interval, Offset: a.Offset + b.Offset, PMF: make([]float64, n)}
	for j := range out.PMF {
		out.PMF[j] = max(real(prod[j]), 0)
	}
	out.Infinite = min(1, 1-(1-a.Infinite)*(1-b.Infinite))
	return out.trimmed(pldTrimMass), nil
}

// SampledGaussianStep is a run of Count steps of the Poisson-subsampled
// Gaussian mechanism, for PLD composition of heterogeneous training.
type SampledGaussianStep struct {
	Q, NoiseMultiplier float64
	Count              int
}

// ComposeSampledGaussians returns the PLD of a sequence of runs with
// different (q, σ): each run is self-composed by FFT and the runs are then
// convolved (interval 0 means DefaultDiscretization). Runs with Count 0 or
// Q 0 contribute nothing; one with σ = 0 makes ε infinite (an error here).
func ComposeSampledGaussians(runs []SampledGaussianStep, interval float64) (*PLD, error) {
	if interval == 0 {
		interval = DefaultDiscretization
	}
	acc := &PLD{
		Remove: LossPMF{Interval: interval, PMF: []float64{1}},
		Add:    LossPMF{Interval: interval, PMF: []float64{1}},
	}
	for _, r := range runs {
		if r.Count < 0 {
			return nil, fmt.Errorf("accountant: negative step count %d", r.Count)
		}
		if r.Count == 0 || r.Q == 0 || math.IsInf(r.NoiseMultiplier, 1) {
			continue
		}
		if !(r.NoiseMultiplier > 0) {
			return nil, fmt.Errorf("accountant: PLD of noise multiplier %v (no noise: ε is infinite)", r.NoiseMultiplier)
		}
		one, err := SampledGaussianPLD(r.Q, r.NoiseMultiplier, interval)
		if err != nil {
			return nil, err
		}
		run, err := one.SelfCompose(r.Count)
		if err != nil {
			return nil, err
		}
		if acc, err = acc.Compose(run); err != nil {
			return nil, err
		}
	}
	return acc, nil
}
