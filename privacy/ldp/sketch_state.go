package ldp

import (
	"encoding/binary"
	"fmt"
	"math"
)

// MarshalBinary encodes the sketch's counts (not its Params, which the
// stream's declaration fixes) so a server can persist an aggregate and
// resume it: the report count, each row's count and the cells, as
// little-endian uint64s and float64s.
func (s *Sketch) MarshalBinary() ([]byte, error) {
	out := make([]byte, 0, 8*(1+len(s.rowN)+len(s.m)))
	out = binary.LittleEndian.AppendUint64(out, uint64(s.n))
	for _, n := range s.rowN {
		out = binary.LittleEndian.AppendUint64(out, uint64(n))
	}
	for _, x := range s.m {
		out = binary.LittleEndian.AppendUint64(out, math.Float64bits(x))
	}
	return out, nil
}

// UnmarshalBinary restores counts MarshalBinary encoded into a sketch made
// by NewSketch with the same Params; a length that does not fit them is an
// error and leaves the sketch unchanged.
func (s *Sketch) UnmarshalBinary(b []byte) error {
	want := 8 * (1 + len(s.rowN) + len(s.m))
	if len(b) != want {
		return fmt.Errorf("ldp: sketch state has %d bytes, want %d for k=%d m=%d", len(b), want, s.p.K, s.p.M)
	}
	n := int(binary.LittleEndian.Uint64(b))
	if n < 0 {
		return fmt.Errorf("ldp: sketch state has a negative count")
	}
	b = b[8:]
	rowN := make([]int, len(s.rowN))
	for i := range rowN {
		rowN[i] = int(binary.LittleEndian.Uint64(b[8*i:]))
		if rowN[i] < 0 || rowN[i] > n {
			return fmt.Errorf("ldp: sketch state row %d counts %d of %d reports", i, rowN[i], n)
		}
	}
	b = b[8*len(rowN):]
	m := make([]float64, len(s.m))
	for i := range m {
		m[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
		if math.IsNaN(m[i]) || math.IsInf(m[i], 0) {
			return fmt.Errorf("ldp: sketch state cell %d is %v", i, m[i])
		}
	}
	s.n, s.rowN, s.m = n, rowN, m
	return nil
}
