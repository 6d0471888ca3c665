// Package health is the server side of device health reports (issue 8):
// an Aggregator that takes the reports devices send with their check-ins
// (device/health), keeps each device's running totals per (model, version)
// in memory, and releases them only through central-DP aggregates
// (privacy/aggregate) — as the rollout gates' Source and as per-feature
// input drift (population stability index) for the admin API.
//
// # Privacy
//
// The privacy unit is the device. Its id comes from the authenticated
// check-in (a report carries none) and is used only as a map key in memory
// to bound contributions; totals are never written to disk or logged, and
// a device's totals are dropped once they began more than the streams'
// retention (14 days) ago — raw reports are folded in and dropped at once. Per release, a device counts in one partition (the version it
// reported most recently, when it ran both arms) and with clamped values:
// at most MaxEvents events, a latency p95 in [0, MaxLatencyMs], a memory
// peak in [0, MaxMemoryMB]. Each release of a metric's two arms costs the
// stream's ε per release (split among the counts it needs; the arms are
// disjoint, so they compose in parallel) and is charged to the stream's
// daily budget in a telemetry.Ledger before it is computed. A release is
// reused for MinInterval, and once the day's budget is spent the last
// release is served again (post-processing costs nothing), so however
// often gates or operators look, the spend is bounded.
//
// # Metrics
//
// Gate metric names map to streams: load_failures (loads), inference_errors
// (inference), crash_free_sessions (sessions, higher is better), acc1
// (quality: top-1 hits over labeled predictions, higher is better) are
// proportions over events; latency_p95 (each device's p95, interpolated in
// its latency histogram) and memory (each device's peak MiB) are means over
// devices. A proportion's arm is N = noisy events, Sum = noisy outcomes,
// NoiseVariance = (V_S + p̂²·V_N)/N² (delta method for the ratio); a mean's
// arm is N = noisy device count, Sum and SumSquares noisy, NoiseVariance =
// (V_S + μ̂²·V_N)/N². The gates add NoiseVariance to the sampling variance
// of each arm's mean, which widens their intervals.
//
// # Drift
//
// For each public input with a training histogram in the candidate's
// manifest (device/health.TrainingHistogramsOf), each device's bucket
// counts are normalized to a distribution (L1 norm 1) and summed per arm;
// Laplace noise of scale F/ε (F features) on every bucket makes the
// release ε-DP. The population stability index
//
//	PSI = Σᵢ (aᵢ − eᵢ)·ln(aᵢ/eᵢ)
//
// of the released proportions a against the training proportions e
// (Yurdakul 2018, "Statistical properties of the population stability
// index", J. Risk Model Validation; Siddiqi 2006, "Credit Risk
// Scorecards", p. 137, with the conventional reading < 0.1 stable,
// 0.1–0.25 moderate shift, > 0.25 major shift) raises an alarm past
// Threshold (0.2 by default). Empty buckets are floored at 10⁻⁴ so the
// logarithm stays finite.
package health
