package fl

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/privacy/accountant"
	"github.com/sextant-ml/sextant/privacy/ledger"
	"github.com/sextant-ml/sextant/privacy/noise"
	"github.com/sextant-ml/sextant/secagg"
)

// secaggParams chooses a round's secure-aggregation parameters: the complete
// graph up to 1,000 clients and SecAgg+ beyond (or always, with plus), a majority threshold, and
// a fixed-point encoding whose clip range is the plan's clip norm C (an
// update of L2 norm ≤ C has every coordinate in [−C, C], so nothing is
// clipped by the encoding) at the finest power-of-two scale for which n
// clients' sum cannot wrap Z_{2^32}.
//
// With distributed DP (z > 0: each client adds discrete Gaussian noise of
// total standard deviation z·C·Scale over minReports clients) the scale also
// leaves room for the noise: n·C·Scale + 8·σ_sum < 2^31, σ_sum the noise's
// standard deviation over n clients, so the noised sum wraps with
// probability below 10⁻¹⁵ per coordinate.
func secaggParams(round uint64, dim, n int, clip float64, minReports int, z float64, plus bool) (secagg.Params, error) {
	p := secagg.Params{Round: round, Dim: dim}
	if n > 1000 || plus {
		p.Degree = secagg.DefaultDegree(n)
	}
	// The complete graph's threshold is at least the minimum reports (a
	// round that could commit has that many shares of every secret);
	// SecAgg+'s is a majority of each neighbourhood, which holds k = O(log n)
	// clients, far fewer than the minimum reports.
	p.Threshold = secagg.DefaultThreshold(p.Neighbours(n))
	if p.Degree == 0 {
		p.Threshold = max(p.Threshold, min(minReports, p.Neighbours(n)))
	}
	scale := math.Exp2(math.Floor(math.Log2(float64(math.MaxInt32) / (float64(n) * clip))))
	p.Encoding = secagg.Encoding{Clip: clip, Scale: min(scale, 1<<24)}
	noiseFits := func() bool {
		if z <= 0 {
			return true
		}
		u, _, err := distributedNoise(p, clip, z, minReports)
		return err == nil && float64(n)*clip*p.Encoding.Scale+8*u*math.Sqrt(float64(n)) < math.MaxInt32
	}
	for (p.Encoding.Bound(n, dim).MayWrap || !noiseFits()) && p.Encoding.Scale > 1 {
		p.Encoding.Scale /= 2
	}
	if err := p.Validate(n); err != nil {
		return p, fmt.Errorf("fl: secure aggregation for %d clients: %w", n, err)
	}
	return p, nil
}

// Limits are the bounds to parse the round's client messages with.
func (c *Coordinator) Limits() secagg.Limits {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sa == nil {
		return secagg.Limits{MaxPeers: 1, MaxVector: 1}
	}
	return c.sa.Limits()
}

// Receive passes a device's marshalled secure-aggregation message to the
// round (configuration: step 0; reporting: the later steps).
func (c *Coordinator) Receive(b []byte) error {
	_, err := c.deliver(b, 0)
	return err
}

// deliver is Receive of a message that must come from device id (0: any)
// and returns its header.
func (c *Coordinator) deliver(b []byte, id uint32) (secagg.Header, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sa == nil || (c.st.Phase != PhaseConfiguration && c.st.Phase != PhaseReporting) {
		return secagg.Header{}, fmt.Errorf("%w: secure-aggregation message in %s", ErrPhase, c.st.Phase)
	}
	// The round sums a masked vector and keeps none of it, so every
	// client's is decoded into the same buffer (c.mu is held).
	lim := c.sa.Limits()
	if cap(c.vecBuf) < lim.MaxVector {
		c.vecBuf = make([]uint32, lim.MaxVector)
	}
	m, err := secagg.UnmarshalWith(b, lim, c.vecBuf)
	if err != nil {
		return secagg.Header{}, fmt.Errorf("fl: receive: %w", err)
	}
	h := m.Head()
	if id != 0 && h.Sender != id {
		return h, fmt.Errorf("fl: receive: %w: device %d sent a message as %d", ErrDevice, id, h.Sender)
	}
	if err := c.sa.Handle(m); err != nil {
		return h, fmt.Errorf("fl: receive: %w", err)
	}
	return h, nil
}

// secaggStep is the step of the round's secure aggregation (StepDone when
// there is none).
func (c *Coordinator) secaggStep() secagg.Step {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sa == nil {
		return secagg.StepDone
	}
	return c.sa.Step()
}

// attemptID is the current (or last) round attempt's id.
func (c *Coordinator) attemptID() uint64 { c.mu.Lock(); defer c.mu.Unlock(); return c.st.Attempts }

// Recipients lists the devices that get a message in the current
// secure-aggregation step.
func (c *Coordinator) Recipients() []uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sa == nil || c.st.Phase != PhaseReporting {
		return nil
	}
	return c.sa.Recipients()
}

// MessageFor returns the marshalled message device id needs for the current
// secure-aggregation step.
func (c *Coordinator) MessageFor(id uint32) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sa == nil || c.st.Phase != PhaseReporting {
		return nil, fmt.Errorf("%w: message in %s", ErrPhase, c.st.Phase)
	}
	m, err := c.sa.MessageFor(id)
	if err != nil {
		return nil, fmt.Errorf("fl: message for %d: %w", id, err)
	}
	return secagg.Marshal(m)
}

// ReportPlain accepts a device's update in the clear: only in a task whose
// plan enables PlaintextForSimulation and whose secure aggregation is off.
// The coordinator clips it again (it cannot trust the device to).
func (c *Coordinator) ReportPlain(id uint32, delta []float32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.plain == nil || c.st.Phase != PhaseConfiguration {
		return fmt.Errorf("%w: plaintext report in %s", ErrPhase, c.st.Phase)
	}
	if _, ok := slices.BinarySearch(c.ids, id); !ok {
		return fmt.Errorf("%w: id %d", ErrDevice, id)
	}
	if _, dup := c.plain[id]; dup {
		return fmt.Errorf("%w: id %d reported twice", ErrDevice, id)
	}
	if len(delta) != c.dim() {
		return fmt.Errorf("fl: plaintext report of %d coordinates, want %d", len(delta), c.dim())
	}
	if c.st.Task.AdaptiveClip != nil && math.Abs(float64(delta[len(delta)-1])) != 0.5 {
		return fmt.Errorf("fl: plaintext report from %d: unclipped indicator %v is not ±½", id, delta[len(delta)-1])
	}
	for _, v := range delta {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("fl: plaintext report from %d is not finite", id)
		}
	}
	d := slices.Clone(delta)
	clipTo(d[:c.layout.Dim()], c.st.ClipNorm)
	c.plain[id] = d
	return nil
}

// Advance closes the current step at its deadline (the transport calls it
// after delivering a step's messages). Configuration closes secagg's step 0
// (or, in plaintext mode, the reports) and reporting closes the later steps;
// after the last, the round aggregates and commits, and the record is
// returned. A round that cannot finish fails with ErrRoundFailed.
func (c *Coordinator) Advance() (*RoundRecord, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.st.Phase == PhaseConfiguration && c.plain != nil:
		sum := make([]float64, c.dim())
		for _, d := range c.plain {
			for i, v := range d {
				sum[i] += float64(v)
			}
		}
		return c.commitLocked(sum, len(c.plain), secagg.Overflow{})
	case c.sa != nil && (c.st.Phase == PhaseConfiguration || c.st.Phase == PhaseReporting):
	default:
		return nil, fmt.Errorf("%w: advance in %s", ErrPhase, c.st.Phase)
	}
	if err := c.sa.Advance(); err != nil {
		if errors.Is(err, secagg.ErrTooFewClients) {
			return nil, c.failLocked(err.Error())
		}
		return nil, fmt.Errorf("fl: advance: %w", err)
	}
	if c.st.Phase == PhaseConfiguration {
		// Not persisted: a restart fails a round in configuration and in
		// reporting alike (Open), so the state file would gain nothing but
		// a JSON encoding of the global model and an fsync per SecAgg
		// round (plaintext rounds have no such step).
		c.st.Phase = PhaseReporting
		return nil, nil
	}
	if c.sa.Step() != secagg.StepDone {
		return nil, nil
	}
	res, err := c.sa.Result()
	if err != nil {
		return nil, c.failLocked(err.Error())
	}
	return c.commitLocked(res.Values, len(res.Contributors), res.Overflow)
}

// commitLocked noises, averages and applies the round's sum, records the
// privacy spent and persists the new state.
func (c *Coordinator) commitLocked(sum []float64, reports int, ov secagg.Overflow) (*RoundRecord, error) {
	t := c.st.Task
	if reports < t.MinReports {
		return nil, c.failLocked(fmt.Sprintf("%d reports, %d needed", reports, t.MinReports))
	}
	c.lastSum = slices.Clone(sum)
	z, C := t.Plan.NoiseMultiplier, c.st.ClipNorm
	denom := float64(reports)
	if z > 0 {
		// The fixed denominator: the expected number of participants,
		// which does not depend on any one device's presence.
		denom = t.Q() * float64(t.Population)
	}
	zSum, nextClip, unclipped := z, C, 0.0
	central := z > 0 && !t.DistributedDP
	if a := t.AdaptiveClip; a != nil {
		count := sum[len(sum)-1]
		sum = sum[:len(sum)-1]
		if z > 0 {
			var err error
			if zSum, err = accountant.AdaptiveClippingSplit(z, a.CountStddev); err != nil {
				return nil, c.failLocked(err.Error())
			}
			g, err := noise.NewGaussian(a.CountStddev, c.cfg.Noise)
			if err != nil {
				return nil, c.failLocked(err.Error())
			}
			cs := []float64{count}
			g.AddTo(cs)
			count = cs[0]
		}
		unclipped = count/denom + 0.5
		nextClip = a.next(C, unclipped)
	}
	if central {
		g, err := noise.NewGaussian(zSum*C, c.cfg.Noise)
		if err != nil {
			return nil, c.failLocked(err.Error())
		}
		g.AddTo(sum)
	}
	var norm float64
	for i := range sum {
		sum[i] /= denom
		norm += sum[i] * sum[i]
	}
	global := slices.Clone(c.st.Global)
	opt := OptimizerState{M: slices.Clone(c.st.Optimizer.M), V: slices.Clone(c.st.Optimizer.V)}
	if err := t.Optimizer.Apply(global, sum, &opt); err != nil {
		return nil, c.failLocked(err.Error())
	}
	rec := RoundRecord{Round: c.st.Rounds + 1, Attempt: c.st.Attempts, Committed: true, Selected: len(c.ids),
		Reports: reports, Dropped: len(c.ids) - reports, Clipped: ov.Clipped, Coordinates: ov.Coordinates,
		UpdateNorm: math.Sqrt(norm), ClipNorm: C, Unclipped: unclipped, Delta: t.delta(), Start: c.st.Start, End: c.clk.Now()}
	if z > 0 {
		// The ledger first: a crash before the state is saved then
		// over-counts the privacy spent, never under-counts it.
		zRec, note := z, fmt.Sprintf("round %d attempt %d", rec.Round, rec.Attempt)
		if t.DistributedDP {
			zRec, note = c.noiseEff, note+fmt.Sprintf(", distributed discrete Gaussian σ = %.4g units per client", c.noiseUnits)
		}
		err := c.cfg.Ledger.Record(ledger.Entry{Lineage: t.Model, Task: t.Name, Q: t.Q(), NoiseMultiplier: zRec, Count: 1, Note: note})
		if err != nil {
			return nil, c.failLocked(err.Error())
		}
		sp, err := c.cfg.Ledger.Task(t.Name, t.delta())
		if err != nil {
			return nil, fmt.Errorf("fl: commit: %w", err)
		}
		rec.Epsilon = sp.Epsilon
	}
	c.st.Global, c.st.Optimizer, c.st.ClipNorm = global, opt, nextClip
	c.st.Rounds++
	c.st.History = append(c.st.History, rec)
	c.st.Phase, c.st.Deadline = PhaseIdle, time.Time{}
	c.devices, c.ids, c.sa, c.params, c.plain = nil, nil, nil, nil, nil
	if err := save(c.cfg.StatePath, c.st); err != nil {
		return nil, err
	}
	return &rec, nil
}

// checkBudget stops the task when one more round would spend more than its
// ε budget (all its rounds share q and z).
func (c *Coordinator) checkBudget() error {
	t := c.st.Task
	if c.st.Phase == PhaseDone {
		return fmt.Errorf("%w: %s", ErrBudget, c.st.Stopped)
	}
	if t.EpsilonBudget <= 0 || t.Plan.NoiseMultiplier <= 0 {
		return nil
	}
	eps, _, err := accountant.SampledGaussianEpsilon(t.Q(), t.Plan.NoiseMultiplier, c.st.Rounds+1, t.delta(), accountant.DefaultOrders(), accountant.Improved)
	if err != nil {
		return fmt.Errorf("fl: budget: %w", err)
	}
	if eps > t.EpsilonBudget {
		c.st.Phase = PhaseDone
		c.st.Stopped = fmt.Sprintf("round %d would spend ε = %.3g > budget %.3g at δ = %.3g", c.st.Rounds+1, eps, t.EpsilonBudget, t.delta())
		if err := save(c.cfg.StatePath, c.st); err != nil {
			return err
		}
		return fmt.Errorf("%w: %s", ErrBudget, c.st.Stopped)
	}
	return nil
}

// Privacy returns the task's (ε, δ) so far from the ledger, or nil for a
// task without noise.
func (c *Coordinator) Privacy() (*bundle.PrivacyCost, error) {
	c.mu.Lock()
	t := c.st.Task
	c.mu.Unlock()
	if t.Plan.NoiseMultiplier <= 0 {
		return nil, nil
	}
	sp, err := c.cfg.Ledger.Task(t.Name, t.delta())
	if err != nil {
		return nil, fmt.Errorf("fl: privacy: %w", err)
	}
	return &bundle.PrivacyCost{Epsilon: sp.Epsilon, Delta: sp.Delta, Accountant: "rdp-sampled-gaussian"}, nil
}

// clipTo scales x to L2 norm at most c.
func clipTo(x []float32, c float64) {
	var ss float64
	for _, v := range x {
		ss += float64(v) * float64(v)
	}
	if n := math.Sqrt(ss); n > c {
		for i := range x {
			x[i] = float32(float64(x[i]) * c / n)
		}
	}
}
