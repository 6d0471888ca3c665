package kernels

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/sextant-ml/sextant/tensor"
)

// Cast to and from String, as NumPy's astype(str) and astype(float): a
// float becomes its shortest round-tripping decimal in the source precision,
// positional ("0.039187793", "1.0") when 1e-4 <= |x| < 1e16 and scientific
// ("1e-05", "1.5e+16") otherwise (numpy.format_float_positional /
// format_float_scientific as used by float.__repr__); "nan", "inf", "-inf";
// a bool is "True" or "False". Parsing accepts what strconv.ParseFloat does,
// which includes "NaN", "INF", "+INF" and "-INF" in any case, and for bool
// also "True"/"False". The empty string reads as 0 (NumPy raises): the
// engine runs every step once on zeroed inputs while planning, and an empty
// string is what a zeroed string tensor holds.

// formatStrings writes src's elements as strings into d.
func formatStrings(d []string, src *tensor.Tensor) {
	var buf [40]byte
	for i := range d {
		var b []byte
		switch src.DType {
		case tensor.Float32:
			b = appendNumpyFloat(buf[:0], float64(tensor.Data[float32](src)[i]), 32)
		case tensor.Float64:
			b = appendNumpyFloat(buf[:0], tensor.Data[float64](src)[i], 64)
		case tensor.Float16:
			b = appendNumpyFloat(buf[:0], float64(tensor.Float16Bits(tensor.Data[uint16](src)[i]).Float32()), 16)
		case tensor.BFloat16:
			b = appendNumpyFloat(buf[:0], float64(tensor.BFloat16Bits(tensor.Data[uint16](src)[i]).Float32()), -16)
		case tensor.Bool:
			if src.Raw[i] != 0 {
				b = append(buf[:0], "True"...)
			} else {
				b = append(buf[:0], "False"...)
			}
		case tensor.Int8:
			b = strconv.AppendInt(buf[:0], int64(tensor.Data[int8](src)[i]), 10)
		case tensor.Int16:
			b = strconv.AppendInt(buf[:0], int64(tensor.Data[int16](src)[i]), 10)
		case tensor.Int32:
			b = strconv.AppendInt(buf[:0], int64(tensor.Data[int32](src)[i]), 10)
		case tensor.Int64:
			b = strconv.AppendInt(buf[:0], tensor.Data[int64](src)[i], 10)
		case tensor.Uint8:
			b = strconv.AppendUint(buf[:0], uint64(src.Raw[i]), 10)
		case tensor.Uint16:
			b = strconv.AppendUint(buf[:0], uint64(tensor.Data[uint16](src)[i]), 10)
		case tensor.Uint32:
			b = strconv.AppendUint(buf[:0], uint64(tensor.Data[uint32](src)[i]), 10)
		case tensor.Uint64:
			b = strconv.AppendUint(buf[:0], tensor.Data[uint64](src)[i], 10)
		}
		d[i] = string(b)
	}
}

// shortestDigits returns x in strconv's 'e' format with the fewest digits
// that read back as the same value of the given format: 64 or 32 bits, 16
// for Float16, -16 for BFloat16.
func shortestDigits(dst []byte, x float64, bits int) []byte {
	switch bits {
	case 64, 32:
		return strconv.AppendFloat(dst, x, 'e', -1, bits)
	}
	for prec := 0; prec < 8; prec++ {
		b := strconv.AppendFloat(dst, x, 'e', prec, 64)
		v, err := strconv.ParseFloat(string(b[len(dst):]), 64)
		if err != nil {
			break
		}
		f := float32(v)
		if bits == 16 && tensor.Float16FromFloat32(f).Float32() == float32(x) ||
			bits == -16 && tensor.BFloat16FromFloat32(f).Float32() == float32(x) {
			return b
		}
	}
	return strconv.AppendFloat(dst, x, 'e', -1, 32)
}

// appendNumpyFloat appends x formatted as NumPy prints a float of the given
// precision (see shortestDigits).
func appendNumpyFloat(dst []byte, x float64, bits int) []byte {
	switch {
	case x != x:
		return append(dst, "nan"...)
	case math.IsInf(x, 1):
		return append(dst, "inf"...)
	case math.IsInf(x, -1):
		return append(dst, "-inf"...)
	case x == 0:
		if math.Signbit(x) {
			return append(dst, "-0.0"...)
		}
		return append(dst, "0.0"...)
	}
	var tmp [40]byte
	e := shortestDigits(tmp[:0], x, bits)
	neg := e[0] == '-'
	if neg {
		e = e[1:]
	}
	k := 0
	for k < len(e) && e[k] != 'e' {
		k++
	}
	mant, exp10 := e[:k], 0
	if k+1 < len(e) {
		exp10, _ = strconv.Atoi(string(e[k+1:])) // "+06", "-05": no allocation
	}
	// digits: the significant digits without the point; value = 0.digits × 10^(exp10+1).
	var dig [32]byte
	digits := dig[:0]
	for _, c := range mant {
		if c != '.' {
			digits = append(digits, c)
		}
	}
	if neg {
		dst = append(dst, '-')
	}
	if ax := math.Abs(x); ax >= 1e-4 && ax < 1e16 {
		if exp10 >= 0 {
			for i := 0; i <= exp10; i++ {
				if i < len(digits) {
					dst = append(dst, digits[i])
				} else {
					dst = append(dst, '0')
				}
			}
			dst = append(dst, '.')
			if exp10+1 < len(digits) {
				return append(dst, digits[exp10+1:]...)
			}
			return append(dst, '0')
		}
		dst = append(dst, '0', '.')
		for i := 0; i < -exp10-1; i++ {
			dst = append(dst, '0')
		}
		return append(dst, digits...)
	}
	dst = append(dst, digits[0])
	if len(digits) > 1 {
		dst = append(dst, '.')
		dst = append(dst, digits[1:]...)
	}
	dst = append(dst, 'e')
	if exp10 < 0 {
		dst = append(dst, '-')
		exp10 = -exp10
	} else {
		dst = append(dst, '+')
	}
	if exp10 < 10 {
		dst = append(dst, '0')
	}
	return strconv.AppendInt(dst, int64(exp10), 10)
}

// parseStrings converts strings to dst's type; an unparsable string is an
// error naming it.
func parseStrings(dst *tensor.Tensor, strs []string) error {
	for i, s := range strs {
		s = strings.TrimSpace(s)
		var f float64
		var iv int64
		isInt := false
		var err error
		if s == "" {
			storeFloat(dst, i, 0)
			continue
		}
		if dst.DType == tensor.Bool {
			switch strings.ToLower(s) {
			case "true":
				f = 1
			case "false":
				f = 0
			default:
				f, err = strconv.ParseFloat(s, 64)
			}
		} else if dst.DType.IsInt() {
			if iv, err = strconv.ParseInt(s, 10, 64); err == nil {
				isInt = true
			} else if u, uerr := strconv.ParseUint(s, 10, 64); uerr == nil {
				iv, isInt, err = int64(u), true, nil
			} else {
				f, err = strconv.ParseFloat(s, 64)
			}
		} else {
			bits := 64
			if dst.DType == tensor.Float32 {
				bits = 32
			}
			f, err = strconv.ParseFloat(s, bits)
		}
		if err != nil {
			return fmt.Errorf("Cast: element %d: cannot parse %q as %v", i, s, dst.DType)
		}
		if isInt {
			storeInt(dst, i, iv)
		} else {
			storeFloat(dst, i, f)
		}
	}
	return nil
}

// storeInt sets element i of a numeric tensor from an integer.
func storeInt(t *tensor.Tensor, i int, v int64) {
	switch t.DType {
	case tensor.Int8:
		tensor.Data[int8](t)[i] = int8(v)
	case tensor.Int16:
		tensor.Data[int16](t)[i] = int16(v)
	case tensor.Int32:
		tensor.Data[int32](t)[i] = int32(v)
	case tensor.Int64:
		tensor.Data[int64](t)[i] = v
	case tensor.Uint8:
		t.Raw[i] = uint8(v)
	case tensor.Uint16:
		tensor.Data[uint16](t)[i] = uint16(v)
	case tensor.Uint32:
		tensor.Data[uint32](t)[i] = uint32(v)
	case tensor.Uint64:
		tensor.Data[uint64](t)[i] = uint64(v)
	default:
		storeFloat(t, i, float64(v))
	}
}

// storeFloat sets element i of a numeric or bool tensor from a float64.
func storeFloat(t *tensor.Tensor, i int, v float64) {
	switch t.DType {
	case tensor.Float32:
		tensor.Data[float32](t)[i] = float32(v)
	case tensor.Float64:
		tensor.Data[float64](t)[i] = v
	case tensor.Float16:
		tensor.Data[uint16](t)[i] = uint16(tensor.Float16FromFloat32(roundToOddFloat32(v)))
	case tensor.BFloat16:
		tensor.Data[uint16](t)[i] = uint16(tensor.BFloat16FromFloat32(roundToOddFloat32(v)))
	case tensor.Bool:
		t.Raw[i] = 0
		if v != 0 {
			t.Raw[i] = 1
		}
	case tensor.Uint64:
		tensor.Data[uint64](t)[i] = uint64(v)
	default:
		storeInt(t, i, int64(v))
	}
}
