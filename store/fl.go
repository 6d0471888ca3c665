package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/lease"
)

// Federated learning across replicas: the tasks' committed state (written
// by the lease holder), and the round board every replica answers devices
// from (the leader publishes its round and each step's messages; any
// replica seats devices and records their leaving).

// Errors of the round board (test with errors.Is).
var (
	// ErrNotSelecting: the attempt is not the task's current one, or its
	// selection is closed.
	ErrNotSelecting = errors.New("store: the round attempt is not selecting")
	// ErrSeated: the device already checked in to the attempt.
	ErrSeated = errors.New("store: the device already checked in to the attempt")
)

// LoadFLTask returns a federated task's committed state and its version;
// a task never committed has version 0 and a nil document.
func (db *DB) LoadFLTask(ctx context.Context, name string) (uint64, []byte, error) {
	var version int64
	var doc string
	err := db.db.QueryRowContext(ctx, `SELECT version, document FROM fl_tasks WHERE name = $1`, name).Scan(&version, &doc)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, fmt.Errorf("store: load fl task %s: %w", name, err)
	}
	return uint64(version), []byte(doc), nil
}

// SaveFLTask commits a task's state as version. The version must move
// forward, and the write's fencing epoch (the lease.Fence its context
// carries; 0 without one) must be the lease's current one and at least
// that of the write before: otherwise the write is refused with
// lease.ErrStale (a deposed leader) or delivery.ErrConflict (two writers
// racing, or a version at or behind the stored one).
func (db *DB) SaveFLTask(ctx context.Context, name string, version uint64, doc []byte) error {
	var epoch int64
	if f, ok := lease.FenceFrom(ctx); ok {
		epoch = f.Epoch
	}
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if err := db.checkFence(ctx, tx); err != nil {
			return err
		}
		var storedEpoch int64
		err := tx.QueryRowContext(ctx, `SELECT epoch FROM fl_tasks WHERE name = $1`, name).Scan(&storedEpoch)
		if err == nil && storedEpoch > epoch {
			return fmt.Errorf("store: fl task %s was written at epoch %d, this write is at %d: %w", name, storedEpoch, epoch, lease.ErrStale)
		}
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO fl_tasks (name, version, epoch, document, updated_us)
			VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (name) DO UPDATE SET version = excluded.version, epoch = excluded.epoch,
				document = excluded.document, updated_us = excluded.updated_us
			WHERE fl_tasks.version < excluded.version AND fl_tasks.epoch <= excluded.epoch`,
			name, int64(version), epoch, string(doc), micros(db.clock.Now()))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("rows affected: %w", err)
		}
		if n != 1 {
			return delivery.Errorf(delivery.ErrConflict, "fl task %s is already at or past version %d", name, version)
		}
		return nil
	})
	if err != nil && !errors.Is(err, lease.ErrStale) && delivery.Code(err) == "internal" {
		return fmt.Errorf("store: save fl task %s: %w", name, err)
	}
	return err
}

// FLRound is a task's round as its leader published it.
type FLRound struct {
	Task    string
	Attempt uint64
	// Version moves on at every publication, close and check-in.
	Version uint64
	// Open: check-ins are taken until SelectionEnd.
	Open         bool
	SelectionEnd time.Time
	// Seats is the number of devices checked in to the attempt.
	Seats int
	// View is the leader's description of the round (opaque here).
	View []byte
}

// FLSeat is a device checked in to a round attempt.
type FLSeat struct {
	ID        uint32
	Device    string
	TokenHash string
	Gone      bool
}

// PublishFLRound makes r the task's round (its Version and Seats are
// ignored: the version moves on; the seats are kept while the attempt
// stays the same and reset for a new one, whose predecessors' seats and
// messages are deleted). It is the leader's write: a stale fence is
// refused (lease.ErrStale).
func (db *DB) PublishFLRound(ctx context.Context, r FLRound) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if err := db.checkFence(ctx, tx); err != nil {
			return err
		}
		open := 0
		if r.Open {
			open = 1
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO fl_rounds (task, attempt, version, open, sel_end_us, seats, view, updated_us)
			VALUES ($1, $2, 1, $3, $4, 0, $5, $6)
			ON CONFLICT (task) DO UPDATE SET version = fl_rounds.version + 1, attempt = excluded.attempt,
				open = excluded.open, sel_end_us = excluded.sel_end_us, view = excluded.view,
				updated_us = excluded.updated_us,
				seats = CASE WHEN fl_rounds.attempt = excluded.attempt THEN fl_rounds.seats ELSE 0 END`,
			r.Task, int64(r.Attempt), open, micros(r.SelectionEnd), string(r.View), micros(db.clock.Now())); err != nil {
			return err
		}
		for _, q := range []string{`DELETE FROM fl_seats WHERE task = $1 AND attempt <> $2`,
			`DELETE FROM fl_messages WHERE task = $1 AND attempt <> $2`} {
			if _, err := tx.ExecContext(ctx, q, r.Task, int64(r.Attempt)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, lease.ErrStale) {
		return fmt.Errorf("store: publish fl round %s/%d: %w", r.Task, r.Attempt, err)
	}
	return err
}

// GetFLRound returns the task's published round; ok is false when none
// was published.
func (db *DB) GetFLRound(ctx context.Context, task string) (r FLRound, ok bool, err error) {
	var attempt, version, selEnd, seats int64
	var open int
	var view string
	err = db.db.QueryRowContext(ctx, `SELECT attempt, version, open, sel_end_us, seats, view FROM fl_rounds WHERE task = $1`, task).
		Scan(&attempt, &version, &open, &selEnd, &seats, &view)
	if errors.Is(err, sql.ErrNoRows) {
		return FLRound{}, false, nil
	}
	if err != nil {
		return FLRound{}, false, fmt.Errorf("store: fl round %s: %w", task, err)
	}
	return FLRound{Task: task, Attempt: uint64(attempt), Version: uint64(version), Open: open == 1,
		SelectionEnd: fromMicros(selEnd), Seats: int(seats), View: []byte(view)}, true, nil
}

// CheckInFL seats device in the task's round attempt if its selection is
// open and ends after now, and returns the seat's id: seats are numbered
// 1, 2, … in the order devices check in, through whichever replica. It
// refuses with ErrNotSelecting (another attempt, selection closed) or
// ErrSeated (the device is seated already).
func (db *DB) CheckInFL(ctx context.Context, task string, attempt uint64, device, tokenHash string, now time.Time) (uint32, error) {
	var id int64
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if db.d.name == "postgres" {
			// The round row's lock serialises a task's check-ins; holding
			// it through the WAL flush would cap them at one per flush.
			// A seat lost to a database crash is harmless: its device's
			// later calls are refused (no seat with its token), it drops
			// out, and the round goes on without it.
			if _, err := tx.ExecContext(ctx, `SET LOCAL synchronous_commit TO OFF`); err != nil {
				return err
			}
		}
		// The row lock this takes orders check-ins against CloseFLSelection.
		err := tx.QueryRowContext(ctx, `UPDATE fl_rounds SET seats = seats + 1, version = version + 1
			WHERE task = $1 AND attempt = $2 AND open = 1 AND sel_end_us > $3 RETURNING seats`,
			task, int64(attempt), micros(now)).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: %s attempt %d", ErrNotSelecting, task, attempt)
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO fl_seats (task, attempt, id, device, token_hash, gone)
			VALUES ($1, $2, $3, $4, $5, 0)`, task, int64(attempt), id, device, tokenHash); err != nil {
			if db.d.isUnique(err) {
				return fmt.Errorf("%w: %s attempt %d", ErrSeated, task, attempt)
			}
			return err
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrNotSelecting) || errors.Is(err, ErrSeated) {
			return 0, err
		}
		return 0, fmt.Errorf("store: fl check-in: %w", err)
	}
	return uint32(id), nil
}

// CloseFLSelection closes the attempt's selection (no check-in is taken
// after it returns) and returns its seats in id order. It is the leader's
// write: a stale fence is refused (lease.ErrStale); an attempt that is not
// the task's current one is refused with ErrNotSelecting.
func (db *DB) CloseFLSelection(ctx context.Context, task string, attempt uint64) ([]FLSeat, error) {
	var seats []FLSeat
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if err := db.checkFence(ctx, tx); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE fl_rounds SET open = 0, version = version + 1 WHERE task = $1 AND attempt = $2`,
			task, int64(attempt))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return fmt.Errorf("%w: %s attempt %d is not published", ErrNotSelecting, task, attempt)
		}
		seats, err = querySeats(ctx, tx, task, attempt)
		return err
	})
	if err != nil {
		if errors.Is(err, lease.ErrStale) || errors.Is(err, ErrNotSelecting) {
			return nil, err
		}
		return nil, fmt.Errorf("store: close fl selection %s/%d: %w", task, attempt, err)
	}
	return seats, nil
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func querySeats(ctx context.Context, q querier, task string, attempt uint64) ([]FLSeat, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, device, token_hash, gone FROM fl_seats
		WHERE task = $1 AND attempt = $2 ORDER BY id`, task, int64(attempt))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var seats []FLSeat
	for rows.Next() {
		var s FLSeat
		var id int64
		var gone int
		if err := rows.Scan(&id, &s.Device, &s.TokenHash, &gone); err != nil {
			return nil, err
		}
		s.ID, s.Gone = uint32(id), gone == 1
		seats = append(seats, s)
	}
	return seats, rows.Err()
}

// FLSeats returns the attempt's seats in id order.
func (db *DB) FLSeats(ctx context.Context, task string, attempt uint64) ([]FLSeat, error) {
	seats, err := querySeats(ctx, db.db, task, attempt)
	if err != nil {
		return nil, fmt.Errorf("store: fl seats %s/%d: %w", task, attempt, err)
	}
	return seats, nil
}

// FLGoneSeats returns the ids of the attempt's seats whose devices left,
// in id order: what the leader polls for while a step waits (only those
// rows leave the database, not every seat's device and token hash).
func (db *DB) FLGoneSeats(ctx context.Context, task string, attempt uint64) ([]uint32, error) {
	rows, err := db.db.QueryContext(ctx, `SELECT id FROM fl_seats
		WHERE task = $1 AND attempt = $2 AND gone = 1 ORDER BY id`, task, int64(attempt))
	if err != nil {
		return nil, fmt.Errorf("store: fl gone seats %s/%d: %w", task, attempt, err)
	}
	defer rows.Close()
	var ids []uint32
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: fl gone seats %s/%d: %w", task, attempt, err)
		}
		ids = append(ids, uint32(id))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: fl gone seats %s/%d: %w", task, attempt, err)
	}
	return ids, nil
}

// GetFLSeat returns one seat of the attempt; ok is false when there is
// none.
func (db *DB) GetFLSeat(ctx context.Context, task string, attempt uint64, id uint32) (s FLSeat, ok bool, err error) {
	var gone int
	err = db.db.QueryRowContext(ctx, `SELECT device, token_hash, gone FROM fl_seats WHERE task = $1 AND attempt = $2 AND id = $3`,
		task, int64(attempt), int64(id)).Scan(&s.Device, &s.TokenHash, &gone)
	if errors.Is(err, sql.ErrNoRows) {
		return FLSeat{}, false, nil
	}
	if err != nil {
		return FLSeat{}, false, fmt.Errorf("store: fl seat %s/%d/%d: %w", task, attempt, id, err)
	}
	s.ID, s.Gone = id, gone == 1
	return s, true, nil
}

// LeaveFL marks a seat as gone (the device dropped out of the round).
func (db *DB) LeaveFL(ctx context.Context, task string, attempt uint64, id uint32) error {
	if _, err := db.db.ExecContext(ctx, `UPDATE fl_seats SET gone = 1 WHERE task = $1 AND attempt = $2 AND id = $3`,
		task, int64(attempt), int64(id)); err != nil {
		return fmt.Errorf("store: fl leave %s/%d/%d: %w", task, attempt, id, err)
	}
	return nil
}

// PutFLMessages stores the leader's messages of one step of an attempt,
// one per seat (a seat's message put again is replaced). It is the
// leader's write: a stale fence is refused (lease.ErrStale). The messages
// go in multi-row INSERTs (flMessageRows rows, about flMessageBytes of
// bodies each), not one round trip per seat, in the one transaction that
// checks the fence.
func (db *DB) PutFLMessages(ctx context.Context, task string, attempt uint64, step int, msgs map[uint32][]byte) error {
	seats := make([]uint32, 0, len(msgs))
	for seat := range msgs {
		seats = append(seats, seat)
	}
	slices.Sort(seats)
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if err := db.checkFence(ctx, tx); err != nil {
			return err
		}
		for len(seats) > 0 {
			n, size := 0, 0
			for n < len(seats) && n < flMessageRows && (n == 0 || size+len(msgs[seats[n]]) <= flMessageBytes) {
				size += len(msgs[seats[n]])
				n++
			}
			if err := insertFLMessages(ctx, tx, task, attempt, step, seats[:n], msgs); err != nil {
				return err
			}
			seats = seats[n:]
		}
		return nil
	})
	if err != nil && !errors.Is(err, lease.ErrStale) {
		return fmt.Errorf("store: put fl messages %s/%d step %d: %w", task, attempt, step, err)
	}
	return err
}

// Bounds of one INSERT of PutFLMessages: rows (each takes 2 parameters,
// far below SQLite's default limit of 32,766 and PostgreSQL's 65,535) and
// the bodies' bytes (a chunk holds at least one message, whatever its
// size).
const (
	flMessageRows  = 500
	flMessageBytes = 4 << 20
)

// insertFLMessages writes the messages to seats in one statement.
func insertFLMessages(ctx context.Context, tx *sql.Tx, task string, attempt uint64, step int, seats []uint32, msgs map[uint32][]byte) error {
	var q strings.Builder
	q.WriteString(`INSERT INTO fl_messages (task, attempt, step, seat, body) VALUES `)
	args := make([]any, 3, 3+2*len(seats))
	args[0], args[1], args[2] = task, int64(attempt), step
	for i, seat := range seats {
		if i > 0 {
			q.WriteByte(',')
		}
		fmt.Fprintf(&q, "($1, $2, $3, $%d, $%d)", len(args)+1, len(args)+2)
		args = append(args, int64(seat), msgs[seat])
	}
	q.WriteString(` ON CONFLICT (task, attempt, step, seat) DO UPDATE SET body = excluded.body`)
	_, err := tx.ExecContext(ctx, q.String(), args...)
	return err
}

// GetFLMessage returns the leader's message of a step for a seat; ok is
// false when there is none.
func (db *DB) GetFLMessage(ctx context.Context, task string, attempt uint64, step int, seat uint32) ([]byte, bool, error) {
	var body []byte
	err := db.db.QueryRowContext(ctx, `SELECT body FROM fl_messages WHERE task = $1 AND attempt = $2 AND step = $3 AND seat = $4`,
		task, int64(attempt), step, int64(seat)).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("store: fl message %s/%d step %d seat %d: %w", task, attempt, step, seat, err)
	}
	return body, true, nil
}
