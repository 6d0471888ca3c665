package router

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/tensor"
)

// ErrStayOnDevice is wrapped by every reason a request may not go to the
// server: no server variant, a private input the server variant needs, a
// coarsening the device cannot apply. The router answers on device.
var ErrStayOnDevice = errors.New("request stays on device")

// Project returns the inputs the server variant of m may see: the inputs
// ServerVariant.Inputs names, public ones as they are, sensitive ones
// coarsened as their manifest entry declares. It fails (wrapping
// ErrStayOnDevice) when m has no server variant, when the variant names a
// private input or one the signature lacks, or when a coarsening is not
// supported; it never returns a private input. The returned tensors are
// fresh copies.
func Project(m *bundle.Manifest, inputs map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	if m == nil || m.ServerVariant == nil || m.ServerVariant.Model == "" {
		return nil, fmt.Errorf("%w: the model has no server variant", ErrStayOnDevice)
	}
	sig := make(map[string]*bundle.Input, len(m.Signature.Inputs))
	for i := range m.Signature.Inputs {
		sig[m.Signature.Inputs[i].Name] = &m.Signature.Inputs[i]
	}
	out := make(map[string]*tensor.Tensor, len(m.ServerVariant.Inputs))
	for _, name := range m.ServerVariant.Inputs {
		in, ok := sig[name]
		if !ok {
			return nil, fmt.Errorf("%w: server input %q is not in the signature", ErrStayOnDevice, name)
		}
		t, ok := inputs[name]
		if !ok || t == nil {
			return nil, fmt.Errorf("%w: server input %q was not given", ErrStayOnDevice, name)
		}
		switch in.Privacy {
		case bundle.Public:
			out[name] = t.Clone()
		case bundle.Sensitive:
			c, err := Coarsen(in.Coarsening, t)
			if err != nil {
				return nil, fmt.Errorf("%w: input %q: %w", ErrStayOnDevice, name, err)
			}
			out[name] = c
		default:
			// Private, or a class this version does not know: treated as
			// private (DESIGN.md, "Contracts").
			return nil, fmt.Errorf("%w: server input %q is %s", ErrStayOnDevice, name, privacyName(in.Privacy))
		}
	}
	return out, nil
}

func privacyName(p bundle.PrivacyClass) string {
	if p == "" {
		return "unclassified"
	}
	return string(p)
}

// ErrCoarsening is wrapped by errors about coarsenings the device cannot
// apply.
var ErrCoarsening = errors.New("coarsening not supported")

// Coarsen applies c to a numeric tensor and returns a new tensor of the
// same dtype and shape:
//
//   - time_slot: a time in minutes (of the day, or since any origin)
//     becomes the start of its slot, floor(v / Minutes) × Minutes;
//   - bucket: a number becomes the index of its bucket, the count of
//     Edges ≤ v (0 below the first edge, len(Edges) from the last);
//   - s2: a place, a (latitude, longitude) pair in degrees on the last
//     axis (float32 or float64), becomes the centre of its S2 cell at the
//     declared level (bundle.DefaultS2Level when none is declared);
//   - h3 and unknown kinds: an error wrapping ErrCoarsening, so the value
//     stays on device. This build has no H3 (no pure-Go implementation;
//     docs/design-coarsening.md): a model that needs a coarsened place
//     declares s2.
//
// Non-finite values are refused: NaN has no slot, bucket or cell.
func Coarsen(c *bundle.Coarsening, t *tensor.Tensor) (*tensor.Tensor, error) {
	if c == nil {
		return nil, fmt.Errorf("%w: a sensitive input without a declared coarsening", ErrCoarsening)
	}
	var f func(float64) float64
	switch c.Kind {
	case bundle.CoarsenTimeSlot:
		if c.Minutes < 1 || c.Minutes > 1440 {
			return nil, fmt.Errorf("%w: time_slot of %d minutes", ErrCoarsening, c.Minutes)
		}
		m := float64(c.Minutes)
		f = func(v float64) float64 { return math.Floor(v/m) * m }
	case bundle.CoarsenBucket:
		edges := c.Edges
		if len(edges) == 0 || !sort.Float64sAreSorted(edges) {
			return nil, fmt.Errorf("%w: bucket edges must be non-empty and increasing", ErrCoarsening)
		}
		f = func(v float64) float64 {
			return float64(sort.Search(len(edges), func(i int) bool { return edges[i] > v }))
		}
	case bundle.CoarsenS2:
		return coarsenPlaces(c.S2Level(), t)
	case bundle.CoarsenH3:
		return nil, fmt.Errorf("%w: h3 is not supported on this build (no pure-Go H3); declare an s2 coarsening instead", ErrCoarsening)
	default:
		return nil, fmt.Errorf("%w: unknown kind %q", ErrCoarsening, c.Kind)
	}
	return mapNumeric(t, f)
}

// mapNumeric applies f elementwise through float64.
func mapNumeric(t *tensor.Tensor, f func(float64) float64) (*tensor.Tensor, error) {
	out := tensor.New(t.DType, t.Shape...)
	bad := false
	fin := func(v float64) float64 {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			bad = true
			return 0
		}
		return f(v)
	}
	switch t.DType {
	case tensor.Float32:
		src, dst := tensor.Data[float32](t), tensor.Data[float32](out)
		for i, v := range src {
			dst[i] = float32(fin(float64(v)))
		}
	case tensor.Float64:
		src, dst := tensor.Data[float64](t), tensor.Data[float64](out)
		for i, v := range src {
			dst[i] = fin(v)
		}
	case tensor.Int32:
		src, dst := tensor.Data[int32](t), tensor.Data[int32](out)
		for i, v := range src {
			dst[i] = int32(f(float64(v)))
		}
	case tensor.Int64:
		src, dst := tensor.Data[int64](t), tensor.Data[int64](out)
		for i, v := range src {
			dst[i] = int64(f(float64(v)))
		}
	default:
		return nil, fmt.Errorf("%w: dtype %s", ErrCoarsening, t.DType)
	}
	if bad {
		return nil, fmt.Errorf("%w: a non-finite value has no slot or bucket", ErrCoarsening)
	}
	return out, nil
}
