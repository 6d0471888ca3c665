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
// retention (14 days) ago — raw reports are folded in and dropped at once.
//
// # Continual release of the counters
//
// Gates re-read a rollout's cumulative counts every evaluation. The
// proportion metrics (load_failures, inference_errors,
// crash_free_sessions, acc1) are counters, released continually by the
// binary (tree) mechanism (Chan, Shi, Song 2011; Dwork et al. 2010;
// privacy/aggregate.Counter) instead of a fresh noisy release per look:
//
//   - Counting: a device's first MaxEvents events of each metric per
//     model and UTC day count, over all the model's versions, with their
//     outcomes (scaled down alike for the report that crosses the cap);
//     the per-device day counts are dropped at the day's end. Each counted
//     event falls in one of four counts of a rollout's metric — with or
//     without the outcome, current or candidate version — so one device
//     changes them by at most Δ = MaxEvents in total over the day.
//   - Counters: per rollout, metric and UTC day, the first look starts a
//     counter for each count — the hybrid mechanism (Chan, Shi, Song 2011,
//     §4; privacy/aggregate.Counter): at t = 2^k a logarithmic term, the
//     counts since the previous power of two with Laplace noise of scale
//     b = 2Δ/ε; within the epoch (2^k, 2^{k+1}) a binary tree of k levels
//     with node scale k·b. Release t, at each later look (at most one per
//     MinInterval), adds the counts since release t−1; release
//     t = 2^k + r has noise variance (k+1)·2b² + popcount(r)·2(kb)², which
//     grows as log³t (log²t for Gaussian nodes, Config.Noise), where t
//     fresh releases of the same ε would grow as t². The noise comes from
//     Google's library (its CSPRNG sampler). The last release of a day is
//     the closing one, made when the day ends.
//   - Charge: starting the day's counters charges the stream's ε once
//     (Aggregator.TreeCost: the accountant's accountant.HybridCounter,
//     2Δ/b = ε for Laplace) to its daily budget in a telemetry.Ledger; the
//     day's other looks cost nothing. A stream's spend over a day is
//     therefore ε × the (rollout, metric) pairs that looked that day.
//   - Arms: a count's release is the sum of the earlier days' closing
//     releases and today's latest (their noises are independent, so
//     variances add). An arm is N = k̂ + f̂ events, Sum = k̂ (with outcome)
//     and NoiseVariance = ((1−p̂)²·V_k + p̂²·V_f)/N², the delta method's
//     variance of p̂ = k̂/(k̂+f̂). Consecutive releases share nodes, so their
//     noises are correlated; each carries its own marginal variance.
//
// Mean metrics (latency_p95, memory) are not counters — a device's value
// moves both ways — and stay fresh releases: per release a device counts in
// one partition (the version it reported most recently, when it ran both
// arms) with a latency p95 in [0, MaxLatencyMs] or a memory peak in [0,
// MaxMemoryMB]; each release costs the stream's ε (split among the counts
// it needs; the arms are disjoint, so they compose in parallel), charged
// to the stream's daily budget before it is computed. Config.FreshReleases
// applies that to the proportion metrics too (at most MaxEvents events per
// device and version, rates kept). A release is reused for MinInterval;
// when a day's budget is spent Arms fails and the gate is inconclusive.
//
// # Per-device gates
//
// A device's predictions are not independent of each other (a predictable
// user's phone hits often), so a proportion pooled over events understates
// its variance; and most of the spread between devices is their users',
// not the versions'. The per-device metrics (acc1_device,
// inference_errors_device; experiment.MetricMean gates) fix both:
//
//   - Baseline: when a rollout starts (Aggregator.StartRollout, wired as
//     rollout.Options.OnStart) each device's rate so far is kept, on the
//     current version or else over all the model's versions: the
//     pre-period covariate x, fixed before any device is assigned.
//   - Values: every UnitPeriod (a day by default) a release covers the
//     period just ended. Each device with events in it gives one value
//     z = y − x ∈ [−1, 1], y its rate over the period's events on its
//     arm's version (z = y without a baseline). That is CUPED (Deng et
//     al. 2013) with θ fixed at 1: unbiased for any θ fixed in advance
//     (x is pre-treatment, so E[x̄_t − x̄_c] = 0), near the optimal
//     θ = cov(x, y)/var(x) when x and y measure the same thing over
//     similar amounts of data, and it needs three released sums per arm
//     where an estimated θ needs six (twice the noise on each).
//   - Release: per arm the device count, Σz and Σz², each changed by at
//     most 1 by one device (it is in one arm), with ε shared 0.1/0.5/0.4
//     (z sits near 0, so the count's noise barely moves the mean); one
//     release per period charged the stream's ε. A device's privacy loss
//     over a rollout is ε per period, as for fresh releases of running
//     totals, but each period's noise is independent, so the noise on the
//     mean falls as 1/√periods.
//   - Analysis: the mean is over device-periods; the sampling variance of
//     the sum of the periods' sums is bounded by Cauchy–Schwarz, Var(Σ S_d)
//     ≤ D·Σ Var(S_d), whatever the correlation between a device's periods
//     (exact when every period repeats the last, conservative when
//     periods are independent); N is the devices per period, not
//     device-periods, so the sequential interval does not count a device
//     twice. The noise variance is added as for the other metrics.
//
// TestUnitGateCoverage checks the always-valid interval's coverage by
// simulation with the noise on.
//
// # Metrics
//
// Gate metric names map to streams: load_failures (loads), inference_errors
// (inference), crash_free_sessions (sessions, higher is better), acc1
// (quality: top-1 hits over labeled predictions, higher is better) are
// proportions over events; latency_p95 (each device's p95, interpolated in
// its latency histogram) and memory (each device's peak MiB) are means over
// devices. A fresh proportion arm is N = noisy events, Sum = noisy
// outcomes, NoiseVariance = (V_S + p̂²·V_N)/N² (delta method for the
// ratio); a mean's arm is N = noisy device count, Sum and SumSquares noisy,
// NoiseVariance = (V_S + μ̂²·V_N)/N². The gates add NoiseVariance to the
// sampling variance of each arm's mean, which widens their intervals.
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
