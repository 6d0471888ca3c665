package fl

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"hash/fnv"
	"time"

	"github.com/sextant-ml/sextant/fl/client"
	"github.com/sextant-ml/sextant/secagg"
)

// Board shares a Service's round with server replicas that do not run it,
// so that any replica answers the task's devices (server side: package
// server keeps it in the store). A service with a board (ServiceConfig.
// Board) publishes its round there at every change — the view, then each
// secure-aggregation step's messages to the seats before the step's view —
// and takes its devices from it: devices check in and leave through the
// board, whichever replica they reach; the service closes the selection
// on the board and seats the devices checked in by then. The service alone
// decides: a replica answering devices only reads what it published.
// Every method's context carries the leader's lease fence, so a deposed
// leader's publication is refused and its round fails.
type Board interface {
	// Publish makes v the task's round.
	Publish(ctx context.Context, v *View) error
	// CloseSelection stops the attempt's check-ins and returns its seats
	// in id order (ids 1, 2, …, n).
	CloseSelection(ctx context.Context, attempt uint64) ([]BoardSeat, error)
	// PutMessages stores the service's messages of a step of the attempt
	// for each seat (AssignmentStep, seat 0: the assignment).
	PutMessages(ctx context.Context, attempt uint64, step int, msgs map[uint32][]byte) error
	// Gone lists the attempt's seats whose devices left. The service polls
	// it while a step waits, so it should read only those seats.
	Gone(ctx context.Context, attempt uint64) ([]uint32, error)
}

// AssignmentStep is the step under which a board keeps an attempt's
// assignment (client.Assignment, JSON, with ID 0: every seat's but for its
// id), for seat 0.
const AssignmentStep = 255

// BoardSeat is a device checked in through a board.
type BoardSeat struct {
	ID     uint32
	Device string
	// TokenHash is SeatTokenHash of the seat's token.
	TokenHash string
	Gone      bool
}

// SeatTokenHash is what is kept of a seat's token: its SHA-256, hex.
func SeatTokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// View is a task's round as a Service publishes it on a Board.
type View struct {
	Task    string  `json:"task"`
	Round   int     `json:"round"`
	Attempt uint64  `json:"attempt"`
	Q       float64 `json:"q"`
	// Open: selection is open until SelectionEnd.
	Open         bool      `json:"open"`
	SelectionEnd time.Time `json:"selection_end"`
	// SelectionWindow is the task's; LastRound how long the last attempt
	// took (pace steering).
	SelectionWindow time.Duration `json:"selection_window"`
	LastRound       time.Duration `json:"last_round"`
	// Configured: selection closed and the assignment is on the board;
	// Step is the secure-aggregation step whose messages are on it.
	Configured bool        `json:"configured"`
	Step       secagg.Step `json:"step"`
	// Over: the attempt ended; Done: the task ended (budget spent).
	Over bool `json:"over"`
	Done bool `json:"done"`
}

// Status answers a device asking about the task at now
// (client.Conn.Status), as the service publishing v would.
func (v *View) Status(device string, now time.Time) *client.Status {
	return &client.Status{Task: v.Task, Round: v.Round, Attempt: v.Attempt, Q: v.Q, Done: v.Done,
		Open:    v.Open && now.Before(v.SelectionEnd),
		RetryAt: retryAt(device, now, v.Attempt != 0 && !v.Over, v.SelectionEnd, v.SelectionWindow, v.LastRound)}
}

// Ready says whether the view has a seat's message of step (Service.Next's
// rule): not before the step, and never in key advertisement.
func (v *View) Ready(step secagg.Step) bool {
	return v.Configured && !v.Over && v.Step >= step && v.Step != secagg.StepAdvertiseKeys
}

// retryAt is pace steering: a device not in the current round comes back
// during the next round's expected selection window, at an offset fixed
// by its name so the population spreads evenly over the window instead of
// arriving at once (Bonawitz et al. 2019, §2.3). inFlight says a round
// attempt is running, its selection ending at selEnd.
func retryAt(device string, now time.Time, inFlight bool, selEnd time.Time, window, lastRound time.Duration) time.Time {
	next := now
	if inFlight {
		// The round in flight ends about when the last one took.
		elapsed := time.Duration(0)
		if !selEnd.IsZero() {
			elapsed = now.Sub(selEnd.Add(-window))
		}
		next = now.Add(max(lastRound-elapsed, window-elapsed, 0))
	}
	h := fnv.New64a()
	h.Write([]byte(device))
	return next.Add(time.Duration(h.Sum64() % uint64(max(window, time.Millisecond))))
}
