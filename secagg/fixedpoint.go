package secagg

import (
	"fmt"
	"math"
	"slices"
)

// Encoding maps real-valued updates to Z_{2^32} and back: a value is clipped
// to [−Clip, Clip], scaled by Scale and rounded to an integer (two's
// complement mod 2^32). Nothing is clipped silently: encoders count the
// clipped coordinates and the count travels, masked, in the vector's last
// coordinate, so the server reports the round's total (Overflow.Clipped).
type Encoding struct {
	// Clip bounds every coordinate: values outside [−Clip, Clip] are clipped
	// and counted; NaN is encoded as 0 and counted too.
	Clip float64
	// Scale is the number of units per 1.0; the resolution is 1/Scale.
	Scale float64
}

// Validate checks that Clip and Scale are positive, finite, and that one
// client's range fits an int32.
func (e Encoding) Validate() error {
	if !(e.Clip > 0) || !(e.Scale > 0) || math.IsInf(e.Clip, 0) || math.IsInf(e.Scale, 0) {
		return fmt.Errorf("secagg: encoding clip %v and scale %v must be positive and finite", e.Clip, e.Scale)
	}
	if math.Round(e.Clip*e.Scale) > math.MaxInt32 {
		return fmt.Errorf("%w: clip %v × scale %v exceeds 2^31−1 units", ErrMayWrap, e.Clip, e.Scale)
	}
	return nil
}

// MaxUnits is the largest magnitude of one encoded coordinate.
func (e Encoding) MaxUnits() uint64 { return uint64(math.Round(e.Clip * e.Scale)) }

// Overflow is the overflow accounting of a round.
type Overflow struct {
	// Clients is the number of inputs summed (the bound uses it).
	Clients int
	// MaxUnits is the per-client bound on a coordinate's magnitude.
	MaxUnits uint64
	// MayWrap reports that Clients·MaxUnits exceeds 2^31−1 (or that the
	// clipped-count coordinate could exceed 2^32−1): the modular sum could
	// wrap and decode wrongly. Rounds refuse such parameters.
	MayWrap bool
	// Clipped is the number of coordinates clipped across all summed inputs.
	Clipped uint64
	// Coordinates is the number of coordinates summed (Clients × Dim), the
	// denominator of Clipped.
	Coordinates uint64
}

// Bound returns the overflow bound for n clients of dim coordinates.
func (e Encoding) Bound(n, dim int) Overflow {
	m := e.MaxUnits()
	wrap := n > 0 && (m > math.MaxInt32/uint64(n) || uint64(dim) > math.MaxUint32/uint64(n))
	return Overflow{Clients: n, MaxUnits: m, MayWrap: wrap, Coordinates: uint64(n) * uint64(dim)}
}

// AppendEncode appends the encoding of x to dst and returns it with the
// number of coordinates clipped (including NaNs).
func (e Encoding) AppendEncode(dst []uint32, x []float32) ([]uint32, int) {
	clip, scale := e.Clip, e.Scale
	lo := -clip // hoisted: the compiler would negate clip every value
	clipped := 0
	n := len(dst)
	dst = slices.Grow(dst, len(x))[:n+len(x)]
	out := dst[n:]
	out = out[:len(x)]
	for i, v := range x {
		f := float64(v)
		if !(f >= lo && f <= clip) {
			switch {
			case f != f:
				f = 0
			case f > clip:
				f = clip
			default:
				f = lo
			}
			clipped++
		}
		// |f| ≤ Clip, and rounded multiplication and rounding are
		// monotonic, so |q| ≤ Round(Clip·Scale) = MaxUnits ≤ 2^31−1
		// (Validate): no further clamp is needed. q is round(y) without
		// its math.Trunc: the conversion to int32 truncates toward zero
		// itself, and y ± (½ − 2^-54) is below 2^31 in magnitude, so
		// int32 of it is int32(Trunc(it)), the same word.
		y := f * scale
		out[i] = uint32(int32(y + math.Copysign(halfDown, y)))
	}
	return dst, clipped
}

// AppendDecode appends the values of a sum of encoded vectors (read as
// two's-complement int32 units) to dst.
func (e Encoding) AppendDecode(dst []float64, sum []uint32) []float64 {
	for _, u := range sum {
		dst = append(dst, float64(int32(u))/e.Scale)
	}
	return dst
}

// round is math.Round (half away from zero) as one truncation, which amd64
// and arm64 compute with one instruction and no branch:
// Trunc(y ± (½ − 2^-54)). Adding the largest double below ½ rounds up
// exactly the magnitudes whose fraction is at least ½ (a fraction of ½ − ε
// sums to below 1, and ½ sums to 1 − 2^-54, which rounds to 1); for
// |y| ≥ 2^52, y is an integer and the sum rounds back to y. Several times
// cheaper in the encoder's loop than math.Round's bit manipulation, and
// the same values (TestRoundMatchesMath). AppendEncode inlines it with the
// int32 conversion doing the truncation.
func round(y float64) float64 {
	return math.Trunc(y + math.Copysign(halfDown, y))
}

// halfDown is the largest double below ½ (½ − 2^-54).
const halfDown = 0.49999999999999994
