package aggregate

import (
	"fmt"
	"math/rand/v2"
	"slices"
)

// Record is one contribution: a privacy unit (device), a public partition and
// a value (ignored by Count).
type Record struct {
	Unit      string
	Partition string
	Value     float64
}

// Params are an aggregate's privacy budget and contribution bounds, per
// partition release.
type Params struct {
	Noise          Noise
	Epsilon, Delta float64
	// MaxPartitionsContributed is l0: how many partitions one unit may
	// affect. MaxContributionsPerPartition is how many values one unit may
	// add to one partition.
	MaxPartitionsContributed     int64
	MaxContributionsPerPartition int64
}

func (p Params) check() error {
	if p.MaxPartitionsContributed < 1 || p.MaxContributionsPerPartition < 1 {
		return fmt.Errorf("aggregate: contribution bounds must be ≥ 1 (partitions %d, per partition %d)",
			p.MaxPartitionsContributed, p.MaxContributionsPerPartition)
	}
	return Mechanism{Noise: p.Noise, Epsilon: p.Epsilon, Delta: p.Delta, L0: 1, LInf: 1}.Check()
}

// Bounded is the outcome of contribution bounding: for each partition, each
// unit's kept values, units in sorted order.
type Bounded map[string][]UnitValues

// UnitValues are one unit's kept values in one partition.
type UnitValues struct {
	Unit   string
	Values []float64
}

// Bound applies contribution bounding. Records whose partition is not in
// partitions are dropped; then each unit keeps at most
// MaxPartitionsContributed of its partitions and at most
// MaxContributionsPerPartition values in each, sampled uniformly with r. The
// result is deterministic given r's state (units and partitions are visited
// in sorted order). Every listed partition is present in the result.
func Bound(records []Record, partitions []string, maxPartitions, maxPerPartition int64, r *rand.Rand) (Bounded, error) {
	if maxPartitions < 1 || maxPerPartition < 1 {
		return nil, fmt.Errorf("aggregate: contribution bounds must be ≥ 1 (got %d, %d)", maxPartitions, maxPerPartition)
	}
	if r == nil {
		return nil, fmt.Errorf("aggregate: nil random source")
	}
	public := make(map[string]bool, len(partitions))
	out := make(Bounded, len(partitions))
	for _, p := range partitions {
		public[p] = true
		out[p] = nil
	}
	// unit → partition → values
	byUnit := map[string]map[string][]float64{}
	for _, rec := range records {
		if !public[rec.Partition] {
			continue
		}
		m := byUnit[rec.Unit]
		if m == nil {
			m = map[string][]float64{}
			byUnit[rec.Unit] = m
		}
		m[rec.Partition] = append(m[rec.Partition], rec.Value)
	}
	units := make([]string, 0, len(byUnit))
	for u := range byUnit {
		units = append(units, u)
	}
	slices.Sort(units)
	for _, u := range units {
		m := byUnit[u]
		parts := make([]string, 0, len(m))
		for p := range m {
			parts = append(parts, p)
		}
		slices.Sort(parts)
		parts = sample(parts, int(maxPartitions), r)
		for _, p := range parts {
			vals := sample(m[p], int(maxPerPartition), r)
			out[p] = append(out[p], UnitValues{Unit: u, Values: vals})
		}
	}
	return out, nil
}

// sample returns k elements of s chosen uniformly without replacement (all of
// s, in order, when it has at most k), by a partial Fisher–Yates shuffle of a
// copy.
func sample[T any](s []T, k int, r *rand.Rand) []T {
	if len(s) <= k {
		return s
	}
	c := slices.Clone(s)
	for i := 0; i < k; i++ {
		j := i + r.IntN(len(c)-i)
		c[i], c[j] = c[j], c[i]
	}
	return c[:k]
}
