package kernels

import (
	"testing"

	"github.com/sextant-ml/sextant/tensor"
)

// TestBroadcastMatchesNaive checks the row walk against index arithmetic done
// element by element.
func TestBroadcastMatchesNaive(t *testing.T) {
	cases := [][]tensor.Shape{
		{{2, 3, 4}, {2, 3, 4}},
		{{2, 3, 4}, {}},
		{{2, 3, 4}, {4}},
		{{2, 3, 4}, {3, 1}},
		{{2, 3, 4}, {2, 1, 4}},
		{{2, 1, 4}, {1, 3, 1}},
		{{5}, {1}},
		{{1, 1}, {1}},
		{{3, 1, 2, 1}, {1, 4, 1, 5}},
	}
	for _, c := range cases {
		out, err := tensor.BroadcastShapes(c...)
		if err != nil {
			t.Fatal(err)
		}
		b := NewBroadcast(out, c...)
		outSt := out.Strides()
		n := out.NumElements()
		if b.Rows*b.Inner() != n {
			t.Fatalf("%v: rows %d × inner %d != %d", c, b.Rows, b.Inner(), n)
		}
		for i, s := range c {
			st := tensor.BroadcastStrides(s, out)
			for e := 0; e < n; e++ {
				want := 0
				rem := e
				for d := range out {
					want += (rem / outSt[d]) * st[d]
					rem %= outSt[d]
				}
				r, k := e/b.Inner(), e%b.Inner()
				got := b.Offset(i, r) + k*b.RowStep(i)
				if got != want {
					t.Fatalf("%v input %d element %d: offset %d, want %d", c, i, e, got, want)
				}
			}
		}
	}
}
