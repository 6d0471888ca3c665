package train

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/graph"
)

// Checkpoint describes the bundle a Trainer writes.
type Checkpoint struct {
	// Parent is the manifest of the model training started from (nil for a
	// model trained from scratch). Its fields carry over; its Version
	// becomes the new ParentVersion, and its step count is added to.
	Parent *bundle.Manifest
	// Name and Version of the new model; Name defaults to the parent's.
	Name, Version string
	// DataSnapshot identifies the training data (content hash).
	DataSnapshot string
	// TrainingRun identifies this run.
	TrainingRun string
	// CreatedAt stamps the provenance (from the injected clock); zero
	// leaves it unset.
	CreatedAt time.Time
}

// stepsKey is the provenance member holding the number of training steps
// the weights have seen, across fine-tuning generations. bundle.Provenance
// has no field for it yet, so it rides in Provenance.Unknown, which the
// manifest codec writes back verbatim.
const stepsKey = "training_steps"

// Graph returns the forward graph with the current parameter values (copies)
// and inferred types, ready to run or to write; the other initializers are
// shared with the graph New was given.
func (t *Trainer) Graph() (*graph.Graph, error) {
	g := cloneGraph(t.fwd)
	for _, v := range g.Initializers {
		if p, ok := t.Param(v.Name); ok {
			v.Const = p.Clone()
		}
	}
	if err := graph.Sort(g); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if err := graph.Infer(g, nil); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	return g, nil
}

// Manifest returns the manifest Checkpoint writes.
func (t *Trainer) Manifest(c Checkpoint) (*bundle.Manifest, error) {
	var m bundle.Manifest
	parentSteps := 0
	if c.Parent != nil {
		m = *c.Parent
		m.ParentVersion = c.Parent.Version
		m.Unknown = nil
		m.Golden = nil // the golden outputs are the parent's, not ours
		m.Provenance.Unknown = map[string]json.RawMessage{}
		for k, v := range c.Parent.Provenance.Unknown {
			m.Provenance.Unknown[k] = v
		}
		if raw, ok := m.Provenance.Unknown[stepsKey]; ok {
			if err := json.Unmarshal(raw, &parentSteps); err != nil {
				return nil, fmt.Errorf("train: parent provenance %s: %w", stepsKey, err)
			}
		}
	}
	if c.Name != "" {
		m.Name = c.Name
	}
	m.Version = c.Version
	g, err := t.Graph()
	if err != nil {
		return nil, err
	}
	m.Signature = bundle.SignatureOf(g)
	m.FineTuning = &bundle.FineTuning{Trainable: t.names, Optimizer: t.cfg.Optimizer.manifest()}
	if len(t.cfg.Params) > 0 {
		m.FineTuning.Trainable = t.cfg.Params
	}
	if c.DataSnapshot != "" {
		m.Provenance.DataSnapshot = c.DataSnapshot
	}
	if c.TrainingRun != "" {
		m.Provenance.TrainingRun = c.TrainingRun
	}
	if !c.CreatedAt.IsZero() {
		m.Provenance.CreatedAt = c.CreatedAt
	}
	m.Provenance.Producer = bundle.Producer{Tool: "sextant train"}
	// The guarantee covers this run's data; a run without DP gives none
	// (whatever the parent's data had).
	if m.Provenance.Privacy, err = t.Privacy(); err != nil {
		return nil, err
	}
	steps, err := json.Marshal(parentSteps + t.steps)
	if err != nil {
		return nil, err
	}
	if m.Provenance.Unknown == nil {
		m.Provenance.Unknown = map[string]json.RawMessage{}
	}
	m.Provenance.Unknown[stepsKey] = steps
	return &m, nil
}

// Checkpoint writes the current model to an .sxm bundle at path.
func (t *Trainer) Checkpoint(path string, c Checkpoint) error {
	m, err := t.Manifest(c)
	if err != nil {
		return err
	}
	g, err := t.Graph()
	if err != nil {
		return err
	}
	if err := bundle.WriteFile(path, g, m); err != nil {
		return fmt.Errorf("train: checkpoint: %w", err)
	}
	return nil
}

// TrainingSteps reads the step count a checkpoint's provenance records (0
// when it records none).
func TrainingSteps(m *bundle.Manifest) (int, error) {
	raw, ok := m.Provenance.Unknown[stepsKey]
	if !ok {
		return 0, nil
	}
	var n int
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, fmt.Errorf("train: provenance %s: %w", stepsKey, err)
	}
	return n, nil
}
