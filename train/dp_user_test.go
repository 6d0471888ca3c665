package train

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sextant-ml/sextant/privacy/accountant"
	"github.com/sextant-ml/sextant/tensor"
)

// TestDPUserLevelClipping checks per-user clipping against brute force.
// Six examples of three users (A: 0–2 with an outlier, B: 3, C: 4–5) with
// row weights 1/m: with σ = 0, SGD at rate 1 and ExpectedBatch 1, a step
// moves the parameters by −Σ_u (1/m_u)·Σ_{i∈u} clip_C(gᵢ); each user alone
// moves them by at most C, however many examples and outliers they have.
func TestDPUserLevelClipping(t *testing.T) {
	const n, clip = 6, 0.1
	r := rand.New(rand.NewPCG(11, 12))
	g := dpMLP(r)
	x := randTensor64(r, 1, n, 6)
	for _, row := range []int{1, 2} {
		for j := 0; j < 6; j++ {
			tensor.Data[float64](x)[row*6+j] *= 1000 // user A's outliers
		}
	}
	y := tensor.From([]int64{0, 1, 2, 1, 0, 3}, n)
	users := [][]int{{0, 1, 2}, {3}, {4, 5}}
	ctx := context.Background()

	// Brute force: each example's clipped gradient, weighted 1/m_u.
	grads, norms := exampleGradients(t, g, x, y, n)
	if !(norms[1] > 3*clip && norms[2] > 3*clip) {
		t.Fatalf("the outliers' gradient norms %v are not far above C = %v", norms[1:3], clip)
	}
	reference := func(in [][]int) map[string][]float64 {
		want := map[string][]float64{}
		for _, u := range in {
			for _, i := range u {
				f := min(1, clip/(norms[i]+1e-6)) / float64(len(u))
				for k, v := range grads[i] {
					if want[k] == nil {
						want[k] = make([]float64, len(v))
					}
					for j := range v {
						want[k][j] += f * v[j]
					}
				}
			}
		}
		return want
	}
	dp := &DP{ClipNorm: clip, SampleRate: 0.5, ExpectedBatch: 1, Delta: 1e-5, PerUser: true}
	step := func(in [][]int) (map[string][]float64, float64) {
		tr, err := New(g, TrainConfig{Loss: SoftmaxCrossEntropy{}, Optimizer: SGD{LR: 1}, DP: dp})
		if err != nil {
			t.Fatal(err)
		}
		before := snapshot(tr)
		mask := tensor.New(tensor.Float64, n)
		for _, u := range in {
			for _, i := range u {
				setFloat(mask, i, 1/float64(len(u)))
			}
		}
		if _, err := tr.Step(ctx, []*tensor.Tensor{x, y, mask}); err != nil {
			t.Fatal(err)
		}
		return delta(before, snapshot(tr))
	}
	got, _ := step(users)
	for k, w := range reference(users) {
		for j := range w {
			if math.Abs(got[k][j]-w[j]) > 1e-9+1e-7*(math.Abs(w[j])+1e-3) {
				t.Fatalf("%s[%d]: user-level DP step %v, reference %v", k, j, got[k][j], w[j])
			}
		}
	}
	for ui, u := range users {
		_, norm := step([][]int{u})
		if norm > clip*(1+1e-9) {
			t.Errorf("user %d (%d examples) alone moves the parameters by %v > C = %v", ui, len(u), norm, clip)
		}
		// Example-level weights (1 per row) would let user A move them by
		// up to 3C: the user-level bound is what the weights buy.
		if ui == 0 {
			mask := [][]int{{0}, {1}, {2}}
			if _, n3 := step(mask); !(n3 > 1.5*clip) {
				t.Errorf("user A's rows weighted 1 each move the parameters by %v; expected well above C", n3)
			}
		}
	}
}

// TestUserPoissonBatcher checks that users, not examples, are sampled:
// each user's inclusion frequency is q, a sampled user brings all their
// examples or a distinct random MaxPerUser of them, the weights of a
// user's rows sum to 1, padding rows weigh 0, and the count returned is
// the number of users.
func TestUserPoissonBatcher(t *testing.T) {
	const users, q, maxPer = 60, 0.1, 4
	var ids []int64
	for u := 0; u < users; u++ {
		m := u%7 + 1
		if u == 5 {
			m = 40 // a heavy user
		}
		for range m {
			ids = append(ids, int64(1000+u)) // ids need not be dense
		}
	}
	n := len(ids)
	x := tensor.New(tensor.Float64, n, 2)
	for i := 0; i < n; i++ {
		tensor.Data[float64](x)[2*i] = float64(i)
	}
	y := tensor.New(tensor.Int64, n)
	ub, err := NewUserPoissonBatcher([]*tensor.Tensor{x, y}, ids, q, maxPer, 8, tensor.Float64, rand.New(rand.NewPCG(9, 9)))
	if err != nil {
		t.Fatal(err)
	}
	if ub.Users() != users {
		t.Fatalf("%d users, want %d", ub.Users(), users)
	}
	const draws = 4000
	counts := map[int64]int{}
	heavyRows := map[int]int{}
	for d := 0; d < draws; d++ {
		batch, k := ub.Next()
		rows := batch[0].Shape[0]
		m := tensor.Data[float64](batch[2])
		wsum := map[int64]float64{}
		nrows := map[int64]int{}
		seen := map[int]bool{}
		for i := 0; i < rows; i++ {
			ex := int(tensor.Data[float64](batch[0])[2*i])
			if m[i] == 0 {
				continue
			}
			if seen[ex] {
				t.Fatalf("example %d twice in one batch", ex)
			}
			seen[ex] = true
			wsum[ids[ex]] += m[i]
			nrows[ids[ex]]++
			if ids[ex] == 1005 {
				heavyRows[ex]++
			}
		}
		if len(wsum) != k {
			t.Fatalf("Next says %d users, the batch holds %d", k, len(wsum))
		}
		for u, w := range wsum {
			want := min(maxPer, int(u-1000)%7+1)
			if u == 1005 {
				want = maxPer
			}
			if math.Abs(w-1) > 1e-12 || nrows[u] != want {
				t.Fatalf("user %d: %d rows weighing %v in total, want %d rows weighing 1", u, nrows[u], w, want)
			}
			counts[u]++
		}
	}
	for u := 0; u < users; u++ {
		c := counts[int64(1000+u)]
		if math.Abs(float64(c)-draws*q) > 5*math.Sqrt(draws*q*(1-q)) {
			t.Errorf("user %d sampled %d times in %d draws, want about %v", u, c, draws, draws*q)
		}
	}
	// The heavy user's 4 rows are drawn from all 40 examples.
	if len(heavyRows) != 40 {
		t.Errorf("the heavy user's rows came from %d of their 40 examples", len(heavyRows))
	}
}

// TestDPUserLevelPrivacyInCheckpoint: with PerUser, provenance records the
// accountant's ε for the user sampling rate — the user-level mechanism —
// and says it is user-level; it is not the example-level figure.
func TestDPUserLevelPrivacyInCheckpoint(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const users, per = 20, 5
	x := randTensor64(r, 1, users*per, 6)
	y := tensor.New(tensor.Int64, users*per)
	ids := make([]int64, users*per)
	for i := range ids {
		ids[i] = int64(i / per)
		tensor.Data[int64](y)[i] = int64(r.IntN(4))
	}
	const q, sigma, delta, steps = 0.25, 1.2, 1e-5, 12
	dp := &DP{NoiseMultiplier: sigma, ClipNorm: 1, SampleRate: q, ExpectedBatch: q * users, Delta: delta, PerUser: true, Rand: rand.New(rand.NewPCG(4, 5))}
	tr, err := New(dpMLP(r), TrainConfig{Loss: SoftmaxCrossEntropy{}, Optimizer: Adam{LR: 0.01}, DP: dp})
	if err != nil {
		t.Fatal(err)
	}
	ub, err := NewUserPoissonBatcher([]*tensor.Tensor{x, y}, ids, q, 3, 4, tensor.Float64, rand.New(rand.NewPCG(5, 6)))
	if err != nil {
		t.Fatal(err)
	}
	p := checkpointPrivacy(t, tr, ub, steps)
	eps, _, err := accountant.DPSGD{Q: q, Steps: steps, Delta: delta}.Epsilon(sigma)
	if err != nil {
		t.Fatal(err)
	}
	// Per-example accounting of the same run would sample examples at the
	// rate of rows per step over examples (q·3/5) and understate the cost
	// to a user.
	epsEx, _, err := accountant.DPSGD{Q: q * 3 / per, Steps: steps, Delta: delta}.Epsilon(sigma)
	if err != nil {
		t.Fatal(err)
	}
	if p == nil || p.Epsilon != eps || p.Delta != delta || p.Accountant != "rdp-sampled-gaussian-user-level" {
		t.Fatalf("provenance privacy %+v, want user-level ε = %v at δ = %v", p, eps, delta)
	}
	if !(epsEx < eps) {
		t.Errorf("example-level ε %v not below the user-level %v", epsEx, eps)
	}
}
