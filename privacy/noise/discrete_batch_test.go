package noise

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// refCounts counts the reference loop's trials by how they were decided.
type refCounts struct{ trials, ties, exact, negZero int }

// refAddTo is the sampler's loop before addFast (the body of AddTo at
// 244993e, one trial at a time with branches, but for the block's start
// doubled, 2kW, which the sampler no longer keeps in a table: the same
// float64), kept as the reference the
// batched loop must reproduce draw for draw. It also counts the trials that
// read a second word (an alias tie, the exact exp test) and the −0s.
func refAddTo(d *DiscreteGaussian, x []int64, c *refCounts) {
	const eps = 1e-12
	b, nA, nU := d.bits, d.nA, d.nU
	offMask, uMask := uint64(1)<<b-1, uint64(1)<<nU-1
	inv2s2, uScale := d.inv2s2, d.uScale
	for j := 0; j < len(x); {
		c.trials++
		w := d.word()
		k := w & (dgBlocks - 1)
		rest := w << 1 >> (dgBlockBits + b + 1)
		hiA, keep, alt := rest>>nU, d.keep[k], uint64(d.alias[k])
		top := keep >> (64 - nA)
		swap := hiA > top
		if hiA == top {
			c.ties++
			swap = d.word()>>nA >= keep<<nA>>nA
		}
		if swap {
			k = alt
		}
		i := (w >> dgBlockBits) & offMask
		m := k<<b | i
		s := int64(w) >> 63
		if m == 0 && s != 0 {
			c.negZero++
			continue
		}
		if i != 0 {
			fi := float64(int64(i))
			a := fi * (float64(2*k<<b) + fi) * inv2s2 // d.lo2[k] then: 2kW
			u0 := float64(int64(rest&uMask)) * uScale
			if u0+uScale > 1-a-eps {
				if u0 >= 1-a+a*a/2+eps {
					continue
				}
				c.exact++
				if !d.acceptExact(u0, a) {
					continue
				}
			}
		}
		x[j] += (int64(m) ^ s) - s
		j++
	}
}

// TestDiscreteGaussianMatchesReference: AddTo (addFast with trial for the
// trials it leaves) gives the reference loop's draws, in order, and leaves
// the stream at the same word, for σ on both sides of every change of the
// block width's regime and seeds, in calls of many lengths (1 draw to more
// than a buffer) so that addFast stops at the ends of x and of the buffer
// as well as at the trials that need a second word; and those trials (ties,
// exact tests) and −0s do occur in the runs compared.
func TestDiscreteGaussianMatchesReference(t *testing.T) {
	sigmas := []float64{0.5, 1, 3.5, 21, 22, 42.6, 42.7, 43, 50, 700, 1000, 4321.5,
		2.2e6, 3e8, 1e12, 1 << 40}
	lens := []int{1, 2, 3, 7, 64, 511, 512, 513, 1000, 4096, 9000}
	var total refCounts
	for _, sigma := range sigmas {
		var c refCounts
		for seed := range uint64(4) {
			src := func() *rand.Rand { return rand.New(rand.NewPCG(seed, uint64(sigma*1000))) }
			got, err := NewDiscreteGaussian(sigma, src())
			if err != nil {
				t.Fatal(err)
			}
			want, _ := NewDiscreteGaussian(sigma, src())
			lr := rand.New(rand.NewPCG(seed, 99))
			for call := range 60 {
				n := lens[lr.IntN(len(lens))]
				xg, xw := make([]int64, n), make([]int64, n)
				for i := range xg {
					// Added to, not overwritten.
					xg[i] = int64(i) - 5
					xw[i] = xg[i]
				}
				got.AddTo(xg)
				refAddTo(want, xw, &c)
				for i := range xg {
					if xg[i] != xw[i] {
						t.Fatalf("σ=%v seed %d call %d (len %d): draw %d is %d, reference %d",
							sigma, seed, call, n, i, xg[i]-int64(i)+5, xw[i]-int64(i)+5)
					}
				}
				if got.pos != want.pos {
					t.Fatalf("σ=%v seed %d call %d: stream at byte %d, reference %d", sigma, seed, call, got.pos, want.pos)
				}
			}
			// The next words are the same too.
			if a, b := got.word(), want.word(); a != b {
				t.Fatalf("σ=%v seed %d: next word %x, reference %x", sigma, seed, a, b)
			}
		}
		t.Logf("σ=%v: %d trials, %d ties, %d exact tests, %d −0", sigma, c.trials, c.ties, c.exact, c.negZero)
		total.trials += c.trials
		total.ties += c.ties
		total.exact += c.exact
		total.negZero += c.negZero
	}
	if total.ties < 100 || total.exact < 100 || total.negZero < 100 {
		t.Fatalf("paths hardly exercised: %+v", total)
	}
}

// TestDiscreteGaussianSlowPathsAtEveryPosition: a stream built word by word
// so that trials needing a second word (ties at every bit pattern the alias
// table allows, exact tests) fall at every position of a buffer and at its
// end, compared with the reference.
func TestDiscreteGaussianSlowPathsAtEveryPosition(t *testing.T) {
	for _, sigma := range []float64{3.5, 43, 2.2e6, 1e12} {
		for period := 1; period <= 9; period++ {
			got, _ := NewDiscreteGaussian(sigma, rand.New(rand.NewPCG(7, 7)))
			want, _ := NewDiscreteGaussian(sigma, rand.New(rand.NewPCG(7, 7)))
			r := rand.New(rand.NewPCG(uint64(period), 3))
			// Every period-th word is a tie: its alias bits equal the
			// slot's threshold's leading bits.
			fill := func(buf []byte) {
				for p := 0; p < len(buf); p += 8 {
					w := r.Uint64()
					if (p/8)%period == 0 {
						k := w & (dgBlocks - 1)
						top := got.keep[k] >> (64 - got.nA)
						sh := dgBlockBits + got.bits + got.nU
						w = w&^(((1<<got.nA)-1)<<sh) | top<<sh
					}
					binary.LittleEndian.PutUint64(buf[p:], w)
				}
			}
			var c refCounts
			for call := range 20 {
				fill(got.buf[:])
				copy(want.buf[:], got.buf[:])
				got.pos, want.pos = 0, 0
				// Draw past the buffer's end, into the next buffer of the
				// stream (the same AES words for both): a tie or an exact
				// test in the last words reads its extra word from there.
				for wrapped := false; !wrapped; {
					before := want.pos
					xg, xw := make([]int64, 1+call%5), make([]int64, 1+call%5)
					got.AddTo(xg)
					refAddTo(want, xw, &c)
					for i := range xg {
						if xg[i] != xw[i] {
							t.Fatalf("σ=%v period %d call %d: draw %d is %d, reference %d", sigma, period, call, i, xg[i], xw[i])
						}
					}
					if got.pos != want.pos {
						t.Fatalf("σ=%v period %d: stream at byte %d, reference %d", sigma, period, got.pos, want.pos)
					}
					wrapped = want.pos < before
				}
			}
			if c.ties == 0 {
				t.Fatalf("σ=%v period %d: no ties", sigma, period)
			}
		}
	}
}

// TestDiscreteGaussianQuickTestSound: at the edge of the quick test — for
// every block of the 1,024 fastStart/fastSlope entries, offsets 1, 2,
// W/2, W − 1 and a random one, the largest R it passes (slot bits 0, where
// it is most lenient) — the float test trial uses accepts (U's leading bits
// R decide it without the exact test). A quick test even 2·10^-3 looser
// fails here.
func TestDiscreteGaussianQuickTestSound(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	checked := 0
	for _, sigma := range []float64{42.7, 43, 50, 700, 1000, 4321.5, 2.2e6, 3e8, 1e12, 1 << 40} {
		d, _ := NewDiscreteGaussian(sigma, rand.New(rand.NewPCG(1, 1)))
		b, nU := d.bits, d.nU
		wd := uint64(1) << b
		for blk := range 2 * dgBlocks {
			start, slope := d.fastStart[blk], d.fastSlope[blk]
			for _, i := range []uint64{1, min(2, wd-1), wd / 2, wd - 1, 1 + r.Uint64N(wd-1)} {
				pass := func(R uint64) bool {
					low := R<<(b+10) | i<<10
					return int64(low)+int64(i)*slope <= d.quickLim
				}
				if !pass(0) {
					continue // a too large for any U: nothing to check
				}
				lo, hi := uint64(0), uint64(1)<<nU // pass(lo), and hi is out of range or fails
				for hi-lo > 1 {
					if mid := (lo + hi) / 2; pass(mid) {
						lo = mid
					} else {
						hi = mid
					}
				}
				fi := float64(int64(i))
				a := fi * (float64(2*start) + fi) * d.inv2s2
				u0 := float64(int64(lo)) * d.uScale
				if u0+d.uScale > 1-a-dgEps {
					t.Fatalf("σ=%v entry %d (start %d) i=%d: quick test passes R=%d, float test does not accept (a=%v)",
						sigma, blk, start, i, lo, a)
				}
				checked++
			}
		}
	}
	if checked < 10000 {
		t.Fatalf("only %d edges checked", checked)
	}
}
