package kernels

import (
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/kernels/gemm8"
	"github.com/sextant-ml/sextant/tensor"
)

// Int8 weights in bundles, as matmul_f32.go does for float32: convert
// stores the constant int8 B [K, N] of QuantMatMul and DynamicQuantMatMul
// packed in gemm8's layout (with its column sums) beside the plain tensor,
// the bundle attaches it to the initializer (graph.Value.Layouts), and the
// kernel wraps it in place instead of packing at compile time.

// Int8PanelLayout returns the bundle layout name of a constant int8 weight
// packed for the int8 kernels (package gemm8).
func Int8PanelLayout() string { return gemm8.LayoutVNNI16 }

// PackWeight8 packs an int8 2-D weight B [K, N] for products A·B, as
// convert stores it; nil when w is not such a tensor.
func PackWeight8(w *tensor.Tensor) *tensor.Tensor {
	if w == nil || w.DType != tensor.Int8 || len(w.Shape) != 2 || w.Len() == 0 {
		return nil
	}
	k, n := w.Shape[0], w.Shape[1]
	raw := tensor.AlignedBytes(gemm8.PackedLen(k, n))
	gemm8.PackBInto(raw, tensor.Data[int8](w), k, n, n, false)
	return &tensor.Tensor{DType: tensor.Int8, Shape: w.Shape.Clone(), Raw: raw}
}

// weightPanels8 returns constant int8 weight v (B [K, N]) packed for ks: the
// bundle's stored layout, used in place, when v carries it, else a fresh
// packing; repacked reports the second case.
func weightPanels8(ks gemm8.Kernels, v *graph.Value) (p *gemm8.PackedB, repacked bool) {
	if v == nil || v.Const == nil || v.Const.DType != tensor.Int8 || len(v.Const.Shape) != 2 {
		return nil, false
	}
	k, n := v.Const.Shape[0], v.Const.Shape[1]
	if t, ok := v.Layouts[Int8PanelLayout()]; ok {
		if pk, err := ks.FromPacked(t.Raw, k, n, Int8PanelLayout()); err == nil {
			return pk, false
		}
	}
	return ks.PackB(tensor.Data[int8](v.Const), k, n, false), true
}
