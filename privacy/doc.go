// Package privacy is the root of Sextant's differential-privacy code. It holds
// no code of its own; its sub-packages are:
//
//   - accountant: RDP and PLD accounting of DP-SGD / DP-FedAvg style
//     mechanisms, conversion to (ε, δ), and noise calibration.
//   - ledger: a persisted record of the (ε, δ) spent per model lineage and task.
//   - noise: vectorized Gaussian and discrete Gaussian samplers with injected
//     randomness.
//   - ldp: local-DP telemetry (Count Mean Sketch, Hadamard Count Mean Sketch:
//     device encoders, server sketches, debiased estimates, simulation).
package privacy
