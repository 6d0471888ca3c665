package eval

import (
	"context"
	"fmt"

	"github.com/sextant-ml/sextant/dataset"
)

// EvaluateSource is Evaluate over src a chunk of rows at a time (chunks
// of cfg.ChunkRows rows, rounded up to whole batches): each chunk is read,
// scored by both models and reduced to the metrics' per-example values and
// the slices' row indices before the next is read, so memory is a chunk of
// rows plus a few numbers per example (what the bootstrap resamples) —
// not the table or the models' scores. The report is Evaluate's on the
// whole data set, number for number: the models run on the same batches
// (chunks start at multiples of the batch size), and an automatic score
// kind, which Evaluate decides on all the scores at once, is kept open
// (the examples' values computed both ways) until a chunk's scores are
// not probabilities.
func EvaluateSource(ctx context.Context, src *Source, cand, base Predictor, cfg Config) (*Report, error) {
	if src.N == 0 {
		return nil, fmt.Errorf("eval: the data set has no examples")
	}
	r, metrics, err := newReport(src.Path, src.Format, src.N, cand, cfg)
	if err != nil {
		return nil, err
	}
	batch := cfg.BatchSize
	if batch <= 0 {
		batch = 256
	}
	c := newStreamScorer(cand, cfg, metrics, cfg.Temperature)
	var b *streamScorer
	if base != nil {
		r.Baseline = &ModelInfo{Name: base.Name(), Kind: kindOf(base)}
		b = newStreamScorer(base, cfg, metrics, 0)
	}
	slicers := make([]*slicer, len(cfg.Slices))
	for i, spec := range cfg.Slices {
		if slicers[i], err = newSlicer(spec); err != nil {
			return nil, err
		}
	}
	err = src.Each(ctx, cfg.ChunkRows, batch, nil, func(lo int, d *dataset.Dataset) error {
		labels, err := Labels(d, cfg.Labels)
		if err != nil {
			return offsetErr(err, lo, d)
		}
		for _, s := range []*streamScorer{c, b} {
			if s != nil {
				if err := s.add(ctx, d, labels, batch); err != nil {
					return offsetErr(err, lo, d)
				}
			}
		}
		for _, s := range slicers {
			if err := s.add(d, lo); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices := []Slice{All(src.N)}
	for _, s := range slicers {
		slices = append(slices, s.slices()...)
	}
	var bs *scored
	if b != nil {
		bs = b.result()
	}
	return r, r.finish(ctx, metrics, slices, c.result(), bs, cfg.Task)
}

// streamScorer scores one model chunk by chunk and keeps what the report
// needs of it (see scored). With an automatic score kind (AutoScores, a
// ranking or classification task and a predictor that does not say) the
// kind is Probabilities only if every example's scores read as
// probabilities; until a chunk shows otherwise it keeps each example's
// values read both ways, as[0] as logits and as[1] as probabilities.
type streamScorer struct {
	p           Predictor
	task        Task
	metrics     []Metric
	temperature float64
	auto        bool      // the kind is still open
	kind        ScoreKind // the kind when not open
	as          [2]scored
}

func newStreamScorer(p Predictor, cfg Config, metrics []Metric, temperature float64) *streamScorer {
	kind := cfg.ScoreKind
	if k, ok := p.(ScoreKinder); ok {
		kind = k.ScoreKind()
	}
	if kind == "" {
		kind = AutoScores
	}
	s := &streamScorer{p: p, task: cfg.Task, metrics: metrics, temperature: temperature, kind: kind}
	if kind == AutoScores && cfg.Task != Regression {
		s.auto, s.kind = true, Logits
	}
	s.as[0].kind, s.as[1].kind = s.kind, Probabilities
	for i := range s.as {
		s.as[i].vals = make([]Values, len(metrics))
	}
	return s
}

// add scores the chunk d with its labels.
func (s *streamScorer) add(ctx context.Context, d *dataset.Dataset, labels []float64, batch int) error {
	sc, err := PredictChunk(ctx, s.p, d, batch)
	if err != nil {
		return err
	}
	if s.auto && detectKind(sc) == Logits {
		s.auto, s.as[1] = false, scored{}
	}
	ways := 1
	if s.auto {
		ways = 2
	}
	for w := range ways {
		a := &s.as[w]
		o, err := NewOutputs(s.task, a.kind, sc, labels)
		if err != nil {
			return fmt.Errorf("eval: %s: %w", s.p.Name(), err)
		}
		o.Temperature = s.temperature
		for j, m := range s.metrics {
			v, err := m.PerExample(o)
			if err != nil {
				return fmt.Errorf("eval: %s: %s: %w", s.p.Name(), m.Name(), err)
			}
			a.vals[j].Arity = v.Arity
			a.vals[j].X = append(a.vals[j].X, v.X...)
		}
		if s.task != Regression {
			if err := o.prepare(); err != nil {
				return fmt.Errorf("eval: %s: %w", s.p.Name(), err)
			}
			a.conf = append(a.conf, o.conf...)
			a.correct = append(a.correct, o.correct...)
		}
	}
	return nil
}

// result is the model's per-example values under the kind the whole data
// set reads as.
func (s *streamScorer) result() *scored {
	if s.auto {
		return &s.as[1]
	}
	return &s.as[0]
}
