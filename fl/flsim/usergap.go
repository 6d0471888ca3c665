package flsim

import (
	"errors"

	"github.com/sextant-ml/sextant/eval"
)

// The comparison's examples come in users: a user's held-out rows share
// the user's habits and the user's two models, so they are not
// independent draws. The interval of FL + fine-tuning − local-only is
// therefore a paired bootstrap over users (eval.Bootstrap, which resamples
// "examples" — here users — and computes both models' Acc@1 on the same
// draw): a replicate draws the slice's users with replacement and pools
// their rows, so Acc@1 is Σ hits / Σ rows over the draw, as the point
// estimate is over the slice.

// userRows is a user's held-out rows and each model's hits among them.
type userRows struct{ n, tuned, local int }

// pooledAcc is Acc@1 pooled over the users a draw picks: per "example"
// (user) Values of arity 2 (hits, rows).
type pooledAcc struct{}

func (pooledAcc) Name() string         { return "acc@1 pooled over users" }
func (pooledAcc) HigherIsBetter() bool { return true }
func (pooledAcc) PerExample(*eval.Outputs) (eval.Values, error) {
	return eval.Values{}, errors.New("flsim: pooled Acc@1 is built from per-user counts")
}
func (pooledAcc) Aggregate(v eval.Values, idx []int, _ []float64) float64 {
	var hits, rows float64
	for _, i := range idx {
		hits += v.X[2*i]
		rows += v.X[2*i+1]
	}
	return hits / rows
}

// gapCI is the 95% interval of the slice's FL + fine-tuning − local-only
// Acc@1 (over covered rows), by a paired bootstrap over its users; nil
// for fewer than two users with rows.
func gapCI(key string, users []userRows) *eval.Interval {
	tuned, local := eval.Values{Arity: 2}, eval.Values{Arity: 2}
	var idx []int
	for _, u := range users {
		if u.n == 0 {
			continue
		}
		idx = append(idx, len(idx))
		tuned.X = append(tuned.X, float64(u.tuned), float64(u.n))
		local.X = append(local.X, float64(u.local), float64(u.n))
	}
	if len(idx) < 2 {
		return nil
	}
	est := eval.Bootstrap{Seed: 1}.Run(key, []eval.Metric{pooledAcc{}}, []eval.Values{tuned}, []eval.Values{local}, idx)
	return est[0].DiffCI
}
