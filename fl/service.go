package fl

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/sextant-ml/sextant/clock"
	"github.com/sextant-ml/sextant/fl/client"
	"github.com/sextant-ml/sextant/secagg"
)

// ServiceConfig configures a Service.
type ServiceConfig struct {
	Coordinator *Coordinator
	// StepTimeout is how long a secure-aggregation step waits for the
	// devices' messages before it closes without the missing ones (their
	// senders count as dropped); default a fifth of the round deadline.
	StepTimeout time.Duration
	// Clock times the selection window and the steps; nil is clock.Real.
	Clock clock.Clock
	// OnCommit, when set, is called after each committed round with its
	// record and the new global weights (e.g. to register a candidate
	// model version). An error is logged; the round stays committed.
	OnCommit func(ctx context.Context, rec *RoundRecord, global []float32) error
	// OnBegin, when set, is called after the coordinator has begun (and
	// saved) a round attempt and before any device can see it, e.g. to
	// commit the attempt where another replica would read it, so an
	// attempt devices took part in is never run again under the same id.
	// An error fails the attempt before it opens and RunRound returns it.
	OnBegin func(ctx context.Context) error
	// Board, when set, shares the rounds with server replicas that answer
	// the devices from it (see Board): devices check in and leave through
	// the board, and the service's own CheckIn refuses them.
	Board Board
	Log   *slog.Logger
}

// Service runs a coordinator's rounds for devices that reach it through a
// client.Conn (in process: LocalConn; over HTTP: package server). RunRound
// drives one round: it opens selection, closes it at the end of the window
// (or at EndSelection), and advances each secure-aggregation step as soon
// as every expected device has answered or the step times out. Device calls
// never block; they return client.ErrNotYet when there is nothing yet.
type Service struct {
	cfg ServiceConfig
	c   *Coordinator
	clk clock.Clock

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every change
	// The current attempt (0: none).
	attempt uint64
	round   int
	open    bool
	q       float64
	selEnd  time.Time
	over    bool // the attempt ended
	endSel  chan struct{}
	seats   map[uint32]*seatState
	byDev   map[string]uint32
	// The current step: its messages to devices, and who must answer.
	configured bool
	step       secagg.Step
	outbox     map[uint32][]byte
	waiting    map[uint32]bool
	// lastRound is the duration of the last round attempt (pace steering).
	lastRound time.Duration
	// ServerTime accumulates the time spent in the coordinator's work
	// (secure aggregation, aggregation, commit) during the current round.
	serverTime time.Duration
}

type seatState struct {
	device    string
	tokenHash string // SeatTokenHash of the seat's token
	gone      bool
}

// NewService returns a service for cfg.Coordinator.
func NewService(cfg ServiceConfig) (*Service, error) {
	if cfg.Coordinator == nil {
		return nil, errors.New("fl: service: no coordinator")
	}
	s := &Service{cfg: cfg, c: cfg.Coordinator, clk: cfg.Clock, changed: make(chan struct{})}
	if s.clk == nil {
		s.clk = clock.Real
	}
	if s.cfg.StepTimeout <= 0 {
		s.cfg.StepTimeout = s.c.Task().RoundDeadline / 5
	}
	if s.cfg.Log == nil {
		s.cfg.Log = slog.Default()
	}
	return s, nil
}

// Coordinator returns the service's coordinator.
func (s *Service) Coordinator() *Coordinator { return s.c }

// Changed returns a channel closed at the service's next change of state
// (a step opening, a round ending): a caller that got client.ErrNotYet
// waits on it — taken before the call — and asks again.
func (s *Service) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

func (s *Service) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Status answers a device asking about the task (client.Conn.Status).
func (s *Service) Status(device string) *client.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.c.Task()
	st := &client.Status{Task: t.Name, Round: s.round, Attempt: s.attempt, Q: s.q, Done: s.c.Phase() == PhaseDone}
	now := s.clk.Now()
	st.Open = s.open && now.Before(s.selEnd)
	st.RetryAt = retryAt(device, now, s.attempt != 0 && !s.over, s.selEnd, t.SelectionWindow, s.lastRound)
	return st
}

// viewLocked is the round as a board shows it.
func (s *Service) viewLocked() *View {
	t := s.c.Task()
	return &View{Task: t.Name, Round: s.round, Attempt: s.attempt, Q: s.q, Open: s.open, SelectionEnd: s.selEnd,
		SelectionWindow: t.SelectionWindow, LastRound: s.lastRound, Configured: s.configured, Step: s.step,
		Over: s.over, Done: s.c.Phase() == PhaseDone}
}

// publish puts the round's current view on the board, if any.
func (s *Service) publish(ctx context.Context) error {
	if s.cfg.Board == nil {
		return nil
	}
	s.mu.Lock()
	v := s.viewLocked()
	s.mu.Unlock()
	if err := s.cfg.Board.Publish(ctx, v); err != nil {
		return fmt.Errorf("fl: publish round: %w", err)
	}
	return nil
}

// CheckIn admits a device whose coin came up (client.Conn.CheckIn).
func (s *Service) CheckIn(attempt uint64, device string) (*client.Seat, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if attempt != s.attempt || !s.open || s.cfg.Board != nil {
		return nil, fmt.Errorf("%w: attempt %d is not selecting here", client.ErrNotSelected, attempt)
	}
	id, err := s.c.CheckIn(device)
	if errors.Is(err, ErrPhase) {
		return nil, fmt.Errorf("%w: %w", client.ErrNotSelected, err)
	}
	if err != nil {
		return nil, err
	}
	var tok [16]byte
	rand.Read(tok[:])
	seat := &client.Seat{Attempt: attempt, ID: id, Token: hex.EncodeToString(tok[:])}
	s.seats[id] = &seatState{device: device, tokenHash: SeatTokenHash(seat.Token)}
	s.byDev[device] = id
	return seat, nil
}

// authLocked checks a seat of the current attempt.
func (s *Service) authLocked(seat *client.Seat) (*seatState, error) {
	if seat == nil || seat.Attempt != s.attempt {
		return nil, client.ErrRoundOver
	}
	st := s.seats[seat.ID]
	if st == nil || subtle.ConstantTimeCompare([]byte(st.tokenHash), []byte(SeatTokenHash(seat.Token))) != 1 {
		return nil, fmt.Errorf("%w: bad seat", ErrDevice)
	}
	if s.over {
		return nil, client.ErrRoundOver
	}
	return st, nil
}

// Configure returns the seat's assignment once selection has closed.
func (s *Service) Configure(seat *client.Seat) (*client.Assignment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.authLocked(seat); err != nil {
		return nil, err
	}
	if !s.configured {
		return nil, client.ErrNotYet
	}
	return s.c.Configure(seat.ID)
}

// Send delivers a seat's marshalled secagg message. The message must be
// the seat's own, of the current attempt and step.
func (s *Service) Send(seat *client.Seat, msg []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.acceptLocked(seat, func() (bool, error) {
		h, err := s.c.deliver(msg, seat.ID)
		return err == nil && h.Step == s.step, err
	})
}

// ReportPlain accepts a seat's plaintext update (simulation only: the
// coordinator refuses it unless the plan enables it).
func (s *Service) ReportPlain(seat *client.Seat, update []float32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.acceptLocked(seat, func() (bool, error) {
		return true, s.c.ReportPlain(seat.ID, update)
	})
}

// acceptLocked takes a seat's message in the open step: it authenticates
// the seat, runs accept (counted as server time) and, when accept says the
// seat has answered the step, stops waiting for it.
func (s *Service) acceptLocked(seat *client.Seat, accept func() (answered bool, err error)) error {
	if _, err := s.authLocked(seat); err != nil {
		return err
	}
	if !s.configured {
		return fmt.Errorf("%w: no step open", ErrPhase)
	}
	t0 := time.Now()
	answered, err := accept()
	s.serverTime += time.Since(t0)
	if err != nil {
		return err
	}
	if answered && s.waiting[seat.ID] {
		delete(s.waiting, seat.ID)
		if len(s.waiting) == 0 {
			s.notifyLocked()
		}
	}
	return nil
}

// Next returns the seat's server message of the current step if that is
// step or later (secure aggregation skips the consistency check unless it
// is on), ErrNotYet before it is ready, ErrRoundOver when the seat has no
// message in it (it dropped out of the round) or the round ended.
func (s *Service) Next(seat *client.Seat, step secagg.Step) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.authLocked(seat); err != nil {
		return nil, err
	}
	if !s.configured || s.step < step || s.step == secagg.StepAdvertiseKeys {
		return nil, client.ErrNotYet
	}
	b, ok := s.outbox[seat.ID]
	if !ok {
		return nil, client.ErrRoundOver
	}
	return b, nil
}

// Leave marks a seat as gone: the steps stop waiting for it.
func (s *Service) Leave(seat *client.Seat) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.authLocked(seat)
	if err != nil {
		return err
	}
	st.gone = true
	if s.waiting[seat.ID] {
		delete(s.waiting, seat.ID)
		if len(s.waiting) == 0 {
			s.notifyLocked()
		}
	}
	return nil
}

// Seated is the number of devices checked in to the round in flight.
func (s *Service) Seated() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seats)
}

// EndSelection closes the current selection window early (a simulator
// whose whole population has been asked).
func (s *Service) EndSelection() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.endSel != nil {
		close(s.endSel)
		s.endSel = nil
	}
}

// RoundStats are measurements of a round attempt.
type RoundStats struct {
	// ServerTime is the wall time spent in the coordinator's own work
	// (receiving and checking messages, secure aggregation's unmasking,
	// aggregation, commit): the server's compute per round.
	ServerTime time.Duration
	// Duration is the attempt's wall time.
	Duration time.Duration
}

// RunRound runs one round attempt to its end. It returns the committed
// round's record, or an error wrapping ErrRoundFailed (nothing applied; the
// next RunRound retries) or ErrBudget.
func (s *Service) RunRound(ctx context.Context) (*RoundRecord, *RoundStats, error) {
	start := s.clk.Now()
	q, until, err := s.c.Begin()
	if errors.Is(err, ErrBudget) {
		// Devices asking through other replicas learn the task is done.
		if perr := s.publish(ctx); perr != nil {
			s.cfg.Log.Warn("fl: publishing the task's end", "task", s.c.Task().Name, "err", perr)
		}
	}
	if err != nil {
		return nil, nil, err
	}
	if s.cfg.OnBegin != nil {
		if err := s.cfg.OnBegin(ctx); err != nil {
			return nil, nil, s.abort(fmt.Errorf("fl: on begin: %w", err))
		}
	}
	endSel := make(chan struct{})
	s.mu.Lock()
	s.attempt, s.round, s.q, s.selEnd, s.open, s.over = s.c.attemptID(), s.c.Rounds()+1, q, until, true, false
	s.seats, s.byDev, s.outbox, s.waiting = map[uint32]*seatState{}, map[string]uint32{}, nil, nil
	s.configured, s.step, s.serverTime, s.endSel = false, secagg.StepAdvertiseKeys, 0, endSel
	s.notifyLocked()
	s.mu.Unlock()

	var rec *RoundRecord
	if err = s.publish(ctx); err != nil {
		err = s.abort(err)
	} else {
		rec, err = s.drive(ctx, until, endSel)
	}

	s.mu.Lock()
	stats := &RoundStats{ServerTime: s.serverTime, Duration: s.clk.Now().Sub(start)}
	s.lastRound = stats.Duration
	s.open, s.over, s.outbox, s.waiting = false, true, nil, nil
	s.notifyLocked()
	s.mu.Unlock()
	if perr := s.publish(ctx); perr != nil && ctx.Err() == nil {
		// Replicas' devices see the attempt end with the next one.
		s.cfg.Log.Warn("fl: publishing the round's end", "task", s.c.Task().Name, "err", perr)
	}
	if rec != nil && s.cfg.OnCommit != nil {
		if cerr := s.cfg.OnCommit(ctx, rec, s.c.Global()); cerr != nil {
			s.cfg.Log.Error("fl: on commit", "task", s.c.Task().Name, "round", rec.Round, "err", cerr)
		}
	}
	return rec, stats, err
}

// drive moves the round through its phases.
func (s *Service) drive(ctx context.Context, until time.Time, endSel chan struct{}) (*RoundRecord, error) {
	select {
	case <-s.clk.After(until.Sub(s.clk.Now())):
	case <-endSel:
	case <-ctx.Done():
		return nil, s.abort(ctx.Err())
	}
	s.mu.Lock()
	s.open = false
	s.mu.Unlock()
	if s.cfg.Board != nil {
		if err := s.seatFromBoard(ctx); err != nil {
			return nil, s.abort(err)
		}
	}
	if err := s.timed(s.c.CloseSelection); err != nil {
		return nil, err
	}
	if err := s.putAssignment(ctx); err != nil {
		return nil, s.abort(err)
	}
	s.mu.Lock()
	s.configured = true
	s.waiting = map[uint32]bool{}
	for id, st := range s.seats {
		if !st.gone {
			s.waiting[id] = true
		}
	}
	s.notifyLocked()
	s.mu.Unlock()
	if err := s.publish(ctx); err != nil {
		return nil, s.abort(err)
	}
	for {
		if err := s.waitStep(ctx); err != nil {
			return nil, s.abort(err)
		}
		// A round past its deadline fails here (Coordinator.Tick).
		if err := s.c.Tick(); err != nil {
			return nil, err
		}
		var rec *RoundRecord
		err := s.timed(func() (err error) { rec, err = s.c.Advance(); return err })
		if err != nil || rec != nil {
			return rec, err
		}
		if err := s.timed(func() error { return s.prepareStep(ctx) }); err != nil {
			return nil, s.abort(err)
		}
	}
}

// timed runs f, counting its time as server time.
func (s *Service) timed(f func() error) error {
	t0 := time.Now()
	err := f()
	s.mu.Lock()
	s.serverTime += time.Since(t0)
	s.mu.Unlock()
	return err
}

// prepareStep marshals the current step's messages to its recipients
// and, with a board, puts them there before the step's view.
func (s *Service) prepareStep(ctx context.Context) error {
	out := map[uint32][]byte{}
	for _, id := range s.c.Recipients() {
		b, err := s.c.MessageFor(id)
		if err != nil {
			return err
		}
		out[id] = b
	}
	step := s.c.secaggStep()
	if s.cfg.Board != nil {
		if err := s.cfg.Board.PutMessages(ctx, s.c.attemptID(), int(step), out); err != nil {
			return fmt.Errorf("fl: publish step %d: %w", step, err)
		}
	}
	s.mu.Lock()
	s.step, s.outbox = step, out
	s.waiting = map[uint32]bool{}
	for id := range out {
		if st := s.seats[id]; st != nil && !st.gone {
			s.waiting[id] = true
		}
	}
	s.notifyLocked()
	s.mu.Unlock()
	return s.publish(ctx)
}

// waitStep waits until every expected device answered the step or it
// times out.
func (s *Service) waitStep(ctx context.Context) error {
	timeout := s.clk.After(s.cfg.StepTimeout)
	var poll <-chan time.Time // devices leaving through the board
	if s.cfg.Board != nil {
		t := time.NewTicker(boardPoll)
		defer t.Stop()
		poll = t.C
	}
	for {
		s.mu.Lock()
		done, ch := len(s.waiting) == 0, s.changed
		s.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-poll:
			s.leftOnBoard(ctx)
		case <-timeout:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// abort fails the round in flight because the service stops.
func (s *Service) abort(cause error) error {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	if s.c.st.Phase == PhaseIdle || s.c.st.Phase == PhaseDone {
		return cause
	}
	return errors.Join(cause, s.c.failLocked("service stopped: "+cause.Error()))
}

// boardPoll is how often a step waiting for devices looks for the ones
// that left through the board.
const boardPoll = 200 * time.Millisecond

// seatFromBoard closes the attempt's selection on the board and seats the
// devices checked in there, in the order the board numbered them (their
// ids in the round).
func (s *Service) seatFromBoard(ctx context.Context) error {
	attempt := s.c.attemptID()
	seats, err := s.cfg.Board.CloseSelection(ctx, attempt)
	if err != nil {
		return fmt.Errorf("fl: close selection: %w", err)
	}
	// s.mu before c.mu, as the device calls take them.
	s.mu.Lock()
	defer s.mu.Unlock()
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	if s.c.st.Phase != PhaseSelection || s.c.st.Attempts != attempt {
		return fmt.Errorf("%w: seating attempt %d in %s", ErrPhase, attempt, s.c.st.Phase)
	}
	for _, st := range seats {
		if _, dup := s.c.devices[st.Device]; dup || st.ID != uint32(len(s.c.ids)+1) {
			return fmt.Errorf("fl: the board's seat %d (%s) is out of order or repeated", st.ID, st.Device)
		}
		s.c.devices[st.Device] = st.ID
		s.c.ids = append(s.c.ids, st.ID)
		s.seats[st.ID] = &seatState{device: st.Device, tokenHash: st.TokenHash, gone: st.Gone}
		s.byDev[st.Device] = st.ID
	}
	return nil
}

// putAssignment puts the attempt's assignment on the board (with ID 0:
// the replicas set each seat's).
func (s *Service) putAssignment(ctx context.Context) error {
	if s.cfg.Board == nil {
		return nil
	}
	s.c.mu.Lock()
	var first uint32
	if len(s.c.ids) > 0 {
		first = s.c.ids[0]
	}
	s.c.mu.Unlock()
	a, err := s.c.Configure(first)
	if err != nil {
		return err
	}
	a.ID = 0
	b, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("fl: assignment: %w", err)
	}
	if err := s.cfg.Board.PutMessages(ctx, a.Attempt, AssignmentStep, map[uint32][]byte{0: b}); err != nil {
		return fmt.Errorf("fl: publish assignment: %w", err)
	}
	return nil
}

// leftOnBoard stops waiting for the seats whose devices left through the
// board.
func (s *Service) leftOnBoard(ctx context.Context) {
	gone, err := s.cfg.Board.Gone(ctx, s.c.attemptID())
	if err != nil {
		s.cfg.Log.Warn("fl: reading devices that left", "task", s.c.Task().Name, "err", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := false
	for _, id := range gone {
		if st := s.seats[id]; st != nil && !st.gone {
			st.gone = true
		}
		if s.waiting[id] {
			delete(s.waiting, id)
			changed = true
		}
	}
	if changed && len(s.waiting) == 0 {
		s.notifyLocked()
	}
}
