package flsim

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
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

// nextDest is the next-destination source. Nothing per user is held but
// an index entry (ndUser): a device reads its own rows from the tables
// when it trains (dataset.ParquetFile.ReadRows), and the final comparison
// reads each scored user's rows in turn, so memory stays flat as the
// population grows. Only the scored users' held-out rows (data.holdout
// users) are kept, to score the global model after each round.
type nextDest struct {
	spec   Spec
	seed   uint64
	names  []string // model inputs, in the graph's order
	inputs []ndInput
	// train and test are the open tables, read a user at a time.
	train, test *dataset.ParquetFile
	users       []ndUser
	// untrained is the first held-out row of each user with held-out rows
	// but no training row: not a device, never scored (local-only would
	// have nothing to train on), counted in Personalization.
	untrained []int64
	eval      []int // users scored, indices into users
	// evalTest is the scored users' held-out rows, concatenated.
	evalTest []*tensor.Tensor
	// prior, when set (model.init), is the federated starting point.
	prior *prior
	// reads bounds the reads in flight (each decodes a few pages per
	// column), whatever the number of devices in a round.
	reads chan struct{}
}

// ndInput is a model input's dtype and per-example shape.
type ndInput struct {
	name  string
	dtype tensor.DType
	shape []int
}

// ndUser is one user's rows: train [lo, hi) and test [tlo, thi).
type ndUser struct {
	id       int64
	lo, hi   int
	tlo, thi int
	isNew    bool
	// days is a marked new user's days of history (the table's
	// new_user_days column), 0 when the table does not say.
	days int
}

// scanRows is the most rows openNextDest reads at once.
const scanRows = 1 << 16

func openNextDest(spec Spec, s uint64) (nd *nextDest, err error) {
	nd = &nextDest{spec: spec, seed: s, reads: make(chan struct{}, 2*runtime.GOMAXPROCS(0))}
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
		shape := make([]int, 0, len(in.Type.Shape)-1)
		for _, dim := range in.Type.Shape[1:] {
			shape = append(shape, int(dim.Size))
		}
		nd.inputs = append(nd.inputs, ndInput{name: in.Name, dtype: in.Type.DType, shape: shape})
	}
	if nd.train, err = dataset.OpenParquet(filepath.Join(spec.Data.Path, "train.parquet")); err != nil {
		return nil, fmt.Errorf("flsim: %w", err)
	}
	defer func() {
		if err != nil {
			nd.Close()
		}
	}()
	if nd.test, err = dataset.OpenParquet(filepath.Join(spec.Data.Path, "test.parquet")); err != nil {
		return nil, fmt.Errorf("flsim: %w", err)
	}
	trainIdx, err := nd.train.Index("user_id")
	if err != nil {
		return nil, fmt.Errorf("flsim: %w", err)
	}
	testIdx, err := nd.test.Index("user_id")
	if err != nil {
		return nil, fmt.Errorf("flsim: %w", err)
	}
	tests := make(map[int64]int, len(testIdx.Keys))
	for i, id := range testIdx.Keys {
		tests[id] = i
	}
	trained := make(map[int64]bool, len(trainIdx.Keys))
	for _, id := range trainIdx.Keys {
		trained[id] = true
	}
	for i, id := range testIdx.Keys {
		if !trained[id] {
			tlo, _ := testIdx.Range(i)
			nd.untrained = append(nd.untrained, tlo)
		}
	}
	slices.Sort(nd.untrained)
	nd.users = make([]ndUser, len(trainIdx.Keys))
	for i, id := range trainIdx.Keys {
		lo, hi := trainIdx.Range(i)
		u := ndUser{id: id, lo: int(lo), hi: int(hi)}
		if t, ok := tests[id]; ok {
			tlo, thi := testIdx.Range(t)
			u.tlo, u.thi = int(tlo), int(thi)
		}
		nd.users[i] = u
	}
	if len(nd.users) == 0 {
		return nil, fmt.Errorf("flsim: %s has no training rows", spec.Data.Path)
	}
	return nd, nd.markNew()
}

// markNew decides who is new. A table made with `data features
// --new-users` marks its new users, whose features already see only their
// last days of visits: they are the new users, whatever data.new_users
// says. Otherwise data.new_users picks them by a hash of user_id and their
// training rows are cut to their last data.new_user_days days. A table
// whose new users' histories differ in length says each one's days in
// new_user_days. One streaming pass over up to three columns, scanRows
// rows at a time.
func (nd *nextDest) markNew() error {
	cols := []string{"hour_of_week"}
	hasMark, hasDays := nd.train.HasColumn("new_user"), nd.train.HasColumn(newDaysColumn)
	if hasMark {
		cols = append(cols, "new_user")
	}
	if hasDays {
		cols = append(cols, newDaysColumn)
	}
	marks := make([]bool, len(nd.users))
	cuts := make([]int32, len(nd.users)) // rows before a hash-new user's last days
	marked := false
	for a := 0; a < len(nd.users); {
		b := a + 1
		for b < len(nd.users) && nd.users[b].hi-nd.users[a].lo <= scanRows {
			b++
		}
		base := nd.users[a].lo
		d, err := nd.train.ReadRows(cols, int64(base), int64(nd.users[b-1].hi))
		if err != nil {
			return fmt.Errorf("flsim: %w", err)
		}
		how, err := d.As("hour_of_week", tensor.Int64, []int{})
		if err != nil {
			return fmt.Errorf("flsim: %w", err)
		}
		var mark []int64
		if hasMark {
			t, err := d.As("new_user", tensor.Int64, []int{})
			if err != nil {
				return fmt.Errorf("flsim: %w", err)
			}
			mark = tensor.Data[int64](t)
		}
		var days []int64
		if hasDays {
			t, err := d.As(newDaysColumn, tensor.Int64, []int{})
			if err != nil {
				return fmt.Errorf("flsim: %w", err)
			}
			days = tensor.Data[int64](t)
		}
		for i := a; i < b; i++ {
			lo, hi := nd.users[i].lo-base, nd.users[i].hi-base
			if mark != nil {
				marks[i] = mark[lo] == 1
				marked = marked || slices.Contains(mark[lo:hi], 1)
			}
			if days != nil && marks[i] {
				nd.users[i].days = int(days[lo])
			}
			if isNewUser(nd.users[i].id, nd.spec.Data.Seed, nd.spec.Data.NewUsers) {
				cuts[i] = int32(lastDays(tensor.Data[int64](how)[lo:hi], nd.spec.Data.NewUserDays))
			}
		}
		a = b
	}
	for i := range nd.users {
		u := &nd.users[i]
		switch {
		case marked:
			u.isNew = marks[i]
		case isNewUser(u.id, nd.spec.Data.Seed, nd.spec.Data.NewUsers):
			u.isNew = true
			u.lo += int(cuts[i])
		}
	}
	return nil
}

// newDaysColumn is the tables' column of a new user's days of history
// (features/tables' new_user_days).
const newDaysColumn = "new_user_days"

// untrainedByDays counts the users with held-out rows but no training
// row: the new ones by their days of history (when the table says), and
// all of them.
func (nd *nextDest) untrainedByDays() (byDays map[int]int, all int, err error) {
	byDays = map[int]int{}
	if !nd.test.HasColumn("new_user") || !nd.test.HasColumn(newDaysColumn) {
		return byDays, len(nd.untrained), nil
	}
	for a := 0; a < len(nd.untrained); {
		b := a + 1
		for b < len(nd.untrained) && nd.untrained[b]-nd.untrained[a] < scanRows {
			b++
		}
		base := nd.untrained[a]
		d, err := nd.test.ReadRows([]string{"new_user", newDaysColumn}, base, nd.untrained[b-1]+1)
		if err != nil {
			return nil, 0, fmt.Errorf("flsim: %w", err)
		}
		var cols [2][]int64
		for k, name := range []string{"new_user", newDaysColumn} {
			t, err := d.As(name, tensor.Int64, []int{})
			if err != nil {
				return nil, 0, fmt.Errorf("flsim: %w", err)
			}
			cols[k] = tensor.Data[int64](t)
		}
		for _, row := range nd.untrained[a:b] {
			if cols[0][row-base] == 1 {
				byDays[int(cols[1][row-base])]++
			}
		}
		a = b
	}
	return byDays, len(nd.untrained), nil
}

// Close closes the tables.
func (nd *nextDest) Close() error {
	var errs []error
	for _, p := range []*dataset.ParquetFile{nd.train, nd.test} {
		if p != nil {
			errs = append(errs, p.Close())
		}
	}
	return errors.Join(errs...)
}

// limit keeps the first n users as the population and picks the scored
// users among those with held-out rows; it reads their held-out rows.
func (nd *nextDest) limit(n int) error {
	nd.users = nd.users[:n]
	order := rand.New(rand.NewChaCha8(seed(nd.spec.Data.Seed, 0xe7a1))).Perm(n)
	nd.eval = nd.eval[:0]
	for _, i := range order {
		if nd.users[i].thi > nd.users[i].tlo && len(nd.eval) < nd.spec.Data.Holdout {
			nd.eval = append(nd.eval, i)
		}
	}
	var parts [][]*tensor.Tensor
	for _, i := range nd.eval {
		test, err := nd.testRows(nd.users[i].tlo, nd.users[i].thi)
		if err != nil {
			return err
		}
		parts = append(parts, test)
	}
	t, err := nd.testRows(0, 0) // the columns' shapes, when no user is scored
	if err != nil {
		return err
	}
	nd.evalTest = concatRows(t, parts)
	return nil
}

// concatRows concatenates parts (each a list of columns) row-wise; empty
// gives the columns of none.
func concatRows(empty []*tensor.Tensor, parts [][]*tensor.Tensor) []*tensor.Tensor {
	out := make([]*tensor.Tensor, len(empty))
	for c, col := range empty {
		n := 0
		for _, p := range parts {
			n += p[c].Shape[0]
		}
		shape := append([]int{n}, col.Shape[1:]...)
		t := tensor.New(col.DType, shape...)
		off := 0
		for _, p := range parts {
			off += copy(t.Raw[off:], p[c].Raw)
		}
		out[c] = t
	}
	return out
}

// trainRows and testRows read rows [lo, hi) of the training and the
// held-out table (model inputs, then labels).
func (nd *nextDest) trainRows(lo, hi int) ([]*tensor.Tensor, error) {
	return nd.readRows(nd.train, lo, hi)
}

func (nd *nextDest) testRows(lo, hi int) ([]*tensor.Tensor, error) {
	return nd.readRows(nd.test, lo, hi)
}

// rows is a view of examples [lo, hi) of columns read.
func rows(cols []*tensor.Tensor, lo, hi int) []*tensor.Tensor {
	out := make([]*tensor.Tensor, len(cols))
	for i, c := range cols {
		out[i] = dataset.Rows(c, lo, hi)
	}
	return out
}

// readRows reads rows [lo, hi) of a table as the model's inputs, then the
// labels.
func (nd *nextDest) readRows(p *dataset.ParquetFile, lo, hi int) ([]*tensor.Tensor, error) {
	out := make([]*tensor.Tensor, 0, len(nd.inputs)+1)
	if lo == hi {
		for _, in := range nd.inputs {
			out = append(out, tensor.New(in.dtype, append([]int{0}, in.shape...)...))
		}
		return append(out, tensor.New(tensor.Int64, 0)), nil
	}
	nd.reads <- struct{}{}
	d, err := p.ReadRows(append(slices.Clone(nd.names), labelColumn), int64(lo), int64(hi))
	<-nd.reads
	if err != nil {
		return nil, fmt.Errorf("flsim: %w", err)
	}
	for _, in := range nd.inputs {
		t, err := d.As(in.name, in.dtype, in.shape)
		if err != nil {
			return nil, fmt.Errorf("flsim: %w", err)
		}
		out = append(out, t)
	}
	lab, err := d.As(labelColumn, tensor.Int64, []int{})
	if err != nil {
		return nil, fmt.Errorf("flsim: %w", err)
	}
	return append(out, lab), nil
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

func (nd *nextDest) device(i uint64) ([]*tensor.Tensor, error) {
	u := nd.users[i]
	return nd.readRows(nd.train, u.lo, u.hi)
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
	return top1Hits(logits, labels), nil
}

// top1Hits counts the rows of scores (len(labels) rows, row-major) whose
// top score (the lowest index on ties) is at the label.
func top1Hits(scores []float32, labels []int64) int {
	if len(labels) == 0 {
		return 0
	}
	k := len(scores) / len(labels)
	right := 0
	for i, y := range labels {
		row := scores[i*k : (i+1)*k]
		if int64(slices.Index(row, slices.Max(row))) == y {
			right++
		}
	}
	return right
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
