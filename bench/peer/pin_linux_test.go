package peer

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestPin(t *testing.T) {
	done := make(chan error)
	go func() { // own goroutine: its locked thread exits with it
		cpu, err := Pin(-1)
		if err != nil {
			done <- err
			return
		}
		var set unix.CPUSet
		if err := unix.SchedGetaffinity(0, &set); err != nil {
			done <- err
			return
		}
		if set.Count() != 1 || !set.IsSet(cpu) {
			t.Errorf("after Pin(-1) = %d the mask has %d CPUs, CPU %d set: %v", cpu, set.Count(), cpu, set.IsSet(cpu))
		}
		done <- nil
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := Pin(1 << 20); err == nil {
		t.Error("Pin to a CPU outside the mask succeeded")
	}
}
