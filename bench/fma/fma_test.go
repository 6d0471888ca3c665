package fma

import (
	"runtime"
	"testing"
	"time"
)

func TestMeasure(t *testing.T) {
	if len(available()) == 0 {
		if runtime.GOARCH == "amd64" {
			t.Skip("CPU lacks AVX+FMA")
		}
		if _, err := Measure(time.Millisecond, 1); err != ErrUnsupported {
			t.Fatalf("Measure on %s: err %v, want ErrUnsupported", runtime.GOARCH, err)
		}
		return
	}
	p, err := Measure(time.Millisecond, 50) // short reps: some escape the load
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("peak %v, rates %v", p, p.Rates)
	// Any core with FMA issues at least one 8-lane FMA per cycle at well over
	// 0.5 GHz, and none reaches 2 TFLOP/s on one core; a loop that did not
	// execute, or miscounted, lands outside this range.
	if p.FLOPS < 8e9 || p.FLOPS > 2e12 {
		t.Fatalf("peak %.3g FLOP/s is implausible", p.FLOPS)
	}
	if p.Rates[p.Width] != p.FLOPS {
		t.Fatalf("Width %q has rate %v, peak %v", p.Width, p.Rates[p.Width], p.FLOPS)
	}
}

func TestCalibrate(t *testing.T) {
	n := 0
	l := loop{"fake", 1, func(iters int) {
		n += iters
		time.Sleep(time.Duration(iters) * time.Microsecond)
	}}
	iters := calibrate(l, 10*time.Millisecond)
	// About 10 ms of 1 µs iterations. Sleeps overshoot, the more so on a
	// loaded machine, which only lowers the count: allow wide slack below.
	if iters < 100 || iters > 15000 {
		t.Fatalf("calibrate gave %d iterations for 10 ms of 1 µs each", iters)
	}
}
