// Package aggregate computes central-DP aggregates of rollout health metrics
// (count, bounded sum, mean, quantiles) through the dpagg package of Google's
// differential-privacy Go library, with contribution bounding, and reports
// the variance the noise adds so that gates can fold it into their
// confidence intervals. It runs on the server only.
//
// # Contribution bounding
//
// Records carry a privacy unit (a device), a partition (a rollout cohort,
// version or stage) and a value. Partitions are public: the caller lists
// them, records for other partitions are dropped, and every listed partition
// gets a result (noise alone when nobody contributed), so partition
// selection spends nothing. Bound keeps, for each unit, at most
// MaxPartitionsContributed of its partitions and at most
// MaxContributionsPerPartition of its values in each, both chosen uniformly
// at random with an injected generator. The library assumes these bounds but
// does not enforce them.
//
// # Noise variance
//
// The library draws its noise from a cryptographic generator that cannot be
// seeded. Its parameters are derived as the library derives them:
//
//   - Laplace: L1 sensitivity Δ = l0·l∞, and the library samples
//     g·Z with granularity g = 2^⌈log2((Δ/ε)·2^-40)⌉ and Z two-sided geometric
//     with parameter λ = gε/(Δ+g), whose variance is exactly
//     g²/(2·sinh²(λ/2)) ≈ 2b², b = Δ/ε.
//   - Gaussian: σ = noise.SigmaForGaussian(l0, l∞, ε, δ) (Balle and Wang 2018's
//     analytic calibration by bisection, 1e-3 relative accuracy), sampled as a
//     scaled symmetric binomial of variance σ².
//   - Integer results (counts) are rounded to integers by the library: a
//     rounded Laplace has variance 2·sinh(1/(2b))·r(1+r)/(1-r)³ with
//     r = e^(-1/b); a rounded Gaussian has variance Σ k²·P(round(X)=k)
//     (σ² + 1/12 to within e^(-2π²σ²) once σ ≥ 2, Sheppard's correction).
//
// Count and Sum report that variance exactly. Mean, which follows the
// library's BoundedMean (half the budget each for a normalized sum and a
// count), reports the first-order (delta method) variance
// (V_S + μ̂²·V_C)/Ĉ² evaluated at the noisy count Ĉ and noisy normalized mean
// μ̂, so nothing but DP outputs enters it. Quantiles reports each tree node's
// count variance exactly and, given a count, a delta-method variance of each
// quantile (see QuantileEstimate.Variance).
//
// # Continual release
//
// Counter releases a running count again and again by the hybrid
// mechanism (Chan, Shi, Song 2011): logarithmic terms at powers of two and
// a binary tree within each epoch between them (see Continual). All its
// releases together cost one ε, however many there are, and release t has
// noise variance O(log³ t) (Laplace; O(log² t) Gaussian), reported with
// each release (Continual.VarianceAt), instead of t compositions.
//
// Tests check each reported variance against the empirical variance over
// many runs; the tolerance is five standard errors of a sample variance,
// 5·√((κ-1)/K) for K runs of noise with kurtosis κ.
package aggregate
