package server

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/sextant-ml/sextant/fl"
	"github.com/sextant-ml/sextant/fl/client"
	"github.com/sextant-ml/sextant/store"
)

// FLBoard is where the federated tasks' rounds are shared between
// replicas (store.DB implements it on SQLite and PostgreSQL): the leader
// publishes each round and its steps' messages there (fenced by its
// lease), and every replica answers the devices from it: status, check-in
// (the board numbers the seats), configuration, the steps' messages and
// leaving. Uploads go through JetStream (FLUploads). No replica but the
// leader holds anything of a round, so a device may reach any replica
// for any call, and a replica that dies loses nothing.
type FLBoard interface {
	PublishFLRound(ctx context.Context, r store.FLRound) error
	GetFLRound(ctx context.Context, task string) (store.FLRound, bool, error)
	CheckInFL(ctx context.Context, task string, attempt uint64, device, tokenHash string, now time.Time) (uint32, error)
	CloseFLSelection(ctx context.Context, task string, attempt uint64) ([]store.FLSeat, error)
	FLGoneSeats(ctx context.Context, task string, attempt uint64) ([]uint32, error)
	GetFLSeat(ctx context.Context, task string, attempt uint64, id uint32) (store.FLSeat, bool, error)
	LeaveFL(ctx context.Context, task string, attempt uint64, id uint32) error
	PutFLMessages(ctx context.Context, task string, attempt uint64, step int, msgs map[uint32][]byte) error
	GetFLMessage(ctx context.Context, task string, attempt uint64, step int, seat uint32) ([]byte, bool, error)
}

// boardView is how long a replica answers from the round it last read
// before reading it again; long polls read it at this pace.
const boardView = 100 * time.Millisecond

// ShareFL makes this replica answer the devices of tasks from board, and
// LeadFL publish the tasks' rounds there. Every replica calls it before
// serving, with the same tasks.
func (s *Server) ShareFL(board FLBoard, tasks []string) {
	t := s.flTasks()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.board = board
	t.shared = map[string]*sharedTask{}
	for _, name := range tasks {
		t.shared[name] = &sharedTask{board: board, name: name}
	}
}

func (t *flTasks) sharedTask(name string) *sharedTask {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.shared[name]
}

func (t *flTasks) flBoard() FLBoard {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.board
}

// sharedTask is one task's round as this replica last read it.
type sharedTask struct {
	board FLBoard
	name  string

	mu   sync.Mutex
	at   time.Time // when round was read
	ok   bool      // a round is published
	view fl.View
	// The current attempt's assignment (it does not change in an attempt),
	// read by one request at a time under asgMu: every device waiting to
	// be configured wakes at once, and the assignment holds the model.
	asgMu      sync.Mutex
	asgAttempt uint64
	asg        *client.Assignment
}

// round returns the published round, read again when older than boardView.
func (st *sharedTask) round(ctx context.Context) (fl.View, bool, error) {
	return st.roundWithin(ctx, boardView)
}

// roundWithin returns the published round, read again when older than
// maxAge (0: read it now).
func (st *sharedTask) roundWithin(ctx context.Context, maxAge time.Duration) (fl.View, bool, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if maxAge > 0 && time.Since(st.at) < maxAge {
		return st.view, st.ok, nil
	}
	r, ok, err := st.board.GetFLRound(ctx, st.name)
	if err != nil {
		return fl.View{}, false, err
	}
	var v fl.View
	if ok {
		if err := json.Unmarshal(r.View, &v); err != nil {
			return fl.View{}, false, fmt.Errorf("server: fl %s: round view: %w", st.name, err)
		}
		// The board's row is the truth of what is open (the leader closes
		// selection there before it publishes the next view).
		v.Open = v.Open && r.Open
	}
	st.view, st.ok, st.at = v, ok, time.Now()
	return v, ok, nil
}

// assignment returns the attempt's assignment for seat id.
func (st *sharedTask) assignment(ctx context.Context, attempt uint64, id uint32) (*client.Assignment, error) {
	st.asgMu.Lock()
	defer st.asgMu.Unlock()
	a := st.asg
	if st.asgAttempt != attempt {
		a = nil
	}
	if a == nil {
		b, ok, err := st.board.GetFLMessage(ctx, st.name, attempt, fl.AssignmentStep, 0)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, client.ErrRoundOver // the attempt was replaced
		}
		a = new(client.Assignment)
		if err := json.Unmarshal(b, a); err != nil {
			return nil, fmt.Errorf("server: fl %s: assignment: %w", st.name, err)
		}
		st.asg, st.asgAttempt = a, attempt
	}
	c := *a
	c.ID = id
	return &c, nil
}

// auth checks that seat is dev's in the attempt it names.
func (st *sharedTask) auth(ctx context.Context, seat *client.Seat, dev string) error {
	got, ok, err := st.board.GetFLSeat(ctx, st.name, seat.Attempt, seat.ID)
	if err != nil {
		return err
	}
	if !ok {
		// Not on the board: another attempt's (the board keeps only the
		// current one's), or never handed out. The round is read afresh:
		// the copy may predate the attempt that deleted the seat.
		v, published, err := st.roundWithin(ctx, 0)
		if err != nil {
			return err
		}
		if published && v.Attempt != seat.Attempt {
			return client.ErrRoundOver
		}
		return fmt.Errorf("%w: bad seat", fl.ErrDevice)
	}
	if got.Device != dev || subtle.ConstantTimeCompare([]byte(got.TokenHash), []byte(fl.SeatTokenHash(seat.Token))) != 1 {
		return fmt.Errorf("%w: bad seat", fl.ErrDevice)
	}
	return nil
}

// poll retries f on the round read at boardView's pace while it answers
// ErrNotYet, until flLongPoll passes; ok is false when nothing came. The
// seat of attempt was found on the board, so a round of an earlier attempt
// is this replica's copy from before the seat's attempt was published:
// f is not asked about it (it would call the seat's round over).
func (st *sharedTask) poll(ctx context.Context, attempt uint64, f func(v fl.View) ([]byte, error)) (b []byte, ok bool, err error) {
	deadline := time.Now().Add(flLongPoll)
	for {
		v, published, err := st.round(ctx)
		if err != nil {
			return nil, false, err
		}
		if published && v.Attempt >= attempt {
			b, err = f(v)
			if !errors.Is(err, client.ErrNotYet) {
				return b, err == nil, err
			}
		}
		if time.Now().After(deadline) {
			return nil, false, nil
		}
		t := time.NewTimer(boardView)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, false, ctx.Err()
		}
	}
}

// flRoute answers a device call from the board when the task is shared
// (board), else from the task's service on this replica (local).
func (s *Server) flRoute(local func(http.ResponseWriter, *http.Request, *fl.Service, string) error,
	board func(http.ResponseWriter, *http.Request, *sharedTask, string) error) http.Handler {
	direct := s.flDevice(local)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := s.flTasks().sharedTask(r.PathValue("task"))
		if st == nil {
			direct.ServeHTTP(w, r)
			return
		}
		d, err := s.pathDevice(r)
		if err == nil {
			if ok, wait := s.flLimit.allow(d.id); !ok {
				err = rateLimited(wait)
			} else {
				err = board(w, r, st, d.id)
			}
		}
		if err != nil {
			s.writeFLError(w, r, err)
		}
	})
}

// flNoRound is when a device asking about a task no leader has opened a
// round of yet is told to come back.
const flNoRound = 10 * time.Second

func (s *Server) flBoardStatus(w http.ResponseWriter, r *http.Request, st *sharedTask, dev string) error {
	v, ok, err := st.round(r.Context())
	if err != nil {
		return err
	}
	now := s.clk.Now()
	if !ok {
		writeJSON(w, http.StatusOK, &client.Status{Task: st.name, RetryAt: now.Add(flNoRound)})
		return nil
	}
	writeJSON(w, http.StatusOK, v.Status(dev, now))
	return nil
}

func (s *Server) flBoardCheckIn(w http.ResponseWriter, r *http.Request, st *sharedTask, dev string) error {
	var req struct {
		Attempt uint64 `json:"attempt"`
	}
	if err := readJSON(w, r, maxJSONBody, &req); err != nil {
		return err
	}
	var tok [16]byte
	rand.Read(tok[:])
	token := hex.EncodeToString(tok[:])
	id, err := st.board.CheckInFL(r.Context(), st.name, req.Attempt, dev, fl.SeatTokenHash(token), s.clk.Now())
	switch {
	case errors.Is(err, store.ErrNotSelecting):
		return fmt.Errorf("%w: %w", client.ErrNotSelected, err)
	case errors.Is(err, store.ErrSeated):
		return fmt.Errorf("%w: %w", fl.ErrDevice, err)
	case err != nil:
		return err
	}
	writeJSON(w, http.StatusOK, &client.Seat{Attempt: req.Attempt, ID: id, Token: token})
	return nil
}

func (s *Server) flBoardConfigure(w http.ResponseWriter, r *http.Request, st *sharedTask, dev string) error {
	seat, err := seatOf(r)
	if err != nil {
		return err
	}
	if err := st.auth(r.Context(), seat, dev); err != nil {
		return err
	}
	b, ok, err := st.poll(r.Context(), seat.Attempt, func(v fl.View) ([]byte, error) {
		switch {
		case v.Attempt != seat.Attempt || v.Over:
			return nil, client.ErrRoundOver
		case !v.Configured:
			return nil, client.ErrNotYet
		}
		a, err := st.assignment(r.Context(), seat.Attempt, seat.ID)
		if err != nil {
			return nil, err
		}
		return json.Marshal(a)
	})
	if err != nil {
		return err
	}
	return writePolled(w, b, ok, "application/json")
}

func (s *Server) flBoardNext(w http.ResponseWriter, r *http.Request, st *sharedTask, dev string) error {
	seat, err := seatOf(r)
	if err != nil {
		return err
	}
	step, err := stepOf(r)
	if err != nil {
		return err
	}
	if err := st.auth(r.Context(), seat, dev); err != nil {
		return err
	}
	b, ok, err := st.poll(r.Context(), seat.Attempt, func(v fl.View) ([]byte, error) {
		switch {
		case v.Attempt != seat.Attempt || v.Over:
			return nil, client.ErrRoundOver
		case !v.Ready(step):
			return nil, client.ErrNotYet
		}
		b, ok, err := st.board.GetFLMessage(r.Context(), st.name, seat.Attempt, int(v.Step), seat.ID)
		if err == nil && !ok {
			err = client.ErrRoundOver // the seat dropped out of the round
		}
		return b, err
	})
	if err != nil {
		return err
	}
	return writePolled(w, b, ok, "application/octet-stream")
}

func (s *Server) flBoardLeave(w http.ResponseWriter, r *http.Request, st *sharedTask, dev string) error {
	seat, err := seatOf(r)
	if err != nil {
		return err
	}
	err = st.auth(r.Context(), seat, dev)
	if err == nil {
		err = st.board.LeaveFL(r.Context(), st.name, seat.Attempt, seat.ID)
	}
	if err != nil && !errors.Is(err, client.ErrRoundOver) {
		return fmt.Errorf("fl leave: %w", err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// taskBoard is fl.Board for one task on an FLBoard (LeadFL's).
type taskBoard struct {
	b    FLBoard
	task string
}

func (tb taskBoard) Publish(ctx context.Context, v *fl.View) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return tb.b.PublishFLRound(ctx, store.FLRound{Task: tb.task, Attempt: v.Attempt, Open: v.Open, SelectionEnd: v.SelectionEnd, View: b})
}

func (tb taskBoard) CloseSelection(ctx context.Context, attempt uint64) ([]fl.BoardSeat, error) {
	seats, err := tb.b.CloseFLSelection(ctx, tb.task, attempt)
	if err != nil {
		return nil, err
	}
	out := make([]fl.BoardSeat, len(seats))
	for i, s := range seats {
		out[i] = fl.BoardSeat{ID: s.ID, Device: s.Device, TokenHash: s.TokenHash, Gone: s.Gone}
	}
	return out, nil
}

func (tb taskBoard) PutMessages(ctx context.Context, attempt uint64, step int, msgs map[uint32][]byte) error {
	return tb.b.PutFLMessages(ctx, tb.task, attempt, step, msgs)
}

// Gone reads only the seats that left: the leader polls it while a step
// waits.
func (tb taskBoard) Gone(ctx context.Context, attempt uint64) ([]uint32, error) {
	return tb.b.FLGoneSeats(ctx, tb.task, attempt)
}
