package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/fl"
	"github.com/sextant-ml/sextant/fl/client"
	"github.com/sextant-ml/sextant/graph"
)

// FLCandidates configures the registration of federated rounds' models.
type FLCandidates struct {
	// Model returns a fresh copy of the task's model graph (its trainable
	// parameters are overwritten with the round's global weights).
	Model func() (*graph.Graph, error)
	// Base is the version the task started from (e.g. "1.3.0"); candidates
	// are Base-fl.<round> (semver pre-releases of Base, increasing with the
	// round and above every version below Base). Parent is Base's parent
	// in the registry ("" when Base is not published).
	Base, Parent string
}

// FLCandidateHook returns an fl.ServiceConfig.OnCommit that registers each
// committed round's global model as a candidate version of the task's model
// (Task.Model): a bundle of the graph with the new weights, stored in the
// blob store and recorded in the registry with its lineage — the task, the
// rounds it holds with their participant counts, and the task's (ε, δ) so
// far. Candidates are not signed into the image repository: the evaluation
// gates and the rollout engine pick them up, and the publisher signs the
// one promoted (docs/api.md, publish).
func (s *Server) FLCandidateHook(c *fl.Coordinator, cfg FLCandidates) (func(ctx context.Context, rec *fl.RoundRecord, global []float32) error, error) {
	if cfg.Model == nil {
		return nil, errors.New("server: fl candidates: no model")
	}
	if _, err := bundle.ParseVersion(cfg.Base); err != nil {
		return nil, fmt.Errorf("server: fl candidates: base version: %w", err)
	}
	return func(ctx context.Context, rec *fl.RoundRecord, global []float32) error {
		_, err := s.registerFLCandidate(ctx, c, cfg, rec, global)
		return err
	}, nil
}

func (s *Server) registerFLCandidate(ctx context.Context, c *fl.Coordinator, cfg FLCandidates, rec *fl.RoundRecord, global []float32) (delivery.Version, error) {
	task := c.Task()
	g, err := cfg.Model()
	if err != nil {
		return delivery.Version{}, fmt.Errorf("server: fl candidate: %w", err)
	}
	if err := setWeights(g, task.Plan.Params, global); err != nil {
		return delivery.Version{}, err
	}
	if err := graph.Infer(g, nil); err != nil {
		return delivery.Version{}, fmt.Errorf("server: fl candidate: %w", err)
	}
	parent := cfg.Parent
	if rec.Round > 1 {
		parent = fmt.Sprintf("%s-fl.%d", cfg.Base, rec.Round-1)
	}
	var rounds []string
	for _, h := range c.History() {
		if h.Committed && h.Round <= rec.Round {
			rounds = append(rounds, fmt.Sprintf("%s/round-%d/attempt-%d/participants-%d", task.Name, h.Round, h.Attempt, h.Reports))
		}
	}
	m := &bundle.Manifest{Name: task.Model, Version: fmt.Sprintf("%s-fl.%d", cfg.Base, rec.Round), ParentVersion: parent,
		Signature: bundle.SignatureOf(g),
		Provenance: bundle.Provenance{TrainingRun: "fl:" + task.Name, FederatedRounds: rounds,
			CreatedAt: s.clk.Now().UTC().Truncate(time.Second), Producer: bundle.Producer{Tool: "sextant fl"}}}
	if p, err := c.Privacy(); err != nil {
		return delivery.Version{}, err
	} else if p != nil {
		m.Provenance.Privacy = p
	}
	var buf bytes.Buffer
	if err := bundle.Write(&buf, g, m); err != nil {
		return delivery.Version{}, fmt.Errorf("server: fl candidate: %w", err)
	}
	sum := sha256.Sum256(buf.Bytes())
	blob, err := s.blobs.Put(ctx, bytes.NewReader(buf.Bytes()), delivery.Blob{SHA256: hex.EncodeToString(sum[:]), Length: int64(buf.Len())})
	if err != nil {
		return delivery.Version{}, err
	}
	mj, err := json.Marshal(m)
	if err != nil {
		return delivery.Version{}, fmt.Errorf("server: fl candidate: %w", err)
	}
	v := delivery.VersionFromManifest(m)
	v.SHA256, v.Length, v.Manifest, v.PublishedBy = blob.SHA256, blob.Length, mj, "fl:"+task.Name
	v.Notes = fmt.Sprintf("federated candidate: task %s round %d (%d participants)", task.Name, rec.Round, rec.Reports)
	if _, err := s.store.GetModel(ctx, task.Model); errors.Is(err, delivery.ErrNotFound) {
		if _, err := s.store.CreateModel(ctx, delivery.Model{Name: task.Model, CreatedBy: "fl:" + task.Name}); err != nil && !errors.Is(err, delivery.ErrConflict) {
			return delivery.Version{}, err
		}
	} else if err != nil {
		return delivery.Version{}, err
	}
	return s.store.PublishVersion(ctx, v)
}

// setWeights writes global (layout order of the plan's parameters) into g's
// initializers.
func setWeights(g *graph.Graph, params []string, global []float32) error {
	lay, err := client.NewLayout(g, params)
	if err != nil {
		return err
	}
	if err := lay.Unflatten(g, global); err != nil {
		return fmt.Errorf("server: fl candidate: %w", err)
	}
	return nil
}
