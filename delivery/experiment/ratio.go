package experiment

// RatioSummary is one arm of a ratio metric Σm/Σd over units (e.g.
// inference errors per session, where units are devices): the two
// per-unit metrics' sums and sums of squares, and Σ m·d.
type RatioSummary struct {
	N float64 `json:"n"`
	// Numerator and Denominator hold Sum and SumSquares of m and d (their
	// N is ignored; the arm's N counts the units).
	Numerator   Summary `json:"numerator"`
	Denominator Summary `json:"denominator"`
	// SumProducts is Σ m·d.
	SumProducts float64 `json:"sum_products"`
	// NoiseVariance is the DP-noise variance of the released ratio.
	NoiseVariance float64 `json:"noise_variance,omitempty"`
}

// covariance is the sample covariance (Σxy − ΣxΣy/n)/(n − 1).
func covariance(n, sumX, sumY, sumXY float64) float64 {
	if n <= 1 {
		return 0
	}
	return (sumXY - sumX*sumY/n) / (n - 1)
}

// ratioArm: the estimate Σm/Σd and the per-unit variance of the ratio of
// means by the delta method (gbstats variance_of_ratios):
// Var(M/D) ≈ σ_m²/μ_d² + σ_d²·μ_m²/μ_d⁴ − 2·cov(m, d)·μ_m/μ_d³.
func ratioArm(r RatioSummary) (arm, error) {
	m := Summary{N: r.N, Sum: r.Numerator.Sum, SumSquares: r.Numerator.SumSquares}
	d := Summary{N: r.N, Sum: r.Denominator.Sum, SumSquares: r.Denominator.SumSquares}
	if err := m.check("numerator", false); err != nil {
		return arm{}, err
	}
	if err := d.check("denominator", false); err != nil {
		return arm{}, err
	}
	a := arm{n: r.N, noise: r.NoiseVariance}
	if d.Sum == 0 {
		return a, ErrZeroBaseline
	}
	a.mean = m.Sum / d.Sum
	a.base = a.mean
	mm, md := m.Mean(), d.Mean()
	cov := covariance(r.N, m.Sum, d.Sum, r.SumProducts)
	a.v = m.Variance()/(md*md) + d.Variance()*mm*mm/(md*md*md*md) - 2*cov*mm/(md*md*md)
	return a, nil
}

// Ratios compares a ratio metric between arms; the relative lift uses
// the delta method again on top of each arm's ratio variance.
func Ratios(control, treatment RatioSummary, o Options) (Result, error) {
	c, err := ratioArm(control)
	if err != nil {
		return Result{}, err
	}
	t, err := ratioArm(treatment)
	if err != nil {
		return Result{}, err
	}
	m, err := differenceMoments(c, t, o.Relative)
	if err != nil {
		return Result{}, err
	}
	return m.test(o)
}
