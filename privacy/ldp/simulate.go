package ldp

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
)

// SimConfig describes a simulation: N reports of items drawn from a Zipf
// distribution with exponent Zipf over Items items (0 means uniform), each
// privatized with Mechanism at Epsilon into a sketch of K rows and M cells,
// repeated over Trials independent trials (fresh hash functions, fresh
// randomness, the same data).
type SimConfig struct {
	Mechanism Mechanism
	Epsilon   float64
	M, K      int
	N, Items  int
	Zipf      float64
	Trials    int
	Seed      uint64
}

// ItemResult is one item's outcome over the trials.
type ItemResult struct {
	Item         string  `json:"item"`
	TrueCount    int     `json:"true_count"`
	MeanEstimate float64 `json:"mean_estimate"`
	Variance     float64 `json:"variance"`
	// Analytic is the variance from the package doc's formula.
	Analytic float64 `json:"analytic_variance"`
}

// SimResult is the simulation's output; Hash is the SHA-256 of the JSON of
// Items, so runs can be compared.
type SimResult struct {
	Items []ItemResult `json:"items"`
	Hash  string       `json:"hash"`
}

// ItemName names the i-th item of a simulation.
func ItemName(i int) string { return fmt.Sprintf("item-%d", i) }

// Simulate runs the simulation. Per trial, devices are privatized exactly as
// Encode would, but only the sketch cells the estimates read are formed: each
// report's bits at other cells are independent of those and cannot change an
// estimate, so they are not drawn (CMS); HCMS reports are drawn whole.
func Simulate(cfg SimConfig) (SimResult, error) {
	if cfg.N < 1 || cfg.Items < 1 || cfg.Trials < 2 {
		return SimResult{}, fmt.Errorf("ldp: need n ≥ 1, items ≥ 1, trials ≥ 2 (got %d, %d, %d)", cfg.N, cfg.Items, cfg.Trials)
	}
	if !(cfg.Zipf >= 0) {
		return SimResult{}, fmt.Errorf("ldp: zipf exponent %v must be ≥ 0", cfg.Zipf)
	}
	r := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	if _, err := NewParams(cfg.Mechanism, cfg.Epsilon, cfg.M, cfg.K, r); err != nil {
		return SimResult{}, err
	}
	// The data: item of each report.
	cdf := make([]float64, cfg.Items)
	acc := 0.0
	for i := range cdf {
		acc += math.Pow(float64(i+1), -cfg.Zipf)
		cdf[i] = acc
	}
	data := make([]int, cfg.N)
	counts := make([]int, cfg.Items)
	for i := range data {
		u := r.Float64() * acc
		it := sort.SearchFloat64s(cdf, u)
		if it >= cfg.Items {
			it = cfg.Items - 1
		}
		data[i] = it
		counts[it]++
	}
	sum := make([]float64, cfg.Items)
	sumSq := make([]float64, cfg.Items)
	est := make([]float64, cfg.Items)
	for range cfg.Trials {
		p, _ := NewParams(cfg.Mechanism, cfg.Epsilon, cfg.M, cfg.K, r)
		if cfg.Mechanism == HCMS {
			simulateHCMS(&p, data, cfg.Items, r, est)
		} else {
			simulateCMS(&p, data, cfg.Items, r, est)
		}
		for i, e := range est {
			sum[i] += e
			sumSq[i] += e * e
		}
	}
	f2 := 0.0
	for _, c := range counts {
		f2 += float64(c) * float64(c)
	}
	out := SimResult{Items: make([]ItemResult, cfg.Items)}
	t := float64(cfg.Trials)
	for i := range out.Items {
		mean := sum[i] / t
		f := float64(counts[i])
		out.Items[i] = ItemResult{
			Item:         ItemName(i),
			TrueCount:    counts[i],
			MeanEstimate: mean,
			Variance:     (sumSq[i] - t*mean*mean) / (t - 1),
			Analytic:     AnalyticVariance(cfg.Mechanism, cfg.Epsilon, cfg.M, cfg.K, float64(cfg.N), f, f2-f*f),
		}
	}
	raw, _ := json.Marshal(out.Items)
	h := sha256.Sum256(raw)
	out.Hash = hex.EncodeToString(h[:])
	return out, nil
}

// hashTable returns h_j(item i) for every row and item.
func hashTable(p *Params, items int) [][]int {
	t := make([][]int, p.K)
	for j := range t {
		t[j] = make([]int, items)
		for i := range t[j] {
			t[j][i] = p.Hash(j, ItemName(i))
		}
	}
	return t
}

func simulateCMS(p *Params, data []int, items int, r *rand.Rand, est []float64) {
	hashes := hashTable(p, items)
	// Distinct cells read in each row.
	cells := make([][]int, p.K)
	cellOf := make([][]int, p.K)
	for j := range cells {
		idx := map[int]int{}
		cellOf[j] = make([]int, items)
		for i, h := range hashes[j] {
			if _, ok := idx[h]; !ok {
				idx[h] = len(cells[j])
				cells[j] = append(cells[j], h)
			}
			cellOf[j][i] = idx[h]
		}
	}
	plus := make([][]int, p.K) // number of +1 bits received per cell
	rows := make([]int, p.K)
	for j := range plus {
		plus[j] = make([]int, len(cells[j]))
	}
	flip := p.flipProb()
	for _, it := range data {
		j := r.IntN(p.K)
		rows[j]++
		h := hashes[j][it]
		for ci, cell := range cells[j] {
			one := cell == h
			if r.Float64() < flip {
				one = !one
			}
			if one {
				plus[j][ci]++
			}
		}
	}
	k, c := float64(p.K), p.scale()
	m := float64(p.M)
	n := float64(len(data))
	for i := range est {
		s := 0.0
		for j := 0; j < p.K; j++ {
			pc := float64(plus[j][cellOf[j][i]])
			// Σ over the row's reports of k(c/2·v + 1/2), v = ±1.
			s += k * (c/2*(2*pc-float64(rows[j])) + float64(rows[j])/2)
		}
		est[i] = m / (m - 1) * (s/k - n/m)
	}
}

func simulateHCMS(p *Params, data []int, items int, r *rand.Rand, est []float64) {
	hashes := hashTable(p, items)
	sk := NewSketch(*p)
	flip := p.flipProb()
	for _, it := range data {
		j := r.IntN(p.K)
		l := r.IntN(p.M)
		b := hadamard(l, hashes[j][it])
		if r.Float64() < flip {
			b = -b
		}
		sk.m[j*p.M+l] += float64(p.K) * p.scale() * b
		sk.n++
	}
	m := float64(p.M)
	n := float64(len(data))
	for i := range est {
		s := 0.0
		for j := 0; j < p.K; j++ {
			s += sk.cell(j, hashes[j][i])
		}
		est[i] = m / (m - 1) * (s/float64(p.K) - n/m)
	}
}
