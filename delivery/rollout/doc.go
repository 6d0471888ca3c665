// Package rollout is the server side of staged rollouts (DESIGN.md part 5):
// a controller that moves each rollout through its stages on an injected
// clock, watching gates that compare the candidate version with the
// current one, and an Assigner the director consults for the version a
// device should run.
//
// # Model
//
// A Spec names the model, the candidate and current versions, a targeting
// rule, stages (share in basis points, minimum bake time) and gates. The
// state machine is
//
//	pending → baking stage k → baking stage k+1 → … → completed
//	                 ↓ ↑ (pause / resume)
//	               paused
//	baking or paused → rolled back (a gate failed, or by hand) | killed
//
// Every transition appends a Record with its time, actor, reason and the
// gate results it was decided on (the evidence). Manual override can
// advance, pause, resume, roll back or kill at any time.
//
// # Assignment
//
// A device is a member when it matches the rule and
// targeting.Rollout(salt, share).Contains(unit); the salt is fixed for the
// rollout's life, so raising the share never removes a device. Members get
// the candidate, everyone else the current version; after a rollback or
// kill everyone gets the current (previous) version again, from the very
// evaluation that decided it, so devices revert at their next check-in.
// A completed rollout serves the candidate to every eligible device and,
// when its rule admits all devices, moves the model's current-version
// pointer (Pointer, which store.DB implements).
//
// # Gates
//
// Gates read each metric's two arms (experiment.Summary, cumulative since
// the rollout started) from a Source and judge the regression with
// experiment's always-valid sequential intervals, so the controller may
// look every few seconds without inflating its error rates. A regression
// must be significant beyond the gate's tolerance to fail; a pass needs
// the interval to lie within the tolerance; anything else is inconclusive
// and holds the stage — it never promotes. Arms released through central
// DP carry the noise's variance in Summary.NoiseVariance (see
// FromEstimate), which widens the intervals. delivery/health releases the
// proportion metrics continually (a hybrid binary-tree counter per
// rollout, metric and day): each look's arms carry that release's own variance, and the noises
// of consecutive looks are correlated rather than fresh.
//
// Metric conventions: load failures, inference errors and on-device
// Acc@1 are proportions over events (Sum = events with the outcome, N =
// events). Latency p95 is the mean over devices of each device's own p95
// (MetricMean, units = devices, usually with a Relative tolerance): a mean
// of per-device values has a plain sampling variance, whereas a fleet
// p95's variance would need a density estimate.
//
// # Timing
//
// Controller.Run evaluates every rollout each Interval (10 s by default)
// of the clock, so a breach that the data make significant reaches the
// director within one interval; tests run the controller under
// testing/synctest.
package rollout
