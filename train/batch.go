package train

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/sextant-ml/sextant/privacy/noise"
	"github.com/sextant-ml/sextant/tensor"
)

// copyRows copies rows idx of src (first axis = example) into dst's first
// len(idx) rows.
func copyRows(dst, src *tensor.Tensor, idx []int) {
	n := src.Shape[0]
	if n == 0 {
		return
	}
	row := len(src.Raw) / n
	for k, i := range idx {
		copy(dst.Raw[k*row:(k+1)*row], src.Raw[i*row:(i+1)*row])
	}
}

// checkData verifies that the data set's tensors all have the same number
// of examples along their first axis, and returns it.
func checkData(data []*tensor.Tensor) (int, error) {
	if len(data) == 0 {
		return 0, fmt.Errorf("train: no data tensors")
	}
	n := -1
	for i, t := range data {
		if len(t.Shape) == 0 {
			return 0, fmt.Errorf("train: data tensor %d is a scalar; the first axis must be the example", i)
		}
		if n >= 0 && t.Shape[0] != n {
			return 0, fmt.Errorf("train: data tensor %d has %d examples, tensor 0 has %d", i, t.Shape[0], n)
		}
		n = t.Shape[0]
	}
	if n == 0 {
		return 0, fmt.Errorf("train: the data set is empty")
	}
	return n, nil
}

// batchBuffers allocates one physical batch of size rows shaped like data's
// tensors (plus, when mask, a float mask of dtype dt).
func batchBuffers(data []*tensor.Tensor, rows int, mask bool, dt tensor.DType) []*tensor.Tensor {
	out := make([]*tensor.Tensor, 0, len(data)+1)
	for _, t := range data {
		sh := append(tensor.Shape{rows}, t.Shape[1:]...)
		out = append(out, tensor.New(t.DType, sh...))
	}
	if mask {
		out = append(out, tensor.New(dt, rows))
	}
	return out
}

// PoissonBatcher draws DP-SGD batches: each step includes every example
// independently with probability q (Poisson sampling, whose privacy
// amplification the accountant assumes), so the batch size varies. To keep
// a bounded set of engine plans, the batch is padded up to a multiple of
// Bucket rows; padding rows repeat sampled examples (or example 0 when the
// sample is empty) and get mask 0, so they add nothing to the gradient (the
// reported loss, a plain mean over the physical batch, counts them). After
// every bucket size has been seen once, Next allocates nothing.
type PoissonBatcher struct {
	data   []*tensor.Tensor
	n      int
	q      float64
	logq1  float64 // log(1−q)
	bucket int
	dt     tensor.DType
	r      *rand.Rand
	idx    []int
	bufs   map[int][]*tensor.Tensor
}

// NewPoissonBatcher samples from data (the trainer's DataNames order
// without the trailing "dp_mask"; first axis = example) at rate q, padding
// to multiples of bucket (≤ 0: 8). r is the sampling randomness; nil uses
// the operating system's CSPRNG. dt is the mask's dtype (the parameters').
func NewPoissonBatcher(data []*tensor.Tensor, q float64, bucket int, dt tensor.DType, r *rand.Rand) (*PoissonBatcher, error) {
	n, err := checkData(data)
	if err != nil {
		return nil, err
	}
	if !(q > 0 && q <= 1) {
		return nil, fmt.Errorf("train: sampling rate %v must be in (0, 1]", q)
	}
	if bucket <= 0 {
		bucket = 8
	}
	if r == nil {
		r = noise.CryptoRand()
	}
	return &PoissonBatcher{data: data, n: n, q: q, logq1: math.Log1p(-q), bucket: bucket, dt: dt, r: r,
		idx: make([]int, 0, n), bufs: map[int][]*tensor.Tensor{}}, nil
}

// Examples is the data set's size.
func (b *PoissonBatcher) Examples() int { return b.n }

// Next draws a batch and returns it (the data tensors then the mask, valid
// until the next call) with the number of sampled examples.
func (b *PoissonBatcher) Next() ([]*tensor.Tensor, int) {
	b.idx = b.idx[:0]
	poissonSample(b.r, b.n, b.q, b.logq1, func(i int) { b.idx = append(b.idx, i) })
	k := len(b.idx)
	var buf []*tensor.Tensor
	buf, b.idx = padBatch(b.data, b.bufs, b.bucket, b.dt, b.idx, nil)
	return buf, k
}

// poissonSample calls visit, in increasing order, for each of 0…n−1
// included independently with probability q (logq1 = log(1−q)), by
// geometric skips (the gap to the next included one is Geometric(q)):
// O(qn) per call.
func poissonSample(r *rand.Rand, n int, q, logq1 float64, visit func(int)) {
	if q == 1 {
		for i := 0; i < n; i++ {
			visit(i)
		}
		return
	}
	i := -1
	for {
		u := 1 - r.Float64() // in (0, 1]
		i += 1 + int(math.Floor(math.Log(u)/logq1))
		if i >= n || i < 0 {
			return
		}
		visit(i)
	}
}

// padBatch gathers rows idx of data into the buffers for its bucketed row
// count (made once per count and kept in bufs): idx is padded up to a
// multiple of bucket by repeating sampled rows (row 0 when idx is empty),
// and the mask, the last buffer, holds weights[i] for the real rows (1
// when weights is nil) and 0 for the padding. It returns the buffers and
// the padded idx.
func padBatch(data []*tensor.Tensor, bufs map[int][]*tensor.Tensor, bucket int, dt tensor.DType, idx []int, weights []float64) ([]*tensor.Tensor, []int) {
	k := len(idx)
	rows := max(bucket, (k+bucket-1)/bucket*bucket)
	buf, ok := bufs[rows]
	if !ok {
		buf = batchBuffers(data, rows, true, dt)
		bufs[rows] = buf
	}
	for len(idx) < rows {
		if k == 0 {
			idx = append(idx, 0)
		} else {
			idx = append(idx, idx[len(idx)-k])
		}
	}
	for j, t := range data {
		copyRows(buf[j], t, idx)
	}
	m := buf[len(buf)-1]
	for i := 0; i < rows; i++ {
		v := 0.0
		switch {
		case i >= k:
		case weights == nil:
			v = 1
		default:
			v = weights[i]
		}
		setFloat(m, i, v)
	}
	return buf, idx
}

// ShuffleBatcher serves the data set in batches of a fixed size in a fresh
// random order each epoch (the last, smaller batch of an epoch included).
type ShuffleBatcher struct {
	data  []*tensor.Tensor
	n, bs int
	r     *rand.Rand
	perm  []int
	pos   int
	full  []*tensor.Tensor
	tail  []*tensor.Tensor
}

// NewShuffleBatcher batches data (first axis = example) by batch, shuffling
// with r.
func NewShuffleBatcher(data []*tensor.Tensor, batch int, r *rand.Rand) (*ShuffleBatcher, error) {
	n, err := checkData(data)
	if err != nil {
		return nil, err
	}
	if batch <= 0 {
		return nil, fmt.Errorf("train: batch size %d must be positive", batch)
	}
	batch = min(batch, n)
	s := &ShuffleBatcher{data: data, n: n, bs: batch, r: r, perm: make([]int, n), pos: n}
	s.full = batchBuffers(data, batch, false, 0)
	if n%batch != 0 {
		s.tail = batchBuffers(data, n%batch, false, 0)
	}
	return s, nil
}

// BatchesPerEpoch is ⌈n/batch⌉.
func (s *ShuffleBatcher) BatchesPerEpoch() int { return (s.n + s.bs - 1) / s.bs }

// Next returns the next batch (valid until the next call) and whether it
// starts a new epoch.
func (s *ShuffleBatcher) Next() ([]*tensor.Tensor, bool) {
	fresh := false
	if s.pos >= s.n {
		for i := range s.perm {
			s.perm[i] = i
		}
		s.r.Shuffle(s.n, func(i, j int) { s.perm[i], s.perm[j] = s.perm[j], s.perm[i] })
		s.pos, fresh = 0, true
	}
	end := min(s.pos+s.bs, s.n)
	buf := s.full
	if end-s.pos < s.bs {
		buf = s.tail
	}
	for j, t := range s.data {
		copyRows(buf[j], t, s.perm[s.pos:end])
	}
	s.pos = end
	return buf, fresh
}
