// Package lease elects one leader among server replicas that share a
// PostgreSQL database. A replica that holds the session-level advisory
// lock of a lease name is its leader; PostgreSQL releases the lock the
// moment the holder's connection ends (a crashed or killed process), so a
// follower polling for it takes over within a poll interval.
//
// A lock alone does not stop a deposed leader that has not yet noticed it
// lost the lock (a paused process, a partitioned network) from writing.
// Each acquisition therefore bumps a fencing epoch in the leases table
// (created by the store's migrations), and the leader's writes carry the
// epoch they were granted (WithFence): the store checks it in the same
// transaction as the write, under a share lock on the lease row, and
// refuses a write whose epoch is no longer the row's (ErrStale).
package lease

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sextant-ml/sextant/clock"
)

// ErrStale refuses a write whose fence is not the lease's current epoch:
// another replica has become leader since.
var ErrStale = errors.New("lease: stale fencing epoch")

// Fence is what a leader's writes carry: the lease name and the epoch it
// was granted.
type Fence struct {
	Name  string
	Epoch int64
}

type fenceKey struct{}

// WithFence returns ctx carrying f; stores that honour fences check it on
// every write made with the returned context.
func WithFence(ctx context.Context, f Fence) context.Context {
	return context.WithValue(ctx, fenceKey{}, f)
}

// FenceFrom returns the fence ctx carries, if any.
func FenceFrom(ctx context.Context) (Fence, bool) {
	f, ok := ctx.Value(fenceKey{}).(Fence)
	return f, ok
}

// Config configures Campaign.
type Config struct {
	// DSN is the PostgreSQL URL (pgx syntax; search_path selects the
	// schema holding the leases table).
	DSN string
	// Name names the lease; replicas campaigning for the same name in the
	// same schema elect one leader.
	Name string
	// Holder identifies this replica in the leases table (for operators).
	Holder string
	// Poll is how often a follower tries for the lock and a leader checks
	// its connection; zero means 500 ms.
	Poll time.Duration
	// Logger receives leadership changes; nil means slog.Default().
	Logger *slog.Logger
}

// Campaign competes for the lease until ctx ends. Each time this replica
// becomes leader it calls lead with a context carrying the new fence (see
// WithFence) that is cancelled when leadership is lost (the connection
// holding the lock fails) or ctx ends; Campaign waits for lead to return
// before campaigning again. It returns ctx's error.
func Campaign(ctx context.Context, cfg Config, lead func(ctx context.Context, f Fence)) error {
	if cfg.Poll <= 0 {
		cfg.Poll = 500 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Name == "" {
		return errors.New("lease: empty name")
	}
	for {
		err := campaignOnce(ctx, cfg, lead)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			cfg.Logger.Warn("lease: campaign", "lease", cfg.Name, "err", err)
		}
		if err := clock.Real.Sleep(ctx, cfg.Poll); err != nil {
			return err
		}
	}
}

// campaignOnce connects, waits for the lock, leads while the connection
// lives and returns when it fails or ctx ends.
func campaignOnce(ctx context.Context, cfg Config, lead func(ctx context.Context, f Fence)) error {
	conn, err := connect(ctx, cfg.DSN)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn.Close(cctx) // ends the session, releasing the lock
	}()
	for {
		got, err := tryLock(ctx, conn, cfg.Name)
		if err != nil {
			return err
		}
		if got {
			break
		}
		if err := clock.Real.Sleep(ctx, cfg.Poll); err != nil {
			return err
		}
	}
	epoch, err := bump(ctx, conn, cfg.Name, cfg.Holder)
	if err != nil {
		return err
	}
	f := Fence{Name: cfg.Name, Epoch: epoch}
	cfg.Logger.Info("lease: became leader", "lease", cfg.Name, "epoch", epoch, "holder", cfg.Holder)
	lctx, cancel := context.WithCancel(WithFence(ctx, f))
	var wg sync.WaitGroup
	wg.Go(func() { lead(lctx, f) })
	defer wg.Wait()
	defer cancel()
	t := time.NewTicker(cfg.Poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		pctx, pcancel := context.WithTimeout(ctx, cfg.Poll*4)
		err := conn.Ping(pctx)
		pcancel()
		if err != nil && ctx.Err() == nil {
			cfg.Logger.Warn("lease: lost leadership", "lease", cfg.Name, "epoch", epoch, "err", err)
			return fmt.Errorf("lease %s: connection lost: %w", cfg.Name, err)
		}
	}
}

func connect(ctx context.Context, dsn string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("lease: parse dsn: %w", err)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("lease: connect: %w", err)
	}
	return conn, nil
}

// lockKey is the advisory-lock key of a lease: advisory locks are
// database-wide, so the key covers the schema as well as the name.
const lockKey = `hashtextextended('sextant-lease/' || current_schema() || '/' || $1, 0)`

func tryLock(ctx context.Context, conn *pgx.Conn, name string) (bool, error) {
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(`+lockKey+`)`, name).Scan(&got); err != nil {
		return false, fmt.Errorf("lease %s: try lock: %w", name, err)
	}
	return got, nil
}

// bump advances the lease's epoch and records the holder. It waits for
// writes fenced by the previous epoch that are in flight (they hold a
// share lock on the row), so every write commits either before the new
// epoch or is refused after it.
func bump(ctx context.Context, conn *pgx.Conn, name, holder string) (int64, error) {
	var epoch int64
	err := conn.QueryRow(ctx, `INSERT INTO leases (name, epoch, holder, acquired_us) VALUES ($1, 1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET epoch = leases.epoch + 1, holder = excluded.holder,
			acquired_us = excluded.acquired_us
		RETURNING epoch`, name, holder, time.Now().UnixMicro()).Scan(&epoch)
	if err != nil {
		return 0, fmt.Errorf("lease %s: bump epoch: %w", name, err)
	}
	return epoch, nil
}
