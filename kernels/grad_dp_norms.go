package kernels

import (
	"fmt"
	"math"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// maxDPRank bounds the rank DPReduceNorms walks with a stack odometer.
const maxDPRank = 8

// newDPReduceNorms is (G, P) → S[N]: Sᵢ = ‖Gᵢ summed down to P's shape‖²,
// the per-example squared norm of the gradient of a parameter P that an
// elementwise op broadcast over G's shape (G is that op's output gradient,
// times the other operand for Mul). P must not span the batch axis 0.
func newDPReduceNorms(n *graph.Node, opset int) (Kernel, error) {
	scale := float64(n.Float("scale", 1))
	return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
		g, par := in[0], in[1]
		r := len(g.Shape)
		if r < 1 || r > maxDPRank || len(par.Shape) > r || g.DType != par.DType {
			return Step{}, fmt.Errorf("%w: DPReduceNorms gradient %v for parameter %v", tensor.ErrShape, g, par)
		}
		// pst[j]: P's stride along G's axis j (0 where P broadcasts).
		var p dpReducePlan
		p.nb, p.rank, p.scale = g.Shape[0], r-1, scale*scale
		p.psize = par.Len()
		off := r - len(par.Shape)
		stride := 1
		for j := r - 1; j >= 0; j-- {
			pd := 1
			if j >= off {
				pd = par.Shape[j-off]
			}
			switch {
			case pd == g.Shape[j]:
				if j == 0 && pd != 1 {
					return Step{}, fmt.Errorf("%w: DPReduceNorms parameter %v spans the batch axis of %v", tensor.ErrShape, par, g)
				}
				if j > 0 {
					p.pst[j-1] = stride
				}
			case pd == 1:
			default:
				return Step{}, fmt.Errorf("%w: DPReduceNorms parameter %v does not broadcast to %v", tensor.ErrShape, par, g)
			}
			stride *= pd
			if j > 0 {
				p.dims[j-1] = g.Shape[j]
			}
		}
		if err := checkOut(out, 0, tensor.Shape{p.nb}); err != nil {
			return Step{}, err
		}
		return floatStep("DPReduceNorms", g.DType, 8*p.psize,
			func(in, out []*tensor.Tensor, s []byte) error { reduceNormsRun[float32](&p, in, out, s); return nil },
			func(in, out []*tensor.Tensor, s []byte) error { reduceNormsRun[float64](&p, in, out, s); return nil })
	}), nil
}

type dpReducePlan struct {
	nb, rank, psize int
	dims, pst       [maxDPRank]int // per non-batch axis of G
	scale           float64
}

func reduceNormsRun[T floatElem](p *dpReducePlan, in, out []*tensor.Tensor, scratch []byte) {
	g, s := tensor.Data[T](in[0]), tensor.Data[T](out[0])
	acc := f64Scratch(scratch, p.psize)
	per := len(g) / max(p.nb, 1)
	for i := 0; i < p.nb; i++ {
		gi := g[i*per : (i+1)*per]
		var norm float64
		if p.psize == per {
			// P has every non-batch axis: the example's gradient is Gᵢ.
			for _, v := range gi {
				norm += float64(v) * float64(v)
			}
		} else {
			clear(acc)
			var idx [maxDPRank]int
			pi := 0
			for _, v := range gi {
				acc[pi] += float64(v)
				// Advance the odometer over G's non-batch axes.
				for j := p.rank - 1; j >= 0; j-- {
					idx[j]++
					pi += p.pst[j]
					if idx[j] < p.dims[j] {
						break
					}
					pi -= p.pst[j] * idx[j]
					idx[j] = 0
				}
			}
			for _, v := range acc {
				norm += v * v
			}
		}
		s[i] = T(p.scale * norm)
	}
}

// newDPLayerNormNorms is (dY, X) → (S, B): per-example squared norms of
// LayerNormalization's scale gradient Σ dY⊙X̂ and bias gradient Σ dY, summed
// over the example's normalized rows. X̂ is recomputed in float64 as
// LayerNormalizationGrad does.
func newDPLayerNormNorms(n *graph.Node, opset int) (Kernel, error) {
	eps := float64(n.Float("epsilon", 1e-5))
	lnAxis := int(n.Int("ln_axis", -1))
	return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
		d, x := in[0], in[1]
		r := len(x.Shape)
		ax := lnAxis
		if ax < 0 {
			ax += r
		}
		if ax < 1 || ax >= r || !d.Shape.Equal(x.Shape) || d.DType != x.DType {
			return Step{}, fmt.Errorf("%w: DPLayerNormNorms gradient %v, input %v, axis %d", tensor.ErrShape, d, x, lnAxis)
		}
		p := lnNormsPlan{nb: x.Shape[0], rows: x.Shape[1:ax].NumElements(), width: x.Shape[ax:].NumElements(), eps: eps}
		for i := range out {
			if err := checkOut(out, i, tensor.Shape{p.nb}); err != nil {
				return Step{}, err
			}
		}
		return floatStep("DPLayerNormNorms", x.DType, 16*p.width,
			func(in, out []*tensor.Tensor, s []byte) error { lnNormsRun[float32](&p, in, out, s); return nil },
			func(in, out []*tensor.Tensor, s []byte) error { lnNormsRun[float64](&p, in, out, s); return nil })
	}), nil
}

type lnNormsPlan struct {
	nb, rows, width int
	eps             float64
}

func lnNormsRun[T floatElem](p *lnNormsPlan, in, out []*tensor.Tensor, scratch []byte) {
	d, x := tensor.Data[T](in[0]), tensor.Data[T](in[1])
	ds, db := f64Scratch(scratch, p.width), f64Scratch(scratch[8*p.width:], p.width)
	w := p.width
	for i := 0; i < p.nb; i++ {
		clear(ds)
		clear(db)
		for r := 0; r < p.rows; r++ {
			base := (i*p.rows + r) * w
			xr, dr := x[base:base+w], d[base:base+w]
			var mean, ss float64
			for _, v := range xr {
				mean += float64(v)
			}
			mean /= float64(w)
			for _, v := range xr {
				c := float64(v) - mean
				ss += c * c
			}
			inv := 1 / math.Sqrt(ss/float64(w)+p.eps)
			for k, v := range xr {
				g := float64(dr[k])
				ds[k] += g * (float64(v) - mean) * inv
				db[k] += g
			}
		}
		var s, b float64
		for k := range ds {
			s += ds[k] * ds[k]
			b += db[k] * db[k]
		}
		if out[0] != nil {
			tensor.Data[T](out[0])[i] = T(s)
		}
		if len(out) > 1 && out[1] != nil {
			tensor.Data[T](out[1])[i] = T(b)
		}
	}
}

// newDPGatherNorms is (dY, Indices, Table) → S[N] for an embedding
// Y = Gather(Table, Indices) along axis 0 with Indices [N, …]: Sᵢ is the
// squared norm of example i's table gradient, whose row r is the sum of the
// dY rows of the example's indices equal to r, so
// Sᵢ = Σ_{k,l: idx_k = idx_l} dY_k·dY_l over the example's positions.
func newDPGatherNorms(n *graph.Node, opset int) (Kernel, error) {
	return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
		d, idx, tab := in[0], in[1], inputAt(in, 2)
		if err := checkIndices("DPGatherNorms", idx); err != nil {
			return Step{}, err
		}
		if len(idx.Shape) < 1 || tab == nil || len(tab.Shape) < 1 {
			return Step{}, fmt.Errorf("%w: DPGatherNorms indices %v, table %v", tensor.ErrShape, idx, tab)
		}
		e := tab.Shape[1:].NumElements()
		if d.Len() != idx.Len()*e {
			return Step{}, fmt.Errorf("%w: DPGatherNorms gradient %v for indices %v and table %v", tensor.ErrShape, d, idx, tab)
		}
		p := gatherNormsPlan{nb: idx.Shape[0], per: idx.Shape[1:].NumElements(), e: e, dim: tab.Shape[0]}
		if err := checkOut(out, 0, tensor.Shape{p.nb}); err != nil {
			return Step{}, err
		}
		return floatStep("DPGatherNorms", d.DType, 0,
			func(in, out []*tensor.Tensor, _ []byte) error { return gatherNormsRun[float32](&p, in, out) },
			func(in, out []*tensor.Tensor, _ []byte) error { return gatherNormsRun[float64](&p, in, out) })
	}), nil
}

type gatherNormsPlan struct{ nb, per, e, dim int }

func gatherNormsRun[T floatElem](p *gatherNormsPlan, in, out []*tensor.Tensor) error {
	d, s := tensor.Data[T](in[0]), tensor.Data[T](out[0])
	at := func(k int) (int, error) {
		var v int64
		if in[1].DType == tensor.Int32 {
			v = int64(tensor.Data[int32](in[1])[k])
		} else {
			v = tensor.Data[int64](in[1])[k]
		}
		i, ok := normIndex(v, p.dim)
		if !ok {
			return 0, indexError("DPGatherNorms", v, p.dim)
		}
		return i, nil
	}
	e := p.e
	for i := 0; i < p.nb; i++ {
		var norm float64
		for k := i * p.per; k < (i+1)*p.per; k++ {
			ik, err := at(k)
			if err != nil {
				return err
			}
			dk := d[k*e : (k+1)*e]
			norm += dpDot(dk, dk)
			for l := k + 1; l < (i+1)*p.per; l++ {
				il, err := at(l)
				if err != nil {
					return err
				}
				if il == ik {
					norm += 2 * dpDot(dk, d[l*e:(l+1)*e])
				}
			}
		}
		s[i] = T(norm)
	}
	return nil
}
