package train

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/sextant-ml/sextant/privacy/noise"
	"github.com/sextant-ml/sextant/tensor"
)

// UserSource hands a user-level DP batcher one user's examples when the
// user is sampled, so that the data set need not be in memory (the demo's
// donor tables are read a user at a time from Parquet).
type UserSource interface {
	// Users is the number of users, numbered 0…Users()−1.
	Users() int
	// User returns user u's examples: tensors in the trainer's DataNames
	// order without "dp_mask", first axis = example, at least one example.
	// They are read before the next call and may be reused by it.
	User(u int) ([]*tensor.Tensor, error)
}

// UserStreamBatcher draws the same batches as UserPoissonBatcher — each
// user included independently with probability q, contributing all their
// examples or a uniform random MaxPerUser of them, each row weighted 1/m —
// but reads a sampled user's examples from a UserSource, so its memory is
// one batch, not the data set. Batches are padded as by UserPoissonBatcher
// (repeating sampled rows with weight 0) to a multiple of the bucket.
type UserStreamBatcher struct {
	src     UserSource
	users   int
	q       float64
	logq1   float64
	maxPer  int
	bucket  int
	dt      tensor.DType
	r       *rand.Rand
	row     []int            // bytes per example, per column
	first   []*tensor.Tensor // one example, for an empty sample's padding
	stage   [][]byte         // the sampled rows, per column
	weights []float64
	perm    []int
	bufs    map[int][]*tensor.Tensor
}

// maxStreamBuffers bounds the padded batch sizes whose buffers a
// UserStreamBatcher keeps.
const maxStreamBuffers = 8

// NewUserStreamBatcher samples src's users at rate q; maxPerUser caps the
// rows a sampled user contributes (≤ 0: no cap), bucket pads as in
// NewPoissonBatcher (≤ 0: 8), r is the sampling randomness (nil: the OS
// CSPRNG), dt the mask's dtype. It reads user 0 to learn the columns.
func NewUserStreamBatcher(src UserSource, q float64, maxPerUser, bucket int, dt tensor.DType, r *rand.Rand) (*UserStreamBatcher, error) {
	if src.Users() < 1 {
		return nil, fmt.Errorf("train: the data set has no users")
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
	cols, err := src.User(0)
	if err != nil {
		return nil, err
	}
	n, err := checkData(cols)
	if err != nil {
		return nil, fmt.Errorf("train: user 0: %w", err)
	}
	b := &UserStreamBatcher{src: src, users: src.Users(), q: q, logq1: math.Log1p(-q), maxPer: maxPerUser, bucket: bucket, dt: dt, r: r,
		stage: make([][]byte, len(cols)), bufs: map[int][]*tensor.Tensor{}}
	for _, t := range cols {
		if t.DType == tensor.String {
			return nil, fmt.Errorf("train: a string column cannot be batched")
		}
		row := len(t.Raw) / n
		b.row = append(b.row, row)
		b.first = append(b.first, &tensor.Tensor{DType: t.DType, Shape: append(tensor.Shape{1}, t.Shape[1:]...),
			Raw: append([]byte(nil), t.Raw[:row]...)})
	}
	return b, nil
}

// Users is the number of users.
func (b *UserStreamBatcher) Users() int { return b.users }

// Bucket is the row multiple batches are padded to.
func (b *UserStreamBatcher) Bucket() int { return b.bucket }

// take reads user u and stages their rows (all, or a random maxPer of
// them) with their weights.
func (b *UserStreamBatcher) take(u int) error {
	cols, err := b.src.User(u)
	if err != nil {
		return err
	}
	m, err := checkData(cols)
	if err != nil {
		return fmt.Errorf("train: user %d: %w", u, err)
	}
	if len(cols) != len(b.row) {
		return fmt.Errorf("train: user %d has %d columns, user 0 %d", u, len(cols), len(b.row))
	}
	for j, t := range cols {
		if len(t.Raw) != m*b.row[j] || t.DType != b.first[j].DType {
			return fmt.Errorf("train: user %d: column %d is %v %v, user 0's examples %v %v", u, j, t.DType, t.Shape, b.first[j].DType, b.first[j].Shape[1:])
		}
	}
	b.perm = b.perm[:0]
	for i := 0; i < m; i++ {
		b.perm = append(b.perm, i)
	}
	if b.maxPer > 0 && m > b.maxPer {
		// A partial Fisher–Yates shuffle picks maxPer distinct examples.
		for i := 0; i < b.maxPer; i++ {
			j := i + b.r.IntN(m-i)
			b.perm[i], b.perm[j] = b.perm[j], b.perm[i]
		}
		m = b.maxPer
	}
	w := 1 / float64(m)
	for _, i := range b.perm[:m] {
		for j, t := range cols {
			row := b.row[j]
			b.stage[j] = append(b.stage[j], t.Raw[i*row:(i+1)*row]...)
		}
		b.weights = append(b.weights, w)
	}
	return nil
}

// Next draws a batch and returns it (the data tensors then the mask of row
// weights, valid until the next call) with the number of sampled users.
func (b *UserStreamBatcher) Next() ([]*tensor.Tensor, int, error) {
	for j := range b.stage {
		b.stage[j] = b.stage[j][:0]
	}
	b.weights = b.weights[:0]
	sampled := 0
	var err error
	poissonSample(b.r, b.users, b.q, b.logq1, func(u int) {
		if err == nil {
			err = b.take(u)
			sampled++
		}
	})
	if err != nil {
		return nil, 0, err
	}
	k := len(b.weights)
	rows := max(b.bucket, (k+b.bucket-1)/b.bucket*b.bucket)
	buf, ok := b.bufs[rows]
	if !ok {
		if len(b.bufs) >= maxStreamBuffers {
			for size := range b.bufs {
				delete(b.bufs, size)
				break
			}
		}
		buf = batchBuffers(b.first, rows, true, b.dt)
		b.bufs[rows] = buf
	}
	for j, t := range buf[:len(b.row)] {
		src := b.stage[j]
		if k == 0 {
			src = b.first[j].Raw
		}
		n := copy(t.Raw, src)
		for n < len(t.Raw) {
			// Padding repeats the sampled rows (the first example when
			// nothing was sampled).
			n += copy(t.Raw[n:], src[:min(len(src), len(t.Raw)-n)])
		}
	}
	m := buf[len(buf)-1]
	for i := 0; i < rows; i++ {
		v := 0.0
		if i < k {
			v = b.weights[i]
		}
		setFloat(m, i, v)
	}
	return buf, sampled, nil
}

// PaddingBucket picks the row multiple to pad user-level Poisson batches
// to, given each user's contributed rows (min(rows, maxPerUser)) and the
// sampling rate q: about one standard deviation of the batch's row count,
// so the batches take a handful of sizes (each size costs the engine a
// plan and an arena) while the padding averages half a deviation. At
// least 8.
func PaddingBucket(rows []int, q float64) int {
	var v float64
	for _, s := range rows {
		v += q * (1 - q) * float64(s) * float64(s)
	}
	b := int(math.Ceil(math.Sqrt(v)/8)) * 8
	return max(8, b)
}
