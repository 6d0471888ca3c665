package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/clock"
	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/delivery/rollout"
	"github.com/sextant-ml/sextant/server"
	"github.com/sextant-ml/sextant/server/console"
	"github.com/sextant-ml/sextant/sim"
)

func newDemoCmd(e *env) *cobra.Command {
	var (
		cfg      storyConfig
		progress bool
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "The whole life of the flagship maps models on a simulated fleet of real SDK instances",
		Long: `Generates a city's synthetic population on OpenStreetMap geography, trains
the flagship models (next destination with DP-SGD on a consented donor
cohort; ETA small and server), evaluates them against baselines and the
predictability bound, packages and signs v1, and serves it to a fleet of
simulated phones — each a real device SDK (store, Uptane verifier, updater,
hybrid router) with its own user's data, talking HTTP on loopback to an
in-process server on an embedded store. Progress shows while it works; it
ends with a summary and report.html / report.json under --out.

The runtime-only tour is 'sextant demo runtime'.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runStory(cmd.Context(), e, cfg, progress)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&cfg.out, "out", "sextant-demo", "work directory: data, models, the server's and devices' state, the report")
	fl.IntVar(&cfg.devices, "devices", 1000, "simulated devices, each with its own synthetic user")
	fl.IntVar(&cfg.weeks, "weeks", 4, "weeks of mobility per user (the last is held out)")
	fl.Uint64Var(&cfg.seed, "seed", 1, "seed: the same seed gives the same population, fleet and schedule")
	fl.BoolVar(&cfg.fast, "fast", false, "a small, quick run that skips no phase (used by the tests)")
	fl.StringVar(&cfg.city, "city", "", "city file (from `sextant data city`; default: the embedded Wilmington-Newark, Delaware)")
	fl.Float64Var(&cfg.donors, "donors", 0.2, "fraction of users in the consented donor cohort of the DP-SGD prior")
	fl.BoolVar(&progress, "progress", true, "show live progress on a terminal")
	fl.BoolVar(&cfg.serve, "serve", false, "afterwards keep the server and its web console running until Ctrl-C")
	fl.StringVar(&cfg.heapProfiles, "heap-profiles", "", "write a Go heap profile to this directory at each new peak of the heap (10 % above the last)")
	_ = fl.MarkHidden("heap-profiles")
	cmd.AddCommand(newDemoRuntimeCmd(e))
	return cmd
}

// runStory runs the demo's phases in order and writes the report, also
// after a failure or Ctrl-C (with what was measured until then).
func runStory(ctx context.Context, e *env, cfg storyConfig, progress bool) (err error) {
	if cfg.fast {
		// Enough phones that a 20 % arm's DP-noised health counts can
		// decide a gate (the noise of a proportion falls as 1/devices).
		cfg.devices = min(cfg.devices, 300)
		cfg.weeks = min(cfg.weeks, 3)
	}
	if cfg.devices < 2 || cfg.weeks < 2 {
		return fmt.Errorf("demo: need at least 2 devices and 2 weeks (got %d and %d)", cfg.devices, cfg.weeks)
	}
	if cfg.donors <= 0 || cfg.donors > 1 {
		return fmt.Errorf("demo: --donors %v: want a fraction in (0, 1]", cfg.donors)
	}
	logf, err := openLog(cfg.out)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer logf.Close()
	start := time.Now()
	if cfg.heapProfiles != "" {
		if err := os.MkdirAll(cfg.heapProfiles, 0o755); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	s := &story{e: e, cfg: cfg, start: start, disp: newDisplay(e.stdout, progress), log: logf, mem: startMemSampler(cfg.heapProfiles),
		rep: &demoReport{Seed: cfg.seed, Devices: cfg.devices, Weeks: cfg.weeks, Fast: cfg.fast, Started: start.UTC().Format(time.RFC3339)}}
	fmt.Fprintf(e.stdout, "Sextant demo: %d devices, %d weeks, seed %d, work directory %s (commands and their output: demo.log)\n",
		cfg.devices, cfg.weeks, cfg.seed, cfg.out)
	defer func() {
		if merr := s.mem.close(); merr != nil {
			fmt.Fprintf(e.stderr, "demo: %v\n", merr)
		}
		s.rep.Seconds = time.Since(start).Seconds()
		werr := errors.Join(s.rep.writeJSON(cfg.out), writeStoryHTML(filepath.Join(cfg.out, "report.html"), s.rep))
		if werr != nil {
			err = errors.Join(err, fmt.Errorf("demo: report: %w", werr))
			return
		}
		if err == nil {
			s.rep.summary(e.stdout, cfg.out)
		} else {
			fmt.Fprintf(e.stderr, "demo stopped; the report so far is in %s\n", filepath.Join(cfg.out, "report.html"))
		}
	}()
	if err := s.phase("population", func() (string, error) { return s.population(ctx) }); err != nil {
		return err
	}
	if err := s.phase("train", func() (string, error) { return s.train(ctx) }); err != nil {
		return err
	}
	if err := s.phase("evaluate v1", func() (string, error) { return s.evaluateV1(ctx) }); err != nil {
		return err
	}
	if err := s.phase("package v1", func() (string, error) { return s.packageV1(ctx) }); err != nil {
		return err
	}
	return s.fleet(ctx)
}

// evaluateV1 scores the trained models on the held-out week.
func (s *story) evaluateV1(ctx context.Context) (string, error) {
	q, err := s.evaluate(ctx, "v1 (DP prior)", s.path("models", "nd-trained.sxm"))
	if err != nil {
		return "", err
	}
	for _, m := range []struct{ label, file string }{{"small", "eta-trained.sxm"}, {"server", "eta-server.sxm"}} {
		if err := s.etaQuality(ctx, m.label, s.path("models", m.file)); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("next destination Acc@1 %.3f vs Markov %.3f, Acc@5 %.3f (held-out week of %s); ETA small closes %.0f%% of the free-flow gap, server %.0f%% (held-out trips of %s)",
		q.Acc1, q.MarkovAcc1, q.Acc5, q.Scored, 100*s.rep.ETA[0].GapClosed, 100*s.rep.ETA[1].GapClosed, s.rep.ETA[0].Scored), nil
}

// packageV1 makes the trained bundles shippable: next destination with
// every input private; ETA's route features public (they describe a road,
// not a person) and paired with the server model for hybrid inference.
func (s *story) packageV1(ctx context.Context) (string, error) {
	// The small ETA model learns when to defer: a head fitted on how much
	// the server model would change its answer (no labels needed), with
	// the cascade threshold set for about 5 % of requests.
	etaTest, err := s.whole("eta", "test")
	if err != nil {
		return "", err
	}
	ndGolden, err := s.golden("nd")
	if err != nil {
		return "", err
	}
	etaGolden, err := s.golden("eta")
	if err != nil {
		return "", err
	}
	if _, err := s.cli(ctx, "calibrate", "--model", s.path("models", "eta-trained.sxm"), "--server", s.path("models", "eta-server.sxm"),
		"--data", etaTest.path, "--target-escalation", "0.05", "-o", s.path("models", "eta-calibrated.sxm")); err != nil {
		return "", err
	}
	etaIn := map[string]bundle.PrivacyClass{"route": bundle.Public, "free_flow_s": bundle.Public}
	jobs := []struct {
		src, dst string
		r        release
	}{
		{"nd-trained.sxm", "next-destination-1.0.0.sxm", release{name: ndModel, version: "1.0.0",
			data: ndGolden}},
		{"eta-server.sxm", "eta-server-1.0.0.sxm", release{name: etaServerModel, version: "1.0.0", privacy: etaIn,
			data: etaGolden}},
		{"eta-calibrated.sxm", "eta-1.0.0.sxm", release{name: etaModel, version: "1.0.0", privacy: etaIn,
			server: &bundle.ServerVariant{Model: etaServerModel, Version: "1.0.0", Inputs: []string{"route", "free_flow_s"}},
			data:   etaGolden}},
	}
	for _, j := range jobs {
		dst := s.path("models", j.dst)
		if err := packageBundle(ctx, s.path("models", j.src), dst, j.r); err != nil {
			return "", fmt.Errorf("%s: %w", j.dst, err)
		}
		where := "device"
		if j.r.name == etaServerModel {
			where = "server"
		}
		s.rep.Bundles = append(s.rep.Bundles, demoBundle{Model: j.r.name, Version: j.r.version, Bytes: fileBytes(dst), Where: where})
	}
	return fmt.Sprintf("next destination %s, ETA %s on device; ETA server %s", humanBytes(s.rep.Bundles[0].Bytes),
		humanBytes(s.rep.Bundles[2].Bytes), humanBytes(s.rep.Bundles[1].Bytes)), nil
}

// fleet starts the server and the simulated phones, publishes v1 signed
// and serves it.
func (s *story) fleet(ctx context.Context) error {
	var f *sim.Fleet
	c := &control{clk: clock.NewManual(time.Now().UTC().Truncate(time.Hour)), experiments: &console.ExperimentBoard{},
		tasks: &console.Coordinators{}}
	err := s.phase("fleet", func() (string, error) {
		var err error
		conc := 4 * runtime.GOMAXPROCS(0)
		if err := os.MkdirAll(s.path("fleet"), 0o755); err != nil {
			return "", err
		}
		f, err = sim.StartFleet(ctx, sim.Config{Devices: s.cfg.devices, Seed: s.cfg.seed, Dir: s.path("fleet"), Concurrency: conc,
			Progress: func(p sim.Progress) {
				s.disp.show("devices", fmt.Sprintf("%s %s devices", p.Phase, bar(p.Done, p.Total)))
			}},
			c.configure(s.path("fleet")))
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("server on %s; %d phones enrolled (each a real SDK instance in its own directory)", f.URL(), s.cfg.devices), nil
	})
	if err != nil {
		return err
	}
	defer func() {
		s.rep.PeakHeapBytes = f.PeakHeapBytes()
		s.rep.DiskBytes = f.DiskBytes()
		f.Close()
	}()
	if err := s.phase("publish v1", func() (string, error) {
		for _, b := range []struct {
			model, file string
			current     bool
		}{{etaServerModel, "eta-server-1.0.0.sxm", false}, {ndModel, "next-destination-1.0.0.sxm", true}, {etaModel, "eta-1.0.0.sxm", true}} {
			data, err := os.ReadFile(s.path("models", b.file))
			if err != nil {
				return "", err
			}
			if err := f.Publish(ctx, b.model, "1.0.0", data, b.current); err != nil {
				return "", err
			}
		}
		return "signed into the image repository (TUF targets) with the offline key; director serves v1", nil
	}); err != nil {
		return err
	}
	if err := s.phase("install v1", func() (string, error) {
		// A device's failed check-in shows in the version mix.
		if err := f.Each(ctx, "install", nil, func(d *sim.Device) error { d.CheckIn(ctx, f); return nil }); err != nil {
			return "", err
		}
		s.rep.Mix = append(s.rep.Mix, versionMix(f, ndModel, "after v1 install"))
		m := s.rep.Mix[len(s.rep.Mix)-1]
		return fmt.Sprintf("%d of %d phones verified, self-tested and committed v1", m.Versions["1.0.0"], s.cfg.devices), nil
	}); err != nil {
		return err
	}
	sd, err := s.loadServingData(s.cfg.devices)
	if err != nil {
		return err
	}
	defer sd.close()
	per := 20
	if s.cfg.fast {
		per = 8
	}
	if err := s.phase("serve v1", func() (string, error) {
		res, err := s.serve(ctx, f, sd, nil, per, "v1")
		if err != nil {
			return "", err
		}
		s.rep.Fleet = append(s.rep.Fleet, res...)
		total := 0
		for _, r := range res {
			total += r.Requests
		}
		return fmt.Sprintf("%d requests answered through the router", total), nil
	}); err != nil {
		return err
	}
	if err := s.phase("federated v2", func() (string, error) { return s.federated(ctx, f, c, "1.0.0") }); err != nil {
		return err
	}
	current := "1.0.0"
	if err := s.phase("v2 rollout", func() (string, error) {
		q, err := s.evaluate(ctx, "v2 (federated)", s.path("models", "next-destination-1.1.0.sxm"))
		if err != nil {
			return "", err
		}
		data, err := os.ReadFile(s.path("models", "next-destination-1.1.0.sxm"))
		if err != nil {
			return "", err
		}
		if err := f.Publish(ctx, ndModel, "1.1.0", data, false); err != nil {
			return "", err
		}
		r, err := s.runRollout(ctx, f, c, sd, ndModel+"-1.1.0", ndModel, "1.1.0", "1.0.0", 10)
		if err != nil {
			return "", err
		}
		if r.Final == rollout.Completed.String() {
			current = "1.1.0"
		}
		ab := ""
		if r.AB != nil {
			ab = fmt.Sprintf("; A/B at 50%%: Acc@1 %+.3f [%.3f, %.3f], SRM p %.2f", r.AB.Effect, r.AB.Low, r.AB.High, r.AB.SRMP)
		}
		return fmt.Sprintf("held-out Acc@1 %.3f (v1 %.3f); rollout %s after %d days%s; phones %v", q.Acc1, s.rep.Quality[0].Acc1,
			r.Final, len(r.Days), ab, r.EndMix), nil
	}); err != nil {
		return err
	}
	if err := s.phase("bad v3 rollout", func() (string, error) { return s.badRollout(ctx, f, c, sd, current) }); err != nil {
		return err
	}
	if !s.cfg.serve {
		return nil
	}
	// --serve: the report is written and the server keeps running with
	// its web console until Ctrl-C. A phone tells the server what it runs
	// at its next check-in: one more, so the console's version mix is the
	// fleet's as the story ends.
	if err := f.Each(ctx, "final check-in", nil, func(d *sim.Device) error { d.CheckIn(ctx, f); return nil }); err != nil {
		return err
	}
	s.rep.Seconds = time.Since(s.start).Seconds()
	if err := s.rep.writeJSON(s.cfg.out); err != nil {
		return err
	}
	if err := writeStoryHTML(filepath.Join(s.cfg.out, "report.html"), s.rep); err != nil {
		return err
	}
	_, secret, err := server.CreateToken(ctx, f.Store(), delivery.ScopeRead, "demo-console")
	if err != nil {
		return err
	}
	fmt.Fprintf(s.e.stdout, "\nconsole: %s%s — sign in with the read token %s (Ctrl-C stops the server)\n", f.URL(), console.Prefix, secret)
	if fn, ok := ctx.Value(servedKey{}).(func(url, token string)); ok {
		fn(f.URL(), secret)
	}
	<-ctx.Done()
	return nil
}

// servedKey is the context key of a function `demo --serve` calls, once the
// report is written and the console is up, with the server's URL and the
// console's read token (the tests drive a browser with them).
type servedKey struct{}

// withServed returns ctx carrying fn for `demo --serve`.
func withServed(ctx context.Context, fn func(url, token string)) context.Context {
	return context.WithValue(ctx, servedKey{}, fn)
}

// badRollout publishes a deliberately broken next-destination version and
// rolls it out over current with the quality gates: the controller must
// catch it and roll it back on its own.
func (s *story) badRollout(ctx context.Context, f *sim.Fleet, c *control, sd *servingData, current string) (string, error) {
	const bad = "1.2.0"
	dst := s.path("models", "next-destination-"+bad+".sxm")
	golden, err := s.golden("nd")
	if err != nil {
		return "", err
	}
	// The bug must be one this fleet can see: a gate certifies a
	// regression only beyond its tolerance, and a corrupted ranker can
	// fall back on a frequency-like order that costs far less than its
	// usual 60–70 points (one --fast run's v3 cost about 10 on device).
	// So the held-out cost is measured, and a bug that costs under three
	// tolerances is replaced by the wider one (every float tensor, read
	// back to front as well).
	base := s.qualityOf(current)
	need := 3 * s.gates()[0].MaxRegression
	widened := ""
	for i, bug := range []struct {
		label  string
		mutate func(*bundle.Bundle) (map[string]bool, error)
	}{{"v3 (corrupted quantization)", corruptQuantization}, {"v3 (corrupted quantization, every tensor)", corruptQuantizationAll}} {
		if err := packageBundle(ctx, s.path("models", "next-destination-"+current+".sxm"), dst, release{name: ndModel, version: bad,
			parent: current, data: golden, mutate: bug.mutate}); err != nil {
			return "", err
		}
		q, err := s.evaluate(ctx, bug.label, dst)
		if err != nil {
			return "", err
		}
		if base == nil || base.Acc1-q.Acc1 >= need || i == 1 {
			break
		}
		widened = fmt.Sprintf(" (the narrower bug cost only %.0f points held out, under the %.0f this fleet's gates need: widened to every tensor)",
			100*(base.Acc1-q.Acc1), 100*need)
	}
	s.rep.Bundles = append(s.rep.Bundles, demoBundle{Model: ndModel, Version: bad, Bytes: fileBytes(dst), Where: "device"})
	data, err := os.ReadFile(dst)
	if err != nil {
		return "", err
	}
	if err := f.Publish(ctx, ndModel, bad, data, false); err != nil {
		return "", err
	}
	r, err := s.runRollout(ctx, f, c, sd, ndModel+"-"+bad, ndModel, bad, current, 8)
	if err != nil {
		return "", err
	}
	if r.Final != rollout.RolledBack.String() {
		return "", fmt.Errorf("the broken %s was not rolled back: rollout ended %s after %d days; %s", bad, r.Final, len(r.Days), gateDays(r, bad))
	}
	var failed []string
	for _, g := range r.Days[len(r.Days)-1].Gates {
		if g.Verdict == rollout.Fail {
			failed = append(failed, g.Metric)
		}
	}
	return fmt.Sprintf("v%s (a quantization bug%s) installed and self-tested fine on %d phones; the failed %s gate rolled it back on day %d; now %v",
		bad, widened, r.Days[0].Mix[bad], strings.Join(failed, " and "), len(r.Days), r.EndMix), nil
}

// qualityOf is the held-out quality measured for version of the next
// destination model in this run, or nil.
func (s *story) qualityOf(version string) *demoQuality {
	for i := range s.rep.Quality {
		if q := &s.rep.Quality[i]; q.Model == ndModel && q.Version == version {
			return q
		}
	}
	return nil
}

// gateDays says, day by day, how many phones ran version and what each
// gate saw: the evidence behind a rollout that did not end as expected.
func gateDays(r *demoRollout, version string) string {
	var b strings.Builder
	for _, d := range r.Days {
		fmt.Fprintf(&b, "\nday %d: %d phones on %s, %s at %.0f%%;", d.Day, d.Mix[version], version, d.State, d.Share)
		for _, g := range d.Gates {
			fmt.Fprintf(&b, " %s %s (regression %.3f [%.3f, %.3f] of %.2f; n %.0f vs %.0f%s)", g.Metric, g.Verdict,
				g.Regression, g.Low, g.High, g.MaxRegression, g.CandidateN, g.CurrentN, reasonText(g.Reason))
		}
	}
	return b.String()
}

func reasonText(reason string) string {
	if reason == "" {
		return ""
	}
	return "; " + reason
}
