package fl

import (
	"context"
	"encoding/binary"
	"errors"
	"maps"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/fl/client"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/privacy/ledger"
	"github.com/sextant-ml/sextant/secagg"
	saclient "github.com/sextant-ml/sextant/secagg/client"
	"github.com/sextant-ml/sextant/tensor"
)

// manualClock is a clock.Clock the test moves by hand.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *manualClock { return &manualClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *manualClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *manualClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
func (c *manualClock) Sleep(ctx context.Context, d time.Duration) error { c.Add(d); return ctx.Err() }
func (c *manualClock) After(d time.Duration) <-chan time.Time {
	c.Add(d)
	ch := make(chan time.Time, 1)
	ch <- c.Now()
	return ch
}

func seeded(s uint64) *rand.ChaCha8 {
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], s)
	return rand.NewChaCha8(seed)
}

const features = 8

// linearModel is pred = x·w + b with w [8,1] and b [1], both zero.
func linearModel() *graph.Graph {
	b := graph.NewBuilder("fl-linear", 17)
	b.Input("x", tensor.Float32, "batch", features)
	b.Initializer("w", tensor.From(make([]float32, features), features, 1))
	b.Initializer("b", tensor.From([]float32{0}, 1))
	b.Node("Add", []string{b.Op("MatMul", nil, "x", "w"), "b"}, []string{"pred"}, nil)
	b.Output("pred")
	return b.Graph()
}

// device is a simulated phone with its own examples.
type device struct {
	name string
	x, y []float32 // x: n×features, y: n
}

func (d *device) data() []*tensor.Tensor {
	n := len(d.y)
	return []*tensor.Tensor{tensor.From(slices.Clone(d.x), n, features), tensor.From(slices.Clone(d.y), n, 1)}
}

// population makes n devices with non-identically distributed data of one
// linear truth.
func population(n, examples int, seed uint64) []*device {
	r := rand.New(seeded(seed))
	w := make([]float64, features)
	for j := range w {
		w[j] = r.NormFloat64()
	}
	const bias = 0.5
	var devs []*device
	for i := range n {
		d := &device{name: "phone-" + string(rune('A'+i%26)) + string(rune('a'+i/26))}
		shift := r.NormFloat64()
		for range examples {
			var y float64 = bias
			for j := range features {
				v := r.NormFloat64() + shift
				d.x = append(d.x, float32(v))
				y += w[j] * v
			}
			d.y = append(d.y, float32(y+0.1*r.NormFloat64()))
		}
		devs = append(devs, d)
	}
	return devs
}

// globalLoss is the mean squared error of the global weights (layout order
// b, w) over every device's data.
func globalLoss(devs []*device, global []float32) float64 {
	b, w := float64(global[0]), global[1:]
	var s float64
	var n int
	for _, d := range devs {
		for i, y := range d.y {
			p := b
			for j := range features {
				p += float64(w[j]) * float64(d.x[i*features+j])
			}
			s += (p - float64(y)) * (p - float64(y))
			n++
		}
	}
	return s / float64(n)
}

func simTask(name string, opt ServerOptimizer, z float64) Task {
	return Task{
		Name: name, Model: "fl-linear",
		Plan: client.Plan{Epochs: 1, BatchSize: 10, LR: 0.02, Params: []string{"w", "b"}, Loss: client.LossMSE, Output: "pred",
			ClipNorm: 2, NoiseMultiplier: z},
		Population: 50, Target: 20, OverSelection: 1.3, MinReports: 10,
		SelectionWindow: time.Minute, RoundDeadline: 10 * time.Minute,
		Optimizer: opt, SecureAggregation: true,
	}
}

// simulator drives a coordinator and the devices in memory, every secagg
// message marshalled and parsed on the way.
type simulator struct {
	t       *testing.T
	c       *Coordinator
	clk     *manualClock
	devs    []*device
	r       *rand.Rand
	dropout float64
	// per round: the clipped updates of the devices whose masked input
	// reached the server.
	want []float64
	n    int
	// norms are the last round's update norms before clipping.
	norms []float64
}

func newSimulator(t *testing.T, task Task, devs []*device, seed uint64) *simulator {
	t.Helper()
	return openSimulator(t, task, devs, seed, t.TempDir(), newClock())
}

// openSimulator opens (or reopens) the coordinator whose state and ledger
// are in dir.
func openSimulator(t *testing.T, task Task, devs []*device, seed uint64, dir string, clk *manualClock) *simulator {
	t.Helper()
	led, err := ledger.Open(filepath.Join(dir, "ledger.json"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Open(Config{Task: task, Model: linearModel(), StatePath: filepath.Join(dir, "state.json"), Ledger: led,
		Clock: clk, Rand: seeded(seed), Noise: rand.New(seeded(seed + 1))})
	if err != nil {
		t.Fatal(err)
	}
	return &simulator{t: t, c: c, clk: clk, devs: devs, r: rand.New(seeded(seed + 2)), dropout: 0.1}
}

// round runs one round; dropped devices stop after sharing their keys
// (before sending their masked input), so secagg must remove their masks.
func (s *simulator) round() (*RoundRecord, error) {
	t := s.t
	t.Helper()
	q, _, err := s.c.Begin()
	if err != nil {
		return nil, err
	}
	byID := map[uint32]*device{}
	for _, d := range s.devs {
		if client.Join(q, s.r.Float64()) {
			id, err := s.c.CheckIn(d.name)
			if err != nil {
				t.Fatal(err)
			}
			byID[id] = d
		}
	}
	s.clk.Add(time.Minute)
	if err := s.c.Tick(); err != nil {
		return nil, err
	}
	clients := map[uint32]*saclient.Client{}
	updates := map[uint32][]float32{}
	drop := map[uint32]bool{}
	var scale float64
	s.norms = s.norms[:0]
	for _, id := range slices.Sorted(maps.Keys(byID)) {
		d := byID[id]
		a, err := s.c.Configure(id)
		if err != nil {
			t.Fatal(err)
		}
		u, err := client.Train(context.Background(), linearModel(), a.Global, a.Plan, d.data(), rand.New(seeded(uint64(id)+a.Attempt<<20)))
		if err != nil {
			t.Fatal(err)
		}
		sc, adv, clipped, err := client.Secure(*a.SecAgg, id, u, seeded(uint64(id)+a.Attempt<<32))
		if err != nil {
			t.Fatal(err)
		}
		if clipped != 0 {
			t.Errorf("device %d: encoding clipped %d coordinates of an update of norm ≤ C", id, clipped)
		}
		scale = a.SecAgg.Encoding.Scale
		clients[id], updates[id] = sc, u.Delta
		s.norms = append(s.norms, u.Norm)
		drop[id] = s.r.Float64() < s.dropout
		s.send(adv)
		if len(clients) == 1 {
			// A replayed message is refused without changing the round.
			raw, _ := secagg.Marshal(adv)
			if err := s.c.Receive(raw); !errors.Is(err, secagg.ErrReplay) {
				t.Fatalf("replayed AdvertiseKeys: %v", err)
			}
			if err := s.c.Receive(raw[:len(raw)-1]); !errors.Is(err, secagg.ErrMalformed) {
				t.Fatalf("truncated AdvertiseKeys: %v", err)
			}
		}
	}
	if _, err := s.c.Advance(); err != nil {
		return nil, err
	}
	for {
		step := secagg.StepDone
		for _, id := range s.c.Recipients() {
			b, err := s.c.MessageFor(id)
			if err != nil {
				t.Fatal(err)
			}
			m, err := secagg.Unmarshal(b, secagg.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			step = m.Head().Step
			if drop[id] && step >= secagg.StepMaskedInput {
				continue
			}
			reply, err := clients[id].Handle(m)
			if err != nil {
				t.Fatalf("device %d: %v", id, err)
			}
			s.send(reply)
		}
		rec, err := s.c.Advance()
		if err != nil || rec != nil {
			// The plaintext sum of the clipped updates that were masked in.
			s.want = make([]float64, s.c.layout.Dim())
			s.n = 0
			for id, u := range updates {
				if drop[id] {
					continue
				}
				s.n++
				for j, v := range u {
					s.want[j] += float64(v)
				}
			}
			if rec != nil {
				s.checkSum(scale)
			}
			return rec, err
		}
	}
}

func (s *simulator) send(m secagg.Message) {
	b, err := secagg.Marshal(m)
	if err != nil {
		s.t.Fatal(err)
	}
	if err := s.c.Receive(b); err != nil {
		s.t.Fatal(err)
	}
}

// checkSum compares the coordinator's un-noised aggregate with the plaintext
// sum: equal up to the fixed-point rounding, n·½ unit.
func (s *simulator) checkSum(scale float64) {
	got := s.c.lastSum
	if got == nil {
		s.t.Fatal("a committed round left no aggregate")
	}
	tol := float64(s.n)*0.5/scale + 1e-12
	for j := range s.want {
		if math.Abs(got[j]-s.want[j]) > tol {
			s.t.Fatalf("coordinate %d: secure sum %.9g, plaintext clipped sum %.9g (tolerance %.3g)", j, got[j], s.want[j], tol)
		}
	}
	s.c.lastSum = nil
}

func TestSimulationSecAggFedAvgAndFedAdam(t *testing.T) {
	devs := population(50, 20, 1)
	for _, c := range []struct {
		opt    ServerOptimizer
		rounds int
		factor float64 // the final loss must be below factor × the initial
	}{
		{ServerOptimizer{Kind: FedAvg}, 8, 0.2},
		{ServerOptimizer{Kind: FedAdam, LR: 0.1}, 15, 0.2},
		{ServerOptimizer{Kind: FedYogi, LR: 0.1}, 15, 0.2},
		{ServerOptimizer{Kind: FedAvgM, LR: 0.5, Beta1: 0.5}, 8, 0.2},
	} {
		t.Run(c.opt.Kind, func(t *testing.T) {
			s := newSimulator(t, simTask("sim-"+c.opt.Kind, c.opt, 0), devs, 7)
			loss0 := globalLoss(devs, s.c.Global())
			var committed, dropped int
			for range c.rounds {
				rec, err := s.round()
				if errors.Is(err, ErrRoundFailed) {
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				committed++
				dropped += rec.Dropped
				t.Logf("round %d: %d reports, %d dropped, loss %.4f", rec.Round, rec.Reports, rec.Dropped, globalLoss(devs, s.c.Global()))
				if rec.Clipped != 0 {
					t.Errorf("round %d: %d coordinates clipped by the encoding", rec.Round, rec.Clipped)
				}
			}
			loss := globalLoss(devs, s.c.Global())
			t.Logf("%s: %d rounds committed, %d dropouts, loss %.4f → %.4f", c.opt.Kind, committed, dropped, loss0, loss)
			if committed < c.rounds-1 || dropped == 0 {
				t.Errorf("%d of %d rounds committed with %d dropouts", committed, c.rounds, dropped)
			}
			if !(loss < c.factor*loss0) {
				t.Errorf("global loss %.4f → %.4f, want below %.2f× the initial", loss0, loss, c.factor)
			}
		})
	}
}
