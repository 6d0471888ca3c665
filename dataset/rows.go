package dataset

import "github.com/sextant-ml/sextant/tensor"

// Width is the number of elements one example has in column t (the product
// of t's dimensions after the first).
func Width(t *tensor.Tensor) int {
	w := 1
	for _, s := range t.Shape[1:] {
		w *= s
	}
	return w
}

// Rows returns a view of examples [lo, hi) of column t, sharing its memory.
func Rows(t *tensor.Tensor, lo, hi int) *tensor.Tensor {
	w := Width(t)
	shape := append(tensor.Shape{hi - lo}, t.Shape[1:]...)
	if t.DType == tensor.String {
		return &tensor.Tensor{DType: t.DType, Shape: shape, Strs: t.Strs[lo*w : hi*w]}
	}
	sz := t.DType.Size()
	return &tensor.Tensor{DType: t.DType, Shape: shape, Raw: t.Raw[lo*w*sz : hi*w*sz]}
}

// PadRows copies examples [lo, hi) of column t into a new tensor of n ≥
// hi−lo examples, the rest repeating example hi−1 (a fixed batch's tail).
func PadRows(t *tensor.Tensor, lo, hi, n int) *tensor.Tensor {
	shape := append(tensor.Shape{n}, t.Shape[1:]...)
	out := tensor.New(t.DType, shape...)
	w := Width(t)
	for i := range n {
		src := min(lo+i, hi-1)
		if t.DType == tensor.String {
			copy(out.Strs[i*w:(i+1)*w], t.Strs[src*w:(src+1)*w])
			continue
		}
		sz := w * t.DType.Size()
		copy(out.Raw[i*sz:(i+1)*sz], t.Raw[src*sz:(src+1)*sz])
	}
	return out
}
