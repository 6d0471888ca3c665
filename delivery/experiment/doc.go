// Package experiment is the statistics of A/B experiments and rollout
// gates (DESIGN.md part 5), following the conventions of GrowthBook's
// open-source stats engine (gbstats) and reproducing its published worked
// values in the tests.
//
// Each arm is summarized by sufficient statistics (n, Σx, Σx², and for
// ratio and CUPED metrics the second metric's sums and Σxy), so the
// analysis never needs unit-level data:
//
//   - Means: difference of means with Welch's t test, degrees of freedom
//     by Welch–Satterthwaite, sample variance with n − 1.
//   - Proportions: the same test with the binomial variance p(1 − p).
//   - Ratios (Σm/Σd per arm) and relative lift (Δ/μ_control): delta method.
//   - CUPED: regression adjustment on a pre-period covariate, θ pooled
//     over both arms.
//   - Sequential: always-valid intervals and p-values from the asymptotic
//     confidence sequences of Waudby-Smith et al. (2023,
//     arXiv:2103.06476), tuned by N* (default 5000), so looking at the
//     results as often as one likes keeps the false-positive rate ≤ α.
//   - SRM: a χ² goodness-of-fit test of the observed split against the
//     configured weights; alert at p < 0.001.
//
// Arms may carry the variance that differential-privacy noise adds to
// their released mean (privacy/aggregate reports it); the analysis adds it
// to the sampling variance, so gates widen their intervals honestly.
//
// The Student t and χ² distribution functions are this package's own
// (dist.go: Numerical Recipes continued fractions), checked against SciPy.
package experiment
