package train

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/sextant-ml/sextant/privacy/noise"
	"github.com/sextant-ml/sextant/tensor"
)

// UserPoissonBatcher draws user-level DP-SGD batches (DP.PerUser): each
// step includes every user independently with probability q (Poisson
// sampling over users, the records of the user-level guarantee); a sampled
// user contributes all their examples, or a uniform random MaxPerUser of
// them without replacement when they have more, each row weighted 1/m in
// the mask (m the rows taken), so the weighted sum of the user's clipped
// gradients has norm at most the clip norm. Padding, as in PoissonBatcher,
// rounds the rows up to a multiple of the bucket with weight-0 rows.
type UserPoissonBatcher struct {
	data    []*tensor.Tensor
	users   [][]int // example indices per user
	q       float64
	logq1   float64
	maxPer  int
	bucket  int
	dt      tensor.DType
	r       *rand.Rand
	idx     []int
	weights []float64
	bufs    map[int][]*tensor.Tensor
}

// NewUserPoissonBatcher samples users of data (the trainer's DataNames
// order without "dp_mask"; first axis = example) at rate q; user[i] is
// example i's user. maxPerUser caps the rows a sampled user contributes
// (≤ 0: no cap), bucket pads as in NewPoissonBatcher, r is the sampling
// randomness (nil: the OS CSPRNG), dt the mask's dtype.
func NewUserPoissonBatcher(data []*tensor.Tensor, user []int64, q float64, maxPerUser, bucket int, dt tensor.DType, r *rand.Rand) (*UserPoissonBatcher, error) {
	n, err := checkData(data)
	if err != nil {
		return nil, err
	}
	if len(user) != n {
		return nil, fmt.Errorf("train: %d user ids for %d examples", len(user), n)
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
	at := map[int64]int{}
	var users [][]int
	for i, u := range user {
		k, ok := at[u]
		if !ok {
			k = len(users)
			at[u] = k
			users = append(users, nil)
		}
		users[k] = append(users[k], i)
	}
	return &UserPoissonBatcher{data: data, users: users, q: q, logq1: math.Log1p(-q), maxPer: maxPerUser,
		bucket: bucket, dt: dt, r: r, bufs: map[int][]*tensor.Tensor{}}, nil
}

// Users is the number of distinct users.
func (b *UserPoissonBatcher) Users() int { return len(b.users) }

// take appends user u's rows (all, or a random maxPer of them) with their
// weights.
func (b *UserPoissonBatcher) take(u int) {
	ex := b.users[u]
	m := len(ex)
	if b.maxPer > 0 && m > b.maxPer {
		// A partial Fisher–Yates shuffle picks maxPer distinct examples;
		// permuting ex in place changes nothing but its order.
		for i := 0; i < b.maxPer; i++ {
			j := i + b.r.IntN(m-i)
			ex[i], ex[j] = ex[j], ex[i]
		}
		m = b.maxPer
	}
	w := 1 / float64(m)
	for _, i := range ex[:m] {
		b.idx = append(b.idx, i)
		b.weights = append(b.weights, w)
	}
}

// Next draws a batch and returns it (the data tensors then the mask of row
// weights, valid until the next call) with the number of sampled users.
func (b *UserPoissonBatcher) Next() ([]*tensor.Tensor, int) {
	b.idx, b.weights = b.idx[:0], b.weights[:0]
	sampled := 0
	poissonSample(b.r, len(b.users), b.q, b.logq1, func(u int) {
		b.take(u)
		sampled++
	})
	var buf []*tensor.Tensor
	buf, b.idx = padBatch(b.data, b.bufs, b.bucket, b.dt, b.idx, b.weights)
	return buf, sampled
}
