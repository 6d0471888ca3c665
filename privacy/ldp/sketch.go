package ldp

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
)

// Mechanism selects the sketch.
type Mechanism int

const (
	// CMS is the Count Mean Sketch.
	CMS Mechanism = iota
	// HCMS is the Hadamard Count Mean Sketch.
	HCMS
)

// ParseMechanism maps "cms" and "hcms".
func ParseMechanism(s string) (Mechanism, error) {
	switch s {
	case "cms":
		return CMS, nil
	case "hcms":
		return HCMS, nil
	}
	return 0, fmt.Errorf("ldp: unknown mechanism %q (want cms or hcms)", s)
}

func (m Mechanism) String() string {
	if m == HCMS {
		return "hcms"
	}
	return "cms"
}

// Params are a sketch's public parameters, shared by devices and server.
type Params struct {
	Mechanism Mechanism
	Epsilon   float64
	M, K      int
	// Seeds key the k hash functions h_j(d) = mix(FNV-1a(seed_j ‖ d)) mod m.
	Seeds []uint64
}

// NewParams draws k hash seeds from r.
func NewParams(mech Mechanism, eps float64, m, k int, r *rand.Rand) (Params, error) {
	if !(eps > 0) || math.IsInf(eps, 1) {
		return Params{}, fmt.Errorf("ldp: epsilon %v must be positive and finite", eps)
	}
	if m < 2 || k < 1 {
		return Params{}, fmt.Errorf("ldp: need m ≥ 2 and k ≥ 1 (got %d, %d)", m, k)
	}
	if mech == HCMS && m&(m-1) != 0 {
		return Params{}, fmt.Errorf("ldp: HCMS needs m a power of two (got %d)", m)
	}
	p := Params{Mechanism: mech, Epsilon: eps, M: m, K: k, Seeds: make([]uint64, k)}
	for i := range p.Seeds {
		p.Seeds[i] = r.Uint64()
	}
	return p, nil
}

// Hash returns h_j(item).
func (p *Params) Hash(j int, item string) int {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], p.Seeds[j])
	h := uint64(14695981039346656037)
	for _, c := range b {
		h = (h ^ uint64(c)) * 1099511628211
	}
	for i := 0; i < len(item); i++ {
		h = (h ^ uint64(item[i])) * 1099511628211
	}
	// splitmix64 finalizer to spread the bits.
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return int(h % uint64(p.M))
}

// flipProb is the probability a transmitted bit is flipped.
func (p *Params) flipProb() float64 {
	if p.Mechanism == HCMS {
		return 1 / (1 + math.Exp(p.Epsilon))
	}
	return 1 / (1 + math.Exp(p.Epsilon/2))
}

// scale is c_ε.
func (p *Params) scale() float64 {
	if p.Mechanism == HCMS {
		e := math.Exp(p.Epsilon)
		return (e + 1) / (e - 1)
	}
	e := math.Exp(p.Epsilon / 2)
	return (e + 1) / (e - 1)
}

// Report is what a device sends. CMS fills Row and Bits (m bits, bit i set
// for +1); HCMS fills Row, Col and Bit (±1).
type Report struct {
	Row  int    `json:"row"`
	Bits []byte `json:"bits,omitempty"`
	Col  int    `json:"col,omitempty"`
	Bit  int8   `json:"bit,omitempty"`
}

// hadamard returns H[l, a] = (-1)^popcount(l & a).
func hadamard(l, a int) float64 {
	if bits.OnesCount(uint(l&a))&1 == 1 {
		return -1
	}
	return 1
}

// Encode privatizes item into a report (the device side).
func (p *Params) Encode(item string, r *rand.Rand) Report {
	j := r.IntN(p.K)
	h := p.Hash(j, item)
	flip := p.flipProb()
	if p.Mechanism == HCMS {
		l := r.IntN(p.M)
		b := hadamard(l, h)
		if r.Float64() < flip {
			b = -b
		}
		return Report{Row: j, Col: l, Bit: int8(b)}
	}
	out := make([]byte, (p.M+7)/8)
	out[h/8] |= 1 << (h % 8)
	// Each bit flips independently with probability flip: visit the flipped
	// positions directly, the gaps between them being geometric,
	// ⌊log(1-U)/log(1-flip)⌋ (about flip·m draws instead of m).
	lq := math.Log1p(-flip)
	for i := -1; ; {
		g := math.Log1p(-r.Float64()) / lq
		if g >= float64(p.M) {
			break
		}
		i += 1 + int(g)
		if i >= p.M {
			break
		}
		out[i/8] ^= 1 << (i % 8)
	}
	return Report{Row: j, Bits: out}
}

// Sketch is the server's aggregate of reports.
type Sketch struct {
	p Params
	n int
	// m holds k rows of m cells: for CMS the number of reports with each
	// bit set (debiased by cell), for HCMS the debiased sum in the Hadamard
	// domain (transformed by cell).
	m []float64
	// rowN counts the reports in each row (CMS).
	rowN []int
}

// NewSketch returns an empty sketch.
func NewSketch(p Params) *Sketch {
	return &Sketch{p: p, m: make([]float64, p.K*p.M), rowN: make([]int, p.K)}
}

// Add folds one report into the sketch.
func (s *Sketch) Add(rep Report) error {
	p := &s.p
	if rep.Row < 0 || rep.Row >= p.K {
		return fmt.Errorf("ldp: report row %d outside [0, %d)", rep.Row, p.K)
	}
	k, c := float64(p.K), p.scale()
	row := s.m[rep.Row*p.M : (rep.Row+1)*p.M]
	if p.Mechanism == HCMS {
		if rep.Col < 0 || rep.Col >= p.M || (rep.Bit != 1 && rep.Bit != -1) {
			return fmt.Errorf("ldp: malformed HCMS report (col %d, bit %d)", rep.Col, rep.Bit)
		}
		row[rep.Col] += k * c * float64(rep.Bit)
	} else {
		if len(rep.Bits) != (p.M+7)/8 {
			return fmt.Errorf("ldp: CMS report has %d bytes, want %d", len(rep.Bits), (p.M+7)/8)
		}
		if pad := p.M % 8; pad != 0 && rep.Bits[len(rep.Bits)-1]>>pad != 0 {
			return fmt.Errorf("ldp: CMS report has padding bits set")
		}
		for bi, b := range rep.Bits {
			for b != 0 {
				row[bi*8+bits.TrailingZeros8(b)]++
				b &= b - 1
			}
		}
		s.rowN[rep.Row]++
	}
	s.n++
	return nil
}

// cell returns M[j, a] in the count domain.
func (s *Sketch) cell(j, a int) float64 {
	row := s.m[j*s.p.M : (j+1)*s.p.M]
	if s.p.Mechanism != HCMS {
		// Σ over the row's reports of k(c/2·v + 1/2), v = ±1.
		ones, n := row[a], float64(s.rowN[j])
		return float64(s.p.K) * (s.p.scale()/2*(2*ones-n) + n/2)
	}
	v := 0.0
	for l, x := range row {
		v += x * hadamard(l, a)
	}
	return v
}

// Estimate returns the debiased count of item.
func (s *Sketch) Estimate(item string) float64 {
	p := &s.p
	sum := 0.0
	for j := 0; j < p.K; j++ {
		sum += s.cell(j, p.Hash(j, item))
	}
	m := float64(p.M)
	return m / (m - 1) * (sum/float64(p.K) - float64(s.n)/m)
}

// Count returns the number of reports added.
func (s *Sketch) Count() int { return s.n }

// AnalyticVariance is Var f̂(d) from the package doc: n reports, f the true
// count of d, f2 = Σ f(d')² over the other items.
func AnalyticVariance(mech Mechanism, eps float64, m, k int, n, f, f2 float64) float64 {
	p := Params{Mechanism: mech, Epsilon: eps, M: m, K: k}
	c := p.scale()
	fm, fk := float64(m), float64(k)
	coll := f2 / (fk * fm) * (1 - 1/fm)
	var base float64
	if mech == HCMS {
		base = f*(c*c-1) + (n-f)*(c*c-(1/(fk*fm))*(1-1/fm)-1/(fm*fm))
	} else {
		base = n*(c*c-1)/4 + (n-f)*(1/fm)*(1-1/fm)*(1-1/fk)
	}
	r := fm / (fm - 1)
	return r * r * (base + coll)
}
