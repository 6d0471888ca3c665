package train

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/privacy/accountant"
	"github.com/sextant-ml/sextant/tensor"
)

// TestDPNoise checks the noise a DP step adds: with every example masked out
// the clipped sum is zero, so SGD at rate 1 moves the parameters by
// −noise/ExpectedBatch, which must be N(0, (σC/B)²) per element,
// independent across steps, reproducible from an injected seed.
func TestDPNoise(t *testing.T) {
	const sigma, clip, expected = 1.5, 2.0, 4.0
	run := func(seed uint64) []float64 {
		dp := &DP{NoiseMultiplier: sigma, ClipNorm: clip, SampleRate: 0.1, ExpectedBatch: expected, Delta: 1e-5, Rand: rand.New(rand.NewPCG(seed, 1))}
		tr, err := New(dpMLP(rand.New(rand.NewPCG(1, 1))), TrainConfig{Loss: SoftmaxCrossEntropy{}, Optimizer: SGD{LR: 1}, DP: dp})
		if err != nil {
			t.Fatal(err)
		}
		x := randTensor64(rand.New(rand.NewPCG(2, 2)), 1, 4, 6)
		y := tensor.From([]int64{0, 1, 2, 3}, 4)
		mask := tensor.New(tensor.Float64, 4)
		var all []float64
		for s := 0; s < 40; s++ {
			before := snapshot(tr)
			if _, err := tr.Step(context.Background(), []*tensor.Tensor{x, y, mask}); err != nil {
				t.Fatal(err)
			}
			d, _ := delta(before, snapshot(tr))
			for _, n := range tr.ParamNames() {
				all = append(all, d[n]...)
			}
		}
		return all
	}
	a := run(1)
	want := sigma * clip / expected
	var mean, ss, lag float64
	for i, v := range a {
		mean += v
		ss += v * v
		if i > 0 {
			lag += v * a[i-1]
		}
	}
	k := float64(len(a))
	mean /= k
	sd := math.Sqrt(ss/k - mean*mean)
	// k ≈ 6000 draws: the mean's standard error is want/√k ≈ 0.0013·want,
	// the sd's ≈ want/√(2k).
	if math.Abs(mean) > 5*want/math.Sqrt(k) || math.Abs(sd-want) > 5*want/math.Sqrt(2*k) {
		t.Errorf("noise mean %v, sd %v over %v draws; want 0 and %v", mean, sd, k, want)
	}
	if r := lag / k / (want * want); math.Abs(r) > 5/math.Sqrt(k) {
		t.Errorf("lag-1 autocorrelation %v", r)
	}
	// Kurtosis of a Gaussian is 3.
	var m4 float64
	for _, v := range a {
		m4 += math.Pow(v-mean, 4)
	}
	if kurt := m4 / k / math.Pow(sd, 4); math.Abs(kurt-3) > 0.3 {
		t.Errorf("kurtosis %v, want 3", kurt)
	}
	b, c := run(1), run(2)
	same, diff := true, 0
	for i := range a {
		same = same && a[i] == b[i]
		if a[i] != c[i] {
			diff++
		}
	}
	if !same || diff < len(a)*9/10 {
		t.Errorf("seeded noise not reproducible (%v) or not seed-dependent (%d of %d differ)", same, diff, len(a))
	}
}

// TestDPPrivacyInCheckpoint: the checkpoint's provenance carries the (ε, δ)
// of the steps taken, as the accountant computes it.
func TestDPPrivacyInCheckpoint(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	x := randTensor64(r, 1, 50, 6)
	y := tensor.New(tensor.Int64, 50)
	for i := range tensor.Data[int64](y) {
		tensor.Data[int64](y)[i] = int64(r.IntN(4))
	}
	const q, sigma, delta = 0.1, 1.1, 1e-5
	dp := &DP{NoiseMultiplier: sigma, ClipNorm: 1, SampleRate: q, ExpectedBatch: q * 50, Delta: delta, Rand: rand.New(rand.NewPCG(4, 4))}
	tr, err := New(dpMLP(r), TrainConfig{Loss: SoftmaxCrossEntropy{}, Optimizer: Adam{LR: 0.01}, DP: dp})
	if err != nil {
		t.Fatal(err)
	}
	pb, err := NewPoissonBatcher([]*tensor.Tensor{x, y}, q, 4, tensor.Float64, rand.New(rand.NewPCG(5, 5)))
	if err != nil {
		t.Fatal(err)
	}
	p := checkpointPrivacy(t, tr, pb, 30)
	eps, _, err := accountant.DPSGD{Q: q, Steps: 30, Delta: delta}.Epsilon(sigma)
	if err != nil {
		t.Fatal(err)
	}
	if p == nil || p.Epsilon != eps || p.Delta != delta || p.Accountant != "rdp-sampled-gaussian" || !(eps > 0 && eps < 100) {
		t.Fatalf("provenance privacy %+v, want ε = %v at δ = %v", p, eps, delta)
	}
}

// batcher is what PoissonBatcher and UserPoissonBatcher have in common.
type batcher interface {
	Next() ([]*tensor.Tensor, int)
}

// checkpointPrivacy takes steps steps of tr on b's batches, checkpoints tr
// and returns the privacy cost its bundle's provenance declares.
func checkpointPrivacy(t *testing.T, tr *Trainer, b batcher, steps int) *bundle.PrivacyCost {
	t.Helper()
	for s := 0; s < steps; s++ {
		batch, _ := b.Next()
		if _, err := tr.Step(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "dp.sxm")
	if err := tr.Checkpoint(path, Checkpoint{Name: "dp", Version: "1.0.0"}); err != nil {
		t.Fatal(err)
	}
	bf, err := bundle.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer bf.Close()
	return bf.Manifest.Provenance.Privacy
}

// TestPoissonBatcher checks the sample's statistics (each example included
// with probability q, independently), the padding and mask, and that
// steady-state DP steps allocate nothing.
func TestPoissonBatcher(t *testing.T) {
	const n, q = 200, 0.05
	x := tensor.New(tensor.Float64, n, 6)
	for i := range tensor.Data[float64](x) {
		tensor.Data[float64](x)[i] = float64(i / 6) // row i holds i
	}
	y := tensor.New(tensor.Int64, n)
	pb, err := NewPoissonBatcher([]*tensor.Tensor{x, y}, q, 8, tensor.Float64, rand.New(rand.NewPCG(6, 6)))
	if err != nil {
		t.Fatal(err)
	}
	const draws = 4000
	counts := make([]int, n)
	var sizes, sizes2 float64
	for d := 0; d < draws; d++ {
		batch, k := pb.Next()
		rows := batch[0].Shape[0]
		if rows%8 != 0 || rows < k || rows-k >= 8 && rows != 8 {
			t.Fatalf("%d examples padded to %d rows", k, rows)
		}
		m := tensor.Data[float64](batch[2])
		seen := map[int]bool{}
		for i := 0; i < rows; i++ {
			ex := int(tensor.Data[float64](batch[0])[i*6])
			if want := float64(b2i(i < k)); m[i] != want {
				t.Fatalf("mask[%d] = %v with %d sampled", i, m[i], k)
			}
			if i < k {
				if seen[ex] {
					t.Fatalf("example %d sampled twice in one batch", ex)
				}
				seen[ex] = true
				counts[ex]++
			}
		}
		sizes += float64(k)
		sizes2 += float64(k * k)
	}
	mean := sizes / draws
	vr := sizes2/draws - mean*mean
	// Binomial(n, q): mean 10, variance 9.5.
	if math.Abs(mean-n*q) > 0.2 || math.Abs(vr-n*q*(1-q)) > 1.5 {
		t.Errorf("batch size mean %v, variance %v; want %v, %v", mean, vr, n*q, n*q*(1-q))
	}
	// Inclusion frequency per example: Binomial(draws, q), sd ≈ 13.8.
	for i, c := range counts {
		if math.Abs(float64(c)-draws*q) > 5*math.Sqrt(draws*q*(1-q)) {
			t.Errorf("example %d sampled %d times in %d draws, want about %v", i, c, draws, draws*q)
		}
	}

	// A DP run with one bucket size: steady state allocates nothing.
	one, err := NewPoissonBatcher([]*tensor.Tensor{x, y}, q, n, tensor.Float64, rand.New(rand.NewPCG(7, 7)))
	if err != nil {
		t.Fatal(err)
	}
	dp := &DP{NoiseMultiplier: 1, ClipNorm: 1, SampleRate: q, ExpectedBatch: n * q, Delta: 1e-5, Rand: rand.New(rand.NewPCG(8, 8))}
	tr, err := New(dpMLP(rand.New(rand.NewPCG(1, 1))), TrainConfig{Loss: SoftmaxCrossEntropy{}, Optimizer: SGD{LR: 0.1, Momentum: 0.9}, DP: dp})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	step := func() {
		batch, _ := one.Next()
		if _, err := tr.Step(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	step()
	step()
	if a := testing.AllocsPerRun(20, step); a != 0 {
		t.Errorf("a DP step allocates %v times, want 0", a)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
