// Package privacy is the root of Sextant's differential-privacy code. It holds
// no code of its own; its sub-packages are:
//
//   - accountant: RDP and PLD accounting of DP-SGD / DP-FedAvg style
//     mechanisms, conversion to (ε, δ), and noise calibration.
//   - ledger: a persisted record of the (ε, δ) spent per model lineage and task.
//   - noise: vectorized Gaussian and discrete Gaussian samplers with injected
//     randomness, and the scalar mechanisms of Google's DP library.
//   - dpagg: central DP aggregates for rollout health metrics, each reporting
//     the variance its noise adds.
//   - ldp: local-DP telemetry (Count Mean Sketch, Hadamard Count Mean Sketch,
//     stream schemas and the per-device budget ledger).
package privacy
