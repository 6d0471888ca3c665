// Package train trains Sextant graphs on device with Sextant's own engine.
//
// Backward builds the reverse-mode gradient of a scalar loss as more graph
// nodes (ai.sextant gradient operators and reused forward ones), so forward,
// backward and the optimizer update compile into one engine plan with one
// arena. Trainer wraps that: parameters selected by name or glob become
// session-owned tensors updated in place each step, and a step in steady
// state makes no heap allocations.
//
// With TrainConfig.DP a Trainer runs DP-SGD: Poisson-sampled batches
// (PoissonBatcher), per-example gradient clipping computed from the batch
// pass's own activations and output gradients (no per-example passes),
// Gaussian noise from privacy/noise, and the accountant's (ε, δ) in the
// checkpoint's provenance. See docs/design-train.md.
package train
