#!/bin/sh
# fl-bar.sh reproduces issue 10's personalization and privacy bars on the
# next-destination benchmark: 10⁵ simulated users × 4 weeks (seed 1), the
# last week held out; half the users are new, each with 1 to 7 days of
# history (drawn per user), the other half with 3 weeks. 30 federated
# rounds of ≥ 500 devices (own coins, q = 500·1.3/population), SecAgg+,
# 5% dropout, FedAvgM; then 300 users are scored three ways (global,
# FL + on-device fine-tuning, local-only from initial weights), with both
# sides' local hyperparameters chosen on a validation split of each
# user's training rows (the tune section), never on the held-out week.
# Once without DP, once with user-level DP-FedAvg (z = 0.8, C = 1,
# δ = 10⁻⁵ = 1/10⁵ users).
# Usage: models/flagship/fl-bar.sh [WORKDIR] [DAYS]   (run from the
# repository root; DAYS is --new-user-days, default 1-7; about 10 minutes
# on 2 idle cores and 3 GB of disk; ~1 GB of memory per simulation)
set -eu
W=${1:-/tmp/sextant-fl-bar}
DAYS=${2:-1-7}
mkdir -p "$W"
go build -o "$W/sextant" ./cmd/sextant
S="$W/sextant"

[ -f "$W/mob/visits.parquet" ] || $S data generate --users 100000 --weeks 4 --seed 1 -o "$W/mob" -q
$S data features --kind next-destination --in "$W/mob" -o "$W/nd-$DAYS" --holdout-weeks 1 --new-users 0.5 --new-user-days "$DAYS"

for z in 0 0.8; do
	cat >"$W/task-$DAYS-z$z.yaml" <<TASK
name: next-destination
model: {arch: next-destination}
data: {path: $W/nd-$DAYS, holdout: 300, seed: 1}
plan: {epochs: 1, batch_size: 10, lr: 0.05, clip_norm: 1, noise_multiplier: $z}
target: 500
min_reports: 400
secagg_plus: true
selection_window: 30m
round_deadline: 60m
optimizer: {kind: fedavgm, lr: 1, beta1: 0.9}
delta: 1e-5
tune:
  validation_share: 0.25
  personalize:
    - {epochs: 0}
    - {params: ["head.*"], epochs: 5, lr: 0.05}
    - {params: ["*"], epochs: 5, lr: 0.05}
    - {params: ["*"], epochs: 10, lr: 0.05}
    - {params: ["*"], epochs: 20, lr: 0.05}
  local:
    - {params: ["*"], epochs: 10, lr: 0.05}
    - {params: ["*"], epochs: 20, lr: 0.05}
    - {params: ["*"], epochs: 40, lr: 0.05}
    - {params: ["*"], epochs: 20, lr: 0.1}
    - {params: ["*"], epochs: 40, lr: 0.1}
    - {params: ["*"], epochs: 40, lr: 0.2}
TASK
	$S fl simulate --task "$W/task-$DAYS-z$z.yaml" --devices 100000 --rounds 30 --dropout 0.05 --no-progress | tee "$W/result-$DAYS-z$z.txt"
done
