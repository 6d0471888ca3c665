package updater

import (
	"context"
	"time"
)

// Backoff returns the wait after the n-th consecutive failure (n ≥ 1):
// "full jitter" (Brooker, "Exponential Backoff And Jitter", AWS
// Architecture Blog, 2015), a uniform draw from [0, min(max, base·2^(n−1))),
// which spreads a fleet's retries after a server outage instead of bringing
// it back in waves.
func (u *Updater) Backoff(n int) time.Duration {
	base, hi := u.cfg.BackoffBase, u.cfg.BackoffMax
	if base <= 0 {
		base = 30 * time.Second
	}
	if hi <= 0 {
		hi = 6 * time.Hour
	}
	ceil := hi
	if n-1 < 62 && base<<(n-1) > 0 && base<<(n-1) < hi {
		ceil = base << (n - 1)
	}
	return time.Duration(u.rand() * float64(ceil))
}

func (u *Updater) interval() time.Duration {
	if u.cfg.Interval > 0 {
		return u.cfg.Interval
	}
	return 6 * time.Hour
}

// Run checks in now and then every Interval, backing off after failures,
// until ctx ends. Each report goes to onReport if it is not nil (with the
// check-in's error). Run returns ctx's error.
func (u *Updater) Run(ctx context.Context, onReport func(*Report, error)) error {
	failures := 0
	for {
		rep, err := u.CheckIn(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if onReport != nil {
			onReport(rep, err)
		}
		wait := u.interval()
		if err != nil {
			failures++
			wait = u.Backoff(failures)
			u.log.Info("check-in failed; backing off", "failures", failures, "wait", wait, "err", err)
		} else {
			failures = 0
		}
		if err := u.clock.Sleep(ctx, wait); err != nil {
			return err
		}
	}
}
