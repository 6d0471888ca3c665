package targeting_test

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/sextant-ml/sextant/delivery/experiment"
	"github.com/sextant-ml/sextant/delivery/targeting"
)

type golden struct {
	N              int    `json:"n"`
	MembershipSalt string `json:"membership_salt"`
	VariantSalt    string `json:"variant_salt"`
	RowsSHA256     string `json:"rows_sha256"`
	Vectors        []struct {
		Input string `json:"input"`
		Seed  uint64 `json:"seed"`
		XXH64 string `json:"xxh64"`
	} `json:"vectors"`
	SampleEvery int     `json:"sample_every"`
	Sample      [][]any `json:"sample"`
}

func loadGolden(t *testing.T) golden {
	t.Helper()
	b, err := os.ReadFile("testdata/assign_golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	if g.N != 1000000 || len(g.Sample) != 1000 || len(g.Vectors) == 0 {
		t.Fatalf("golden file has n=%d, %d samples, %d vectors", g.N, len(g.Sample), len(g.Vectors))
	}
	return g
}

// goldenUnit is the i-th id of the golden file (see gen_golden.py): 8 to
// 48 hex characters, so every XXH64 code path is exercised.
func goldenUnit(i int) string {
	h := sha256.Sum256([]byte(strconv.Itoa(i)))
	return hex.EncodeToString(h[:])[:8+i%41]
}

var (
	unitsOnce sync.Once
	units     []string
)

func millionUnits() []string {
	unitsOnce.Do(func() {
		units = make([]string, 1000000)
		for i := range units {
			units[i] = goldenUnit(i)
		}
	})
	return units
}

// TestXXH64Vectors checks the hash on vectors computed by the reference C
// library (libxxhash) for seeds 0, 1, 7, 12345 and 2⁶⁴ − 1 and lengths
// 0 to 100.
func TestXXH64Vectors(t *testing.T) {
	g := loadGolden(t)
	for _, v := range g.Vectors {
		if got := fmt.Sprintf("%016x", targeting.XXH64(v.Input, v.Seed)); got != v.XXH64 {
			t.Errorf("XXH64(%q, %d) = %s, libxxhash %s", v.Input, v.Seed, got, v.XXH64)
		}
	}
}

// TestGoldenAssignments recomputes the buckets of all 10⁶ golden ids and
// compares the SHA-256 of the rows, and 1,000 rows one by one, with what
// the reference C library computed: the server and any device SDK that
// passes this agree on every assignment.
func TestGoldenAssignments(t *testing.T) {
	g := loadGolden(t)
	m := targeting.NewSaltedBucketer(g.MembershipSalt)
	v := targeting.NewSaltedBucketer(g.VariantSalt)
	h := sha256.New()
	w := bufio.NewWriterSize(h, 1<<16)
	var row []byte
	for i, u := range millionUnits() {
		mb, vb := m.Bucket(u), v.Bucket(u)
		row = append(row[:0], u...)
		row = append(row, ',')
		row = strconv.AppendUint(row, uint64(mb), 10)
		row = append(row, ',')
		row = strconv.AppendUint(row, uint64(vb), 10)
		row = append(row, '\n')
		w.Write(row)
		if i%g.SampleEvery == 0 {
			s := g.Sample[i/g.SampleEvery]
			if s[0].(string) != u || uint32(s[1].(float64)) != mb || uint32(s[2].(float64)) != vb {
				t.Errorf("row %d: %s,%d,%d; golden %v", i, u, mb, vb, s)
			}
			if mb != targeting.Bucket(g.MembershipSalt, u) {
				t.Errorf("row %d: Bucket and SaltedBucketer differ", i)
			}
		}
	}
	w.Flush()
	if got := hex.EncodeToString(h.Sum(nil)); got != g.RowsSHA256 {
		t.Errorf("SHA-256 of 10⁶ assignment rows %s, golden %s", got, g.RowsSHA256)
	}
}

// TestRolloutMonotone: raising a rollout's share never removes a unit —
// for every unit, membership is monotone in the share, and the members at
// share p are exactly those with bucket < p.
func TestRolloutMonotone(t *testing.T) {
	shares := []uint32{0, 1, 10, 100, 500, 1000, 2500, 5000, 7500, 9999, 10000}
	for _, u := range millionUnits()[:100000] {
		was := false
		for _, p := range shares {
			in := targeting.Rollout("rollout/monotone", p).Contains(u)
			if was && !in {
				t.Fatalf("unit %s left the rollout when its share rose to %d", u, p)
			}
			was = in
		}
		if !was {
			t.Fatalf("unit %s not in a 100%% rollout", u)
		}
		if targeting.Rollout("rollout/monotone", 0).Contains(u) {
			t.Fatalf("unit %s in a 0%% rollout", u)
		}
	}
}

// TestUniform: the buckets of 10⁶ ids are uniform, by χ² goodness of fit
// over 100 bins and over all 10,000 buckets (p > 0.001).
func TestUniform(t *testing.T) {
	counts := make([]float64, targeting.Buckets)
	b := targeting.NewSaltedBucketer("uniformity")
	for _, u := range millionUnits() {
		counts[b.Bucket(u)]++
	}
	res, err := experiment.SRM(counts, nil)
	if err != nil {
		t.Fatal(err)
	}
	bins := make([]float64, 100)
	for i, c := range counts {
		bins[i/100] += c
	}
	res100, _ := experiment.SRM(bins, nil)
	t.Logf("10⁶ ids: χ²(9999) = %.0f p = %.3f; χ²(99) = %.1f p = %.3f", res.Chi2, res.PValue, res100.Chi2, res100.PValue)
	if res.PValue <= 0.001 || res100.PValue <= 0.001 {
		t.Errorf("buckets not uniform: p %g (10,000 buckets), %g (100 bins)", res.PValue, res100.PValue)
	}
}

// TestMembershipVariantIndependent is the bar: the rollout-membership and
// variant buckets of 10⁶ ids are independent by a χ² test of independence
// on their 10 × 10 decile table (81 df; p > 0.001), and a 3-variant split
// is balanced among the members of a 20 % rollout.
func TestMembershipVariantIndependent(t *testing.T) {
	m := targeting.NewSaltedBucketer("rollout/r1/membership")
	v := targeting.NewSaltedBucketer("rollout/r1/variant")
	var table [10][10]float64
	var rows, cols [10]float64
	split := targeting.EvenSplit("rollout/r1/variant", 3)
	var members [3]float64
	for _, u := range millionUnits() {
		mb, vb := m.Bucket(u), v.Bucket(u)
		table[mb/1000][vb/1000]++
		rows[mb/1000]++
		cols[vb/1000]++
		if mb < 2000 {
			members[split.VariantOf(vb)]++
		}
	}
	var chi2 float64
	n := float64(len(millionUnits()))
	for i := range 10 {
		for j := range 10 {
			e := rows[i] * cols[j] / n
			chi2 += (table[i][j] - e) * (table[i][j] - e) / e
		}
	}
	p := experiment.ChiSquareSF(chi2, 81)
	t.Logf("independence: χ²(81) = %.1f, p = %.3f", chi2, p)
	if p <= 0.001 {
		t.Errorf("membership and variant buckets dependent: χ² %.1f p %g", chi2, p)
	}
	srm, _ := experiment.SRM(members[:], []float64{3334, 3333, 3333})
	t.Logf("variants among 20%% rollout members: %v (SRM p = %.3f)", members, srm.PValue)
	if srm.Alert {
		t.Errorf("variants unbalanced among rollout members: %v, p %g", members, srm.PValue)
	}
}

// TestSticky: assignment depends on nothing but salt and unit — a rebuilt
// plan (a stop and restart) assigns everyone the same; a new salt
// reshuffles (about half of the units change variant in a 50/50 split).
func TestSticky(t *testing.T) {
	mk := func(variantSalt string) *targeting.Plan {
		return &targeting.Plan{Layers: []targeting.Layer{{Salt: "layer/a", Experiments: []targeting.Experiment{{
			ID: "e1", Membership: targeting.Membership{Salt: "layer/a", Range: targeting.Range{Lo: 0, Hi: 10000}},
			Split: targeting.EvenSplit(variantSalt, 2),
		}}}}}
	}
	before, restarted, reshuffled := mk("e1/v"), mk("e1/v"), mk("e1/v#2")
	changed := 0
	var a targeting.Attributes
	for _, u := range millionUnits()[:20000] {
		x := before.Assign(u, &a, nil)
		y := restarted.Assign(u, &a, nil)
		z := reshuffled.Assign(u, &a, nil)
		if len(x) != 1 || len(y) != 1 || x[0] != y[0] {
			t.Fatalf("unit %s: %v before, %v after restart", u, x, y)
		}
		if z[0].Variant != x[0].Variant {
			changed++
		}
	}
	if changed < 9500 || changed > 10500 {
		t.Errorf("new salt changed %d of 20000 variants, want ≈ 10000", changed)
	}
}

// TestLayersExclusiveAndHoldout: experiments in one layer never share a
// unit; each gets its slot's share; held-out units are in nothing; and
// experiments in different layers overlap independently.
func TestLayersExclusiveAndHoldout(t *testing.T) {
	exp := func(id, layer string, lo, hi uint32, rule targeting.Rule) targeting.Experiment {
		return targeting.Experiment{ID: id, Rule: rule, Membership: targeting.Membership{Salt: layer, Range: targeting.Range{Lo: lo, Hi: hi}},
			Split: targeting.EvenSplit(id+"/variant", 2)}
	}
	p := &targeting.Plan{
		Holdout: targeting.Membership{Salt: "holdout", Range: targeting.Range{Lo: 0, Hi: 500}},
		Layers: []targeting.Layer{
			{Salt: "layer/ranking", Experiments: []targeting.Experiment{
				exp("rank-a", "layer/ranking", 0, 3000, targeting.Rule{}),
				exp("rank-b", "layer/ranking", 3000, 6000, targeting.Rule{}),
			}},
			{Salt: "layer/eta", Experiments: []targeting.Experiment{
				exp("eta", "layer/eta", 0, 5000, targeting.Rule{Class: []string{"high"}}),
			}},
		},
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	held, both := 0, 0
	const n = 200000
	a := targeting.Attributes{Class: "high"}
	buf := make([]targeting.Assignment, 0, 4)
	for _, u := range millionUnits()[:n] {
		got := p.Assign(u, &a, buf[:0])
		if p.Holdout.Contains(u) {
			held++
			if len(got) != 0 {
				t.Fatalf("held-out unit %s assigned %v", u, got)
			}
			continue
		}
		ranks := 0
		for _, g := range got {
			count[g.Experiment]++
			if strings.HasPrefix(g.Experiment, "rank-") {
				ranks++
			}
		}
		if ranks > 1 {
			t.Fatalf("unit %s in both ranking experiments: %v", u, got)
		}
		if len(got) == 2 {
			both++
		}
	}
	in := float64(n - held)
	check := func(name string, got, want float64) {
		if d := got - want; d > 0.01 || d < -0.01 {
			t.Errorf("%s: share %.4f, want %.2f", name, got, want)
		}
	}
	check("holdout", float64(held)/n, 0.05)
	check("rank-a", float64(count["rank-a"])/in, 0.30)
	check("rank-b", float64(count["rank-b"])/in, 0.30)
	check("eta", float64(count["eta"])/in, 0.50)
	check("ranking ∧ eta", float64(both)/in, 0.60*0.50)

	low := targeting.Attributes{Class: "low"}
	for _, u := range millionUnits()[:1000] {
		for _, g := range p.Assign(u, &low, nil) {
			if g.Experiment == "eta" {
				t.Fatalf("low-class unit %s in the high-only experiment", u)
			}
		}
	}
}

func TestPlanValidate(t *testing.T) {
	e := func(id, msalt string, lo, hi uint32, vsalt string) targeting.Experiment {
		return targeting.Experiment{ID: id, Membership: targeting.Membership{Salt: msalt, Range: targeting.Range{Lo: lo, Hi: hi}},
			Split: targeting.EvenSplit(vsalt, 2)}
	}
	bad := map[string]targeting.Plan{
		"variant salt = membership salt": {Layers: []targeting.Layer{{Salt: "l", Experiments: []targeting.Experiment{e("x", "l", 0, 10, "l")}}}},
		"overlapping slots":              {Layers: []targeting.Layer{{Salt: "l", Experiments: []targeting.Experiment{e("x", "l", 0, 10, "x/v"), e("y", "l", 5, 20, "y/v")}}}},
		"foreign membership salt":        {Layers: []targeting.Layer{{Salt: "l", Experiments: []targeting.Experiment{e("x", "m", 0, 10, "x/v")}}}},
		"shared variant salt":            {Layers: []targeting.Layer{{Salt: "l", Experiments: []targeting.Experiment{e("x", "l", 0, 10, "v"), e("y", "l", 10, 20, "v")}}}},
		"holdout salt reused":            {Holdout: targeting.Membership{Salt: "l", Range: targeting.Range{Hi: 10}}, Layers: []targeting.Layer{{Salt: "l"}}},
		"range past 10000":               {Layers: []targeting.Layer{{Salt: "l", Experiments: []targeting.Experiment{e("x", "l", 0, 10001, "x/v")}}}},
		"duplicate id":                   {Layers: []targeting.Layer{{Salt: "l", Experiments: []targeting.Experiment{e("x", "l", 0, 10, "x/v")}}, {Salt: "m", Experiments: []targeting.Experiment{e("x", "m", 0, 10, "x/w")}}}},
		"weights not 10000":              {Layers: []targeting.Layer{{Salt: "l", Experiments: []targeting.Experiment{{ID: "x", Membership: targeting.Membership{Salt: "l", Range: targeting.Range{Hi: 5}}, Split: targeting.Split{Salt: "x/v", Weights: []uint32{5000, 4000}}}}}}},
	}
	for name, p := range bad {
		if err := p.Validate(); err == nil {
			t.Errorf("%s: Validate accepted it", name)
		}
	}
}

// TestAssignDoesNotAllocate: the device evaluates assignment on its hot
// path; with a caller-owned slice it makes no allocation.
func TestAssignDoesNotAllocate(t *testing.T) {
	p := &targeting.Plan{
		Holdout: targeting.Membership{Salt: "h", Range: targeting.Range{Hi: 100}},
		Layers: []targeting.Layer{{Salt: "l", Experiments: []targeting.Experiment{{
			ID: "x", Membership: targeting.Membership{Salt: "l", Range: targeting.Range{Hi: 10000}},
			Rule:  targeting.Rule{All: []targeting.Rule{{OS: &targeting.OSRule{Name: "android", VersionRange: targeting.VersionRange{GTE: "12"}}}, {Locale: []string{"de"}}}},
			Split: targeting.EvenSplit("x/v", 3),
		}}}},
	}
	a := targeting.Attributes{OS: "android 14", Locale: "de-CH"}
	buf := make([]targeting.Assignment, 0, 4)
	allocs := testing.AllocsPerRun(1000, func() { buf = p.Assign("device-1234567", &a, buf[:0]) })
	if allocs != 0 {
		t.Errorf("Plan.Assign allocates %.1f times per call", allocs)
	}
}

func BenchmarkBucket(b *testing.B) {
	bk := targeting.NewSaltedBucketer("bench")
	for b.Loop() {
		bk.Bucket("3f2a9c1e-7d4b-4c8e-9a1f-0b2c3d4e5f60")
	}
}
