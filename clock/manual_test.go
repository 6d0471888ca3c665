package clock

import (
	"context"
	"testing"
	"time"
)

// TestManual: time moves only on Advance; sleepers wake exactly when the
// clock passes their deadline, and a cancelled Sleep returns ctx's error.
func TestManual(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := NewManual(start)
	if !m.Now().Equal(start) {
		t.Fatalf("Now %v, want %v", m.Now(), start)
	}
	done := make(chan error, 1)
	go func() { done <- m.Sleep(context.Background(), time.Hour) }()
	ch := m.After(2 * time.Hour)
	// Give the sleeper time to register; it must not wake before Advance.
	time.Sleep(10 * time.Millisecond)
	m.Advance(59 * time.Minute)
	select {
	case <-done:
		t.Fatal("Sleep(1h) returned after 59 min")
	case <-ch:
		t.Fatal("After(2h) fired after 59 min")
	case <-time.After(20 * time.Millisecond):
	}
	m.Advance(time.Minute)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
		t.Fatal("After(2h) fired after 1 h")
	default:
	}
	m.Advance(time.Hour)
	if got := <-ch; !got.Equal(start.Add(2 * time.Hour)) {
		t.Fatalf("After delivered %v", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.Sleep(ctx, time.Hour); err != context.Canceled {
		t.Fatalf("cancelled Sleep: %v", err)
	}
	m.Advance(-time.Hour)
	if !m.Now().Equal(start.Add(2 * time.Hour)) {
		t.Fatalf("negative Advance moved the clock to %v", m.Now())
	}
}
