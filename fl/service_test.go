package fl

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/fl/client"
	"github.com/sextant-ml/sextant/privacy/ledger"
	"github.com/sextant-ml/sextant/secagg"
	"github.com/sextant-ml/sextant/tensor"
)

// serviceFixture runs a task's rounds through a Service with participants
// on LocalConn, each in its own goroutine as separate phones would be.
type serviceFixture struct {
	svc   *Service
	devs  []*device
	parts []*client.Participant
}

func newServiceFixture(t *testing.T, task Task, devs []*device, dropout float64) *serviceFixture {
	t.Helper()
	dir := t.TempDir()
	led, err := ledger.Open(filepath.Join(dir, "ledger.json"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Open(Config{Task: task, Model: linearModel(), StatePath: filepath.Join(dir, "state.json"), Ledger: led,
		Rand: seeded(1), Noise: rand.New(seeded(2))})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := NewService(ServiceConfig{Coordinator: c, StepTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	f := &serviceFixture{svc: svc, devs: devs}
	for i, d := range devs {
		r := rand.New(seeded(uint64(100 + i)))
		f.parts = append(f.parts, &client.Participant{
			Device: d.name, Task: task.Name, Conn: LocalConn{S: svc}, Model: linearModel(),
			Data:  func() ([]*tensor.Tensor, error) { return d.data(), nil },
			Rand:  r,
			Noise: rand.New(seeded(uint64(1000 + i))),
			DropAt: func(int) secagg.Step {
				if r.Float64() < dropout {
					return secagg.Step(1 + r.IntN(2)) // after sharing keys, before or after the masked input
				}
				return secagg.StepDone
			},
		})
	}
	return f
}

// round runs one round: the service in the foreground, every device asked
// once; selection ends when all have answered the status.
func (f *serviceFixture) round(t *testing.T) (*RoundRecord, []*client.Outcome, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	type res struct {
		rec *RoundRecord
		err error
	}
	done := make(chan res, 1)
	ch := f.svc.Changed()
	go func() {
		rec, _, err := f.svc.RunRound(ctx)
		done <- res{rec, err}
	}()
	<-ch // selection is open
	var wg, asked sync.WaitGroup
	outs := make([]*client.Outcome, len(f.parts))
	errs := make([]error, len(f.parts))
	for i, p := range f.parts {
		wg.Add(1)
		asked.Add(1)
		go func() {
			defer wg.Done()
			st, once := p.Conn, sync.OnceFunc(asked.Done)
			p.Conn = askedConn{Conn: st, once: once}
			outs[i], errs[i] = p.Once(ctx)
			p.Conn = st
			once() // the coin did not come up
		}()
	}
	asked.Wait()
	f.svc.EndSelection()
	wg.Wait()
	r := <-done
	for i, err := range errs {
		if err != nil {
			t.Fatalf("device %d: %v", i, err)
		}
	}
	return r.rec, outs, r.err
}

// askedConn signals once the device has checked in or decided not to.
type askedConn struct {
	client.Conn
	once func()
}

func (a askedConn) Status(ctx context.Context, task, device string) (*client.Status, error) {
	st, err := a.Conn.Status(ctx, task, device)
	if err != nil || !st.Open {
		a.once()
	}
	return st, err
}

func (a askedConn) CheckIn(ctx context.Context, task string, attempt uint64, device string) (*client.Seat, error) {
	defer a.once()
	return a.Conn.CheckIn(ctx, task, attempt, device)
}

func (a askedConn) Configure(ctx context.Context, task string, seat *client.Seat) (*client.Assignment, error) {
	return a.Conn.Configure(ctx, task, seat)
}

func TestServiceRoundsWithDropouts(t *testing.T) {
	devs := population(50, 20, 3)
	f := newServiceFixture(t, simTask("svc", ServerOptimizer{Kind: FedAvg}, 0), devs, 0.1)
	loss0 := globalLoss(devs, f.svc.Coordinator().Global())
	var committed, dropped int
	for range 6 {
		rec, outs, err := f.round(t)
		if errors.Is(err, ErrRoundFailed) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		committed++
		var joined, completed, left int
		for _, o := range outs {
			if o.Joined {
				joined++
			}
			if o.Completed {
				completed++
			}
			if o.Dropped {
				left++
			}
		}
		dropped += rec.Dropped
		if rec.Selected != joined || rec.Reports > completed+left || rec.Reports < completed {
			t.Errorf("round %d: record %d selected / %d reports; devices: %d joined, %d completed, %d left", rec.Round, rec.Selected, rec.Reports, joined, completed, left)
		}
	}
	loss := globalLoss(devs, f.svc.Coordinator().Global())
	t.Logf("%d rounds committed, %d dropped, loss %.4f → %.4f", committed, dropped, loss0, loss)
	if committed < 5 || dropped == 0 || !(loss < 0.5*loss0) {
		t.Errorf("%d of 6 rounds committed, %d dropouts, loss %.4f → %.4f", committed, dropped, loss0, loss)
	}
}

func TestServiceRejectsForeignSeats(t *testing.T) {
	devs := population(30, 10, 4)
	task := simTask("svc-auth", ServerOptimizer{Kind: FedAvg}, 0)
	task.Population, task.Target, task.OverSelection, task.MinReports = 30, 30, 1, 3
	f := newServiceFixture(t, task, devs, 0)
	ctx, cancel := context.WithCancel(context.Background())
	ch, stopped := f.svc.Changed(), make(chan struct{})
	go func() { f.svc.RunRound(ctx); close(stopped) }()
	t.Cleanup(func() { cancel(); <-stopped })
	<-ch
	st := f.svc.Status("x")
	a, err := f.svc.CheckIn(st.Attempt, "phone-a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.svc.CheckIn(st.Attempt, "phone-b")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.CheckIn(st.Attempt, "phone-c"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.CheckIn(st.Attempt, "phone-a"); err == nil {
		t.Error("a device checked in twice")
	}
	if _, err := f.svc.CheckIn(st.Attempt+1, "phone-d"); !errors.Is(err, client.ErrNotSelected) {
		t.Errorf("check-in to another attempt: %v", err)
	}
	forged := *b
	forged.Token = a.Token
	if _, err := f.svc.Configure(&forged); !errors.Is(err, ErrDevice) {
		t.Errorf("a seat with another device's token: %v", err)
	}
	f.svc.EndSelection()
	// b's key advertisement, sent under a's seat, is refused.
	for {
		_, err := f.svc.Configure(a)
		if err == nil {
			break
		}
		if !errors.Is(err, client.ErrNotYet) {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	ab, err := f.svc.Configure(b)
	if err != nil {
		t.Fatal(err)
	}
	u := &client.Update{Delta: make([]float32, 9)}
	_, adv, _, err := client.Secure(*ab.SecAgg, b.ID, u, seeded(9))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := secagg.Marshal(adv)
	if err := f.svc.Send(a, raw); !errors.Is(err, ErrDevice) {
		t.Errorf("a message of device %d sent on seat %d: %v", b.ID, a.ID, err)
	}
	if err := f.svc.Send(b, raw); err != nil {
		t.Errorf("the device's own message: %v", err)
	}
}

func TestPaceSteeringSpreadsTheReturn(t *testing.T) {
	devs := population(10, 5, 5)
	task := simTask("svc-pace", ServerOptimizer{Kind: FedAvg}, 0)
	f := newServiceFixture(t, task, devs, 0)
	now := time.Now()
	lo, hi := now.Add(time.Hour), now
	for i := range 200 {
		at := f.svc.Status("phone-" + string(rune('a'+i%26)) + string(rune('a'+i/26))).RetryAt
		if at.Before(now) || at.After(now.Add(task.SelectionWindow+time.Second)) {
			t.Fatalf("retry at %v, now %v, window %v", at, now, task.SelectionWindow)
		}
		lo, hi = minTime(lo, at), maxTime(hi, at)
	}
	// 200 devices cover most of the one-minute window.
	if hi.Sub(lo) < task.SelectionWindow*3/4 {
		t.Errorf("200 devices come back within %v of each other, window %v", hi.Sub(lo), task.SelectionWindow)
	}
	// While a round runs, the others are sent past its expected end.
	f.svc.mu.Lock()
	f.svc.attempt, f.svc.selEnd, f.svc.lastRound = 1, time.Now().Add(task.SelectionWindow), 10*time.Minute
	f.svc.mu.Unlock()
	if at := f.svc.Status("phone-zz").RetryAt; at.Before(time.Now().Add(9 * time.Minute)) {
		t.Errorf("during a round expected to last 10 min, a device is told to come back at %v", at.Sub(time.Now()))
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func TestDistributedDPNoisesTheSumOnDevices(t *testing.T) {
	devs := population(40, 20, 6)
	task := simTask("svc-ddp", ServerOptimizer{Kind: FedAvg}, 1)
	task.Population, task.Target, task.OverSelection, task.MinReports = 40, 30, 1.3, 10
	// Updates of ~1e-9: the aggregate is the devices' noise alone.
	task.Plan.LR = 1e-9
	task.DistributedDP = true
	f := newServiceFixture(t, task, devs, 0)
	var ratios []float64
	for range 3 {
		rec, _, err := f.round(t)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Epsilon <= 0 {
			t.Errorf("round %d reports ε = %v", rec.Round, rec.Epsilon)
		}
		c := f.svc.Coordinator()
		sigma, m, z, C, d := c.noiseUnits, float64(task.MinReports), task.Plan.NoiseMultiplier, task.Plan.ClipNorm, float64(len(c.lastSum))
		scale := (sigma*math.Sqrt(m)/z - math.Sqrt(d)/2) / C
		want := sigma * math.Sqrt(float64(rec.Reports)) / scale // the sum's noise σ in real units
		var ss float64
		for _, v := range c.lastSum {
			ss += v * v
		}
		ratios = append(ratios, math.Sqrt(ss/d)/want)
		// The sum's noise is at least z·C, what central DP would add.
		if want < z*C {
			t.Errorf("round %d: the sum's noise σ %.3g is below z·C = %.3g", rec.Round, want, z*C)
		}
		t.Logf("round %d: %d reports, per-device σ %.1f units (scale %.0f), sum RMS / expected σ = %.2f, ε = %.2f", rec.Round, rec.Reports, sigma, scale, ratios[len(ratios)-1], rec.Epsilon)
	}
	// 27 coordinates: the RMS over them is within ±50% of σ with
	// overwhelming probability; a missing or doubled noise is not.
	var mean float64
	for _, r := range ratios {
		mean += r / float64(len(ratios))
	}
	if mean < 0.6 || mean > 1.5 {
		t.Errorf("aggregate RMS is %.2f× the expected noise σ", mean)
	}
}

// TestServiceClosesStepsWithoutSilentDevices: a device that checks in and
// then never answers (a straggler whose connection hangs, no Leave) holds a
// step only until the step timeout; the round commits without it.
func TestServiceClosesStepsWithoutSilentDevices(t *testing.T) {
	devs := population(12, 10, 8)
	task := simTask("svc-straggler", ServerOptimizer{Kind: FedAvg}, 0)
	task.Population, task.Target, task.OverSelection, task.MinReports = 12, 12, 1, 6
	f := newServiceFixture(t, task, devs, 0)
	f.svc.cfg.StepTimeout = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ch := f.svc.Changed()
	type res struct {
		rec *RoundRecord
		err error
	}
	done := make(chan res, 1)
	go func() {
		rec, _, err := f.svc.RunRound(ctx)
		done <- res{rec, err}
	}()
	<-ch
	st := f.svc.Status("")
	if _, err := f.svc.CheckIn(st.Attempt, "silent-phone"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, p := range f.parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := p.Once(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	for f.svc.Seated() < len(f.parts)+1 && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	f.svc.EndSelection()
	wg.Wait()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.rec.Selected != 13 || r.rec.Reports != 12 || r.rec.Dropped != 1 {
		t.Errorf("record %+v", r.rec)
	}
}

// OnBegin runs after the attempt is begun and before any device can see
// it: while it runs the round is not open, and when it fails the attempt
// fails on the record, devices never see it open, and the next attempt
// gets a new id.
func TestServiceOnBeginGatesTheRound(t *testing.T) {
	devs := population(10, 10, 4)
	task := simTask("svc-begin", ServerOptimizer{Kind: FedAvg}, 0)
	task.Population, task.Target, task.OverSelection, task.MinReports = 10, 10, 1, 3
	f := newServiceFixture(t, task, devs, 0)
	var seen []*client.Status
	fail := errors.New("store down")
	f.svc.cfg.OnBegin = func(context.Context) error {
		seen = append(seen, f.svc.Status("phone-x"))
		return fail
	}
	rec, _, err := f.svc.RunRound(context.Background())
	if rec != nil || !errors.Is(err, fail) {
		t.Fatalf("RunRound with a failing OnBegin: %v, %v", rec, err)
	}
	if len(seen) != 1 || seen[0].Open {
		t.Fatalf("OnBegin saw the round open to devices: %+v", seen)
	}
	if st := f.svc.Status("phone-x"); st.Open {
		t.Fatalf("the attempt opened after OnBegin failed: %+v", st)
	}
	first := f.svc.c.attemptID()
	f.svc.cfg.OnBegin = func(context.Context) error {
		seen = append(seen, f.svc.Status("phone-x"))
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	ch, stopped := f.svc.Changed(), make(chan struct{})
	go func() { f.svc.RunRound(ctx); close(stopped) }()
	t.Cleanup(func() { cancel(); <-stopped })
	<-ch
	st := f.svc.Status("phone-x")
	if !st.Open || st.Attempt == first || f.svc.c.attemptID() == first {
		t.Fatalf("the next attempt: %+v (failed attempt %d)", st, first)
	}
	if len(seen) != 2 || seen[1].Open {
		t.Fatalf("OnBegin saw the second attempt open: %+v", seen)
	}
}
