package main

import (
	"context"
	"fmt"

	"github.com/sextant-ml/sextant/sim"
)

// demoFleet runs the fleet simulator for `sextant demo --fleet N` and
// prints its report.
func demoFleet(ctx context.Context, e *env, devices int, seed uint64) error {
	fmt.Fprintf(e.stdout, "\n== fleet: %d simulated devices (real device SDK: store, updater, router) against an in-process server\n", devices)
	last := ""
	rep, err := sim.Run(ctx, sim.Config{Devices: devices, Seed: seed, Progress: func(p sim.Progress) {
		if p.Phase != last {
			last = p.Phase
			fmt.Fprintf(e.stderr, "  %s…\n", p.Phase)
		}
	}})
	if err != nil {
		return fmt.Errorf("fleet: %w", err)
	}
	rep.Write(e.stdout)
	return nil
}
