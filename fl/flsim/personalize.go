package flsim

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"

	"github.com/sextant-ml/sextant/dataset"
	"github.com/sextant-ml/sextant/eval"
	"github.com/sextant-ml/sextant/fl/client"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// Personalization compares, on the scored users' held-out rows, the global
// model, the global model after each device fine-tuned its personalize
// parameters on its own training rows (kept local), and local-only
// training. Acc@1 is over the examples in test.parquet (whose next place
// was a candidate) and, when the table has a coverage file (`sextant data
// features` writes features/tables.UncoveredFile), also over every
// held-out example, a dropped one counting as a miss.
type Personalization struct {
	Users       int      `json:"users"`
	Params      []string `json:"fine_tuned_params"`
	LocalParams []string `json:"local_params"`
	// All users, the new users (≤ NewUserDays days of history), the rest.
	All   SliceAcc `json:"all"`
	New   SliceAcc `json:"new_users"`
	Other SliceAcc `json:"other_users"`
	// NewUserDays is the new users' history in days; when the table's
	// new users have histories of different lengths (its new_user_days
	// column), NewUserDaysMin..NewUserDays is their range and NewByDays
	// breaks the new users' slice down by days of history.
	NewUserDays    int       `json:"new_user_days"`
	NewUserDaysMin int       `json:"new_user_days_min,omitempty"`
	NewByDays      []DaysAcc `json:"new_users_by_days,omitempty"`
	// Untrained counts the table's users with held-out rows but no
	// training row (all of them, and the new ones by days of history;
	// over the whole table, whatever the population's size): they are no
	// device of the simulation and are not scored, as local-only would
	// have nothing to train on.
	Untrained       int         `json:"users_without_training_rows,omitempty"`
	UntrainedByDays map[int]int `json:"new_users_without_training_rows,omitempty"`
	// Tuning is the validation choice, when the task has a tune section.
	Tuning *Tuning `json:"tuning,omitempty"`
}

// DaysAcc is the new users with Days days of history.
type DaysAcc struct {
	Days int `json:"days"`
	SliceAcc
}

// SliceAcc is one slice's Acc@1 three ways.
type SliceAcc struct {
	Users     int     `json:"users"`
	Examples  int     `json:"examples"`
	Global    float64 `json:"global"`
	FineTuned float64 `json:"fine_tuned"`
	LocalOnly float64 `json:"local_only"`
	// Markov is the Acc@1 of the table's markov column (a first-order
	// Markov chain over the user's own history with a visit-frequency
	// backoff, features.User.Markov): what the device ranks with no model
	// at all, when the table has the column.
	Markov float64 `json:"markov,omitempty"`
	// Uncovered is the held-out examples dropped from test.parquet (next
	// place not a candidate); the *All fields are Acc@1 over Examples +
	// Uncovered, and Coverage is Examples over that (when known).
	Uncovered    int     `json:"uncovered"`
	Coverage     float64 `json:"coverage,omitempty"`
	GlobalAll    float64 `json:"global_all,omitempty"`
	FineTunedAll float64 `json:"fine_tuned_all,omitempty"`
	LocalOnlyAll float64 `json:"local_only_all,omitempty"`
	// GapCI is the 95% interval of FineTuned − LocalOnly, by a paired
	// bootstrap over the slice's users (usergap.go).
	GapCI *eval.Interval `json:"fine_tuned_minus_local_ci,omitempty"`
}

type counts struct {
	users, n, unc, global, tuned, local, markov int
	perUser                                     []userRows
}

func (c *counts) acc(key string, known bool) SliceAcc {
	s := SliceAcc{Users: c.users, Examples: c.n, Uncovered: c.unc, GapCI: gapCI(key, c.perUser)}
	if c.n > 0 {
		d := float64(c.n)
		s.Global, s.FineTuned, s.LocalOnly = float64(c.global)/d, float64(c.tuned)/d, float64(c.local)/d
		s.Markov = float64(c.markov) / d
	}
	if known && c.n+c.unc > 0 {
		d := float64(c.n + c.unc)
		s.Coverage = float64(c.n) / d
		s.GlobalAll, s.FineTunedAll, s.LocalOnlyAll = float64(c.global)/d, float64(c.tuned)/d, float64(c.local)/d
	}
	return s
}

// personalize scores the scored users (see nextdest.go) with global
// weights (layout order of params).
func (nd *nextDest) personalize(ctx context.Context, global []float32, params []string, s uint64) (*Personalization, error) {
	unc, known, err := nd.uncovered()
	if err != nil {
		return nil, err
	}
	choose := func(bool) (ft, lo *LocalSpec) { return nd.spec.Personalize, nd.spec.Local }
	var tuning *Tuning
	if nd.spec.Tune != nil {
		if tuning, err = nd.tune(ctx, global, params, s); err != nil {
			return nil, err
		}
		choose = tuning.choice
	}
	var all, fresh, other counts
	byDays := map[int]*counts{}
	for _, i := range nd.eval {
		u := nd.users[i]
		ft, lo := choose(u.isNew)
		trainRows, err := nd.trainRows(u.lo, u.hi)
		if err != nil {
			return nil, err
		}
		testRows, err := nd.testRows(u.tlo, u.thi)
		if err != nil {
			return nil, err
		}
		mk, err := nd.markovHits(u.tlo, u.thi)
		if err != nil {
			return nil, err
		}
		r := rand.New(rand.NewChaCha8(seed(s, 5<<40|uint64(i))))
		gr, tr, lr, err := nd.threeWays(ctx, global, params, true, ft, lo, trainRows, testRows, r)
		if err != nil {
			return nil, fmt.Errorf("flsim: user %d: %w", u.id, err)
		}
		into := []*counts{&all, map[bool]*counts{true: &fresh, false: &other}[u.isNew]}
		if u.isNew && u.days > 0 {
			if byDays[u.days] == nil {
				byDays[u.days] = &counts{}
			}
			into = append(into, byDays[u.days])
		}
		for _, c := range into {
			c.users++
			c.n += u.thi - u.tlo
			c.unc += unc[u.id]
			c.global += gr
			c.tuned += tr
			c.local += lr
			c.markov += mk
			c.perUser = append(c.perUser, userRows{n: u.thi - u.tlo, tuned: tr, local: lr})
		}
	}
	ft, lo := choose(true)
	p := &Personalization{Users: all.users, Params: ft.Params, LocalParams: lo.Params, All: all.acc("all", known),
		New: fresh.acc("new", known), Other: other.acc("other", known), NewUserDays: nd.spec.Data.NewUserDays, Tuning: tuning}
	if p.UntrainedByDays, p.Untrained, err = nd.untrainedByDays(); err != nil {
		return nil, err
	}
	if len(p.UntrainedByDays) == 0 {
		p.UntrainedByDays = nil
	}
	for _, d := range slices.Sorted(maps.Keys(byDays)) {
		p.NewByDays = append(p.NewByDays, DaysAcc{Days: d, SliceAcc: byDays[d].acc(fmt.Sprintf("new/%d days", d), known)})
	}
	if n := len(p.NewByDays); n > 0 {
		p.NewUserDaysMin, p.NewUserDays = p.NewByDays[0].Days, p.NewByDays[n-1].Days
		if n == 1 {
			p.NewUserDaysMin, p.NewByDays = 0, nil // one length: the new users' slice says it all
		}
	}
	return p, nil
}

// markovHits counts the held-out rows [lo, hi) whose markov column ranks
// the label first (the lowest index on ties), 0 when the table has no
// such column.
func (nd *nextDest) markovHits(lo, hi int) (int, error) {
	if lo == hi || !nd.test.HasColumn(markovColumn) {
		return 0, nil
	}
	nd.reads <- struct{}{}
	d, err := nd.test.ReadRows([]string{markovColumn, labelColumn}, int64(lo), int64(hi))
	<-nd.reads
	if err != nil {
		return 0, fmt.Errorf("flsim: %w", err)
	}
	m, err := d.As(markovColumn, tensor.Float32, []int{-1})
	if err != nil {
		return 0, fmt.Errorf("flsim: %w", err)
	}
	l, err := d.As(labelColumn, tensor.Int64, []int{})
	if err != nil {
		return 0, fmt.Errorf("flsim: %w", err)
	}
	return top1Hits(tensor.Data[float32](m), tensor.Data[int64](l)), nil
}

// markovColumn is the tables' per-candidate Markov score.
const markovColumn = "markov"

// threeWays counts the rows of eval the global model (when scoreGlobal),
// the global model fine-tuned (ft) on fit, and a model trained from scratch
// (lo) on fit rank first; ft or lo nil skips that one.
func (nd *nextDest) threeWays(ctx context.Context, global []float32, params []string, scoreGlobal bool, ft, lo *LocalSpec,
	fit, eval []*tensor.Tensor, r *rand.Rand) (gr, tr, lr int, err error) {
	if scoreGlobal {
		g0, err := nd.withWeights(global, params)
		if err != nil {
			return 0, 0, 0, err
		}
		if gr, err = acc1(ctx, g0, eval); err != nil {
			return 0, 0, 0, err
		}
	}
	if ft != nil {
		g, err := nd.withWeights(global, params)
		if err != nil {
			return 0, 0, 0, err
		}
		if err := trainLocal(ctx, g, ft, fit, r); err != nil {
			return 0, 0, 0, fmt.Errorf("fine-tune: %w", err)
		}
		if tr, err = acc1(ctx, g, eval); err != nil {
			return 0, 0, 0, err
		}
	}
	if lo != nil {
		// Local-only: the same architecture from its initial weights (not
		// the prior's, when there is one).
		lg, err := nd.scratch()
		if err != nil {
			return 0, 0, 0, err
		}
		if err := trainLocal(ctx, lg, lo, fit, r); err != nil {
			return 0, 0, 0, fmt.Errorf("local-only: %w", err)
		}
		if lr, err = acc1(ctx, lg, eval); err != nil {
			return 0, 0, 0, err
		}
	}
	return gr, tr, lr, nil
}

// uncovered reads the table's coverage file: each user's held-out examples
// dropped from test.parquet. known is false when the table has none.
func (nd *nextDest) uncovered() (map[int64]int, bool, error) {
	path := filepath.Join(nd.spec.Data.Path, coverageFile)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	d, err := dataset.ReadParquet(path)
	if err != nil {
		return nil, false, fmt.Errorf("flsim: %w", err)
	}
	ids, err := d.As("user_id", tensor.Int64, []int{})
	if err != nil {
		return nil, false, fmt.Errorf("flsim: %s: %w", path, err)
	}
	n, err := d.As("test_uncovered", tensor.Int64, []int{})
	if err != nil {
		return nil, false, fmt.Errorf("flsim: %s: %w", path, err)
	}
	out := map[int64]int{}
	for i, id := range tensor.Data[int64](ids) {
		out[id] += int(tensor.Data[int64](n)[i])
	}
	return out, true, nil
}

// coverageFile is features/tables.UncoveredFile (flsim does not import the
// table writer).
const coverageFile = "coverage.parquet"

// trainLocal trains l.Params of g on the device's rows with SGD and writes
// the result into g: nothing leaves the device, so nothing is clipped.
func trainLocal(ctx context.Context, g *graph.Graph, l *LocalSpec, data []*tensor.Tensor, r *rand.Rand) error {
	if data[0].Shape[0] == 0 || l.Epochs == 0 {
		return nil
	}
	lay, err := client.NewLayout(g, l.Params)
	if err != nil {
		return err
	}
	w, err := lay.Flatten(g)
	if err != nil {
		return err
	}
	plan := client.Plan{Epochs: l.Epochs, BatchSize: l.BatchSize, LR: l.LR, Params: l.Params, Loss: client.LossCrossEntropy,
		Output: "logits", ClipNorm: 1e30}
	u, err := client.Train(ctx, g, w, plan, data, r)
	if err != nil {
		return err
	}
	for j, d := range u.Delta {
		w[j] += d
	}
	return setWeights(g, w, l.Params)
}
