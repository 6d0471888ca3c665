// Package noise samples the noise of DP mechanisms with injected randomness.
//
// Google's differential-privacy Go library (github.com/google/differential-privacy/go/v3)
// re-derives σ from (ε, δ, sensitivity) on every call and draws from a global
// locked generator, which is far too slow for DP-SGD and DP-FedAvg vectors of
// 10⁵–10⁶ coordinates. Here a Gaussian sampler for a given σ adds noise to a
// whole vector from a *rand.Rand the caller provides: a seeded one in tests
// and simulations, CryptoRand (ChaCha8 keyed from crypto/rand) in production.
//
// Floating-point attack defence (Mironov 2012, "On Significance of the Least
// Significant Bits for Differential Privacy"): the low-order bits of a
// floating-point Gaussian sample are not distributed like those of a real
// Gaussian and can reveal the un-noised value. As in Google's library, the
// value and the noise are both rounded to a power-of-two granularity
// Λ = 2^⌈log2(σ·2^-40)⌉ before they are added, so every output lies on the
// grid ΛZ and the bits below Λ carry nothing. Rounding the value moves it by at
// most Λ/2, so the effective sensitivity grows by Λ (relative 2^-40·σ/Δ,
// negligible; callers may add it to the sensitivity).
//
// DiscreteGaussian samples N_Z(0, σ²) (Canonne, Kamath, Steinke 2020,
// "The Discrete Gaussian for Differential Privacy", Algorithm 3) for
// distributed DP under secure aggregation.
package noise
