package secagg

import (
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// SecretSize is the size of every secret the protocol shares: an X25519
// private key s_sk or a self-mask seed b_u.
const SecretSize = 32

// chunkBytes is how many secret bytes one field element carries: 7 bytes
// (56 bits) fit below 2^61 − 1 with room, so every chunk value is a field
// element and reconstruction can check the unused high bits.
const chunkBytes = 7

// ShareChunks is the number of field elements in one share of a
// SecretSize-byte secret: ⌈32 / 7⌉.
const ShareChunks = (SecretSize + chunkBytes - 1) / chunkBytes

// Share is one Shamir share of a SecretSize-byte secret: the secret is cut
// into ShareChunks chunks and each chunk is shared with its own random
// polynomial of degree t−1 over GF(2^61 − 1); all chunks are evaluated at the
// same point X, the holder's client id (never 0, which is the secret).
type Share struct {
	X uint32
	Y [ShareChunks]uint64
}

// Split shares secret t-of-len(xs): any t of the returned shares (one per
// evaluation point xs[i], which must be distinct and non-zero) rebuild it and
// any t−1 say nothing about it (Shamir 1979). The t−1 random coefficients of
// each chunk's polynomial are read from r.
func Split(secret *[SecretSize]byte, t int, xs []uint32, r io.Reader) ([]Share, error) {
	if t < 1 || t > len(xs) {
		return nil, fmt.Errorf("secagg: threshold %d for %d shares", t, len(xs))
	}
	if err := checkPoints(xs); err != nil {
		return nil, err
	}
	coef := make([]elem, ShareChunks*t)
	buf := make([]byte, 8*(t-1)*ShareChunks)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("secagg: shamir coefficients: %w", err)
	}
	for c := range ShareChunks {
		p := coef[c*t : (c+1)*t]
		p[0] = chunkValue(secret, c)
		for j := 1; j < t; j++ {
			v := binary.LittleEndian.Uint64(buf) & fieldP
			buf = buf[8:]
			for v == fieldP { // probability 2^-61: draw again
				var b [8]byte
				if _, err := io.ReadFull(r, b[:]); err != nil {
					return nil, fmt.Errorf("secagg: shamir coefficients: %w", err)
				}
				v = binary.LittleEndian.Uint64(b[:]) & fieldP
			}
			p[j] = v
		}
	}
	shares := make([]Share, len(xs))
	for i, x := range xs {
		shares[i].X = x
		for c := range ShareChunks {
			shares[i].Y[c] = evalPoly(coef[c*t:(c+1)*t], elem(x))
		}
	}
	return shares, nil
}

// evalPoly evaluates p[0] + p[1]·x + … by Horner's rule.
func evalPoly(p []elem, x elem) elem {
	y := p[len(p)-1]
	for j := len(p) - 2; j >= 0; j-- {
		y = fadd(fmul(y, x), p[j])
	}
	return y
}

// chunkValue reads chunk c of the secret as a little-endian integer.
func chunkValue(s *[SecretSize]byte, c int) elem {
	var v elem
	end := min((c+1)*chunkBytes, SecretSize)
	for i := end - 1; i >= c*chunkBytes; i-- {
		v = v<<8 | elem(s[i])
	}
	return v
}

func checkPoints(xs []uint32) error {
	seen := make(map[uint32]struct{}, len(xs))
	for _, x := range xs {
		if x == 0 {
			return fmt.Errorf("secagg: shamir evaluation point 0 is the secret")
		}
		if _, dup := seen[x]; dup {
			return fmt.Errorf("secagg: shamir evaluation point %d repeated", x)
		}
		seen[x] = struct{}{}
	}
	return nil
}

// lagrangeAtZero returns the weights λ_i = Π_{j≠i} x_j / (x_j − x_i) with
// f(0) = Σ λ_i·f(x_i) for any f of degree < len(xs).
func lagrangeAtZero(xs []uint32) []elem {
	w := make([]elem, len(xs))
	for i, xi := range xs {
		num, den := elem(1), elem(1)
		for j, xj := range xs {
			if j == i {
				continue
			}
			num = fmul(num, elem(xj))
			den = fmul(den, fsub(elem(xj), elem(xi)))
		}
		w[i] = fmul(num, finv(den))
	}
	return w
}

// Combiner rebuilds secrets from shares. It caches the Lagrange weights of
// each set of evaluation points it has seen, since a server rebuilds the
// secrets of many clients from the shares of the same survivors. It is not
// safe for concurrent use.
type Combiner struct {
	weights map[string][]elem
}

// Combine rebuilds the secret from shares, all of which are used: pass
// exactly t of them (with more, the result is the same only if they are
// consistent). The points must be distinct and non-zero. A rebuilt chunk
// with bits set above its byte width means the shares were not of one
// secret: ErrReconstruct.
func (cb *Combiner) Combine(shares []Share) ([SecretSize]byte, error) {
	var out [SecretSize]byte
	if len(shares) == 0 {
		return out, fmt.Errorf("%w: no shares", ErrReconstruct)
	}
	xs := make([]uint32, len(shares))
	for i, s := range shares {
		xs[i] = s.X
	}
	w, err := cb.lookup(xs)
	if err != nil {
		return out, err
	}
	for c := range ShareChunks {
		var v elem
		for i := range shares {
			v = fadd(v, fmul(w[i], shares[i].Y[c]%fieldP))
		}
		end := min((c+1)*chunkBytes, SecretSize)
		if v>>(8*(end-c*chunkBytes)) != 0 {
			return out, fmt.Errorf("%w: chunk %d out of range", ErrReconstruct, c)
		}
		for i := c * chunkBytes; i < end; i++ {
			out[i] = byte(v)
			v >>= 8
		}
	}
	return out, nil
}

func (cb *Combiner) lookup(xs []uint32) ([]elem, error) {
	var key strings.Builder
	for _, x := range xs {
		key.WriteString(strconv.FormatUint(uint64(x), 36))
		key.WriteByte(',')
	}
	if w, ok := cb.weights[key.String()]; ok {
		return w, nil
	}
	if err := checkPoints(xs); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrReconstruct, err)
	}
	w := lagrangeAtZero(slices.Clone(xs))
	if cb.weights == nil {
		cb.weights = map[string][]elem{}
	}
	if len(cb.weights) > 64 { // bounded cache: survivor sets rarely differ
		clear(cb.weights)
	}
	cb.weights[key.String()] = w
	return w, nil
}
