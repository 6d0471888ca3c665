package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/fl"
	"github.com/sextant-ml/sextant/fl/client"
	"github.com/sextant-ml/sextant/secagg"
)

// The device-facing federated-learning endpoints. Every call is a device's,
// under its device credential (the {id} in the path is the enrolled device;
// it is the device's check-in identity, so no device can join a round or
// speak as another). A round's later calls also carry the seat the check-in
// returned (header Sextant-FL-Seat: attempt/id/token).
//
//	GET  /v1/devices/{id}/fl/{task}                 → client.Status (pace steering: retry_at)
//	POST /v1/devices/{id}/fl/{task}/checkin         {"attempt": n} → client.Seat
//	POST /v1/devices/{id}/fl/{task}/configure       → client.Assignment | 204 not yet
//	POST /v1/devices/{id}/fl/{task}/messages        secagg message (octet-stream) → 204
//	GET  /v1/devices/{id}/fl/{task}/messages/{step} → secagg message | 204 not yet
//	POST /v1/devices/{id}/fl/{task}/leave           → 204
//
// "Not yet" answers come after a long poll (flLongPoll); a round that ended
// without the device answers 410 Gone. Plaintext updates have no endpoint.

// flLongPoll is how long configure and messages/{step} wait for the round
// to move before answering 204: well under the default shutdown timeout, so
// a graceful shutdown never waits on a long poll.
const flLongPoll = 5 * time.Second

// seatHeader carries a device's seat in a round.
const seatHeader = "Sextant-FL-Seat"

// flTasks holds the federated tasks the server runs.
type flTasks struct {
	mu      sync.RWMutex
	tasks   map[string]*fl.Service
	uploads *flUploadQueue // nil: uploads go to the local task (fl_uploads.go)
	// board, when set, shares the tasks in shared between replicas
	// (fl_board.go): every replica answers their devices from it.
	board  FLBoard
	shared map[string]*sharedTask
}

func (s *Server) flTasks() *flTasks {
	s.flOnce.Do(func() { s.fl = &flTasks{tasks: map[string]*fl.Service{}} })
	return s.fl
}

// ServeFL makes the server answer devices for svc's task. The caller runs
// the task's rounds (svc.RunRound).
func (s *Server) ServeFL(svc *fl.Service) {
	t := s.flTasks()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.tasks[svc.Coordinator().Task().Name] = svc
}

// StopFL stops answering devices for svc's task (a replica that no longer
// leads); another service registered for the task since is left alone.
func (s *Server) StopFL(svc *fl.Service) {
	t := s.flTasks()
	t.mu.Lock()
	defer t.mu.Unlock()
	name := svc.Coordinator().Task().Name
	if t.tasks[name] == svc {
		delete(t.tasks, name)
	}
}

func (s *Server) flService(r *http.Request) (*fl.Service, error) {
	t := s.flTasks()
	t.mu.RLock()
	defer t.mu.RUnlock()
	svc := t.tasks[r.PathValue("task")]
	if svc == nil {
		return nil, delivery.Errorf(delivery.ErrNotFound, "no federated task %q", r.PathValue("task"))
	}
	return svc, nil
}

// flDevice authenticates a device like device() and rate-limits it per
// device by Config.FLRate, a bucket apart from its check-ins' (like
// /v1/infer's): a round takes a dozen calls in a burst, and its waits are
// long polls, not repeated calls.
func (s *Server) flDevice(h func(http.ResponseWriter, *http.Request, *fl.Service, string) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, err := s.pathDevice(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if ok, wait := s.flLimit.allow(d.id); !ok {
			s.writeError(w, r, rateLimited(wait))
			return
		}
		svc, err := s.flService(r)
		if err == nil {
			err = h(w, r, svc, d.id)
		}
		if err != nil {
			s.writeFLError(w, r, err)
		}
	})
}

// writeFLError maps the protocol's errors to statuses.
func (s *Server) writeFLError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, client.ErrRoundOver):
		writeJSON(w, http.StatusGone, errorBody{Code: "round_over", Message: "the round ended without this device"})
	case errors.Is(err, client.ErrNotSelected), errors.Is(err, fl.ErrPhase):
		writeJSON(w, http.StatusConflict, errorBody{Code: "conflict", Message: err.Error()})
	case errors.Is(err, fl.ErrDevice):
		s.writeError(w, r, delivery.Errorf(delivery.ErrForbidden, "%v", err))
	case errors.Is(err, secagg.ErrMalformed), errors.Is(err, secagg.ErrReplay), errors.Is(err, secagg.ErrWrongStep),
		errors.Is(err, secagg.ErrWrongRound), errors.Is(err, secagg.ErrUnknownSender):
		s.writeError(w, r, delivery.Errorf(delivery.ErrInvalid, "%v", err))
	default:
		s.writeError(w, r, err)
	}
}

func (s *Server) flStatus(w http.ResponseWriter, r *http.Request, svc *fl.Service, dev string) error {
	writeJSON(w, http.StatusOK, svc.Status(dev))
	return nil
}

func (s *Server) flCheckIn(w http.ResponseWriter, r *http.Request, svc *fl.Service, dev string) error {
	var req struct {
		Attempt uint64 `json:"attempt"`
	}
	if err := readJSON(w, r, maxJSONBody, &req); err != nil {
		return err
	}
	seat, err := svc.CheckIn(req.Attempt, dev)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, seat)
	return nil
}

// seatOf parses the seat header.
func seatOf(r *http.Request) (*client.Seat, error) {
	parts := strings.Split(r.Header.Get(seatHeader), "/")
	if len(parts) != 3 || len(parts[2]) > 64 {
		return nil, delivery.Errorf(delivery.ErrInvalid, "missing or malformed %s header", seatHeader)
	}
	a, err1 := strconv.ParseUint(parts[0], 10, 64)
	id, err2 := strconv.ParseUint(parts[1], 10, 32)
	if err1 != nil || err2 != nil {
		return nil, delivery.Errorf(delivery.ErrInvalid, "malformed %s header", seatHeader)
	}
	return &client.Seat{Attempt: a, ID: uint32(id), Token: parts[2]}, nil
}

// longPoll retries f while it answers ErrNotYet, until the round changes
// or flLongPoll passes; ok is false when nothing came.
func longPoll[T any](ctx context.Context, svc *fl.Service, f func() (T, error)) (v T, ok bool, err error) {
	timeout := time.NewTimer(flLongPoll)
	defer timeout.Stop()
	for {
		ch := svc.Changed()
		v, err = f()
		if !errors.Is(err, client.ErrNotYet) {
			return v, err == nil, err
		}
		select {
		case <-ch:
		case <-timeout.C:
			return v, false, nil
		case <-ctx.Done():
			return v, false, ctx.Err()
		}
	}
}

func (s *Server) flConfigure(w http.ResponseWriter, r *http.Request, svc *fl.Service, _ string) error {
	seat, err := seatOf(r)
	if err != nil {
		return err
	}
	a, ok, err := longPoll(r.Context(), svc, func() (*client.Assignment, error) { return svc.Configure(seat) })
	if err != nil {
		return err
	}
	if !ok {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

func (s *Server) flSend(w http.ResponseWriter, r *http.Request, svc *fl.Service, _ string) error {
	seat, err := seatOf(r)
	if err != nil {
		return err
	}
	lim := svc.Coordinator().Limits()
	max := int64(4096 + 4*int64(lim.MaxVector) + 128*int64(lim.MaxPeers))
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		return err
	}
	if err := svc.Send(seat, b); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) flNext(w http.ResponseWriter, r *http.Request, svc *fl.Service, _ string) error {
	seat, err := seatOf(r)
	if err != nil {
		return err
	}
	step, err := stepOf(r)
	if err != nil {
		return err
	}
	b, ok, err := longPoll(r.Context(), svc, func() ([]byte, error) { return svc.Next(seat, step) })
	if err != nil {
		return err
	}
	return writePolled(w, b, ok, "application/octet-stream")
}

func (s *Server) flLeave(w http.ResponseWriter, r *http.Request, svc *fl.Service, _ string) error {
	seat, err := seatOf(r)
	if err != nil {
		return err
	}
	if err := svc.Leave(seat); err != nil && !errors.Is(err, client.ErrRoundOver) {
		return fmt.Errorf("fl leave: %w", err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// stepOf is the SecAgg step a request's {step} path value names.
func stepOf(r *http.Request) (secagg.Step, error) {
	step, err := strconv.ParseUint(r.PathValue("step"), 10, 8)
	if err != nil || step > uint64(secagg.StepUnmask) {
		return 0, delivery.Errorf(delivery.ErrInvalid, "no step %q", r.PathValue("step"))
	}
	return secagg.Step(step), nil
}

// writePolled answers a long poll: 204 No Content when it ended with
// nothing to say (ok false), else b as contentType.
func writePolled(w http.ResponseWriter, b []byte, ok bool, contentType string) error {
	if !ok {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	w.Write(b)
	return nil
}
