package flsim

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"

	"github.com/sextant-ml/sextant/dataset"
	"github.com/sextant-ml/sextant/engine"
	"github.com/sextant-ml/sextant/features"
	"github.com/sextant-ml/sextant/fl/client"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/models/flagship"
	"github.com/sextant-ml/sextant/tensor"
	"github.com/sextant-ml/sextant/train/arch"
)

// The next-destination mode: the population is the users of a `sextant
// data features --kind next-destination` table, one device per user_id.
// A device trains on its own rows of train.parquet (its training weeks);
// its rows of test.parquet (the held-out weeks) are never trained on.
//
// A share of the users (data.new_users, chosen by a hash of user_id) are
// new: they keep only the training rows of their last data.new_user_days
// days (the hour of week unwrapped along the user's time-ordered rows),
// both as federated devices and for the comparisons below. Those rows'
// features still saw the earlier weeks; a table made with `sextant data
// features --new-users` instead starts its new users' history late (their
// features see only their last days) and marks them in a new_user column,
// which then decides who is new.
//
// After the rounds, each of the first data.holdout users (in a shuffled
// order fixed by data.seed) is scored on its held-out rows three ways:
// the global model; the global model with the personalize parameters
// (default head.*) fine-tuned on the user's own training rows and kept on
// the device; and local-only — the same architecture trained from its
// initial weights on the user's rows alone (local: default all
// parameters). Acc@1 is over examples, per slice.

// labelColumn is the tables' label: the index of the next place among the
// candidates.
const labelColumn = "label"

// nextDest is the next-destination source.
type nextDest struct {
	spec  Spec
	seed  uint64
	names []string // model inputs, in the graph's order
	train []*tensor.Tensor
	test  []*tensor.Tensor
	users []ndUser
	eval  []int // users scored, indices into users
	// evalTest is the scored users' held-out rows, concatenated.
	evalTest []*tensor.Tensor
	// prior, when set (model.init), is the federated starting point.
	prior *prior
}

// ndUser is one user's rows: train [lo, hi) and test [tlo, thi).
type ndUser struct {
	id       int64
	lo, hi   int
	tlo, thi int
	isNew    bool
}

func openNextDest(spec Spec, s uint64) (*nextDest, error) {
	nd := &nextDest{spec: spec, seed: s}
	g, err := nd.scratch()
	if err != nil {
		return nil, err
	}
	if spec.Model.Init != "" {
		if nd.prior, err = loadPrior(spec.Model.Init, g); err != nil {
			return nil, err
		}
	}
	for _, in := range g.Inputs {
		nd.names = append(nd.names, in.Name)
	}
	var trainIDs, testIDs, trainNew []int64
	if nd.train, trainIDs, trainNew, err = nd.read(filepath.Join(spec.Data.Path, "train.parquet")); err != nil {
		return nil, err
	}
	if nd.test, testIDs, _, err = nd.read(filepath.Join(spec.Data.Path, "test.parquet")); err != nil {
		return nil, err
	}
	// A table made with `data features --new-users` marks its new users,
	// whose features already see only their last days of visits: they are
	// the new users, whatever data.new_users says.
	marked := slices.Contains(trainNew, 1)
	tests := map[int64][2]int{}
	for _, r := range runs(testIDs) {
		tests[testIDs[r[0]]] = r
	}
	how := tensor.Data[int64](nd.train[slices.Index(nd.names, "hour_of_week")])
	for _, r := range runs(trainIDs) {
		u := ndUser{id: trainIDs[r[0]], lo: r[0], hi: r[1]}
		if t, ok := tests[u.id]; ok {
			u.tlo, u.thi = t[0], t[1]
		}
		switch {
		case marked:
			u.isNew = trainNew[u.lo] == 1
		case isNewUser(u.id, spec.Data.Seed, spec.Data.NewUsers):
			u.isNew = true
			u.lo = lastDays(how[u.lo:u.hi], spec.Data.NewUserDays) + u.lo
		}
		nd.users = append(nd.users, u)
	}
	if len(nd.users) == 0 {
		return nil, fmt.Errorf("flsim: %s has no training rows", spec.Data.Path)
	}
	return nd, nil
}

// limit keeps the first n users as the population and picks the scored
// users among those with held-out rows.
func (nd *nextDest) limit(n int) {
	nd.users = nd.users[:n]
	order := rand.New(rand.NewChaCha8(seed(nd.spec.Data.Seed, 0xe7a1))).Perm(n)
	nd.eval = nd.eval[:0]
	for _, i := range order {
		if nd.users[i].thi > nd.users[i].tlo && len(nd.eval) < nd.spec.Data.Holdout {
			nd.eval = append(nd.eval, i)
		}
	}
	nd.evalTest = make([]*tensor.Tensor, len(nd.test))
	for c, col := range nd.test {
		w := dataset.Width(col)
		n := 0
		for _, i := range nd.eval {
			n += nd.users[i].thi - nd.users[i].tlo
		}
		shape := append([]int{n}, col.Shape[1:]...)
		t := tensor.New(col.DType, shape...)
		off := 0
		for _, i := range nd.eval {
			u := nd.users[i]
			copy(t.Raw[off*w*col.DType.Size():], col.Raw[u.tlo*w*col.DType.Size():u.thi*w*col.DType.Size()])
			off += u.thi - u.tlo
		}
		nd.evalTest[c] = t
	}
}

// read loads a table's model inputs, then labels, its user_id column and
// its new_user column (nil when the table has none). Rows must be grouped
// by user (the tables are written in user order).
func (nd *nextDest) read(path string) ([]*tensor.Tensor, []int64, []int64, error) {
	d, err := dataset.ReadParquet(path)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("flsim: %w", err)
	}
	g, err := nd.scratch()
	if err != nil {
		return nil, nil, nil, err
	}
	var cols []*tensor.Tensor
	for _, in := range g.Inputs {
		shape := make([]int, 0, len(in.Type.Shape)-1)
		for _, dim := range in.Type.Shape[1:] {
			shape = append(shape, int(dim.Size))
		}
		t, err := d.As(in.Name, in.Type.DType, shape)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("flsim: %w", err)
		}
		cols = append(cols, t)
	}
	lab, err := d.As(labelColumn, tensor.Int64, []int{})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("flsim: %w", err)
	}
	ids, err := d.As("user_id", tensor.Int64, []int{})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("flsim: %w", err)
	}
	var isNew []int64
	if _, ok := d.Column("new_user"); ok {
		t, err := d.As("new_user", tensor.Int64, []int{})
		if err != nil {
			return nil, nil, nil, fmt.Errorf("flsim: %w", err)
		}
		isNew = tensor.Data[int64](t)
	}
	return append(cols, lab), tensor.Data[int64](ids), isNew, nil
}

// runs returns the [lo, hi) ranges of equal consecutive ids.
func runs(ids []int64) [][2]int {
	var out [][2]int
	for i := 0; i < len(ids); {
		j := i + 1
		for j < len(ids) && ids[j] == ids[i] {
			j++
		}
		out = append(out, [2]int{i, j})
		i = j
	}
	return out
}

// isNewUser is a fixed pseudo-random choice of a share of users.
func isNewUser(id int64, s uint64, share float64) bool {
	if share <= 0 {
		return false
	}
	return rand.New(rand.NewChaCha8(seed(s, 0x6e3<<40^uint64(id)))).Float64() < share
}

// lastDays returns the first index of how (hours of week of time-ordered
// rows) within the last days days of the rows, unwrapping the week.
func lastDays(how []int64, days int) int {
	abs := make([]int64, len(how))
	var week int64
	for i, h := range how {
		if i > 0 && h < how[i-1] {
			week++
		}
		abs[i] = week*features.HoursPerWeek + h
	}
	if len(abs) == 0 {
		return 0
	}
	from := abs[len(abs)-1] - int64(24*days)
	for i, a := range abs {
		if a > from {
			return i
		}
	}
	return len(abs)
}

// model is the federated starting point: the prior's weights when
// model.init is set, else the architecture's initial weights.
func (nd *nextDest) model() (*graph.Graph, error) {
	g, err := nd.scratch()
	if err != nil || nd.prior == nil {
		return g, err
	}
	return g, setWeights(g, nd.prior.weights, []string{"*"})
}

// scratch is the architecture at its initial weights (seeded): the
// local-only baseline starts here, whatever the prior.
func (nd *nextDest) scratch() (*graph.Graph, error) {
	m, err := flagship.NextDestination(arch.Spec{Hidden: nd.spec.Model.Hidden, Rand: rand.New(rand.NewChaCha8(seed(nd.seed, 0x30de1)))})
	if err != nil {
		return nil, fmt.Errorf("flsim: model: %w", err)
	}
	return m.Graph, nil
}

func rows(cols []*tensor.Tensor, lo, hi int) []*tensor.Tensor {
	out := make([]*tensor.Tensor, len(cols))
	for i, c := range cols {
		out[i] = dataset.Rows(c, lo, hi)
	}
	return out
}

func (nd *nextDest) device(i uint64) []*tensor.Tensor {
	u := nd.users[i]
	return rows(nd.train, u.lo, u.hi)
}

// accuracy is the global model's Acc@1 over the scored users' held-out
// rows.
func (nd *nextDest) accuracy(ctx context.Context, global []float32) (float64, error) {
	s, err := nd.score(ctx, global)
	return s.Acc1, err
}

// score ranks the scored users' held-out rows with the global model.
func (nd *nextDest) score(ctx context.Context, global []float32) (Scores, error) {
	g, err := nd.withWeights(global, nd.spec.Plan.Params)
	if err != nil {
		return Scores{}, err
	}
	if nd.evalTest[0].Shape[0] == 0 {
		return Scores{}, nil
	}
	l, err := logits(ctx, g, nd.evalTest)
	if err != nil {
		return Scores{}, err
	}
	return rank(l, tensor.Data[int64](nd.evalTest[len(nd.evalTest)-1])), nil
}

// withWeights is a fresh model whose params (layout order) are w.
func (nd *nextDest) withWeights(w []float32, params []string) (*graph.Graph, error) {
	g, err := nd.model()
	if err != nil {
		return nil, err
	}
	return g, setWeights(g, w, params)
}

// setWeights writes w (layout order of params) into g's initializers.
func setWeights(g *graph.Graph, w []float32, params []string) error {
	lay, err := client.NewLayout(g, params)
	if err != nil {
		return err
	}
	return lay.Unflatten(g, w)
}

// acc1 runs g on data (inputs, then labels) and counts the rows whose top
// logit is the label. Compiling rewrites g (fusion): g is not used again.
func acc1(ctx context.Context, g *graph.Graph, data []*tensor.Tensor) (int, error) {
	labels := tensor.Data[int64](data[len(data)-1])
	n := len(labels)
	if n == 0 {
		return 0, nil
	}
	logits, err := logits(ctx, g, data)
	if err != nil {
		return 0, err
	}
	k := len(logits) / n
	right := 0
	for i, y := range labels {
		row := logits[i*k : (i+1)*k]
		if int64(slices.Index(row, slices.Max(row))) == y {
			right++
		}
	}
	return right, nil
}

// logits runs g on data's rows (inputs, then labels; at least one row).
// Compiling rewrites g (fusion): g is not used again.
func logits(ctx context.Context, g *graph.Graph, data []*tensor.Tensor) ([]float32, error) {
	m, err := engine.Compile(g, engine.Options{Dims: map[string]int{"batch": data[0].Shape[0]}})
	if err != nil {
		return nil, fmt.Errorf("flsim: evaluate: %w", err)
	}
	out, err := m.NewSession().Run(ctx, data[:len(data)-1])
	if err != nil {
		return nil, fmt.Errorf("flsim: evaluate: %w", err)
	}
	return tensor.Data[float32](out[0]), nil
}
