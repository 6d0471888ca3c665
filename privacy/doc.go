// Package privacy is the root of Sextant's differential-privacy code. It holds
// no code of its own; its sub-packages are:
//
//   - accountant: RDP and PLD accounting of DP-SGD / DP-FedAvg style
//     mechanisms, conversion to (ε, δ), and noise calibration.
//   - ledger: a persisted record of the (ε, δ) spent per model lineage and
//     task, with typed events (Gaussian, subsampled Gaussian, Laplace, zCDP,
//     tree aggregation, distributed discrete Gaussian, subsampled or not).
//   - noise: vectorized Gaussian and discrete Gaussian samplers with injected
//     randomness.
//   - ldp: local-DP telemetry (Count Mean Sketch, Hadamard Count Mean Sketch:
//     device encoders, server sketches, debiased estimates, simulation; the
//     Sequence Fragment Puzzle for discovering new strings).
//   - telemetry: the device side of telemetry: declared stream schemas, the
//     encoder that sends only declared fields, the per-device daily ε budget
//     ledger, and the binary wire format of a report.
//   - aggregate: central-DP aggregates (count, sum, mean, quantiles with
//     contribution bounding) through Google's dpagg, each with the variance
//     its noise adds, and the binary-tree Counter that releases a running
//     count continually; server only.
package privacy
