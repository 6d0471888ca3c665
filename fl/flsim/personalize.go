package flsim

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/sextant-ml/sextant/fl/client"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// Personalization compares, on the scored users' held-out rows, the global
// model, the global model after each device fine-tuned its personalize
// parameters on its own training rows (kept local), and local-only
// training. Acc@1 is over examples.
type Personalization struct {
	Users       int      `json:"users"`
	Params      []string `json:"fine_tuned_params"`
	LocalParams []string `json:"local_params"`
	// All users, the new users (≤ NewUserDays days of history), the rest.
	All   SliceAcc `json:"all"`
	New   SliceAcc `json:"new_users"`
	Other SliceAcc `json:"other_users"`
	// NewUserDays is the new users' history in days.
	NewUserDays int `json:"new_user_days"`
}

// SliceAcc is one slice's Acc@1 three ways.
type SliceAcc struct {
	Users     int     `json:"users"`
	Examples  int     `json:"examples"`
	Global    float64 `json:"global"`
	FineTuned float64 `json:"fine_tuned"`
	LocalOnly float64 `json:"local_only"`
}

type counts struct{ users, n, global, tuned, local int }

func (c counts) acc() SliceAcc {
	s := SliceAcc{Users: c.users, Examples: c.n}
	if c.n > 0 {
		d := float64(c.n)
		s.Global, s.FineTuned, s.LocalOnly = float64(c.global)/d, float64(c.tuned)/d, float64(c.local)/d
	}
	return s
}

// personalize scores the scored users (see nextdest.go) with global
// weights (layout order of params).
func (nd *nextDest) personalize(ctx context.Context, global []float32, params []string, s uint64) (*Personalization, error) {
	ft, lo := nd.spec.Personalize, nd.spec.Local
	var all, fresh, other counts
	for _, i := range nd.eval {
		u := nd.users[i]
		trainRows, testRows := rows(nd.train, u.lo, u.hi), rows(nd.test, u.tlo, u.thi)
		g0, err := nd.withWeights(global, params)
		if err != nil {
			return nil, err
		}
		gr, err := acc1(ctx, g0, testRows)
		if err != nil {
			return nil, err
		}
		g, err := nd.withWeights(global, params)
		if err != nil {
			return nil, err
		}
		r := rand.New(rand.NewChaCha8(seed(s, 5<<40|uint64(i))))
		if err := trainLocal(ctx, g, ft, trainRows, r); err != nil {
			return nil, fmt.Errorf("flsim: fine-tune user %d: %w", u.id, err)
		}
		tr, err := acc1(ctx, g, testRows)
		if err != nil {
			return nil, err
		}
		// Local-only: the same architecture from its initial weights (not
		// the prior's, when there is one).
		lg, err := nd.scratch()
		if err != nil {
			return nil, err
		}
		if err := trainLocal(ctx, lg, lo, trainRows, r); err != nil {
			return nil, fmt.Errorf("flsim: local-only user %d: %w", u.id, err)
		}
		lr, err := acc1(ctx, lg, testRows)
		if err != nil {
			return nil, err
		}
		for _, c := range []*counts{&all, map[bool]*counts{true: &fresh, false: &other}[u.isNew]} {
			c.users++
			c.n += u.thi - u.tlo
			c.global += gr
			c.tuned += tr
			c.local += lr
		}
	}
	return &Personalization{Users: all.users, Params: ft.Params, LocalParams: lo.Params, All: all.acc(), New: fresh.acc(), Other: other.acc(),
		NewUserDays: nd.spec.Data.NewUserDays}, nil
}

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
