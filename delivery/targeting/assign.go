package targeting

import (
	"errors"
	"fmt"
	"math/bits"
)

// Buckets is the number of assignment buckets. Shares are counted in
// buckets, so one bucket is one basis point (0.01 %) of the units.
const Buckets = 10000

// Bucket maps a unit (a device or install id) to a bucket in [0, Buckets)
// under salt: h = XXH64(unit, seed = XXH64(salt, 0)), bucket = ⌊h·Buckets /
// 2⁶⁴⌋ (the high word of the 128-bit product, so the bias is below 10⁻¹⁵).
// Seeding with the salt's hash instead of hashing salt+unit leaves no
// concatenation ambiguity ("ab"+"c" vs "a"+"bc").
//
// The same (salt, unit) always gives the same bucket, on the server and on
// the device: nothing is stored, so a decision for an unchanged device costs
// no database write, and stopping and restarting an experiment does not
// reshuffle anyone unless its salt is changed.
func Bucket(salt, unit string) uint32 {
	return bucketOf(XXH64(unit, XXH64(salt, 0)))
}

// SaltedBucketer caches a salt's seed for hashing many units under it.
type SaltedBucketer struct{ seed uint64 }

// NewSaltedBucketer hashes salt once, for bucketing many units under it.
func NewSaltedBucketer(salt string) SaltedBucketer { return SaltedBucketer{XXH64(salt, 0)} }

// Bucket is Bucket(salt, unit) for the salt b was made with.
func (b SaltedBucketer) Bucket(unit string) uint32 { return bucketOf(XXH64(unit, b.seed)) }

func bucketOf(h uint64) uint32 {
	hi, _ := bits.Mul64(h, Buckets)
	return uint32(hi)
}

// Range is the half-open bucket range [Lo, Hi).
type Range struct {
	Lo uint32 `json:"lo"`
	Hi uint32 `json:"hi"`
}

// Contains reports whether bucket b is in r.
func (r Range) Contains(b uint32) bool { return b >= r.Lo && b < r.Hi }

// Share is the number of buckets in r (basis points of the units).
func (r Range) Share() uint32 {
	if r.Hi <= r.Lo {
		return 0
	}
	return r.Hi - r.Lo
}

// Validate checks 0 ≤ Lo ≤ Hi ≤ Buckets.
func (r Range) Validate() error {
	if r.Lo > r.Hi || r.Hi > Buckets {
		return fmt.Errorf("targeting: range [%d, %d) outside [0, %d)", r.Lo, r.Hi, Buckets)
	}
	return nil
}

func (r Range) overlaps(o Range) bool {
	return r.Lo < o.Hi && o.Lo < r.Hi && r.Share() > 0 && o.Share() > 0
}

// Membership decides who is in a rollout, a holdout or an experiment: a
// unit is a member when Bucket(Salt, unit) falls in Range.
//
// A rollout at share p is Membership{Salt, Range{0, p}}: raising p only
// adds units, never removes one. Mutually exclusive experiments share one
// salt (their layer's) with disjoint ranges.
type Membership struct {
	Salt  string `json:"salt"`
	Range Range  `json:"range"`
}

// Rollout is the membership of a rollout at share basis points.
func Rollout(salt string, share uint32) Membership {
	return Membership{Salt: salt, Range: Range{0, min(share, Buckets)}}
}

// Contains reports whether unit is a member.
func (m Membership) Contains(unit string) bool { return m.Range.Contains(Bucket(m.Salt, unit)) }

// Validate checks the salt and range.
func (m Membership) Validate() error {
	if m.Salt == "" {
		return errors.New("targeting: membership has no salt")
	}
	return m.Range.Validate()
}

// Split chooses a variant: Bucket(Salt, unit) is placed in the cumulative
// weights. Its salt must differ from every membership salt it is combined
// with, so that who is in and which variant they get are independent
// (sharing one hash would put the first members added by a ramp-up all in
// the first variant).
type Split struct {
	Salt string `json:"salt"`
	// Weights are the variants' shares in buckets; they sum to Buckets.
	Weights []uint32 `json:"weights"`
}

// EvenSplit returns a split of n variants with equal weights (the first
// Buckets mod n variants get one more bucket).
func EvenSplit(salt string, n int) Split {
	w := make([]uint32, n)
	for i := range w {
		w[i] = uint32(Buckets / n)
		if i < Buckets%n {
			w[i]++
		}
	}
	return Split{Salt: salt, Weights: w}
}

// Variant returns the index of unit's variant.
func (s Split) Variant(unit string) int { return s.VariantOf(Bucket(s.Salt, unit)) }

// VariantOf returns the variant of variant-bucket b.
func (s Split) VariantOf(b uint32) int {
	var c uint32
	for i, w := range s.Weights {
		c += w
		if b < c {
			return i
		}
	}
	return len(s.Weights) - 1
}

// Validate checks the salt and that the weights sum to Buckets.
func (s Split) Validate() error {
	if s.Salt == "" {
		return errors.New("targeting: split has no salt")
	}
	if len(s.Weights) == 0 {
		return errors.New("targeting: split has no variants")
	}
	var sum uint32
	for _, w := range s.Weights {
		if w > Buckets {
			return fmt.Errorf("targeting: variant weight %d exceeds %d", w, Buckets)
		}
		sum += w
	}
	if sum != Buckets {
		return fmt.Errorf("targeting: variant weights sum to %d, want %d", sum, Buckets)
	}
	return nil
}
