package flsim

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
)

// TuneSpec chooses the personalization comparison's hyperparameters on a
// validation split, never on the held-out rows: each scored user's
// training rows are cut in time order, the last ValidationShare (default
// 0.25; at least one row, and at least one row left to train on) being
// the validation rows. Every Personalize configuration fine-tunes the
// global model on the rest and every Local configuration trains from
// scratch on the rest; per slice (new users, other users) the
// configuration with the most validation rows ranked first is chosen
// (ties: the earlier in the list), and the final comparison then trains
// each side with its choice on all of the user's training rows. A
// Personalize entry with epochs 0 is the global model unchanged; params
// default to all, batch size to 10.
//
// The global model's federated rounds saw every device's training rows,
// validation rows included (each device's update is one of a few hundred
// averaged in a round), which can favour the fine-tuning configurations
// that change the global model least; the held-out rows stay unseen by
// both sides.
type TuneSpec struct {
	ValidationShare float64     `yaml:"validation_share"`
	Personalize     []LocalSpec `yaml:"personalize"`
	Local           []LocalSpec `yaml:"local"`
}

// Tuning is the validation outcome: every configuration's validation Acc@1
// per slice and the choices.
type Tuning struct {
	ValidationShare float64          `json:"validation_share"`
	New             TuningSlice      `json:"new_users"`
	Other           TuningSlice      `json:"other_users"`
	Personalize     []LocalSpec      `json:"personalize"`
	Local           []LocalSpec      `json:"local"`
	chosen          [2][2]*LocalSpec // [isNew][fine-tune, local]
}

// TuningSlice is one slice's validation rows and Acc@1 per configuration
// (in the order of Tuning.Personalize and Tuning.Local), and the indices
// chosen.
type TuningSlice struct {
	Users       int       `json:"users"`
	Examples    int       `json:"validation_examples"`
	Personalize []float64 `json:"personalize_acc1"`
	Local       []float64 `json:"local_acc1"`
	ChosenTune  int       `json:"chosen_personalize"`
	ChosenLocal int       `json:"chosen_local"`
}

func (t *Tuning) choice(isNew bool) (ft, lo *LocalSpec) {
	c := t.chosen[b2i(isNew)]
	return c[0], c[1]
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// tuneDefaults fills a tune list's defaults.
func tuneDefaults(in []LocalSpec, name string) ([]LocalSpec, error) {
	if len(in) == 0 {
		return nil, fmt.Errorf("flsim: tune.%s lists no configuration", name)
	}
	out := make([]LocalSpec, len(in))
	for i, l := range in {
		if l.Epochs < 0 || l.LR < 0 || l.BatchSize < 0 || (l.Epochs > 0 && l.LR == 0) {
			return nil, fmt.Errorf("flsim: tune.%s[%d]: epochs %d, lr %v, batch %d", name, i, l.Epochs, l.LR, l.BatchSize)
		}
		if len(l.Params) == 0 {
			l.Params = []string{"*"}
		}
		if l.BatchSize == 0 {
			l.BatchSize = 10
		}
		out[i] = l
	}
	return out, nil
}

// tune runs every configuration on the scored users' validation split.
func (nd *nextDest) tune(ctx context.Context, global []float32, params []string, s uint64) (*Tuning, error) {
	spec := nd.spec.Tune
	share := spec.ValidationShare
	if share == 0 {
		share = 0.25
	}
	if share <= 0 || share >= 1 {
		return nil, fmt.Errorf("flsim: tune.validation_share %v outside (0, 1)", share)
	}
	fts, err := tuneDefaults(spec.Personalize, "personalize")
	if err != nil {
		return nil, err
	}
	los, err := tuneDefaults(spec.Local, "local")
	if err != nil {
		return nil, err
	}
	t := &Tuning{ValidationShare: share, Personalize: fts, Local: los}
	var right [2][2][]int // [isNew][fine-tune, local][config]
	for n := range right {
		right[n][0], right[n][1] = make([]int, len(fts)), make([]int, len(los))
	}
	var users, examples [2]int
	for _, i := range nd.eval {
		u := nd.users[i]
		rowsN := u.hi - u.lo
		nv := int(math.Ceil(share * float64(rowsN)))
		if rowsN < 2 || nv >= rowsN {
			continue
		}
		cut := u.hi - nv
		own, err := nd.trainRows(u.lo, u.hi)
		if err != nil {
			return nil, err
		}
		fit, val := rows(own, 0, cut-u.lo), rows(own, cut-u.lo, rowsN)
		k := b2i(u.isNew)
		users[k]++
		examples[k] += nv
		for j := range fts {
			r := rand.New(rand.NewChaCha8(seed(s, 7<<40|uint64(j)<<32|uint64(i))))
			_, tr, _, err := nd.threeWays(ctx, global, params, false, &fts[j], nil, fit, val, r)
			if err != nil {
				return nil, fmt.Errorf("flsim: tune user %d: %w", u.id, err)
			}
			right[k][0][j] += tr
		}
		for j := range los {
			r := rand.New(rand.NewChaCha8(seed(s, 9<<40|uint64(j)<<32|uint64(i))))
			_, _, lr, err := nd.threeWays(ctx, global, params, false, nil, &los[j], fit, val, r)
			if err != nil {
				return nil, fmt.Errorf("flsim: tune user %d: %w", u.id, err)
			}
			right[k][1][j] += lr
		}
	}
	for k, sl := range []*TuningSlice{&t.Other, &t.New} {
		sl.Users, sl.Examples = users[k], examples[k]
		sl.Personalize, sl.ChosenTune = accs(right[k][0], examples[k])
		sl.Local, sl.ChosenLocal = accs(right[k][1], examples[k])
		t.chosen[k] = [2]*LocalSpec{&fts[sl.ChosenTune], &los[sl.ChosenLocal]}
	}
	return t, nil
}

// accs turns counts into Acc@1 over n and returns the index of the best
// (the first on ties).
func accs(right []int, n int) ([]float64, int) {
	out := make([]float64, len(right))
	best := 0
	for j, c := range right {
		if n > 0 {
			out[j] = float64(c) / float64(n)
		}
		if c > right[best] {
			best = j
		}
	}
	return out, best
}
