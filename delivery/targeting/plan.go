package targeting

import (
	"errors"
	"fmt"
)

// Experiment is an A/B/n experiment as assignment sees it: who is
// eligible (Rule), who is in (Membership) and which variant each member
// gets (Split, under a different salt).
type Experiment struct {
	ID string `json:"id"`
	// Rule selects eligible devices; the zero Rule admits all.
	Rule Rule `json:"rule"`
	// Membership is the experiment's share of units. In a layer its salt is
	// the layer's and its range the experiment's slot.
	Membership Membership `json:"membership"`
	Split      Split      `json:"split"`
	// Variants names the variants, index for index with Split.Weights
	// (optional; index 0 is the control by convention).
	Variants []string `json:"variants,omitempty"`
}

// Validate checks the experiment's rule, membership and split, and that
// the split's salt is not the membership's.
func (e *Experiment) Validate() error {
	if e.ID == "" {
		return errors.New("targeting: experiment has no id")
	}
	if err := e.Rule.Validate(); err != nil {
		return fmt.Errorf("experiment %s: %w", e.ID, err)
	}
	if err := e.Membership.Validate(); err != nil {
		return fmt.Errorf("experiment %s: %w", e.ID, err)
	}
	if err := e.Split.Validate(); err != nil {
		return fmt.Errorf("experiment %s: %w", e.ID, err)
	}
	if e.Split.Salt == e.Membership.Salt {
		return fmt.Errorf("experiment %s: variant salt equals membership salt %q; they must differ", e.ID, e.Split.Salt)
	}
	if len(e.Variants) > 0 && len(e.Variants) != len(e.Split.Weights) {
		return fmt.Errorf("experiment %s: %d variant names for %d weights", e.ID, len(e.Variants), len(e.Split.Weights))
	}
	return nil
}

// Assign returns unit's variant and true when a device with attributes a
// is eligible and unit a member; otherwise false.
func (e *Experiment) Assign(unit string, a *Attributes) (variant int, ok bool) {
	if !e.Membership.Contains(unit) || !e.Rule.Match(a) {
		return 0, false
	}
	return e.Split.Variant(unit), true
}

// Layer holds mutually exclusive experiments: the layer's salt partitions
// units by bucket, and each experiment owns a disjoint slot of buckets, so
// a unit is in at most one of them. A unit whose slot's experiment rejects
// it by rule is in none (it is not handed to another, which keeps each
// experiment's population independent of the others' rules).
type Layer struct {
	Salt        string       `json:"salt"`
	Experiments []Experiment `json:"experiments"`
}

// Validate checks every experiment, that each uses the layer's salt for
// membership, and that the slots are disjoint.
func (l *Layer) Validate() error {
	if l.Salt == "" {
		return errors.New("targeting: layer has no salt")
	}
	for i := range l.Experiments {
		e := &l.Experiments[i]
		if err := e.Validate(); err != nil {
			return err
		}
		if e.Membership.Salt != l.Salt {
			return fmt.Errorf("targeting: experiment %s in layer %q has membership salt %q", e.ID, l.Salt, e.Membership.Salt)
		}
		for j := range i {
			if o := &l.Experiments[j]; e.Membership.Range.overlaps(o.Membership.Range) {
				return fmt.Errorf("targeting: experiments %s and %s overlap in layer %q", o.ID, e.ID, l.Salt)
			}
		}
	}
	return nil
}

// Assignment is one experiment a unit is in.
type Assignment struct {
	Experiment string `json:"experiment"`
	Variant    int    `json:"variant"`
}

// Plan is every experiment running on a population: a holdout kept out of
// all of them, and layers of mutually exclusive experiments (experiments
// in different layers overlap independently).
type Plan struct {
	// Holdout is the units in no experiment; a zero range holds none out.
	Holdout Membership `json:"holdout"`
	Layers  []Layer    `json:"layers"`
}

// Validate checks the holdout and layers and that no salt is used for two
// purposes (a layer's salt twice, or one salt as both membership and
// variant salt), which would correlate decisions meant to be independent.
func (p *Plan) Validate() error {
	uses := map[string]string{}
	use := func(salt, what string) error {
		if prev, ok := uses[salt]; ok {
			return fmt.Errorf("targeting: salt %q used by %s and %s", salt, prev, what)
		}
		uses[salt] = what
		return nil
	}
	if p.Holdout.Range.Share() > 0 {
		if err := p.Holdout.Validate(); err != nil {
			return fmt.Errorf("holdout: %w", err)
		}
		if err := use(p.Holdout.Salt, "the holdout"); err != nil {
			return err
		}
	}
	ids := map[string]bool{}
	for i := range p.Layers {
		l := &p.Layers[i]
		if err := l.Validate(); err != nil {
			return err
		}
		if err := use(l.Salt, "layer "+l.Salt); err != nil {
			return err
		}
		for j := range l.Experiments {
			e := &l.Experiments[j]
			if ids[e.ID] {
				return fmt.Errorf("targeting: experiment id %s appears twice", e.ID)
			}
			ids[e.ID] = true
			if err := use(e.Split.Salt, "the split of "+e.ID); err != nil {
				return err
			}
		}
	}
	return nil
}

// Assign appends to dst the experiments unit is in and returns the
// extended slice; a unit in the holdout is in none. With a dst of enough
// capacity it does not allocate.
func (p *Plan) Assign(unit string, a *Attributes, dst []Assignment) []Assignment {
	if p.Holdout.Range.Share() > 0 && p.Holdout.Contains(unit) {
		return dst
	}
	for i := range p.Layers {
		l := &p.Layers[i]
		b := Bucket(l.Salt, unit)
		for j := range l.Experiments {
			e := &l.Experiments[j]
			if !e.Membership.Range.Contains(b) {
				continue
			}
			if e.Rule.Match(a) {
				dst = append(dst, Assignment{Experiment: e.ID, Variant: e.Split.Variant(unit)})
			}
			break
		}
	}
	return dst
}
