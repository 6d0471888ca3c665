#!/bin/sh
# bar.sh reproduces the flagship models' bar (issue 6) on the fixed
# benchmark: 1,000 agents × 8 weeks, seed 1, last 2 weeks held out.
# Usage: models/flagship/bar.sh [WORKDIR]   (run from the repository root;
# about 25 minutes on 2 idle cores, most of it 40 federated rounds; needs
# ~3 GB of memory)
set -eu
W=${1:-/tmp/sextant-bar}
mkdir -p "$W"
go build -o "$W/sextant" ./cmd/sextant
S="$W/sextant"

$S data generate --users 1000 --weeks 8 --seed 1 -o "$W/mob" -q
$S data features --kind next-destination --in "$W/mob" -o "$W/nd"
$S data features --kind eta --in "$W/mob" -o "$W/eta"
# The consented donor cohort of the v1 prior: 200 further agents (20% of
# the benchmark's size) in the same city, simulated with their own seed —
# disjoint from the 1,000 benchmark users, so each person's data goes
# through one DP mechanism (the prior's or the federated rounds'), and the
# prior never saw a benchmark user. Their training weeks only.
$S data generate --users 200 --weeks 8 --seed 2 -o "$W/donors-mob" -q
$S data features --kind next-destination --in "$W/donors-mob" -o "$W/nd-donors"

# Next destination: no DP on every user's training weeks (the reference;
# DESIGN forbids shipping it), and the v1 prior with user-level DP-SGD on
# the donor cohort: 64 donors Poisson-sampled per step, each donor's
# contribution (the mean of at most 16 clipped example gradients) bounded
# by C = 1, σ = 2.5, 25 × ⌈200/64⌉ = 100 steps; the recorded (ε, δ) is per
# user. DP-SGD samples and noises from the OS CSPRNG, so the prior (and
# what follows from it) varies a little from run to run.
$S train --arch next-destination --data "$W/nd/train.parquet" --optimizer adam --lr 0.003 --batch 128 --epochs 3 -o "$W/nd.sxm" --no-progress
$S train --arch next-destination --data "$W/nd-donors/train.parquet" --optimizer adam --lr 0.01 --batch 64 --epochs 25 \
	--dp-noise 2.5 --dp-clip 1.0 --delta 1e-5 --dp-user-column user_id --dp-max-per-user 16 -o "$W/nd-dp.sxm" --no-progress

# v2, the shippable path: federated rounds from the prior on every
# benchmark user's training weeks (one device per user) through the real
# protocol — SecAgg+, 5% dropout, two local epochs of SGD, FedAvgM,
# central DP-FedAvg (z = 1.15, C = 1, q = 200·1.3/1000), user-level
# (ε, δ) at δ = 1/1000, 40 round attempts (ε ≈ 7.5). The
# configuration was chosen on a validation split of the training weeks
# (models/flagship/fl-tune.sh), never on the held-out weeks, which this run
# does not score (--no-eval); the evaluation below does, once.
cat >"$W/nd-fl.yaml" <<TASK
name: next-destination-fl
model: {arch: next-destination, init: $W/nd-dp.sxm, init_cohort: disjoint}
data: {path: $W/nd, seed: 1}
plan: {epochs: 2, batch_size: 10, lr: 0.05, clip_norm: 1, noise_multiplier: 1.15}
target: 200
min_reports: 150
selection_window: 30m
round_deadline: 60m
secagg_plus: true
epsilon_budget: 8
optimizer: {kind: fedavgm, lr: 1, beta1: 0.9}
TASK
rm -rf "$W/nd-fl-state"
$S fl simulate --task "$W/nd-fl.yaml" --devices 1000 --rounds 40 --dropout 0.05 --no-eval --no-progress --state-dir "$W/nd-fl-state" -o "$W/nd-fl.sxm"

for m in nd nd-dp nd-fl; do
	for b in markov column:markov most-frequent; do
		echo "== $m vs $b"
		$S eval --model "$W/$m.sxm" --data "$W/nd/test.parquet" --task ranking --baseline $b --metrics acc@1,acc@5,mrr --slice explorer
	done
	$S predictability --data "$W/nd/test.parquet" --model "$W/$m.sxm"
done
$S eval --model "$W/nd-fl.sxm" --data "$W/nd/test.parquet" --task ranking --baseline "$W/nd-dp.sxm" --metrics acc@1,acc@5,mrr \
	--profile phone-mid --iterations 5000 --report "$W/next-destination.html" --json >"$W/next-destination.json"
# The rows side by side — non-DP central, DP prior, DP prior + FL, Markov,
# most-frequent, Π_max — with the bar's verdicts for the shippable model
# (also written to $W/next-destination-bar.md); the test fails when v2
# misses the bar, and the script goes on.
SEXTANT_BAR_DIR="$W" go test -count=1 -run 'TestNextDestinationBar$' -v ./models/flagship/ ||
	echo "next destination: the shippable model misses the bar (see above)"

# Last-layer fine-tune on one user's 8 weeks (9 simulated, the 9th held out).
$S data generate --users 1 --weeks 9 --seed 7 -o "$W/one" -q
$S data features --in "$W/one" -o "$W/one-nd" --holdout-weeks 1
/usr/bin/time -f "fine-tune wall %e s" $S finetune "$W/nd-fl.sxm" --params 'head.*' --data "$W/one-nd/train.parquet" \
	--optimizer adam --lr 0.01 --epochs 5 -o "$W/nd-user.sxm" --no-progress

# ETA: the gap is free-flow MAE − noise-floor MAE (expected_s).
$S train --arch eta-small --data "$W/eta/train.parquet" --labels log_ratio --loss mse --optimizer adam --lr 0.003 --batch 256 --epochs 1 -o "$W/eta-small.sxm" --no-progress
$S train --arch eta-server --data "$W/eta/train.parquet" --labels log_ratio --loss mse --optimizer adam --lr 0.001 --batch 256 --epochs 2 -o "$W/eta-server.sxm" --no-progress
for m in eta-small eta-server; do
	for b in column:free_flow_s column:expected_s; do
		echo "== $m vs $b"
		$S eval --model "$W/$m.sxm" --data "$W/eta/test.parquet" --labels travel_s --task regression --baseline $b --metrics mae,mape,p90-abs-error
	done
done

# Hybrid ETA (issue 9): eta-small with its deferral head and eta-server
# through the device router on a simulated network and clock; prints the
# table docs/benchmarks.md records (about 30 s; trains on 200 users × 3 weeks).
go test -run TestETAHybridBar -v ./models/flagship/
