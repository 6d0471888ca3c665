package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/device/transport/httptransport"
	"github.com/sextant-ml/sextant/fl"
	"github.com/sextant-ml/sextant/fl/client"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/privacy/ledger"
	"github.com/sextant-ml/sextant/sim"
	"github.com/sextant-ml/sextant/tensor"
)

// flData gives each device its own training examples of next destination
// (its user's weeks before the held-out one), read from the table only
// when the device trains, in the order client.Train wants: the model's
// inputs, then the labels.
type flData struct {
	table *userTable
	specs []flColumn
}

// flColumn is one column client.Train takes: its dtype and per-example
// shape.
type flColumn struct {
	name  string
	dtype tensor.DType
	shape []int
}

func (s *story) loadFLData(g *graph.Graph) (*flData, error) {
	var fd flData
	var names []string
	for _, v := range g.Inputs {
		shape := make([]int, 0, len(v.Type.Shape))
		for _, dim := range v.Type.Shape[1:] {
			shape = append(shape, int(dim.Size))
		}
		fd.specs = append(fd.specs, flColumn{v.Name, v.Type.DType, shape})
		names = append(names, v.Name)
	}
	fd.specs = append(fd.specs, flColumn{"label", tensor.Int64, []int{}})
	var err error
	if fd.table, err = openUserTable(s.path("data", "nd", "train.parquet"), append(names, "label"), s.cfg.devices); err != nil {
		return nil, err
	}
	return &fd, nil
}

// device reads device i's examples.
func (fd *flData) device(i int) ([]*tensor.Tensor, error) {
	d, err := fd.table.read(i, -1)
	if err != nil {
		return nil, fmt.Errorf("device %d: %w", i, err)
	}
	if d == nil {
		return nil, errors.New("no training examples on this device")
	}
	out := make([]*tensor.Tensor, len(fd.specs))
	for j, c := range fd.specs {
		if out[j], err = d.As(c.name, c.dtype, c.shape); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// federated improves v1 by federated learning: every phone holds its own
// user's weeks, rounds select phones by their own coin flips, each
// selected phone trains v1's parameters locally and reports its clipped
// update through secure aggregation (SecAgg+) over HTTP to the server,
// which adds Gaussian noise to the sum (DP-FedAvg) and accounts the
// sampled Gaussian mechanism. The last committed round's model becomes v2.
func (s *story) federated(ctx context.Context, f *sim.Fleet, c *control, v1 string) (string, error) {
	b, err := bundle.Open(s.path("models", "next-destination-"+v1+".sxm"))
	if err != nil {
		return "", err
	}
	defer b.Close()
	model := cloneGraph(b.Graph)
	fd, err := s.loadFLData(model)
	if err != nil {
		return "", err
	}
	defer fd.table.close()
	rounds, target := 6, 150
	if s.cfg.fast {
		rounds, target = 3, 80
	}
	target = min(target, s.cfg.devices/2)
	// The selection stays open while every phone asks (flAskers at a
	// time): a minute, or about 2 ms a phone on a loaded 2-core host, so
	// that the last phones of a large fleet are not late for it.
	window := max(time.Minute, time.Duration(s.cfg.devices)*2*time.Millisecond)
	task := fl.Task{Name: "next-destination-fl", Model: ndModel,
		Plan: client.Plan{Epochs: 2, BatchSize: 16, LR: 0.05, Params: []string{"*"}, Loss: client.LossCrossEntropy, Output: "logits",
			ClipNorm: 0.5, NoiseMultiplier: 0.7},
		Population: s.cfg.devices, Target: target, OverSelection: 1.3, MinReports: target / 2,
		SelectionWindow: window, RoundDeadline: 5 * time.Minute, SecureAggregation: true, SecAggPlus: true,
		Optimizer: fl.ServerOptimizer{Kind: "fedavg"}}
	dir := s.path("fleet", "fl")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	led, err := ledger.Open(filepath.Join(dir, "ledger.json"))
	if err != nil {
		return "", err
	}
	coord, err := fl.Open(fl.Config{Task: task, Model: cloneGraph(model), StatePath: filepath.Join(dir, "state.json"), Ledger: led})
	if err != nil {
		return "", err
	}
	svc, err := fl.NewService(fl.ServiceConfig{Coordinator: coord, StepTimeout: 30 * time.Second})
	if err != nil {
		return "", err
	}
	f.Server().ServeFL(svc)
	c.tasks.Add(coord)
	tr := httptransport.New(f.HTTPClient())
	committed := 0
	for r := 1; r <= rounds; r++ {
		rec, joined, err := s.flRound(ctx, f, svc, fd, model, tr, uint64(r))
		if err != nil {
			return "", fmt.Errorf("round %d: %w", r, err)
		}
		if rec != nil {
			committed++
			s.rep.FL = append(s.rep.FL, demoRound{Round: rec.Round, Joined: joined, Reports: rec.Reports, Dropped: rec.Dropped,
				Epsilon: rec.Epsilon, Delta: rec.Delta})
		}
		s.disp.show("rounds", fmt.Sprintf("rounds %s: %d phones joined the last, %d committed", bar(r, rounds), joined, committed))
	}
	if committed == 0 {
		return "", errors.New("no federated round committed")
	}
	// v2 = v1 with the global weights of the last committed round.
	g := cloneGraph(b.Graph)
	if err := setGlobal(g, coord); err != nil {
		return "", err
	}
	cost, err := coord.Privacy()
	if err != nil {
		return "", err
	}
	var names []string
	for _, rr := range coord.History() {
		if !rr.Committed {
			continue // a failed attempt changed no weight
		}
		names = append(names, fmt.Sprintf("%s/%d", task.Name, rr.Round))
	}
	trained := s.path("models", "nd-fl.sxm")
	m := *b.Manifest
	m.Golden = nil // packageBundle computes the new weights' golden outputs
	if err := bundle.WriteFile(trained, g, &m); err != nil {
		return "", err
	}
	// The v2 prior's cost adds to v1's (both touched users' data): report
	// both; the donor cohort and the federated population overlap.
	last := s.rep.FL[len(s.rep.FL)-1]
	s.rep.Privacy = append(s.rep.Privacy, demoPrivacy{Version: "next-destination 1.1.0",
		Source:  fmt.Sprintf("DP-FedAvg, %d rounds over SecAgg+ (user-level, on top of v1's cost)", committed),
		Epsilon: last.Epsilon, Delta: last.Delta})
	golden, err := s.golden("nd")
	if err != nil {
		return "", err
	}
	if err := packageBundle(ctx, trained, s.path("models", "next-destination-1.1.0.sxm"), release{name: ndModel, version: "1.1.0",
		parent: v1, data: golden, rounds: names, cost: cost}); err != nil {
		return "", err
	}
	v2 := s.path("models", "next-destination-1.1.0.sxm")
	s.rep.Bundles = append(s.rep.Bundles, demoBundle{Model: ndModel, Version: "1.1.0", Bytes: fileBytes(v2), Where: "device"})
	return fmt.Sprintf("%d rounds committed over HTTP with SecAgg+ and DP (ε %.2f, δ %.1g); v2 = v1 + the federated update",
		committed, cost.Epsilon, cost.Delta), nil
}

// setGlobal writes the coordinator's global weights into g's trainable
// initializers, on copies: a bundle's own tensors are read-only mappings,
// and packed layouts of the old weights are dropped.
func setGlobal(g *graph.Graph, coord *fl.Coordinator) error {
	lay := coord.Layout()
	trainable := map[string]bool{}
	for _, n := range lay.Names {
		trainable[n] = true
	}
	for _, v := range g.Initializers {
		if trainable[v.Name] && v.Const != nil {
			v.Const, v.Layouts = v.Const.Clone(), nil
		}
	}
	return lay.Unflatten(g, coord.Global())
}

// flAskers bounds the phones asking about a round at once. A phone holds
// one of these slots from its status request until it has answered the
// selection (its coin said no, or it checked in); phones that joined go on
// through training and secure aggregation without a slot, so a round's
// few hundred participants never wait for the rest of a large fleet.
const flAskers = 64

// flRound runs one round: every phone asks the server whether to take part
// (its own coin flip at the task's rate q), at most flAskers at once; the
// round's selection closes once every phone has answered, and the
// selected phones train and report through the protocol concurrently.
//
// Every phone trains from the same read-only model: client.Train never
// writes its graph (the trainer works on its own copy of the trainable
// parameters), so a phone costs no graph of its own, selected or not.
func (s *story) flRound(ctx context.Context, f *sim.Fleet, svc *fl.Service, fd *flData, model *graph.Graph, tr httptransport.Getter, round uint64) (*fl.RoundRecord, int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		rec *fl.RoundRecord
		err error
	}
	done := make(chan result, 1)
	changed := svc.Changed()
	go func() {
		rec, _, err := svc.RunRound(ctx)
		done <- result{rec, err}
	}()
	select {
	case <-changed:
	case r := <-done:
		return nil, 0, r.err
	}
	var (
		slots    = make(chan struct{}, flAskers)
		trainers = make(chan struct{}, runtime.GOMAXPROCS(0))
		wg       sync.WaitGroup
		mu       sync.Mutex
		joined   int
		first    error
	)
	task := svc.Coordinator().Task().Name
	for _, d := range f.Devices() {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		conn := &answerConn{Conn: &client.HTTPConn{Base: f.URL(), Device: d.ID(), Credential: d.Credential(), Get: tr, Post: tr},
			slots: slots, trainers: trainers}
		seed := d.Rand().Uint64() ^ round
		idx := d.Index()
		p := &client.Participant{Device: d.ID(), Task: task, Conn: conn, Model: model,
			Data: func() ([]*tensor.Tensor, error) {
				if err := conn.train(ctx); err != nil {
					return nil, err
				}
				return fd.device(idx)
			},
			Rand: rand.New(rand.NewPCG(seed, 1)), Noise: rand.New(rand.NewPCG(seed, 2))}
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := p.Once(ctx)
			conn.answer()
			conn.trained()
			mu.Lock()
			defer mu.Unlock()
			if err != nil && first == nil {
				first = err
			}
			if out != nil && out.Joined {
				joined++
			}
		}()
	}
	// Every phone has answered once every slot is free again.
	for range flAskers {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
	}
	svc.EndSelection()
	wg.Wait()
	r := <-done
	if errors.Is(r.err, fl.ErrRoundFailed) {
		return nil, joined, nil
	}
	if r.err != nil {
		return nil, joined, r.err
	}
	if first != nil && r.rec == nil {
		return nil, joined, first
	}
	return r.rec, joined, nil
}

// answerConn gives its phone's selection slot back once per round, when
// the phone has answered the selection: checked in, or decided (by its
// coin) not to. A selected phone also holds a trainer slot from when it
// reads its examples until its first message after training: the
// simulator's cores train a few phones at a time, each with its
// trainer's buffers, rather than every participant of the round at once.
type answerConn struct {
	client.Conn
	slots, trainers chan struct{}
	once            sync.Once
	training        bool // guarded by being the participant's goroutine
}

func (a *answerConn) answer() { a.once.Do(func() { <-a.slots }) }

// train takes a trainer slot.
func (a *answerConn) train(ctx context.Context) error {
	select {
	case a.trainers <- struct{}{}:
		a.training = true
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// trained gives the trainer slot back, if held.
func (a *answerConn) trained() {
	if a.training {
		a.training = false
		<-a.trainers
	}
}

func (a *answerConn) CheckIn(ctx context.Context, task string, attempt uint64, device string) (*client.Seat, error) {
	defer a.answer()
	return a.Conn.CheckIn(ctx, task, attempt, device)
}

func (a *answerConn) Send(ctx context.Context, task string, seat *client.Seat, msg []byte) error {
	a.trained()
	return a.Conn.Send(ctx, task, seat, msg)
}

func (a *answerConn) Leave(ctx context.Context, task string, seat *client.Seat) error {
	a.trained()
	return a.Conn.Leave(ctx, task, seat)
}
