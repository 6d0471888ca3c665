package client

import (
	"context"
	"errors"
	"time"

	"github.com/sextant-ml/sextant/secagg"
)

// Errors a Conn returns that the participant branches on (wrapped; test with
// errors.Is).
var (
	// ErrNotYet: the coordinator has nothing for the device yet (selection
	// still open, or the step's message not ready); ask again shortly.
	ErrNotYet = errors.New("fl: not yet")
	// ErrRoundOver: the round ended (committed or failed) without the
	// device; it stops and comes back later.
	ErrRoundOver = errors.New("fl: round over")
	// ErrNotSelected: the check-in was refused (selection closed, or the
	// attempt is not the current one).
	ErrNotSelected = errors.New("fl: not selected")
)

// Status is the coordinator's answer to a device asking about a task.
type Status struct {
	Task string `json:"task"`
	// Round is the round being run (committed rounds + 1); Attempt the
	// round attempt's id (the secagg round id).
	Round   int    `json:"round"`
	Attempt uint64 `json:"attempt"`
	// Open: selection is open; an eligible device flips its own coin with
	// probability Q (Join) and, if it comes up, checks in.
	Open bool    `json:"open"`
	Q    float64 `json:"q"`
	// RetryAt is pace steering (Bonawitz et al. 2019, §2.3): when a device
	// that does not take part in the current round should ask again. The
	// coordinator spreads devices over the next selection window so they do
	// not come back all at once.
	RetryAt time.Time `json:"retry_at"`
	// Done: the task has ended (its privacy budget is spent).
	Done bool `json:"done,omitempty"`
}

// Seat is a device's place in a round: its secagg id and the token that
// authenticates its later calls (so no device can speak for another).
type Seat struct {
	Attempt uint64 `json:"attempt"`
	ID      uint32 `json:"id"`
	Token   string `json:"token"`
}

// Assignment is what a device that checked in receives in configuration.
type Assignment struct {
	Round   int    `json:"round"`
	Attempt uint64 `json:"attempt"`
	// ID is the device's id in the round (its secagg id).
	ID     uint32    `json:"id"`
	Plan   Plan      `json:"plan"`
	Global []float32 `json:"global"`
	// SecAgg is nil in plaintext simulation mode.
	SecAgg *secagg.Params `json:"secagg,omitempty"`
	// NoiseUnits, when positive, is distributed DP (Kairouz et al. 2021):
	// the standard deviation, in fixed-point units of SecAgg.Encoding, of
	// the discrete Gaussian noise the device adds to its encoded update
	// before masking, so that no party ever sees an un-noised sum.
	NoiseUnits float64 `json:"noise_units,omitempty"`
}

// Conn is the device's connection to a coordinator. The in-process
// simulator implements it directly on the coordinator's service; devices
// reach a real server through a transport.Poster (NewHTTPConn). Calls that
// would have to wait return ErrNotYet; the participant asks again.
type Conn interface {
	// Status describes the task's current round for device.
	Status(ctx context.Context, task, device string) (*Status, error)
	// CheckIn joins the selection of round attempt after the device's coin
	// came up.
	CheckIn(ctx context.Context, task string, attempt uint64, device string) (*Seat, error)
	// Configure returns the seat's assignment once selection has closed.
	Configure(ctx context.Context, task string, seat *Seat) (*Assignment, error)
	// Send delivers a marshalled secagg message from the seat.
	Send(ctx context.Context, task string, seat *Seat, msg []byte) error
	// Next returns the server's marshalled message of step for the seat.
	Next(ctx context.Context, task string, seat *Seat, step secagg.Step) ([]byte, error)
	// ReportPlain sends the update in the clear: only simulations whose
	// plan enables PlaintextForSimulation (a network connection refuses).
	ReportPlain(ctx context.Context, task string, seat *Seat, update []float32) error
	// Leave tells the coordinator the device drops out of the round (it
	// stops charging, loses its network): the round stops waiting for it.
	Leave(ctx context.Context, task string, seat *Seat) error
}
