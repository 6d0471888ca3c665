package experiment_test

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"testing"

	"github.com/sextant-ml/sextant/delivery/experiment"
	"github.com/sextant-ml/sextant/delivery/targeting"
)

// binomialHalf draws Binomial(n, ½) exactly: the number of ones in n fair
// random bits.
func binomialHalf(r *rand.Rand, n int) int {
	c := 0
	for ; n >= 64; n -= 64 {
		c += bits.OnesCount64(r.Uint64())
	}
	if n > 0 {
		c += bits.OnesCount64(r.Uint64() >> (64 - n))
	}
	return c
}

// aaSRM runs experiments A/A splits of devices units each and returns the
// share of SRM alarms at p < 0.001 and of p < 0.05.
func aaSRM(t *testing.T, seed uint64, experiments, devices int) (alarm, at05 float64) {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	var alarms, sig int
	for range experiments {
		a := binomialHalf(r, devices)
		res, err := experiment.SRM([]float64{float64(a), float64(devices - a)}, []float64{0.5, 0.5})
		if err != nil {
			t.Fatal(err)
		}
		if res.Alert {
			alarms++
		}
		if res.PValue < 0.05 {
			sig++
		}
	}
	return float64(alarms) / float64(experiments), float64(sig) / float64(experiments)
}

// TestAASRMFalseAlarms is the bar: 1,000 A/A experiments × 10⁵ devices
// (seed 1; exact binomial draws of the split) raise at most 0.1 % SRM
// alarms at p < 0.001. One run of 1,000 has a Poisson(1) alarm count, so
// a second run of 10⁵ experiments pins the rate itself: within 3 standard
// errors of 0.1 %, and 5 % of p-values below 0.05 (the test is calibrated,
// not merely conservative).
func TestAASRMFalseAlarms(t *testing.T) {
	rate, _ := aaSRM(t, 1, 1000, 100000)
	t.Logf("1,000 × 10⁵ (seed 1): SRM alarm rate %.4f", rate)
	if rate > 0.001 {
		t.Errorf("SRM false alarms %.4f > 0.001", rate)
	}
	const big = 100000
	rate, at05 := aaSRM(t, 2, big, 100000)
	se := math.Sqrt(0.001 * 0.999 / big)
	t.Logf("10⁵ × 10⁵ (seed 2): SRM alarm rate %.5f (bound %.5f), p<0.05 rate %.4f", rate, 0.001+3*se, at05)
	if rate > 0.001+3*se {
		t.Errorf("SRM false-alarm rate %.5f above 0.001 + 3 se", rate)
	}
	if se05 := math.Sqrt(0.05 * 0.95 / big); math.Abs(at05-0.05) > 4*se05 {
		t.Errorf("share of p < 0.05 is %.4f, want 0.05 ± %.4f", at05, 4*se05)
	}
}

// TestAASRMRealHashes runs the A/A split through the real assignment: 200
// experiments, each with its own variant salt, over the same 10⁵ device
// ids (as a fleet is reused across experiments).
func TestAASRMRealHashes(t *testing.T) {
	const experiments, devices = 200, 100000
	ids := make([]string, devices)
	for i := range ids {
		ids[i] = fmt.Sprintf("install-%08x-%d", uint32(i)*2654435761, i)
	}
	alarms, sig := 0, 0
	for e := range experiments {
		split := targeting.EvenSplit(fmt.Sprintf("aa/%d/variant", e), 2)
		b := targeting.NewSaltedBucketer(split.Salt)
		var n [2]float64
		for _, id := range ids {
			n[split.VariantOf(b.Bucket(id))]++
		}
		res, err := experiment.SRM(n[:], nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Alert {
			alarms++
		}
		if res.PValue < 0.05 {
			sig++
		}
	}
	t.Logf("real hashes, %d × %d: %d SRM alarms, %d with p < 0.05", experiments, devices, alarms, sig)
	if alarms > 1 {
		t.Errorf("%d SRM alarms in %d A/A experiments (expected 0.2)", alarms, experiments)
	}
	if sig > 22 { // Binomial(200, 0.05): mean 10, P(> 22) < 0.001
		t.Errorf("%d of %d A/A splits have p < 0.05", sig, experiments)
	}
}

// peekRun simulates experiments of devices units (alternating arms, N(μ_t,
// 1) vs N(0, 1) values), peeking peeks times at equal spacing, and returns
// the share of experiments declared significant at any peek by the naive
// fixed-horizon test and by the sequential one.
func peekRun(t *testing.T, seed uint64, experiments, devices, peeks int, effect float64) (naive, seq float64) {
	r := rand.New(rand.NewPCG(seed, 0xaa))
	alpha := 0.05
	var nNaive, nSeq int
	for range experiments {
		var arms [2]experiment.Summary
		hitNaive, hitSeq := false, false
		next := 0
		for k := 1; k <= peeks; k++ {
			end := devices * k / peeks
			for ; next < end; next++ {
				a := next & 1
				x := r.NormFloat64() + effect*float64(a)
				arms[a].N++
				arms[a].Sum += x
				arms[a].SumSquares += x * x
			}
			fixed, err := experiment.Means(arms[0], arms[1], experiment.Options{Alpha: alpha})
			if err != nil {
				t.Fatal(err)
			}
			sq, err := experiment.Means(arms[0], arms[1], experiment.Options{Alpha: alpha, Sequential: &experiment.Sequential{}})
			if err != nil {
				t.Fatal(err)
			}
			hitNaive = hitNaive || fixed.PValue < alpha
			hitSeq = hitSeq || sq.Significant()
			if sq.Significant() != (sq.PValue < alpha) && math.Abs(sq.PValue-alpha) > 1e-3 {
				t.Fatalf("sequential interval %+v and p-value disagree", sq)
			}
		}
		if hitNaive {
			nNaive++
		}
		if hitSeq {
			nSeq++
		}
	}
	return float64(nNaive) / float64(experiments), float64(nSeq) / float64(experiments)
}

// TestAAPeeking is the bar: 1,000 A/A experiments × 10⁵ devices, each
// looked at 30 times (seed 3). The sequential intervals (N* = 5000) keep
// the share of experiments ever declared significant ≤ α = 0.05; the naive
// t-test at every peek does not (it must exceed 0.10, i.e. > 7 binomial
// standard errors above α, so the contrast is no accident). A second run
// with a true effect of 0.05 σ shows the sequential test still finds it.
func TestAAPeeking(t *testing.T) {
	if testing.Short() {
		t.Skip("simulation of 10⁸ device values")
	}
	naive, seq := peekRun(t, 3, 1000, 100000, 30, 0)
	t.Logf("A/A, 1,000 × 10⁵, 30 peeks: naive false-positive rate %.3f, sequential %.3f", naive, seq)
	if seq > 0.05 {
		t.Errorf("sequential false-positive rate %.3f > α", seq)
	}
	if naive <= 0.10 {
		t.Errorf("naive peeking false-positive rate %.3f; expected well above α", naive)
	}
	_, power := peekRun(t, 4, 100, 100000, 30, 0.05)
	t.Logf("true effect 0.05 σ, 100 × 10⁵: sequential detects %.2f", power)
	if power < 0.95 {
		t.Errorf("sequential power %.2f < 0.95 on a 7.9 σ effect", power)
	}
}
