package flsim

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/engine"
	"github.com/sextant-ml/sextant/fl"
	"github.com/sextant-ml/sextant/fl/client"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/privacy/ledger"
	"github.com/sextant-ml/sextant/secagg"
	"github.com/sextant-ml/sextant/tensor"
	"github.com/sextant-ml/sextant/train/arch"
)

// Config is one simulation.
type Config struct {
	Spec Spec
	// Devices is the population; Rounds the round attempts to run.
	Devices, Rounds int
	// Dropout is the probability that a device that joined a round leaves
	// it before finishing (at a uniformly chosen step: before training,
	// after sharing its keys, or after sending its masked input).
	Dropout float64
	// Seed seeds every random choice (devices' coins, dropouts, training,
	// secure aggregation's keys and masks, DP noise): a run is
	// reproducible. The data's seed is Spec.Data.Seed.
	Seed uint64
	// Dir holds the coordinator's state and privacy ledger.
	Dir string
	// Progress, when set, is called after each round attempt.
	Progress func(RoundReport)
	// NoEval skips scoring the held-out devices (benchmarks).
	NoEval bool
	// NoPersonalize skips the next-destination mode's final comparison
	// of fine-tuning with local-only training.
	NoPersonalize bool
	// Out, when set, is where the next-destination mode writes the final
	// global model as a bundle (it needs model.init, whose manifest it
	// extends: see prior.go).
	Out string
}

// RoundReport describes one round attempt.
type RoundReport struct {
	Round     int    `json:"round"`
	Attempt   uint64 `json:"attempt"`
	Committed bool   `json:"committed"`
	Failure   string `json:"failure,omitempty"`
	Selected  int    `json:"selected"`
	Reports   int    `json:"reports"`
	Dropped   int    `json:"dropped"`
	// Accuracy of the global model on the held-out devices after the
	// round; TrainLoss the joined devices' mean local loss.
	Accuracy  float64 `json:"accuracy"`
	TrainLoss float64 `json:"train_loss"`
	// Acc5, MRR and LogLoss of the global model on the held-out rows
	// (next-destination mode).
	Acc5    float64 `json:"acc5,omitempty"`
	MRR     float64 `json:"mrr,omitempty"`
	LogLoss float64 `json:"log_loss,omitempty"`
	// Epsilon, Delta: the task's privacy spent so far (0 without noise).
	Epsilon float64 `json:"epsilon"`
	Delta   float64 `json:"delta"`
	// Seconds is the attempt's wall time; ServerSeconds the coordinator's
	// own work in it (fl.RoundStats.ServerTime).
	Seconds       float64 `json:"seconds"`
	ServerSeconds float64 `json:"server_seconds"`
	// BytesPerClient is the mean payload a joined device sent plus
	// received (global weights, secagg messages).
	BytesPerClient float64 `json:"bytes_per_client"`
	// Clipped coordinates by the fixed-point encoding (never silent).
	Clipped uint64 `json:"clipped"`
	// TrainingMs and SecAggMs are a joined device's mean time in local
	// training and in secure aggregation (its own work, not waits).
	TrainingMs float64 `json:"training_ms"`
	SecAggMs   float64 `json:"secagg_ms"`
}

// Report is a simulation's result.
type Report struct {
	Task       string  `json:"task"`
	Devices    int     `json:"devices"`
	Rounds     int     `json:"rounds"`
	Committed  int     `json:"committed"`
	Parameters int     `json:"parameters"`
	SecAgg     bool    `json:"secure_aggregation"`
	Mode       string  `json:"dp"`
	RoundsPerS float64 `json:"rounds_per_second"`
	// Means over the attempts.
	BytesPerClient      float64       `json:"bytes_per_client"`
	ServerSecondsPerRnd float64       `json:"server_seconds_per_round"`
	Accuracy            float64       `json:"accuracy"`
	Epsilon             float64       `json:"epsilon"`
	Delta               float64       `json:"delta"`
	PerRound            []RoundReport `json:"per_round"`
	// Personalization is the next-destination mode's final comparison.
	Personalization *Personalization `json:"personalization,omitempty"`
	// Initial scores the starting model (the prior, with model.init) on
	// the held-out rows, before any round (next-destination mode).
	Initial *Scores `json:"initial,omitempty"`
	// Prior is the starting model's recorded privacy cost; Model the
	// written bundle's (Config.Out): see prior.go.
	Prior *bundle.PrivacyCost `json:"prior_privacy,omitempty"`
	Model *bundle.PrivacyCost `json:"model_privacy,omitempty"`
	Out   string              `json:"out,omitempty"`
}

// scorer is a source that ranks held-out rows (next destination).
type scorer interface {
	score(ctx context.Context, global []float32) (Scores, error)
}

// source is a simulation's model and devices' data.
type source interface {
	// model is a fresh copy of the model at its initial weights.
	model() (*graph.Graph, error)
	// device reads device i's training examples (model inputs, then
	// labels) when it joins a round.
	device(i uint64) ([]*tensor.Tensor, error)
	// accuracy scores global weights (layout order) on held-out data.
	accuracy(ctx context.Context, global []float32) (float64, error)
}

// mlpSource is the synthetic population and its MLP.
type mlpSource struct {
	pop  *population
	eval *evaluator
	seed uint64
}

func (m *mlpSource) model() (*graph.Graph, error)              { return buildModel(m.pop.model, m.seed) }
func (m *mlpSource) device(i uint64) ([]*tensor.Tensor, error) { return m.pop.device(i), nil }
func (m *mlpSource) accuracy(ctx context.Context, global []float32) (float64, error) {
	return m.eval.accuracy(ctx, global)
}

// Run runs the simulation.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	spec, err := cfg.Spec.withDefaults()
	if err != nil {
		return nil, err
	}
	if cfg.Devices <= 0 || cfg.Rounds <= 0 || cfg.Dropout < 0 || cfg.Dropout >= 1 || cfg.Dir == "" {
		return nil, fmt.Errorf("flsim: need devices > 0, rounds > 0, dropout in [0, 1) and a state directory")
	}
	var src source
	if spec.Model.Arch == ArchNextDestination {
		nd, err := openNextDest(spec, cfg.Seed)
		if err != nil {
			return nil, err
		}
		defer nd.Close()
		if cfg.Devices > len(nd.users) {
			cfg.Devices = len(nd.users)
		}
		if err := nd.limit(cfg.Devices); err != nil {
			return nil, err
		}
		src = nd
	} else {
		pop := newPopulation(spec.Data, spec.Model)
		eval, err := newEvaluator(spec, pop, cfg.Devices)
		if err != nil {
			return nil, err
		}
		src = &mlpSource{pop: pop, eval: eval, seed: cfg.Seed}
	}
	task, err := spec.Task(cfg.Devices)
	if err != nil {
		return nil, err
	}
	model, err := src.model()
	if err != nil {
		return nil, err
	}
	led, err := ledger.Open(filepath.Join(cfg.Dir, "ledger.json"))
	if err != nil {
		return nil, err
	}
	coord, err := fl.Open(fl.Config{Task: task, Model: model, StatePath: filepath.Join(cfg.Dir, "state.json"), Ledger: led,
		Rand: rand.NewChaCha8(seed(cfg.Seed, 1)), Noise: rand.New(rand.NewChaCha8(seed(cfg.Seed, 2)))})
	if err != nil {
		return nil, err
	}
	svc, err := fl.NewService(fl.ServiceConfig{Coordinator: coord, StepTimeout: task.RoundDeadline})
	if err != nil {
		return nil, err
	}
	rep := &Report{Task: task.Name, Devices: cfg.Devices, Parameters: coord.Layout().Dim(), SecAgg: task.SecureAggregation, Mode: "none"}
	switch {
	case task.DistributedDP:
		rep.Mode = "distributed"
	case task.Plan.NoiseMultiplier > 0:
		rep.Mode = "central"
	}
	sc, _ := src.(scorer)
	if sc != nil && !cfg.NoEval {
		s, err := sc.score(ctx, coord.Global())
		if err != nil {
			return rep, err
		}
		rep.Initial = &s
	}
	start := time.Now()
	for range cfg.Rounds {
		rr, err := runRound(ctx, cfg, svc, model, src)
		if errors.Is(err, fl.ErrBudget) {
			break
		}
		if err != nil {
			return rep, err
		}
		switch {
		case rr.Committed && !cfg.NoEval && sc != nil:
			s, err := sc.score(ctx, coord.Global())
			if err != nil {
				return rep, err
			}
			rr.Accuracy, rr.Acc5, rr.MRR, rr.LogLoss = s.Acc1, s.Acc5, s.MRR, s.LogLoss
		case rr.Committed && !cfg.NoEval:
			if rr.Accuracy, err = src.accuracy(ctx, coord.Global()); err != nil {
				return rep, err
			}
		case len(rep.PerRound) > 0:
			last := rep.PerRound[len(rep.PerRound)-1]
			rr.Accuracy, rr.Acc5, rr.MRR, rr.LogLoss = last.Accuracy, last.Acc5, last.MRR, last.LogLoss
		}
		rep.PerRound = append(rep.PerRound, *rr)
		if cfg.Progress != nil {
			cfg.Progress(*rr)
		}
	}
	secs := time.Since(start).Seconds()
	rep.Rounds = len(rep.PerRound)
	for _, r := range rep.PerRound {
		if r.Committed {
			rep.Committed++
		}
		rep.BytesPerClient += r.BytesPerClient / float64(rep.Rounds)
		rep.ServerSecondsPerRnd += r.ServerSeconds / float64(rep.Rounds)
	}
	if rep.Rounds > 0 {
		last := rep.PerRound[rep.Rounds-1]
		rep.Accuracy, rep.Epsilon, rep.Delta = last.Accuracy, last.Epsilon, last.Delta
		rep.RoundsPerS = float64(rep.Rounds) / secs
	}
	nd, _ := src.(*nextDest)
	if nd != nil && nd.prior != nil {
		rep.Prior = nd.prior.manifest.Provenance.Privacy
	}
	if cfg.Out != "" {
		if nd == nil || nd.prior == nil {
			return rep, fmt.Errorf("flsim: writing the model needs model.arch %s with model.init", ArchNextDestination)
		}
		if err := writeFederated(cfg.Out, nd, coord, rep); err != nil {
			return rep, err
		}
	}
	if nd != nil && !cfg.NoEval && !cfg.NoPersonalize {
		if rep.Personalization, err = nd.personalize(ctx, coord.Global(), task.Plan.Params, cfg.Seed); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// writeFederated writes the global model as a bundle extending the prior's.
func writeFederated(path string, nd *nextDest, coord *fl.Coordinator, rep *Report) error {
	g, err := nd.withWeights(coord.Global(), coord.Task().Plan.Params)
	if err != nil {
		return err
	}
	fed, err := coord.Privacy()
	if err != nil {
		return err
	}
	var rounds []string
	for _, r := range coord.History() {
		rounds = append(rounds, fmt.Sprintf("%s/%d", rep.Task, r.Round))
	}
	m, err := nd.prior.writeModel(path, g, rounds, fed, nd.spec.Model.InitCohort)
	if err != nil {
		return err
	}
	rep.Model, rep.Out = m.Provenance.Privacy, path
	return nil
}

// runRound runs one attempt: every device is asked once (non-joined ones
// return at once; pace steering is not simulated in time), selection ends
// when all have answered, and the joined devices run the protocol
// concurrently.
func runRound(ctx context.Context, cfg Config, svc *fl.Service, model *graph.Graph, src source) (*RoundReport, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		rec   *fl.RoundRecord
		stats *fl.RoundStats
		err   error
	}
	done := make(chan result, 1)
	ch := svc.Changed()
	go func() {
		rec, st, err := svc.RunRound(ctx)
		done <- result{rec, st, err}
	}()
	select {
	case <-ch:
	case r := <-done:
		return nil, r.err
	}
	st := svc.Status("")
	conn := fl.LocalConn{S: svc}
	task := svc.Coordinator().Task().Name
	var wg sync.WaitGroup
	var mu sync.Mutex
	var outs []*client.Outcome
	var firstErr error
	counted := &checkInCounter{Conn: conn, ch: make(chan struct{}, 1)}
	joining := 0
	for i := range uint64(cfg.Devices) {
		// The device's own coin, drawn from its seed for the attempt: the
		// simulator flips it ahead (the participant's first draw is the
		// same) so devices that do not join cost nothing.
		coin := seed(cfg.Seed, 1<<40|st.Attempt<<24|i)
		if !client.Join(st.Q, rand.New(rand.NewChaCha8(coin)).Float64()) {
			continue
		}
		joining++
		dr := rand.New(rand.NewChaCha8(seed(cfg.Seed, 4<<40|st.Attempt<<24|i)))
		drop := secagg.StepDone
		if dr.Float64() < cfg.Dropout {
			drop = secagg.Step(dr.IntN(3)) // before training, after sharing keys, after masking
		}
		p := &client.Participant{
			Device: fmt.Sprintf("device-%d", i), Task: task, Conn: counted, Model: model,
			Data:   func() ([]*tensor.Tensor, error) { return src.device(i) },
			Rand:   rand.New(rand.NewChaCha8(coin)),
			Secure: rand.NewChaCha8(seed(cfg.Seed, 2<<40|st.Attempt<<24|i)),
			Noise:  rand.New(rand.NewChaCha8(seed(cfg.Seed, 3<<40|st.Attempt<<24|i))),
			DropAt: func(int) secagg.Step { return drop },
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, err := p.Once(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
				cancel()
			}
			if o != nil && o.Joined {
				outs = append(outs, o)
			}
		}()
	}
	// Selection ends once every joining device has checked in.
	for counted.n.Load() < int64(joining) && ctx.Err() == nil {
		select {
		case <-counted.ch:
		case <-ctx.Done():
		}
	}
	svc.EndSelection()
	wg.Wait()
	r := <-done
	if firstErr != nil {
		return nil, firstErr
	}
	rr := &RoundReport{Round: st.Round, Attempt: st.Attempt, Selected: len(outs)}
	if r.stats != nil {
		rr.Seconds, rr.ServerSeconds = r.stats.Duration.Seconds(), r.stats.ServerTime.Seconds()
	}
	var loss float64
	var trained int
	for _, o := range outs {
		rr.BytesPerClient += float64(o.Sent+o.Received) / float64(len(outs))
		rr.TrainingMs += float64(o.Training.Microseconds()) / 1000 / float64(len(outs))
		rr.SecAggMs += float64(o.SecAgg.Microseconds()) / 1000 / float64(len(outs))
		if o.Examples > 0 {
			loss += o.Loss
			trained++
		}
	}
	if trained > 0 {
		rr.TrainLoss = loss / float64(trained)
	}
	switch {
	case r.err == nil && r.rec != nil:
		rr.Committed, rr.Reports, rr.Dropped, rr.Clipped = true, r.rec.Reports, r.rec.Dropped, r.rec.Clipped
		rr.Epsilon, rr.Delta = r.rec.Epsilon, r.rec.Delta
	case errors.Is(r.err, fl.ErrRoundFailed):
		rr.Failure = r.err.Error()
	default:
		return nil, r.err
	}
	return rr, nil
}

// checkInCounter counts check-ins (successful or not) of a round.
type checkInCounter struct {
	client.Conn
	n  atomic.Int64
	ch chan struct{}
}

func (c *checkInCounter) CheckIn(ctx context.Context, task string, attempt uint64, device string) (*client.Seat, error) {
	defer func() {
		c.n.Add(1)
		select {
		case c.ch <- struct{}{}:
		default:
		}
	}()
	return c.Conn.CheckIn(ctx, task, attempt, device)
}

// buildModel is the spec's MLP (torch's nn.Linear initialisation).
func buildModel(m ModelSpec, s uint64) (*graph.Graph, error) {
	mod, err := arch.MLP(arch.Spec{
		Columns: map[string]arch.Column{"x": {DType: tensor.Float32, Shape: []int{m.Inputs}}},
		Outputs: m.Classes, Hidden: m.Hidden, Rand: rand.New(rand.NewChaCha8(seed(s, 0x30de1))),
	})
	if err != nil {
		return nil, fmt.Errorf("flsim: model: %w", err)
	}
	return mod.Graph, nil
}

// evaluator scores global weights on the held-out devices with the engine.
type evaluator struct {
	spec Spec
	x    *tensor.Tensor
	y    []int64
	seed uint64
}

func newEvaluator(spec Spec, pop *population, devices int) (*evaluator, error) {
	var xs []float32
	var ys []int64
	for h := range uint64(spec.Data.Holdout) {
		d := pop.device(uint64(devices) + h)
		xs = append(xs, tensor.Data[float32](d[0])...)
		ys = append(ys, tensor.Data[int64](d[1])...)
	}
	return &evaluator{spec: spec, x: tensor.From(xs, len(ys), spec.Model.Inputs), y: ys}, nil
}

// accuracy compiles the model with the global weights (layout order: the
// trainable initializers sorted by name) and returns top-1 accuracy.
func (e *evaluator) accuracy(ctx context.Context, global []float32) (float64, error) {
	g, err := buildModel(e.spec.Model, e.seed)
	if err != nil {
		return 0, err
	}
	lay, err := client.NewLayout(g, e.spec.Plan.Params)
	if err != nil {
		return 0, err
	}
	if err := lay.Unflatten(g, global); err != nil {
		return 0, err
	}
	m, err := engine.Compile(g, engine.Options{Dims: map[string]int{"batch": len(e.y)}})
	if err != nil {
		return 0, fmt.Errorf("flsim: evaluate: %w", err)
	}
	out, err := m.NewSession().Run(ctx, []*tensor.Tensor{e.x})
	if err != nil {
		return 0, fmt.Errorf("flsim: evaluate: %w", err)
	}
	logits := tensor.Data[float32](out[0])
	c := e.spec.Model.Classes
	right := 0
	for i, y := range e.y {
		row := logits[i*c : (i+1)*c]
		if int64(slices.Index(row, slices.Max(row))) == y {
			right++
		}
	}
	return float64(right) / float64(len(e.y)), nil
}
