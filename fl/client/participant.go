package client

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/sextant-ml/sextant/clock"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/privacy/noise"
	"github.com/sextant-ml/sextant/secagg"
	saclient "github.com/sextant-ml/sextant/secagg/client"
	"github.com/sextant-ml/sextant/tensor"
)

// Participant is a device taking part in a federated task: each call of Once
// asks the coordinator about the task, flips the device's own coin, and if
// it joins, trains on the device's data and runs the round's secure
// aggregation to the end.
type Participant struct {
	// Device is the device's name (its check-in identity); Task the task.
	Device, Task string
	Conn         Conn
	// Model is the task's model (its trainable parameters are replaced by
	// the global weights each round).
	Model *graph.Graph
	// Data returns the device's examples (tensors in the order of the
	// model's inputs then the loss target). It is called only when the
	// device joins, so a simulator can keep data off the heap until then.
	Data func() ([]*tensor.Tensor, error)
	// Eligible reports whether the host allows training now (charging,
	// idle, unmetered); nil is always eligible.
	Eligible func() bool
	// Clock paces the polls; nil is clock.Real. Poll is the wait after
	// ErrNotYet (default 100 ms).
	Clock clock.Clock
	Poll  time.Duration
	// Rand flips the coin and shuffles batches; Secure feeds secagg's keys
	// and masks; Noise draws distributed-DP noise. Nil is crypto/rand.
	Rand   *rand.Rand
	Secure io.Reader
	Noise  *rand.Rand
	// DropAt, for simulations, makes the device go away before answering
	// the server message of that step (StepDone: never). The device tells
	// the coordinator (Leave), as a closed connection would.
	DropAt func(round int) secagg.Step
}

// Outcome is what one Once did.
type Outcome struct {
	Round   int
	Attempt uint64
	// Joined: the device's coin came up and it checked in; Completed: it
	// answered every step of the round's secure aggregation; Dropped: it
	// left on purpose (DropAt).
	Joined, Completed, Dropped bool
	// RetryAt is when to ask again (pace steering).
	RetryAt time.Time
	// Examples and Loss describe the local training.
	Examples int
	Loss     float64
	// Sent and Received count the bytes of the round's payloads (the
	// global weights, the secagg messages).
	Sent, Received int
	// Training and SecAgg are the device's time in local training and in
	// secure aggregation (encoding, noise, keys, masking, shares).
	Training, SecAgg time.Duration
}

func (p *Participant) clock() clock.Clock {
	if p.Clock == nil {
		return clock.Real
	}
	return p.Clock
}

// wait retries f while it returns ErrNotYet.
func wait[T any](ctx context.Context, p *Participant, f func() (T, error)) (T, error) {
	poll := p.Poll
	if poll <= 0 {
		poll = 100 * time.Millisecond
	}
	for {
		v, err := f()
		if !errors.Is(err, ErrNotYet) {
			return v, err
		}
		if err := p.clock().Sleep(ctx, poll); err != nil {
			return v, err
		}
	}
}

// Once takes part in the task's current round if the device is eligible and
// its coin comes up. A round that ends without the device (it failed, or
// the device's messages came too late) is not an error: Outcome.Completed
// is false.
func (p *Participant) Once(ctx context.Context) (*Outcome, error) {
	st, err := p.Conn.Status(ctx, p.Task, p.Device)
	if err != nil {
		return nil, fmt.Errorf("fl: %s: status: %w", p.Device, err)
	}
	out := &Outcome{Round: st.Round, Attempt: st.Attempt, RetryAt: st.RetryAt}
	if st.Done || !st.Open || (p.Eligible != nil && !p.Eligible()) {
		return out, nil
	}
	r := p.Rand
	if r == nil {
		r = rand.New(rand.NewChaCha8(seed()))
	}
	if !Join(st.Q, r.Float64()) {
		return out, nil
	}
	seat, err := p.Conn.CheckIn(ctx, p.Task, st.Attempt, p.Device)
	if errors.Is(err, ErrNotSelected) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fl: %s: check in: %w", p.Device, err)
	}
	out.Joined = true
	err = p.run(ctx, seat, r, out)
	if errors.Is(err, ErrRoundOver) {
		return out, nil
	}
	return out, err
}

func (p *Participant) run(ctx context.Context, seat *Seat, r *rand.Rand, out *Outcome) error {
	a, err := wait(ctx, p, func() (*Assignment, error) { return p.Conn.Configure(ctx, p.Task, seat) })
	if err != nil {
		return fmt.Errorf("fl: %s: configure: %w", p.Device, err)
	}
	out.Round, out.Received = a.Round, 4*len(a.Global)
	drop := secagg.StepDone
	if p.DropAt != nil {
		drop = p.DropAt(a.Round)
	}
	leave := func() error {
		out.Dropped = true
		return p.Conn.Leave(ctx, p.Task, seat)
	}
	if drop == secagg.StepAdvertiseKeys {
		return leave()
	}
	data, err := p.Data()
	if err != nil {
		return fmt.Errorf("fl: %s: data: %w", p.Device, err)
	}
	t0 := time.Now()
	u, err := Train(ctx, p.Model, a.Global, a.Plan, data, rand.New(rand.NewPCG(r.Uint64(), r.Uint64())))
	if err != nil {
		return fmt.Errorf("fl: %s: %w", p.Device, err)
	}
	out.Training = time.Since(t0)
	out.Examples, out.Loss = u.Examples, u.Loss
	if a.SecAgg == nil {
		x, err := u.Cleartext()
		if err != nil {
			return err
		}
		out.Sent += 4 * len(x)
		if err := p.Conn.ReportPlain(ctx, p.Task, seat, x); err != nil {
			return fmt.Errorf("fl: %s: %w", p.Device, err)
		}
		out.Completed = true
		return nil
	}
	t0 = time.Now()
	var dg *noise.DiscreteGaussian
	if a.NoiseUnits > 0 {
		if dg, err = p.noiseSampler(a); err != nil {
			return err
		}
	}
	sc, adv, _, err := SecureNoised(*a.SecAgg, seat.ID, u, p.Secure, dg)
	if err != nil {
		return err
	}
	out.SecAgg += time.Since(t0)
	send := func(m secagg.Message) error {
		b, err := secagg.Marshal(m)
		if err != nil {
			return err
		}
		out.Sent += len(b)
		return p.Conn.Send(ctx, p.Task, seat, b)
	}
	if err := send(adv); err != nil {
		return fmt.Errorf("fl: %s: %w", p.Device, err)
	}
	lim := secagg.Limits{MaxVector: a.SecAgg.Dim + 1}
	for step := secagg.StepShareKeys; step < secagg.StepDone; {
		b, err := wait(ctx, p, func() ([]byte, error) { return p.Conn.Next(ctx, p.Task, seat, step) })
		if err != nil {
			return fmt.Errorf("fl: %s: step %v: %w", p.Device, step, err)
		}
		out.Received += len(b)
		m, err := secagg.Unmarshal(b, lim)
		if err != nil {
			return fmt.Errorf("fl: %s: %w", p.Device, err)
		}
		step = m.Head().Step
		if step >= drop {
			return leave()
		}
		t0 := time.Now()
		reply, err := sc.Handle(m)
		out.SecAgg += time.Since(t0)
		if errors.Is(err, secagg.ErrWrongStep) {
			// The round moved on without this device.
			return ErrRoundOver
		}
		if errors.Is(err, secagg.ErrTooFewClients) {
			// Too few of its neighbours are left for its input to stay
			// hidden: the device refuses to mask and leaves the round.
			p.Conn.Leave(ctx, p.Task, seat)
			return ErrRoundOver
		}
		if err != nil {
			return fmt.Errorf("fl: %s: %w", p.Device, err)
		}
		if err := send(reply); err != nil {
			return fmt.Errorf("fl: %s: %w", p.Device, err)
		}
		if step == secagg.StepUnmask {
			out.Completed = true
			return nil
		}
		step = sc.Step()
	}
	return nil
}

// noiseSampler returns the sampler of the device's share of the
// distributed-DP noise: one discrete Gaussian N_Z(0, σ²) per coordinate,
// σ = a.NoiseUnits.
func (p *Participant) noiseSampler(a *Assignment) (*noise.DiscreteGaussian, error) {
	nr := p.Noise
	if nr == nil {
		nr = noise.CryptoRand()
	}
	dg, err := noise.NewDiscreteGaussian(a.NoiseUnits, nr)
	if err != nil {
		return nil, fmt.Errorf("fl: %s: %w", p.Device, err)
	}
	return dg, nil
}

// noiseChunk is how many draws addNoise makes at a time (4 KiB on the stack).
const noiseChunk = 512

// addNoise adds one draw of dg to each word, mod 2^32, in order: the same
// words, bit for bit, as adding dg.AddTo of a zero []int64 of len(words)
// (the sampler's stream does not depend on how the draws are batched), with
// no noise vector as long as the update.
func addNoise(dg *noise.DiscreteGaussian, words []uint32) {
	var buf [noiseChunk]int64
	for len(words) > 0 {
		n := min(len(words), noiseChunk)
		z := buf[:n]
		clear(z)
		dg.AddTo(z)
		for i, v := range z {
			words[i] += uint32(v)
		}
		words = words[n:]
	}
}

// SecureNoised is Secure with distributed-DP noise from dg (fixed-point
// units) added to the encoded update before masking; nil dg is Secure.
func SecureNoised(p secagg.Params, id uint32, u *Update, r io.Reader, dg *noise.DiscreteGaussian) (c *saclient.Client, adv *secagg.AdvertiseKeys, clipped int, err error) {
	if dg == nil {
		return Secure(p, id, u, r)
	}
	x := u.Vector()
	if len(x) != p.Dim {
		return nil, nil, 0, fmt.Errorf("fl: secure: update has %d coordinates, round expects %d", len(x), p.Dim)
	}
	if c, err = saclient.New(saclient.Config{Params: p, ID: id, Rand: r}); err != nil {
		return nil, nil, 0, fmt.Errorf("fl: secure: %w", err)
	}
	if clipped, err = c.SetInputNoised(x, func(words []uint32) { addNoise(dg, words) }); err != nil {
		return nil, nil, 0, fmt.Errorf("fl: secure: %w", err)
	}
	if adv, err = c.Start(); err != nil {
		return nil, nil, 0, fmt.Errorf("fl: secure: %w", err)
	}
	return c, adv, clipped, nil
}

func seed() [32]byte {
	var s [32]byte
	crand.Read(s[:])
	return s
}
