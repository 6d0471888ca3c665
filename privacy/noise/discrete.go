package noise

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"math"
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
// one word. For σ ≤ 21 the blocks are single integers (W = 1) and the
// sampler is an alias table.
//
// Random words: AES-256-CTR keyed with 32 bytes from the *rand.Rand given
// (CryptoRand in production; a seeded one reproduces a run), made 4 KiB at a
// time — a buffered CSPRNG that costs under 2 ns a word with AES-NI, against
// two interface calls and a ChaCha8 step for each rand.Rand.Uint64.
type DiscreteGaussian struct {
	sigma  float64
	inv2s2 float64 // 1/(2σ²)
	bits   uint    // b: the block width is 2^b
	nA, nU uint    // leading bits of the alias and acceptance uniforms in a trial's word
	uScale float64 // 2^-nU
	// The random words: AES-256-CTR keyed with 32 bytes of the source
	// given to NewDiscreteGaussian, dgBuffer bytes at a time.
	stream cipher.Stream
	buf    []byte
	pos    int
	// keep[j] and alias[j]: a block slot j drawn uniformly stays j if a
	// uniform 64-bit word is below keep[j], else becomes alias[j].
	keep  [dgBlocks]uint64
	alias [dgBlocks]uint16
	lo2   [dgBlocks]float64 // 2kW, block k's start doubled
}

// NewDiscreteGaussian returns a sampler of N_Z(0, σ²) drawing from r.
func NewDiscreteGaussian(sigma float64, r *rand.Rand) (*DiscreteGaussian, error) {
	if !(sigma > 0) || sigma > 1<<40 {
		return nil, fmt.Errorf("noise: discrete Gaussian sigma %v outside (0, 2^40]", sigma)
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
	d := &DiscreteGaussian{sigma: sigma, inv2s2: 1 / (2 * sigma * sigma),
		stream: cipher.NewCTR(block, iv[:]), buf: make([]byte, dgBuffer)}
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
		d.lo2[k] = 2 * x
	}
	d.buildAlias(&w)
	return d, nil
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
	if x := math.Ldexp(p, 64); x < 1<<64 {
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
// the offset (b bits), then nA bits that start the alias table's 64-bit
// uniform, nU bits that start the acceptance test's U, and the sign (bit 63).
// Each of the two uniforms is completed from a fresh word only when its
// leading bits do not decide the comparison.
func (d *DiscreteGaussian) AddTo(x []int64) {
	const eps = 1e-12 // far above the rounding of 1 − a and a²/2
	b, nA, nU := d.bits, d.nA, d.nU
	offMask, uMask := uint64(1)<<b-1, uint64(1)<<nU-1
	inv2s2, uScale := d.inv2s2, d.uScale
	// The stream position lives in a local (the compiler cannot keep d.pos
	// in a register across the stores to x); it is written back before
	// each call that reads a word and at the end.
	buf, pos := d.buf, d.pos
	for j := 0; j < len(x); {
		var w uint64
		if pos+8 <= len(buf) {
			w = binary.LittleEndian.Uint64(buf[pos:])
			pos += 8
		} else {
			d.pos = pos
			w = d.word()
			pos = d.pos
		}
		k := w & (dgBlocks - 1)
		rest := w << 1 >> (dgBlockBits + b + 1) // nA + nU bits
		hiA, keep, alt := rest>>nU, d.keep[k], uint64(d.alias[k])
		// The slot's alias is taken about as often as not: the choice is
		// a conditional move, not a branch the CPU would mispredict. Only
		// a tie of the leading bits (probability 2^-nA) reads a word more.
		top := keep >> (64 - nA)
		swap := hiA > top
		if hiA == top {
			d.pos = pos
			swap = d.word()>>nA >= keep<<nA>>nA
			pos = d.pos
		}
		if swap {
			k = alt
		}
		i := (w >> dgBlockBits) & offMask
		m := k<<b | i
		// The sign is bit 63, applied without a branch: s = 0 or −1,
		// (m ^ s) − s = ±m.
		s := int64(w) >> 63
		if m == 0 && s != 0 {
			continue
		}
		if i != 0 {
			// Bernoulli(exp(−a)) with U ∈ [u0, u0 + 2^-nU).
			fi := float64(int64(i))
			a := fi * (d.lo2[k&(dgBlocks-1)] + fi) * inv2s2
			u0 := float64(int64(rest&uMask)) * uScale
			if u0+uScale > 1-a-eps {
				if u0 >= 1-a+a*a/2+eps {
					continue
				}
				d.pos = pos
				ok := d.acceptExact(u0, a)
				pos = d.pos
				if !ok {
					continue
				}
			}
		}
		x[j] += (int64(m) ^ s) - s
		j++
	}
	d.pos = pos
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
	d.stream.XORKeyStream(d.buf, dgZeros[:])
	d.pos = 0
}
