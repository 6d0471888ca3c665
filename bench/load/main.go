package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"time"

	"github.com/sextant-ml/sextant/delivery/signing"
)

func main() {
	var cfg Config
	var seed string
	var asJSON bool
	flag.StringVar(&cfg.URL, "url", "http://127.0.0.1:8080", "the server's base URL")
	flag.IntVar(&cfg.Devices, "devices", 50000, "generated devices to check in as (round-robin)")
	flag.IntVar(&cfg.First, "first", 1, "number of the first device checking in (seeding always starts at 1)")
	flag.IntVar(&cfg.Concurrency, "concurrency", 64, "concurrent connections")
	flag.IntVar(&cfg.Requests, "requests", 500000, "stop after this many check-ins")
	flag.DurationVar(&cfg.Duration, "duration", 30*time.Second, "stop after this long")
	flag.Float64Var(&cfg.Rate, "rate", 0, "open-loop check-ins per second (0: closed loop, as fast as answered)")
	flag.StringVar(&seed, "seed", "", "PostgreSQL URL of the server's database: insert the generated devices first")
	flag.IntVar(&cfg.ServerPID, "server-pid", 0, "the server's process id (same machine): report its CPU time per check-in")
	flag.BoolVar(&asJSON, "json", false, "print the result as JSON")
	cpuprofile := flag.String("cpuprofile", "", "write the generator's own CPU profile over the run to this file")
	keys := flag.String("keys", "", "the server's key directory: devices use credentials minted by its director key, as registration issues them (and -seed stores their hashes)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *keys != "" {
		k, err := signing.KeyDir{Dir: *keys}.Load("director")
		if err == nil {
			var c *signing.DeviceCredentials
			if c, err = signing.NewDeviceCredentials(k); err == nil {
				cfg.Secret, err = MintedSecrets(c, max(cfg.First, 1), cfg.Devices)
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "load:", err)
			os.Exit(1)
		}
	}
	if seed != "" {
		t0 := time.Now()
		var n int64
		var err error
		if cfg.Secret != nil {
			n, err = SeedSecrets(ctx, seed, cfg.Devices, cfg.Secret)
		} else {
			n, err = Seed(ctx, seed, cfg.Devices)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "load:", err)
			os.Exit(1)
		}
		fmt.Fprintf(os.Stderr, "load: seeded %d new devices (of %d) in %v\n", n, cfg.Devices, time.Since(t0).Round(time.Millisecond))
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "load: -cpuprofile:", err)
			os.Exit(1)
		}
		defer f.Close()
	}
	self0, _ := processCPU(os.Getpid())
	res, err := Run(ctx, cfg)
	if *cpuprofile != "" {
		pprof.StopCPUProfile()
	}
	if self1, cerr := processCPU(os.Getpid()); cerr == nil && res != nil {
		res.GeneratorCPU = self1 - self0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
	if asJSON {
		json.NewEncoder(os.Stdout).Encode(summary(res))
	} else {
		report(os.Stdout, cfg, res)
	}
	if res.OK == 0 {
		os.Exit(1)
	}
}

// Summary is the JSON form of a result.
type Summary struct {
	Sent       int            `json:"sent"`
	OK         int            `json:"ok"`
	Status     map[int]int    `json:"errors_by_status,omitempty"`
	Seconds    float64        `json:"seconds"`
	Throughput float64        `json:"checkins_per_second"`
	ClientMS   map[string]any `json:"client_ms"`
	ServerMS   map[string]any `json:"server_ms,omitempty"`
	// ServerCPUMicros is the server's CPU time per answered check-in.
	ServerCPUMicros float64 `json:"server_cpu_us_per_checkin,omitempty"`
	// GeneratorCPUMicros is this generator's own CPU time per answered
	// check-in.
	GeneratorCPUMicros float64 `json:"generator_cpu_us_per_checkin,omitempty"`
	// ServerWaitSeconds is how long the server's threads waited for a
	// CPU while runnable.
	ServerWaitSeconds float64 `json:"server_runqueue_wait_seconds,omitempty"`
	// Connections is how many connections the run opened.
	Connections int `json:"connections_opened"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func summary(r *Result) Summary {
	s := Summary{Sent: r.Sent, OK: r.OK, Status: r.Status, Seconds: r.Elapsed.Seconds(), Throughput: r.Throughput(),
		ClientMS: map[string]any{"p50": ms(r.Quantile(.5)), "p90": ms(r.Quantile(.9)), "p99": ms(r.Quantile(.99)),
			"p99.9": ms(r.Quantile(.999)), "max": ms(r.Quantile(1))}}
	s.Connections = r.Dials
	s.ServerWaitSeconds = r.ServerWait.Seconds()
	if r.GeneratorCPU > 0 && r.OK > 0 {
		s.GeneratorCPUMicros = float64(r.GeneratorCPU.Microseconds()) / float64(r.OK)
	}
	if r.ServerCPU > 0 && r.OK > 0 {
		s.ServerCPUMicros = float64(r.ServerCPU.Microseconds()) / float64(r.OK)
	}
	if r.Server != nil && r.Server.Total() > 0 {
		s.ServerMS = map[string]any{"count": r.Server.Total(), "p50": 1000 * r.Server.Quantile(.5),
			"p99": 1000 * r.Server.Quantile(.99), "p99.9": 1000 * r.Server.Quantile(.999)}
	}
	return s
}

func report(w *os.File, cfg Config, r *Result) {
	mode := "closed loop"
	if cfg.Rate > 0 {
		mode = fmt.Sprintf("open loop at %.0f/s", cfg.Rate)
	}
	fmt.Fprintf(w, "check-ins: %d answered 200 of %d sent in %.2fs (%s, %d connections, %d devices)\n",
		r.OK, r.Sent, r.Elapsed.Seconds(), mode, cfg.Concurrency, cfg.Devices)
	if len(r.Status) > 0 {
		fmt.Fprintf(w, "errors by status (0 = transport): %v %s\n", r.Status, r.FirstError)
	}
	fmt.Fprintf(w, "throughput: %.0f check-ins/s\n", r.Throughput())
	fmt.Fprintf(w, "client latency ms: p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n",
		ms(r.Quantile(.5)), ms(r.Quantile(.9)), ms(r.Quantile(.99)), ms(r.Quantile(.999)), ms(r.Quantile(1)))
	if r.Server != nil && r.Server.Total() > 0 {
		fmt.Fprintf(w, "server latency ms (histogram, interpolated): p50 %.3f  p99 %.3f  p99.9 %.3f over %.0f check-ins\n",
			1000*r.Server.Quantile(.5), 1000*r.Server.Quantile(.99), 1000*r.Server.Quantile(.999), r.Server.Total())
	}
	if r.ServerCPU > 0 && r.OK > 0 {
		per := float64(r.ServerCPU.Microseconds()) / float64(r.OK)
		fmt.Fprintf(w, "server CPU: %.2fs = %.0f%% of one core; %.1f µs per check-in (≈ %.0f check-ins/s per core)\n",
			r.ServerCPU.Seconds(), 100*r.ServerCPU.Seconds()/r.Elapsed.Seconds(), per, 1e6/per)
	}
	if r.ServerWait > 0 {
		// Runnable but not running: other processes on the server's
		// core, not a lack of requests.
		fmt.Fprintf(w, "server waited %.2fs for a CPU while runnable (%.0f%% of the run)\n",
			r.ServerWait.Seconds(), 100*r.ServerWait.Seconds()/r.Elapsed.Seconds())
	}
	if r.GeneratorCPU > 0 && r.OK > 0 {
		fmt.Fprintf(w, "generator CPU: %.2fs = %.0f%% of one core; %.1f µs per check-in\n",
			r.GeneratorCPU.Seconds(), 100*r.GeneratorCPU.Seconds()/r.Elapsed.Seconds(), float64(r.GeneratorCPU.Microseconds())/float64(r.OK))
	}
	fmt.Fprintf(w, "connections opened: %d", r.Dials)
	if r.Dials > cfg.Concurrency {
		fmt.Fprintf(w, " (more than %d: the server closed some)", cfg.Concurrency)
	}
	fmt.Fprintln(w)
}
