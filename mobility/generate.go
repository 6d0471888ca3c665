package mobility

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"time"
)

// DefaultStart is the default simulation start: Monday 1 January 2024,
// 00:00 UTC (read as local time; the simulator has no time zones).
var DefaultStart = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Config configures a Generator.
type Config struct {
	// Users and Weeks size the population and its simulated span.
	Users, Weeks int
	// Seed makes the run reproducible: agent i is simulated from the PCG
	// stream (Seed, i), so its output does not depend on Workers.
	Seed uint64
	// Workers is the number of simulating goroutines (default GOMAXPROCS).
	Workers int
	// Params are the population parameters (zero value: DefaultParams).
	Params *Params
}

// Generator simulates a population on a city and streams it user by user.
type Generator struct {
	city  *City
	cfg   Config
	pop   *population
	table *RouteTable
}

// NewGenerator checks cfg and prepares the city-wide tables. The route
// table is shared by every run of the generator.
func NewGenerator(city *City, cfg Config) (*Generator, error) {
	if cfg.Users <= 0 || cfg.Weeks <= 0 {
		return nil, errors.New("mobility: generator needs users > 0 and weeks > 0")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	params := DefaultParams()
	if cfg.Params != nil {
		params = *cfg.Params
	}
	if err := city.Validate(); err != nil {
		return nil, err
	}
	return &Generator{city: city, cfg: cfg, pop: newPopulation(city, params), table: NewRouteTable(city)}, nil
}

// City is the generator's city.
func (g *Generator) City() *City { return g.city }

// Routes is the generator's route table.
func (g *Generator) Routes() *RouteTable { return g.table }

// Run simulates users 0..Users-1 and calls fn with each, in order, from the
// calling goroutine. fn must not keep the *User after it returns (it is
// reused); its error stops the run. Memory is bounded by a few users per
// worker whatever the population size.
func (g *Generator) Run(ctx context.Context, fn func(*User) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type job struct {
		id int64
		u  *User
	}
	window := 4 * g.cfg.Workers
	free := make(chan *User, window)
	for range window {
		free <- new(User)
	}
	ids := make(chan int64)
	done := make(chan job, window)
	var wg sync.WaitGroup
	for range g.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := newSimulator(g.pop, g.table, g.cfg.Weeks)
			for {
				// Take a buffer before an id: whoever holds the id the
				// consumer waits for can always finish it.
				var u *User
				select {
				case u = <-free:
				case <-ctx.Done():
					return
				}
				id, ok := <-ids
				if !ok {
					return
				}
				s.run(g.cfg.Seed, id, u)
				select {
				case done <- job{id, u}:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() {
		defer close(ids)
		for id := int64(0); id < int64(g.cfg.Users); id++ {
			select {
			case ids <- id:
			case <-ctx.Done():
				return
			}
		}
	}()
	defer wg.Wait()
	pending := make(map[int64]*User, window)
	for next := int64(0); next < int64(g.cfg.Users); {
		u, ok := pending[next]
		if !ok {
			select {
			case j := <-done:
				pending[j.id] = j.u
			case <-ctx.Done():
				return ctx.Err()
			}
			continue
		}
		delete(pending, next)
		if err := fn(u); err != nil {
			return err
		}
		free <- u
		next++
	}
	return nil
}

// Simulate runs one agent alone (the same output Run gives for it).
func (g *Generator) Simulate(id int64) *User {
	u := new(User)
	newSimulator(g.pop, g.table, g.cfg.Weeks).run(g.cfg.Seed, id, u)
	return u
}
