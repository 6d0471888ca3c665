package clock

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// Under synctest the wall clock is virtual, so these tests are exact and
// instant.

func TestRealSleepAndCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		t0 := Real.Now()
		if err := Real.Sleep(context.Background(), time.Hour); err != nil {
			t.Fatal(err)
		}
		if got := Real.Now().Sub(t0); got != time.Hour {
			t.Fatalf("slept %v, want 1h", got)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := Real.Sleep(ctx, time.Hour); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Sleep past the deadline returned %v", err)
		}
	})
}

func TestScaled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		c := NewScaled(start, 720) // a day in two minutes
		if !c.Now().Equal(start) {
			t.Fatalf("Now = %v at start", c.Now())
		}
		if err := c.Sleep(context.Background(), 24*time.Hour); err != nil {
			t.Fatal(err)
		}
		if got := c.Now().Sub(start); got != 24*time.Hour {
			t.Fatalf("after sleeping a simulated day, %v passed", got)
		}
		wall := time.Now()
		got := <-c.After(12 * time.Hour)
		if real := time.Since(wall); real != time.Minute {
			t.Fatalf("12 simulated hours took %v of wall time, want 1m", real)
		}
		if want := start.Add(36 * time.Hour); !got.Equal(want) {
			t.Fatalf("After delivered %v, want %v", got, want)
		}
	})
}
