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

func TestPinN(t *testing.T) {
	var all unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		t.Fatal(err)
	}
	for n := 1; n <= min(all.Count(), 2); n++ {
		done := make(chan error)
		go func() { // own goroutine: its locked thread exits with it
			cpus, err := PinN(n)
			if err != nil {
				done <- err
				return
			}
			var set unix.CPUSet
			if err := unix.SchedGetaffinity(0, &set); err != nil {
				done <- err
				return
			}
			if len(cpus) != n || set.Count() != n {
				t.Errorf("PinN(%d) = %v, mask has %d CPUs", n, cpus, set.Count())
			}
			for _, c := range cpus {
				if !set.IsSet(c) {
					t.Errorf("PinN(%d) = %v, CPU %d not in the mask", n, cpus, c)
				}
			}
			done <- nil
		}()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if _, err := PinN(all.Count() + 1); err == nil {
		t.Error("PinN to more CPUs than the mask holds succeeded")
	}
}
