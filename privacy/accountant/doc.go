// Package accountant computes the privacy cost of differentially private
// training and telemetry, and the noise needed to stay within a budget.
//
// # RDP
//
// An RDP accountant tracks, for a fixed grid of Rényi orders α, an upper
// bound on the Rényi divergence of order α between the mechanism's output
// distributions on neighbouring data sets (add/remove-one adjacency).
// Composition adds the bounds. Events:
//
//   - SampledGaussian: the Poisson-subsampled Gaussian mechanism (Mironov,
//     Talwar, Zhang 2019, "Rényi Differential Privacy of the Sampled Gaussian
//     Mechanism"). Integer orders use the exact binomial sum (their §3.2) in
//     log space; fractional orders use the two-sided series of §3.3 with the
//     signed generalized binomial coefficients C(α, i), which alternate in
//     sign once i > α. Dropping the signs (summing |C(α, i)|) over-estimates
//     A_α; tests compare with a numerical integration of A_α.
//   - Gaussian, ZCDP, Laplace (Mironov 2017, Prop. 6), TreeAggregation
//     (DP-FTRL, Kairouz et al. 2021, App. D), DistributedDiscreteGaussian
//     (Kairouz, Liu, Steinke 2021, Thm. 1), composed and self-composed events.
//   - BinaryTree and HybridCounter: continual release of running counts
//     (Chan, Shi, Song 2011; Dwork et al. 2010). A binary tree of
//     D = ⌈log2(T+1)⌉ levels over T releases, with Laplace nodes (D Laplace
//     mechanisms, ε = D·Δ/b) or Gaussian ones (TreeAggregation's one tree);
//     the hybrid counter (logarithmic terms of scale b and epoch trees),
//     ε = 2Δ/b for any number of releases.
//   - PoissonSampled: any event on a Poisson sample, by the general bound of
//     Zhu and Wang 2019 (Thm. 6) at integer orders; used for the subsampled
//     distributed discrete Gaussian.
//
// Conversion to (ε, δ) is either Improved (Balle et al. 2020, Thm. 21; also
// Canonne, Kamath, Steinke 2020, Prop. 12), which current libraries use, or
// Classic (Mironov 2017, Prop. 3), which older papers report.
//
// # PLD
//
// A privacy-loss-distribution accountant (PLD) discretizes the privacy loss
// of the subsampled Gaussian pessimistically and composes by FFT, giving a
// tighter ε than RDP for the same mechanism. PLD.Compose convolves the PLDs of
// different mechanisms, and ComposeSampledGaussians composes a schedule of
// subsampled-Gaussian runs with different (q, σ).
//
// # Calibration
//
// NoiseMultiplier finds, by bisection, the smallest noise multiplier whose
// ε for (q, steps, δ) does not exceed a target, for either accountant.
package accountant
