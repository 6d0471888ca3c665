package ledger

import (
	"errors"
	"fmt"

	"github.com/sextant-ml/sextant/privacy/accountant"
)

// Event is a recorded mechanism with its parameters: exactly one field is
// set. Each is stored in the file under its own key.
type Event struct {
	SampledGaussian                    *accountant.SampledGaussian             `json:"sampled_gaussian,omitempty"`
	Gaussian                           *accountant.Gaussian                    `json:"gaussian,omitempty"`
	Laplace                            *accountant.Laplace                     `json:"laplace,omitempty"`
	ZCDP                               *accountant.ZCDP                        `json:"zcdp,omitempty"`
	TreeAggregation                    *accountant.TreeAggregation             `json:"tree_aggregation,omitempty"`
	DistributedDiscreteGaussian        *accountant.DistributedDiscreteGaussian `json:"distributed_discrete_gaussian,omitempty"`
	SampledDistributedDiscreteGaussian *SampledDDG                             `json:"sampled_distributed_discrete_gaussian,omitempty"`
	BinaryTree                         *accountant.BinaryTree                  `json:"binary_tree,omitempty"`
	HybridCounter                      *accountant.HybridCounter               `json:"hybrid_counter,omitempty"`
}

// SampledDDG is a round of the distributed discrete Gaussian over a Poisson
// sample of clients, each included with probability Q (accounted with
// accountant.PoissonSampled).
type SampledDDG struct {
	Q   float64                                `json:"q"`
	DDG accountant.DistributedDiscreteGaussian `json:"ddg"`
}

// accountantEvent returns the accountant's event.
func (ev *Event) accountantEvent() (accountant.Event, error) {
	var out []accountant.Event
	if ev.SampledGaussian != nil {
		out = append(out, *ev.SampledGaussian)
	}
	if ev.Gaussian != nil {
		out = append(out, *ev.Gaussian)
	}
	if ev.Laplace != nil {
		out = append(out, *ev.Laplace)
	}
	if ev.ZCDP != nil {
		out = append(out, *ev.ZCDP)
	}
	if ev.TreeAggregation != nil {
		out = append(out, *ev.TreeAggregation)
	}
	if ev.DistributedDiscreteGaussian != nil {
		out = append(out, *ev.DistributedDiscreteGaussian)
	}
	if ev.BinaryTree != nil {
		out = append(out, *ev.BinaryTree)
	}
	if ev.HybridCounter != nil {
		out = append(out, *ev.HybridCounter)
	}
	if s := ev.SampledDistributedDiscreteGaussian; s != nil {
		out = append(out, accountant.PoissonSampled{Q: s.Q, Event: s.DDG})
	}
	if len(out) != 1 {
		return nil, fmt.Errorf("ledger: an event must set exactly one mechanism (got %d)", len(out))
	}
	return out[0], nil
}

// event returns the accountant event an entry records.
func (e *Entry) event() (accountant.Event, error) {
	if e.Event == nil {
		return accountant.SampledGaussian{Q: e.Q, NoiseMultiplier: e.NoiseMultiplier}, nil
	}
	if e.Q != 0 || e.NoiseMultiplier != 0 {
		return nil, errors.New("ledger: an entry sets both an event and the subsampled-Gaussian shorthand")
	}
	return e.Event.accountantEvent()
}

// gaussianRun returns the entry as a subsampled-Gaussian run for the PLD
// accountant, or false if it is another kind of event.
func (e *Entry) gaussianRun() (accountant.SampledGaussianStep, bool) {
	switch {
	case e.Event == nil:
		return accountant.SampledGaussianStep{Q: e.Q, NoiseMultiplier: e.NoiseMultiplier, Count: e.Count}, true
	case e.Event.SampledGaussian != nil:
		g := e.Event.SampledGaussian
		return accountant.SampledGaussianStep{Q: g.Q, NoiseMultiplier: g.NoiseMultiplier, Count: e.Count}, true
	case e.Event.Gaussian != nil:
		return accountant.SampledGaussianStep{Q: 1, NoiseMultiplier: e.Event.Gaussian.NoiseMultiplier, Count: e.Count}, true
	}
	return accountant.SampledGaussianStep{}, false
}

// LineagePLD returns the (ε, δ) of a lineage under the PLD accountant
// (interval 0 means accountant.DefaultDiscretization). It fails if the
// lineage has events other than (subsampled) Gaussians. It recomposes the
// lineage's entries on every call.
func (l *Ledger) LineagePLD(name string, delta, interval float64) (Spent, error) {
	l.mu.Lock()
	var runs []accountant.SampledGaussianStep
	for i := range l.entries {
		e := &l.entries[i]
		if e.Lineage != name {
			continue
		}
		r, ok := e.gaussianRun()
		if !ok {
			l.mu.Unlock()
			return Spent{}, fmt.Errorf("ledger: lineage %s has events the PLD accountant does not handle; use Lineage", name)
		}
		runs = append(runs, r)
	}
	l.mu.Unlock()
	p, err := accountant.ComposeSampledGaussians(runs, interval)
	if err != nil {
		return Spent{}, err
	}
	return Spent{Epsilon: p.Epsilon(delta), Delta: delta}, nil
}
