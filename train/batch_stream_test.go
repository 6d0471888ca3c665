package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sextant-ml/sextant/tensor"
)

// sliceUsers is a UserSource over in-memory tensors grouped by user.
type sliceUsers struct {
	data  []*tensor.Tensor
	start []int // user u's rows are [start[u], start[u+1])
	reads int
}

func (s *sliceUsers) Users() int { return len(s.start) - 1 }

func (s *sliceUsers) User(u int) ([]*tensor.Tensor, error) {
	if u < 0 || u >= s.Users() {
		return nil, fmt.Errorf("no user %d", u)
	}
	s.reads++
	out := make([]*tensor.Tensor, len(s.data))
	for i, t := range s.data {
		n := t.Shape[0]
		row := len(t.Raw) / n
		lo, hi := s.start[u], s.start[u+1]
		out[i] = &tensor.Tensor{DType: t.DType, Shape: append(tensor.Shape{hi - lo}, t.Shape[1:]...), Raw: t.Raw[lo*row : hi*row]}
	}
	return out, nil
}

// groupedUsers makes users with u%7+1 examples each (user 5: 40), in user
// order; x's first feature is the example's index.
func groupedUsers(users int) (x, y *tensor.Tensor, ids []int64, start []int) {
	for u := 0; u < users; u++ {
		m := u%7 + 1
		if u == 5 {
			m = 40
		}
		start = append(start, len(ids))
		for range m {
			ids = append(ids, int64(u))
		}
	}
	start = append(start, len(ids))
	n := len(ids)
	x = tensor.New(tensor.Float64, n, 2)
	y = tensor.New(tensor.Int64, n)
	for i := 0; i < n; i++ {
		tensor.Data[float64](x)[2*i] = float64(i)
		tensor.Data[float64](x)[2*i+1] = -float64(i)
		tensor.Data[int64](y)[i] = int64(i % 5)
	}
	return x, y, ids, start
}

// TestUserStreamBatcherMatchesInMemory: without a per-user cap the
// streaming batcher draws, from the same random source, exactly the
// batches (rows, padding and weights) of the in-memory one.
func TestUserStreamBatcherMatchesInMemory(t *testing.T) {
	const users, q = 50, 0.2
	x, y, ids, start := groupedUsers(users)
	mem, err := NewUserPoissonBatcher([]*tensor.Tensor{x, y}, ids, q, 0, 8, tensor.Float32, rand.New(rand.NewPCG(3, 4)))
	if err != nil {
		t.Fatal(err)
	}
	src := &sliceUsers{data: []*tensor.Tensor{x, y}, start: start}
	st, err := NewUserStreamBatcher(src, q, 0, 8, tensor.Float32, rand.New(rand.NewPCG(3, 4)))
	if err != nil {
		t.Fatal(err)
	}
	for d := 0; d < 200; d++ {
		a, ka := mem.Next()
		src.reads = 0
		b, kb, err := st.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ka != kb || src.reads != kb {
			t.Fatalf("draw %d: %d users in memory, %d streamed (%d read)", d, ka, kb, src.reads)
		}
		for i := range a {
			if !slices.Equal(a[i].Shape, b[i].Shape) || !slices.Equal(a[i].Raw, b[i].Raw) {
				t.Fatalf("draw %d: tensor %d differs: %v vs %v", d, i, a[i].Shape, b[i].Shape)
			}
		}
	}
}

// TestUserStreamBatcher checks user-level sampling through a source: each
// user's inclusion frequency is q, a sampled user brings all their
// examples or a distinct random MaxPerUser of them (from all of them over
// the draws), the weights of a user's rows sum to 1, padding weighs 0,
// and an empty sample pads with a real example.
func TestUserStreamBatcher(t *testing.T) {
	const users, q, maxPer = 60, 0.1, 4
	x, y, ids, start := groupedUsers(users)
	src := &sliceUsers{data: []*tensor.Tensor{x, y}, start: start}
	b, err := NewUserStreamBatcher(src, q, maxPer, 8, tensor.Float64, rand.New(rand.NewPCG(9, 9)))
	if err != nil {
		t.Fatal(err)
	}
	const draws = 4000
	counts := map[int64]int{}
	heavy := map[int]bool{}
	empty := 0
	for d := 0; d < draws; d++ {
		batch, k, err := b.Next()
		if err != nil {
			t.Fatal(err)
		}
		rows := batch[0].Shape[0]
		if rows%8 != 0 || batch[1].Shape[0] != rows || batch[2].Shape[0] != rows {
			t.Fatalf("batch of %d rows (%v, %v): not padded to 8 alike", rows, batch[1].Shape, batch[2].Shape)
		}
		m := tensor.Data[float64](batch[2])
		wsum := map[int64]float64{}
		nrows := map[int64]int{}
		seen := map[int]bool{}
		for i := 0; i < rows; i++ {
			ex := int(tensor.Data[float64](batch[0])[2*i])
			if tensor.Data[float64](batch[0])[2*i+1] != -float64(ex) || tensor.Data[int64](batch[1])[i] != int64(ex%5) {
				t.Fatalf("row %d mixes examples", i)
			}
			if m[i] == 0 {
				continue
			}
			if seen[ex] {
				t.Fatalf("example %d twice in one batch", ex)
			}
			seen[ex] = true
			wsum[ids[ex]] += m[i]
			nrows[ids[ex]]++
			if ids[ex] == 5 {
				heavy[ex] = true
			}
		}
		if k == 0 {
			empty++
		}
		if len(wsum) != k {
			t.Fatalf("Next says %d users, the batch holds %d", k, len(wsum))
		}
		for u, w := range wsum {
			want := min(maxPer, int(u)%7+1)
			if math.Abs(w-1) > 1e-12 || nrows[u] != want {
				t.Fatalf("user %d: %d rows weighing %v, want %d rows weighing 1", u, nrows[u], w, want)
			}
			counts[u]++
		}
	}
	for u := 0; u < users; u++ {
		c := counts[int64(u)]
		if math.Abs(float64(c)-draws*q) > 5*math.Sqrt(draws*q*(1-q)) {
			t.Errorf("user %d sampled %d times in %d draws, want about %v", u, c, draws, draws*q)
		}
	}
	if len(heavy) != 40 {
		t.Errorf("the heavy user's rows came from %d of their 40 examples", len(heavy))
	}
	if empty == 0 {
		t.Error("no empty sample in 4000 draws at q = 0.1 over 60 users (expected ~7)")
	}
	if len(b.bufs) > maxStreamBuffers {
		t.Errorf("%d batch buffers kept, bound %d", len(b.bufs), maxStreamBuffers)
	}
}

// TestPaddingBucket: about a standard deviation of the batch's row count,
// a multiple of 8, at least 8.
func TestPaddingBucket(t *testing.T) {
	rows := make([]int, 2000)
	for i := range rows {
		rows[i] = 16
	}
	// sd = 16·√(2000·0.25·0.75) ≈ 310 → 312.
	if got := PaddingBucket(rows, 0.25); got != 312 {
		t.Errorf("PaddingBucket = %d, want 312", got)
	}
	if got := PaddingBucket(rows[:1], 0.1); got != 8 {
		t.Errorf("tiny: PaddingBucket = %d, want 8", got)
	}
}
