package flsim

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/sextant-ml/sextant/features/tables"
	"github.com/sextant-ml/sextant/internal/cputime"
	"github.com/sextant-ml/sextant/internal/mobtest"
	"github.com/sextant-ml/sextant/mobility"
)

// benchSpec is a round of about 100 clients (200 devices, q = ½) training a
// 256→128→32 MLP (37,024 parameters) for one local epoch of 5 batches.
func benchSpec() Spec {
	return Spec{
		Name:   "bench",
		Model:  ModelSpec{Inputs: 256, Hidden: []int{128}, Classes: 32},
		Data:   DataSpec{Examples: 50, Holdout: 1, Seed: 1},
		Plan:   PlanSpec{Epochs: 1, BatchSize: 10, LR: 0.05, ClipNorm: 1},
		Target: 100, OverSelection: 1, MinReports: 60,
	}
}

// oneRound runs two rounds of spec and returns the second's report and the
// CPU seconds this process spent on it (clients and server together; user
// plus system, from the end of the first round to the end of the second, so
// no setup). CPU time, unlike wall time, hardly moves with the load other
// processes put on a shared machine.
func oneRound(b *testing.B, spec Spec, devices int, seed uint64) (RoundReport, float64) {
	r, cpu, _ := oneRoundOf(b, spec, devices, seed)
	return r, cpu
}

// oneRoundOf is oneRound that also returns the model's parameter count.
func oneRoundOf(b *testing.B, spec Spec, devices int, seed uint64) (RoundReport, float64, int) {
	b.Helper()
	var cpu []float64
	progress := func(RoundReport) { cpu = append(cpu, cputime.Seconds()) }
	rep, err := Run(context.Background(), Config{Spec: spec, Devices: devices, Rounds: 2, Dropout: 0.05, Seed: seed, Dir: b.TempDir(), NoEval: true, Progress: progress})
	if err != nil {
		b.Fatal(err)
	}
	if len(rep.PerRound) != 2 || len(cpu) != 2 {
		b.Fatalf("%d rounds ran", len(rep.PerRound))
	}
	r := rep.PerRound[1]
	if !r.Committed {
		b.Fatalf("round failed: %s", r.Failure)
	}
	return r, cpu[1] - cpu[0], rep.Parameters
}

// BenchmarkRoundCost runs, in each iteration, the same round (same devices,
// data, seeds, 5% dropout; the second of a run) five ways and reports each
// one's wall time and CPU time per round (clients and server in this
// process) and the ratios of both: SecAgg (complete graph) and SecAgg+
// against plain aggregation, and central and distributed DP against SecAgg+
// without DP. On a machine others load, read the cpu ratios.
func BenchmarkRoundCost(b *testing.B) {
	modes := roundCostModes()
	secs := make([]float64, len(modes))
	cpus := make([]float64, len(modes))
	server := make([]float64, len(modes))
	bytes := make([]float64, len(modes))
	device := make([]float64, len(modes)) // a device's own work: training + secagg
	reports := 0
	seed := uint64(0)
	for b.Loop() {
		seed++
		for i, m := range modes {
			s := benchSpec()
			m.set(&s)
			r, cpu := oneRound(b, s, 200, seed)
			secs[i] += r.Seconds
			cpus[i] += cpu
			server[i] += r.ServerSeconds
			bytes[i] += r.BytesPerClient
			device[i] += r.TrainingMs + r.SecAggMs
			if i == 0 {
				reports += r.Reports
			}
		}
	}
	n := float64(b.N)
	for i, m := range modes {
		b.ReportMetric(secs[i]/n, m.name+"-s/round")
		b.ReportMetric(cpus[i]/n, m.name+"-cpu-s/round")
		b.ReportMetric(1000*server[i]/n, m.name+"-server-ms/round")
		b.ReportMetric(bytes[i]/n, m.name+"-B/client")
		b.ReportMetric(device[i]/n, m.name+"-device-ms")
	}
	// A device's own work per round (what a phone spends; in the
	// simulation all devices share this machine's cores).
	b.ReportMetric(device[2]/device[0], "device:secagg+/plain")
	b.ReportMetric(device[4]/device[2], "device:distributed-dp/secagg+")
	b.ReportMetric(float64(reports)/n, "reports/round")
	b.ReportMetric(secs[1]/secs[0], "secagg/plain")
	b.ReportMetric(secs[2]/secs[0], "secagg+/plain")
	b.ReportMetric(secs[3]/secs[2], "central-dp/secagg+")
	b.ReportMetric(secs[4]/secs[2], "distributed-dp/secagg+")
	b.ReportMetric(cpus[1]/cpus[0], "cpu:secagg/plain")
	b.ReportMetric(cpus[2]/cpus[0], "cpu:secagg+/plain")
	b.ReportMetric(cpus[3]/cpus[2], "cpu:central-dp/secagg+")
	b.ReportMetric(cpus[4]/cpus[2], "cpu:distributed-dp/secagg+")
}

// roundCostModes are the five ways BenchmarkRoundCost runs a round; the
// next-destination benchmark runs all but the complete graph.
func roundCostModes() []costMode {
	on, off := true, false
	return []costMode{
		{"plain", func(s *Spec) { s.SecureAggregation = &off }},
		{"secagg", func(s *Spec) { s.SecureAggregation = &on }},
		{"secagg+", func(s *Spec) { s.SecureAggregation, s.SecAggPlus = &on, true }},
		{"secagg+central-dp", func(s *Spec) { s.SecureAggregation, s.SecAggPlus, s.Plan.NoiseMultiplier = &on, true, 1 }},
		{"secagg+distributed-dp", func(s *Spec) {
			s.SecureAggregation, s.SecAggPlus, s.Plan.NoiseMultiplier, s.DistributedDP = &on, true, 1, true
		}},
	}
}

// costMode is one way of running the same round.
type costMode struct {
	name string
	set  func(*Spec)
}

// ndBenchUsers is the next-destination benchmarks' population.
const ndBenchUsers = 1100

// ndBenchSpec returns the next-destination benchmarks' round (without its
// aggregation mode) over a features table of ndBenchUsers simulated users:
// made in a temporary directory, or kept in FLSIM_BENCH_TABLE between runs
// (made there when it holds none), so that alternating binaries share one
// table and skip the minutes of simulating the population.
func ndBenchSpec(b *testing.B) func() Spec {
	b.Helper()
	dir := os.Getenv("FLSIM_BENCH_TABLE")
	if dir == "" {
		dir = b.TempDir()
	}
	if _, err := os.Stat(filepath.Join(dir, "train.parquet")); err != nil {
		in := mobtest.Population(b, "../../mobility/wilmington/wilmington-newark.city.gz",
			mobility.Config{Users: ndBenchUsers, Weeks: 4, Seed: 3, Workers: 2})
		if _, err := tables.NextDestination(in, dir, tables.Config{HoldoutWeeks: 1}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	return func() Spec {
		return Spec{
			Name:  "nd-bench",
			Model: ModelSpec{Arch: ArchNextDestination},
			Data:  DataSpec{Path: dir, Holdout: 1, Seed: 1},
			Plan:  PlanSpec{Epochs: 1, BatchSize: 10, LR: 0.05, ClipNorm: 1},
			// q = 550/1,100: about 550 clients join, 520 report.
			Target: 550, OverSelection: 1, MinReports: 400,
		}
	}
}

// BenchmarkNextDestSecAggPlusRound and BenchmarkNextDestPlainRound run
// one mode of BenchmarkNextDestRoundCost each, for -cpuprofile.
func BenchmarkNextDestSecAggPlusRound(b *testing.B) {
	on := true
	benchNextDestMode(b, func(s *Spec) { s.SecureAggregation, s.SecAggPlus = &on, true })
}

// BenchmarkNextDestPlainRound: see BenchmarkNextDestSecAggPlusRound.
func BenchmarkNextDestPlainRound(b *testing.B) {
	off := false
	benchNextDestMode(b, func(s *Spec) { s.SecureAggregation = &off })
}

func benchNextDestMode(b *testing.B, mode func(*Spec)) {
	spec := ndBenchSpec(b)
	var m modeStats
	seed := uint64(0)
	for b.Loop() {
		seed++
		s := spec()
		mode(&s)
		r, cpu := oneRound(b, s, ndBenchUsers, seed)
		m.add(r, cpu)
	}
	n := float64(b.N)
	b.ReportMetric(m.cpus/n, "cpu-s/round")
	b.ReportMetric(m.device/n, "device-ms")
}

// BenchmarkNextDestRoundCost is the issue's own cost setting: models/
// flagship's next-destination ranker trained on each user's own rows of a
// next-destination features table (a simulated population of 1,100 users,
// 4 weeks, Wilmington–Newark), about 550 clients per round (q = ½), 5%
// dropout, one local epoch of batch 10. In each iteration the same round
// (the second of a run; same devices, rows, seeds) runs four ways — plain
// aggregation, SecAgg+, SecAgg+ with central DP and with distributed DP —
// and the benchmark reports each one's wall and CPU time per round and the
// ratios the bar names, measured in one run.
func BenchmarkNextDestRoundCost(b *testing.B) {
	spec := ndBenchSpec(b)
	const users = ndBenchUsers
	all := roundCostModes()
	modes := []costMode{all[0], all[2], all[3], all[4]}
	var rs [4]modeStats
	var reports, params float64
	seed := uint64(0)
	for b.Loop() {
		seed++
		for i, m := range modes {
			s := spec()
			m.set(&s)
			r, cpu, p := oneRoundOf(b, s, users, seed)
			rs[i].add(r, cpu)
			if i == 0 {
				reports += float64(r.Reports)
				params = float64(p)
			}
		}
	}
	n := float64(b.N)
	for i, m := range modes {
		rs[i].report(b, m.name, n)
	}
	b.ReportMetric(reports/n, "reports/round")
	b.ReportMetric(params, "params")
	b.ReportMetric(rs[1].secs/rs[0].secs, "secagg+/plain")
	b.ReportMetric(rs[2].secs/rs[1].secs, "central-dp/secagg+")
	b.ReportMetric(rs[3].secs/rs[1].secs, "distributed-dp/secagg+")
	b.ReportMetric(rs[1].cpus/rs[0].cpus, "cpu:secagg+/plain")
	b.ReportMetric(rs[2].cpus/rs[1].cpus, "cpu:central-dp/secagg+")
	b.ReportMetric(rs[3].cpus/rs[1].cpus, "cpu:distributed-dp/secagg+")
	b.ReportMetric(rs[1].device/rs[0].device, "device:secagg+/plain")
}

// modeStats sums one mode's rounds.
type modeStats struct{ secs, cpus, server, bytes, device float64 }

func (m *modeStats) add(r RoundReport, cpu float64) {
	m.secs += r.Seconds
	m.cpus += cpu
	m.server += r.ServerSeconds
	m.bytes += r.BytesPerClient
	m.device += r.TrainingMs + r.SecAggMs
}

func (m *modeStats) report(b *testing.B, name string, n float64) {
	b.ReportMetric(m.secs/n, name+"-s/round")
	b.ReportMetric(m.cpus/n, name+"-cpu-s/round")
	b.ReportMetric(1000*m.server/n, name+"-server-ms/round")
	b.ReportMetric(m.bytes/n, name+"-B/client")
	b.ReportMetric(m.device/n, name+"-device-ms")
}

// BenchmarkDistributedDPRound runs only RoundCost's SecAgg+ round with
// distributed DP, so that -cpuprofile shows that mode alone (the profile
// also holds each iteration's first round and setup).
func BenchmarkDistributedDPRound(b *testing.B) {
	on := true
	benchOneMode(b, func(s *Spec) {
		s.SecureAggregation, s.SecAggPlus, s.Plan.NoiseMultiplier, s.DistributedDP = &on, true, 1, true
	})
}

// BenchmarkSecAggPlusRound runs only RoundCost's SecAgg+ round (no DP), and
// BenchmarkPlainRound only its plain-aggregation round, so that two
// -cpuprofile runs show where SecAgg+'s extra CPU goes.
func BenchmarkSecAggPlusRound(b *testing.B) {
	on := true
	benchOneMode(b, func(s *Spec) { s.SecureAggregation, s.SecAggPlus = &on, true })
}

// BenchmarkPlainRound: see BenchmarkSecAggPlusRound.
func BenchmarkPlainRound(b *testing.B) {
	off := false
	benchOneMode(b, func(s *Spec) { s.SecureAggregation = &off })
}

// benchOneMode runs benchSpec's round set by mode once per iteration and
// reports its CPU time per round and a device's own work.
func benchOneMode(b *testing.B, mode func(*Spec)) {
	var cpus, device float64
	seed := uint64(0)
	for b.Loop() {
		seed++
		s := benchSpec()
		mode(&s)
		r, cpu := oneRound(b, s, 200, seed)
		cpus += cpu
		device += r.TrainingMs + r.SecAggMs
	}
	n := float64(b.N)
	b.ReportMetric(cpus/n, "cpu-s/round")
	b.ReportMetric(device/n, "device-ms")
}

// BenchmarkCIFAR10Shaped is pfl-research's CIFAR-10 setting in shape: 50
// clients per round, one local epoch of batch 10 on 50 examples each, 10
// classes of 3,072 inputs, here an MLP 3072→128→10 (394,634 parameters),
// with secure aggregation (complete graph) and without.
func BenchmarkCIFAR10Shaped(b *testing.B) {
	for _, secure := range []bool{false, true} {
		b.Run(fmt.Sprintf("secagg=%v", secure), func(b *testing.B) {
			spec := Spec{
				Name: "cifar10-shaped", Model: ModelSpec{Inputs: 3072, Hidden: []int{128}, Classes: 10},
				Data: DataSpec{Examples: 50, Holdout: 1, Seed: 1},
				Plan: PlanSpec{Epochs: 1, BatchSize: 10, LR: 0.05, ClipNorm: 1},
				// Every one of the 50 devices joins (q = 1).
				Target: 50, OverSelection: 1, MinReports: 40, SecureAggregation: &secure,
			}
			var secs, cpus, server, bytes float64
			seed := uint64(0)
			for b.Loop() {
				seed++
				r, cpu := oneRound(b, spec, 50, seed)
				secs += r.Seconds
				cpus += cpu
				server += r.ServerSeconds
				bytes += r.BytesPerClient
			}
			n := float64(b.N)
			b.ReportMetric(n/secs, "rounds/s")
			b.ReportMetric(cpus/n, "cpu-s/round")
			b.ReportMetric(1000*server/n, "server-ms/round")
			b.ReportMetric(bytes/n, "B/client")
		})
	}
}
