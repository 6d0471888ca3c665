package noise

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
)

// dgBlocks is the number of blocks of the discrete Gaussian's proposal (a
// power of two: a block is named by the low bits of one random word).
const dgBlocks = 512

// dgBlockBits is log2(dgBlocks).
const dgBlockBits = 9

// dgBuffer is how many random bytes a sampler makes at a time.
const dgBuffer = 4096

// dgZeros is the plaintext whose CTR encryption is the random stream.
var dgZeros [dgBuffer]byte

// dgReach is how many σ the blocks cover on each side. The mass of N_Z(0,
// σ²) beyond 12σ is below e^-72 ≈ 5·10^-32 of the total: leaving it out moves
// the distribution by far less than the float64 rounding of the acceptance
// test (about 2^-53 per trial).
const dgReach = 12

// DiscreteGaussian samples the discrete Gaussian N_Z(0, σ²), whose mass at
// integer z is proportional to f(z) = exp(-z²/(2σ²)), by rejection sampling
// from a step-function envelope (the approach of Canonne, Kamath, Steinke
// 2020, "The Discrete Gaussian for Differential Privacy", §5: propose from
// an easy distribution, accept with a Bernoulli(exp(−γ)) trial — with a
// proposal that is accepted about 98% of the time instead of their discrete
// Laplace's 76%, and almost no exp calls).
//
// The magnitudes [0, 512·W) (W = 2^b, the smallest power of two with
// 512·W ≥ 12σ) are cut into 512 blocks of W integers. A trial draws a block k
// with probability ∝ f(kW) (Walker's alias method, 64-bit thresholds), an
// offset i uniform in [0, W) and a sign from the bits of one random word, and
// accepts m = kW + i with probability f(m)/f(kW) = exp(−a),
// a = i(2kW + i)/(2σ²); −0 is rejected so that 0 is not counted twice. The
// accepted z = ±m then has probability ∝ f(|z|) exactly, up to the 64-bit
// thresholds and the float64 evaluation of exp(−a) (about 2^-53 per trial,
// as for a float Bernoulli(exp(−γ)) in Canonne et al.'s sampler).
//
// The acceptance test rarely calls exp: with U uniform, U < 1 − a accepts and
// U ≥ 1 − a + a²/2 rejects (1 − a ≤ exp(−a) ≤ 1 − a + a²/2 for a ≥ 0), with
// a margin for rounding; only U between the two bounds (probability about
// a²/2) compares with exp(−a). The leading bits of both the alias table's
// uniform and U come from the trial's random word, so a trial usually costs
// one word. For 12σ ≤ 512 (σ ≤ 42.67) the blocks are single integers
// (W = 1) and the sampler is an alias table.
//
// Random words: AES-256-CTR keyed with 32 bytes from the *rand.Rand given
// (CryptoRand in production; a seeded one reproduces a run), made 4 KiB at a
// time — a buffered CSPRNG that costs about 1.1 ns a word with AES-NI
// (crypto/cipher), against two interface calls and a ChaCha8 step for each
// rand.Rand.Uint64.
type DiscreteGaussian struct {
	sigma  float64
	inv2s2 float64 // 1/(2σ²)
	bits   uint    // b: the block width is 2^b
	nA, nU uint    // leading bits of the alias and acceptance uniforms in a trial's word
	uScale float64 // 2^-nU
	// The random words: AES-256-CTR keyed with 32 bytes of the source
	// given to NewDiscreteGaussian, dgBuffer bytes at a time.
	stream cipher.Stream
	buf    [dgBuffer]byte
	pos    int
	// keep[j] and alias[j]: a block slot j drawn uniformly stays j if a
	// uniform 64-bit word is below keep[j], else becomes alias[j].
	keep  [dgBlocks]uint64
	alias [dgBlocks]uint16
	// The fast path's tables (see setFast): keep's leading nA bits with
	// the bits below set; the quick acceptance test's slopes and bound.
	fastTop [dgBlocks]uint64
	lowMask uint64 // the bits below a word's top nA
	offMask uint64 // W − 1
	// Slot j's block's start kW and quick test slope, then slot j's
	// alias's.
	fastStart [2 * dgBlocks]uint64
	fastSlope [2 * dgBlocks]int64
	quickLim  int64
}

// NewDiscreteGaussian returns a sampler of N_Z(0, σ²) drawing from r.
func NewDiscreteGaussian(sigma float64, r *rand.Rand) (*DiscreteGaussian, error) {
	// Below 1e-150, 1/(2σ²) overflows to +Inf and the blocks' weights
	// would be NaN: refuse it (such a σ is all zeros, no noise at all).
	if !(sigma >= 1e-150) || sigma > 1<<40 {
		return nil, fmt.Errorf("noise: discrete Gaussian sigma %v outside [1e-150, 2^40]", sigma)
	}
	if r == nil {
		return nil, fmt.Errorf("noise: nil random source")
	}
	var key [32]byte
	for i := 0; i < len(key); i += 8 {
		binary.LittleEndian.PutUint64(key[i:], r.Uint64())
	}
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, fmt.Errorf("noise: %w", err)
	}
	var iv [aes.BlockSize]byte
	d := &DiscreteGaussian{sigma: sigma, inv2s2: 1 / (2 * sigma * sigma), stream: cipher.NewCTR(block, iv[:])}
	d.pos = len(d.buf)
	if need := dgReach * sigma / dgBlocks; need > 1 {
		d.bits = uint(math.Ceil(math.Log2(need)))
	}
	// σ ≤ 2^40 gives b ≤ 36, so each uniform gets at least 9 bits.
	n := 64 - 1 - dgBlockBits - d.bits
	d.nA = n / 2
	d.nU = n - d.nA
	d.uScale = math.Ldexp(1, -int(d.nU))
	var w [dgBlocks]float64
	for k := range w {
		x := float64(uint64(k) << d.bits)
		w[k] = math.Exp(-x * x * d.inv2s2)
	}
	d.buildAlias(&w)
	d.setFast()
	return d, nil
}

// setFast fills the fast path's tables. A trial's word shifted left by
// one (the sign dropped), w1, holds from the top: the alias bits hiA (nA),
// U's leading bits R (nU), the offset i (b) and the slot k (9), then a 0.
//
// The alias test compares hiA with keep's leading nA bits top: with the bits
// below both set, w1|lowMask against fastTop[k], the order of the two words
// is that of hiA and top (equal when they tie). fastStart[j] and
// fastSlope[j] are slot j's own block's, [512 + j] its alias's: the choice
// is of an index.
//
// The quick acceptance test: with K = nU + b + 10,
//
//	(w1 & lowMask) + i·slope ≤ quickLim,
//
// where w1 & lowMask = 2^10·(R·W + i) + 2j (j the slot), block k's slope
// is C_k − 2^10 with C_k ≥ (2k + 1)·W·2^K/(2σ²) (from the float 1/(2σ²)
// that a uses, rounded up with room) and
// quickLim ≤ (1 − 2·10^-12)·2^K − 2^10·W, implies
// (R + 1)·2^-nU + i·C_k·2^-K ≤ 1 − 2·10^-12. As
// a = i(2kW + i)/(2σ²) ≤ i(2k + 1)W/(2σ²) for i < W, that is
// (R + 1)·2^-nU ≤ 1 − a − 2·10^-12: far inside the float test
// u0 + 2^-nU ≤ 1 − a − 10^-12 (u0 + 2^-nU = (R + 1)·2^-nU exactly, and the
// rounding of the right side is below 10^-15), so a trial that passes is
// accepted. It is a shortcut to the float test's answer, not a new test:
// it changes no draw. K ≤ 55 and i·C_k < 1.2·2^K (a < 1.125), so nothing
// overflows.
func (d *DiscreteGaussian) setFast() {
	d.lowMask = 1<<(64-d.nA) - 1
	d.offMask = 1<<d.bits - 1
	for j := range d.fastTop {
		d.fastTop[j] = d.keep[j] | d.lowMask
	}
	var slope [dgBlocks]int64
	if d.bits > 0 {
		kk := int(d.nU + d.bits + 10)
		scale := math.Ldexp(d.inv2s2, kk) * float64(uint64(1)<<d.bits)
		for k := range slope {
			c := math.Ceil(float64(2*k+1)*scale*(1+1e-12)) + 1
			slope[k] = int64(c) - 1<<10
		}
		d.quickLim = int64(math.Ldexp(1-2e-12, kk)) - int64(1<<10)<<d.bits
	}
	for j := range dgBlocks {
		k := uint64(d.alias[j])
		d.fastStart[j], d.fastSlope[j] = uint64(j)<<d.bits, slope[j]
		d.fastStart[dgBlocks+j], d.fastSlope[dgBlocks+j] = k<<d.bits, slope[k]
	}
}

// buildAlias fills keep and alias for block weights w (Vose's method).
func (d *DiscreteGaussian) buildAlias(w *[dgBlocks]float64) {
	var total float64
	for _, x := range w {
		total += x
	}
	var p [dgBlocks]float64
	small := make([]int, 0, dgBlocks)
	large := make([]int, 0, dgBlocks)
	for k, x := range w {
		p[k] = x / total * dgBlocks
		if p[k] < 1 {
			small = append(small, k)
		} else {
			large = append(large, k)
		}
	}
	for len(small) > 0 && len(large) > 0 {
		s, l := small[len(small)-1], large[len(large)-1]
		small = small[:len(small)-1]
		d.keep[s], d.alias[s] = threshold(p[s]), uint16(l)
		p[l] -= 1 - p[s]
		if p[l] < 1 {
			large = large[:len(large)-1]
			small = append(small, l)
		}
	}
	// What is left has probability 1 up to rounding.
	for _, k := range append(small, large...) {
		d.keep[k], d.alias[k] = math.MaxUint64, uint16(k)
	}
}

// threshold maps a probability in [0, 1] to the 64-bit word a uniform word
// must stay below.
func threshold(p float64) uint64 {
	if x := p * 0x1p64; x < 1<<64 { // exact, as math.Ldexp(p, 64)
		return uint64(max(x, 0))
	}
	return math.MaxUint64
}

// Sigma returns the sampler's σ.
func (d *DiscreteGaussian) Sigma() float64 { return d.sigma }

// Sample returns one draw.
func (d *DiscreteGaussian) Sample() int64 {
	var z [1]int64
	d.AddTo(z[:])
	return z[0]
}

// AddTo adds independent draws to each coordinate of x.
//
// A trial's random word w holds, from the low end: the block slot (9 bits),
// the offset (b bits), then nU bits that start the acceptance test's U, nA
// bits that start the alias table's 64-bit uniform, and the sign (bit 63).
// Each of the two uniforms is completed from a fresh word only when its
// leading bits do not decide the comparison.
//
// Most trials are decided by their own word: addFast runs those, in stream
// order, until it meets one that needs a further word (or the buffer or x
// ends); trial then runs that one trial, reading words as it needs them,
// and addFast resumes. The draws are the same as trial's alone, one after
// another.
func (d *DiscreteGaussian) AddTo(x []int64) {
	for j := 0; j < len(x); {
		j += d.addFast(x[j:])
		if j < len(x) {
			if z, ok := d.trial(); ok {
				x[j] += z
				j++
			}
		}
	}
}

// dgEps is the acceptance test's margin, far above the rounding of 1 − a
// and a²/2.
const dgEps = 1e-12

// trial runs one trial from the next word of the stream: its draw, or false
// if it is rejected.
func (d *DiscreteGaussian) trial() (int64, bool) {
	b, nA, nU := d.bits&63, d.nA&63, d.nU&63
	w := d.word()
	k := w & (dgBlocks - 1)
	rest := w << 1 >> ((dgBlockBits + b + 1) & 63) // nA + nU bits
	hiA, keep, alt := rest>>nU, d.keep[k], uint64(d.alias[k])
	top := keep >> ((64 - nA) & 63)
	swap := hiA > top
	if hiA == top {
		swap = d.word()>>nA >= keep<<nA>>nA
	}
	if swap {
		k = alt
	}
	i := (w >> dgBlockBits) & (1<<b - 1)
	m := k<<b | i
	s := int64(w) >> 63 // 0 or −1: (m ^ s) − s = ±m
	if m == 0 && s != 0 {
		return 0, false // −0
	}
	if i != 0 {
		// Bernoulli(exp(−a)) with U ∈ [u0, u0 + 2^-nU).
		fi := float64(int64(i))
		a := fi * (float64(2*k<<b) + fi) * d.inv2s2 // 2kW + i
		u0 := float64(int64(rest&(1<<nU-1))) * d.uScale
		if u0+d.uScale > 1-a-dgEps {
			if u0 >= 1-a+a*a/2+dgEps || !d.acceptExact(u0, a) {
				return 0, false
			}
		}
	}
	return (int64(m) ^ s) - s, true
}

// b2u is 1 for true and 0 for false (a SETcc, not a branch).
func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// addFast runs trials from the words left in the buffer, at most len(x)
// of them, adding the accepted draws to x in order, and returns how many it
// added. It stops before the first trial whose word does not decide it: a
// tie of the alias uniform's leading bits, or U between the acceptance
// test's bounds. The alias choice is made without a branch (it goes either
// way about as often); a trial that passes the quick test (setFast) is
// accepted without float arithmetic, and the rest (about a fraction E[a],
// mostly rejections) take trial's float test inline. Shift counts are
// masked (they are below 64) or constant, so shifts compile without Go's
// handling of counts ≥ 64.
func (d *DiscreteGaussian) addFast(x []int64) int {
	if d.bits == 0 {
		return d.addFastUnit(x)
	}
	// The loop's constants are read from d as it goes (memory operands,
	// not registers, which the loop is short of). Trial j's word is at
	// base + 8j: base moves on at each rejection, and xs (x up to the
	// words left) is cut to match, so j < len(xs) is both the loop's test
	// and x's bounds check.
	base := d.pos
	xs := x[:min((len(d.buf)-base)/8, len(x))]
	j := 0
	for j < len(xs) {
		p := (base + 8*j) & (dgBuffer - 8)
		w := binary.LittleEndian.Uint64(d.buf[p : p+8])
		slot := w & (dgBlocks - 1)
		w1 := w << 1
		// The slot's alias is taken about as often as not: the choice is
		// by a mask (top − hi borrows iff hi > top), not a branch.
		diff, swap := bits.Sub64(d.fastTop[slot], w1|d.lowMask, 0)
		blk := slot | (-swap & dgBlocks)
		if diff == 0 {
			break // an alias tie: the next word decides
		}
		i := (w >> dgBlockBits) & d.offMask
		m := d.fastStart[blk] + i
		s := int64(w) >> 63
		v := (int64(m) ^ s) - s
		if int64(w1&d.lowMask)+int64(i)*d.fastSlope[blk] <= d.quickLim && m != 0 {
			xs[j] += v
			j++
			continue
		}
		// Not decided by the quick test (rejections, mostly), or ±0: as
		// in trial.
		if m == 0 {
			if s == 0 {
				xs[j] += v // +0
				j++
				continue
			}
		} else if i != 0 {
			fi := float64(int64(i))
			a := fi * (float64(2*d.fastStart[blk]) + fi) * d.inv2s2
			u0 := float64(int64(w1&d.lowMask>>(dgBlockBits+1)>>(d.bits&63))) * d.uScale
			if u0+d.uScale > 1-a-dgEps {
				if !(u0 >= 1-a+a*a/2+dgEps) {
					break // the exact test reads another word
				}
			} else {
				xs[j] += v
				j++
				continue
			}
		} else {
			xs[j] += v // i = 0: no test
			j++
			continue
		}
		// Rejected.
		base += 8
		xs = xs[:min((len(d.buf)-base)/8, len(xs))]
	}
	d.pos = base + 8*j
	return j
}

// addFastUnit is addFast for blocks of one integer (b = 0): the offset is
// always 0 and every proposal but −0 is accepted. Each trial's draw is
// written to x[j] whether or not it is accepted: j moves on only if it is,
// and a −0 adds 0.
func (d *DiscreteGaussian) addFastUnit(x []int64) int {
	n := min((len(d.buf)-d.pos)/8, len(x))
	j := 0
	for t := range n {
		p := (d.pos + 8*t) & (dgBuffer - 8)
		w := binary.LittleEndian.Uint64(d.buf[p : p+8])
		slot := w & (dgBlocks - 1)
		diff, swap := bits.Sub64(d.fastTop[slot], w<<1|d.lowMask, 0)
		k := d.fastStart[slot|(-swap&dgBlocks)] // the block: m = k
		if diff == 0 {
			d.pos += 8 * t
			return j // an alias tie: the next word decides
		}
		// −0 is rejected (up to a third of the trials for small σ):
		// without a branch.
		s := int64(w) >> 63
		take := 1 &^ (b2u(k == 0) & uint64(s))
		x[j] += ((int64(k) ^ s) - s) & -int64(take)
		j += int(take)
	}
	d.pos += 8 * n
	return j
}

// acceptExact completes U from a fresh word and compares it with exp(−a).
func (d *DiscreteGaussian) acceptExact(u0, a float64) bool {
	u := u0 + float64(d.word()>>11)*0x1p-53*d.uScale
	return u < math.Exp(-a)
}

// word returns the next 64 random bits of the sampler's stream.
func (d *DiscreteGaussian) word() uint64 {
	if d.pos >= len(d.buf) {
		d.refill()
	}
	w := binary.LittleEndian.Uint64(d.buf[d.pos:])
	d.pos += 8
	return w
}

// refill encrypts the next dgBuffer bytes of the stream.
func (d *DiscreteGaussian) refill() {
	d.stream.XORKeyStream(d.buf[:], dgZeros[:])
	d.pos = 0
}
