package fl

import (
	"context"
	"errors"
	"fmt"

	"github.com/sextant-ml/sextant/fl/client"
	"github.com/sextant-ml/sextant/secagg"
)

// LocalConn is the in-process transport: a client.Conn calling a Service
// directly. Secure-aggregation messages still travel marshalled, and every
// check a remote device's call gets (its seat's token, the sender, the
// step) applies.
type LocalConn struct{ S *Service }

var _ client.Conn = LocalConn{}

func (l LocalConn) task(task string) error {
	if name := l.S.c.Task().Name; task != name {
		return fmt.Errorf("fl: no task %q (this service runs %q)", task, name)
	}
	return nil
}

// Status implements client.Conn.
func (l LocalConn) Status(ctx context.Context, task, device string) (*client.Status, error) {
	if err := l.task(task); err != nil {
		return nil, err
	}
	return l.S.Status(device), nil
}

// CheckIn implements client.Conn.
func (l LocalConn) CheckIn(ctx context.Context, task string, attempt uint64, device string) (*client.Seat, error) {
	if err := l.task(task); err != nil {
		return nil, err
	}
	return l.S.CheckIn(attempt, device)
}

// Configure implements client.Conn.
func (l LocalConn) Configure(ctx context.Context, task string, seat *client.Seat) (*client.Assignment, error) {
	if err := l.task(task); err != nil {
		return nil, err
	}
	return block(ctx, l.S, func() (*client.Assignment, error) { return l.S.Configure(seat) })
}

// Send implements client.Conn.
func (l LocalConn) Send(ctx context.Context, task string, seat *client.Seat, msg []byte) error {
	if err := l.task(task); err != nil {
		return err
	}
	return l.S.Send(seat, msg)
}

// Next implements client.Conn.
func (l LocalConn) Next(ctx context.Context, task string, seat *client.Seat, step secagg.Step) ([]byte, error) {
	if err := l.task(task); err != nil {
		return nil, err
	}
	return block(ctx, l.S, func() ([]byte, error) { return l.S.Next(seat, step) })
}

// block retries f each time the service changes while it returns ErrNotYet
// (a long poll with no timeout).
func block[T any](ctx context.Context, s *Service, f func() (T, error)) (T, error) {
	for {
		ch := s.Changed()
		v, err := f()
		if !errors.Is(err, client.ErrNotYet) {
			return v, err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return v, ctx.Err()
		}
	}
}

// ReportPlain implements client.Conn.
func (l LocalConn) ReportPlain(ctx context.Context, task string, seat *client.Seat, update []float32) error {
	if err := l.task(task); err != nil {
		return err
	}
	return l.S.ReportPlain(seat, update)
}

// Leave implements client.Conn.
func (l LocalConn) Leave(ctx context.Context, task string, seat *client.Seat) error {
	if err := l.task(task); err != nil {
		return err
	}
	return l.S.Leave(seat)
}
