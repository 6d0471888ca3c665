package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/fl"
	"github.com/sextant-ml/sextant/fl/client"
	"github.com/sextant-ml/sextant/store"
)

// staleBoard is a board whose round is at attempt 8 with one seat (device
// "d", token "tok"); what it does not answer panics.
type staleBoard struct {
	FLBoard
	seated bool // the seat of attempt 8 is on the board
}

func (b staleBoard) GetFLRound(context.Context, string) (store.FLRound, bool, error) {
	v, _ := json.Marshal(fl.View{Task: "t", Round: 2, Attempt: 8, Configured: true})
	return store.FLRound{Task: "t", Attempt: 8, View: v}, true, nil
}

func (b staleBoard) GetFLSeat(_ context.Context, _ string, attempt uint64, id uint32) (store.FLSeat, bool, error) {
	if !b.seated || attempt != 8 || id != 1 {
		return store.FLSeat{}, false, nil
	}
	return store.FLSeat{ID: 1, Device: "d", TokenHash: fl.SeatTokenHash("tok")}, true, nil
}

func (b staleBoard) GetFLMessage(_ context.Context, _ string, attempt uint64, step int, seat uint32) ([]byte, bool, error) {
	if attempt != 8 || step != fl.AssignmentStep || seat != 0 {
		return nil, false, nil
	}
	a, _ := json.Marshal(client.Assignment{Round: 2, Attempt: 8, Global: []float32{1}})
	return a, true, nil
}

// staleTask is a replica's copy of a round at attempt 7 (over), read just
// before the leader published attempt 8; it stays fresh while the test
// runs.
func staleTask(b FLBoard) *sharedTask {
	return &sharedTask{board: b, name: "t", ok: true, at: time.Now().Add(time.Hour),
		view: fl.View{Task: "t", Round: 2, Attempt: 7, Configured: true, Over: true}}
}

// TestFLBoardStaleCopy: a replica's copy of the round may be up to
// boardView behind the board. A seat of the attempt the leader replaced is
// told the round is over (410), not that it is a bad seat (403, an error
// to the device), even while the copy still shows its attempt; and a seat
// of the attempt just published is not told its round is over because the
// copy predates it.
func TestFLBoardStaleCopy(t *testing.T) {
	st := staleTask(staleBoard{})
	old := &client.Seat{Attempt: 7, ID: 1, Token: "tok"}
	if err := st.auth(t.Context(), old, "d"); !errors.Is(err, client.ErrRoundOver) {
		t.Fatalf("a replaced attempt's seat, the copy showing its attempt: %v, want the round over", err)
	}

	st = staleTask(staleBoard{seated: true})
	configure := func() (*httptest.ResponseRecorder, error) {
		ctx, cancel := context.WithTimeout(t.Context(), 3*boardView)
		defer cancel()
		req := httptest.NewRequestWithContext(ctx, "POST", "/v1/devices/d/fl/t/configure", nil)
		req.Header.Set(seatHeader, "8/1/tok")
		w := httptest.NewRecorder()
		return w, (&Server{}).flBoardConfigure(w, req, st, "d")
	}
	if _, err := configure(); errors.Is(err, client.ErrRoundOver) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("configure of attempt 8 on a copy of attempt 7: %v, want it to wait for the round", err)
	}
	st.mu.Lock()
	st.at = time.Time{} // the copy ages out
	st.mu.Unlock()
	w, err := configure()
	var a client.Assignment
	if err != nil || w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &a) != nil || a.ID != 1 || a.Attempt != 8 {
		t.Fatalf("configure once the copy is read again: %d %s %v", w.Code, w.Body, err)
	}
}

// countingBoard counts the reads of the assignment, each taking a while.
type countingBoard struct {
	staleBoard
	reads *atomic.Int32
}

func (b countingBoard) GetFLMessage(ctx context.Context, task string, attempt uint64, step int, seat uint32) ([]byte, bool, error) {
	b.reads.Add(1)
	time.Sleep(20 * time.Millisecond)
	return b.staleBoard.GetFLMessage(ctx, task, attempt, step, seat)
}

// TestFLBoardAssignmentOnce: the devices waiting to be configured wake
// together when the round is; the replica reads the attempt's assignment
// (which holds the model) from the board once, not once per device.
func TestFLBoardAssignmentOnce(t *testing.T) {
	var reads atomic.Int32
	st := &sharedTask{board: countingBoard{reads: &reads}, name: "t"}
	var wg sync.WaitGroup
	for id := range uint32(16) {
		wg.Go(func() {
			a, err := st.assignment(t.Context(), 8, id+1)
			if err != nil || a.ID != id+1 || a.Attempt != 8 {
				t.Errorf("assignment of seat %d: %+v %v", id+1, a, err)
			}
		})
	}
	wg.Wait()
	if n := reads.Load(); n != 1 {
		t.Fatalf("16 devices configured at once read the assignment %d times, want once", n)
	}
}
