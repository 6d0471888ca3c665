#!/bin/sh
# bar.sh reproduces the flagship models' bar (issue 6) on the fixed
# benchmark: 1,000 agents × 8 weeks, seed 1, last 2 weeks held out.
# Usage: models/flagship/bar.sh [WORKDIR]   (run from the repository root;
# about 5 minutes on 2 cores; needs ~2 GB of memory for the training split)
set -eu
W=${1:-/tmp/sextant-bar}
mkdir -p "$W"
go build -o "$W/sextant" ./cmd/sextant
S="$W/sextant"

$S data generate --users 1000 --weeks 8 --seed 1 -o "$W/mob" -q
$S data features --kind next-destination --in "$W/mob" -o "$W/nd"
$S data features --kind next-destination --in "$W/mob" -o "$W/nd-donors" --donors 0.2
$S data features --kind eta --in "$W/mob" -o "$W/eta"

# Next destination: no DP on every user's training weeks, and the v1
# prior with user-level DP-SGD on a 20% donor cohort (~200 users): 64
# donors Poisson-sampled per step, each donor's contribution (the mean of
# at most 16 clipped example gradients) bounded by C = 1, σ = 2.5,
# 25 × ⌈200/64⌉ = 100 steps; the recorded (ε, δ) is per user.
$S train --arch next-destination --data "$W/nd/train.parquet" --optimizer adam --lr 0.003 --batch 128 --epochs 3 -o "$W/nd.sxm" --no-progress
$S train --arch next-destination --data "$W/nd-donors/train.parquet" --optimizer adam --lr 0.01 --batch 64 --epochs 25 \
	--dp-noise 2.5 --dp-clip 1.0 --delta 1e-5 --dp-user-column user_id --dp-max-per-user 16 -o "$W/nd-dp.sxm" --no-progress
for m in nd nd-dp; do
	for b in markov column:markov most-frequent; do
		echo "== $m vs $b"
		$S eval --model "$W/$m.sxm" --data "$W/nd/test.parquet" --task ranking --baseline $b --metrics acc@1,acc@5,mrr --slice explorer
	done
	$S predictability --data "$W/nd/test.parquet" --model "$W/$m.sxm"
done
$S eval --model "$W/nd.sxm" --data "$W/nd/test.parquet" --task ranking --baseline markov --metrics acc@1,acc@5,mrr \
	--profile phone-mid --iterations 5000 --report "$W/next-destination.html" --json >"$W/next-destination.json"

# Last-layer fine-tune on one user's 8 weeks (9 simulated, the 9th held out).
$S data generate --users 1 --weeks 9 --seed 7 -o "$W/one" -q
$S data features --in "$W/one" -o "$W/one-nd" --holdout-weeks 1
/usr/bin/time -f "fine-tune wall %e s" $S finetune "$W/nd-dp.sxm" --params 'head.*' --data "$W/one-nd/train.parquet" \
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
