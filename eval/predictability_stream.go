package eval

import (
	"context"
	"errors"
	"fmt"

	"github.com/sextant-ml/sextant/dataset"
)

// PredictabilityConfig says what PredictabilityOfSource reads.
type PredictabilityConfig struct {
	// User and Sequence are the user column and the column whose per-user
	// sequence is scored (see UserPredictability).
	User, Sequence string
	// Labels is the label column, read with a model.
	Labels string
	// BatchSize is the model's batch (0 means 256); ChunkRows about how
	// many rows are read at a time (0 means DefaultChunkRows).
	BatchSize, ChunkRows int
}

// PredictabilityOfSource is UserPredictability on src and, when p is not
// nil, TopOneHits of p, summarized as Summarize does — the same numbers —
// reading src a chunk of rows at a time. When the rows are grouped by the
// user column (as the feature tables are; see Source.UserGroups) a user's
// sequence is dropped once their bound is computed, so memory is a chunk
// plus a few numbers per user; otherwise every sequence is kept to the end
// (a user's rows may come back).
func PredictabilityOfSource(ctx context.Context, src *Source, p Predictor, cfg PredictabilityConfig) (PredictabilitySummary, error) {
	grouped := src.UserGroups(cfg.User) != nil
	batch := cfg.BatchSize
	if batch <= 0 {
		batch = 256
	}
	var columns []string // a model reads its inputs: every column
	if p == nil {
		columns = []string{cfg.User, cfg.Sequence}
		if cfg.User == cfg.Sequence {
			columns = columns[:1]
		}
	}
	var out []Predictability
	at := map[int64]int{}
	cur := -1
	err := src.Each(ctx, cfg.ChunkRows, batch, columns, func(lo int, d *dataset.Dataset) error {
		uc, ok := d.Column(cfg.User)
		if !ok {
			return fmt.Errorf("eval: predictability: no user column %q (columns: %v)", cfg.User, d.Columns())
		}
		sc, ok := d.Column(cfg.Sequence)
		if !ok {
			return fmt.Errorf("eval: predictability: no sequence column %q (columns: %v)", cfg.Sequence, d.Columns())
		}
		users, err := Floats(uc)
		if err != nil {
			return err
		}
		seq, err := Floats(sc)
		if err != nil {
			return err
		}
		if dataset.Width(uc) != 1 || dataset.Width(sc) != 1 {
			return errors.New("eval: predictability: the user and sequence columns must hold one value per example")
		}
		var hit []float64
		if p != nil {
			lab, err := Labels(d, cfg.Labels)
			if err != nil {
				return offsetErr(err, lo, d)
			}
			s, err := PredictChunk(ctx, p, d, batch)
			if err != nil {
				return offsetErr(err, lo, d)
			}
			if s.Len() != d.N {
				return offsetErr(fmt.Errorf("eval: %s returned %d examples' scores", p.Name(), s.Len()), lo, d)
			}
			hit = topOneHits(s, lab)
		}
		for i := range d.N {
			u := int64(users[i])
			if grouped && cur >= 0 && out[cur].User != u {
				out[cur].bound()
				out[cur].seq = nil
			}
			j, ok := at[u]
			if !ok {
				j = len(out)
				at[u] = j
				out = append(out, Predictability{User: u})
			}
			out[j].seq = append(out[j].seq, int64(seq[i]))
			if hit != nil {
				out[j].hits += hit[i]
			}
			cur = j
		}
		return nil
	})
	if err != nil {
		return PredictabilitySummary{}, err
	}
	for j := range out {
		if out[j].Length == 0 {
			out[j].bound()
			out[j].seq = nil
		}
	}
	return summarize(out, p != nil), nil
}
