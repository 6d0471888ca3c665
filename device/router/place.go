package router

import (
	"fmt"

	"github.com/golang/geo/s2"
	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/tensor"
)

// coarsenPlaces applies an "s2" coarsening: t holds places as (latitude,
// longitude) pairs in degrees on its last axis (float32 or float64), and
// each pair becomes the centre of the S2 cell at level that contains it,
// in the same dtype and shape. The centre depends on the cell alone, so
// every place in one cell leaves the device as the same bytes, and a
// server model trained on (latitude, longitude) keeps its input shape
// (docs/design-coarsening.md says why the centre and not the cell id).
//
// Errors never echo the values: a place outside latitude [-90, 90] and
// longitude [-180, 180], or not finite, is refused (the request stays on
// device), as are other dtypes and a last axis whose size is not 2.
func coarsenPlaces(level int, t *tensor.Tensor) (*tensor.Tensor, error) {
	if level < 0 || level > bundle.MaxS2Level {
		return nil, fmt.Errorf("%w: S2 level %d is outside 0 to %d", ErrCoarsening, level, bundle.MaxS2Level)
	}
	if len(t.Shape) == 0 || t.Shape[len(t.Shape)-1] != 2 {
		return nil, fmt.Errorf("%w: s2 wants (latitude, longitude) pairs on a last axis of size 2, got shape %v", ErrCoarsening, t.Shape)
	}
	out := tensor.New(t.DType, t.Shape...)
	switch t.DType {
	case tensor.Float32:
		src, dst := tensor.Data[float32](t), tensor.Data[float32](out)
		for i := 0; i+1 < len(dst); i += 2 {
			lat, lng, ok := cellCentre(float64(src[i]), float64(src[i+1]), level)
			if !ok {
				return nil, errBadPlace
			}
			dst[i], dst[i+1] = float32(lat), float32(lng)
		}
	case tensor.Float64:
		src, dst := tensor.Data[float64](t), tensor.Data[float64](out)
		for i := 0; i+1 < len(dst); i += 2 {
			lat, lng, ok := cellCentre(src[i], src[i+1], level)
			if !ok {
				return nil, errBadPlace
			}
			dst[i], dst[i+1] = lat, lng
		}
	default:
		return nil, fmt.Errorf("%w: s2 wants float32 or float64 degrees, got %s", ErrCoarsening, t.DType)
	}
	return out, nil
}

var errBadPlace = fmt.Errorf("%w: a place is outside latitude -90 to 90 and longitude -180 to 180, or not finite", ErrCoarsening)

// cellCentre returns the centre, in degrees, of the level-level S2 cell
// holding the point at (lat, lng) degrees; ok is false for a point out of
// range or not finite (NaN fails every comparison).
func cellCentre(lat, lng float64, level int) (clat, clng float64, ok bool) {
	if !(lat >= -90 && lat <= 90 && lng >= -180 && lng <= 180) {
		return 0, 0, false
	}
	c := s2.CellIDFromLatLng(s2.LatLngFromDegrees(lat, lng)).Parent(level).LatLng()
	return c.Lat.Degrees(), c.Lng.Degrees(), true
}
