package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sextant-ml/sextant/eval"
)

// storyConfig is what `sextant demo` runs.
type storyConfig struct {
	out     string
	devices int
	weeks   int
	seed    uint64
	fast    bool
	rounds  int
	// donors is the fraction of users in the consented donor cohort the v1
	// next-destination prior is trained on with DP-SGD.
	donors float64
	city   string
	serve  bool
	// heapProfiles is a directory for heap profiles at each new peak
	// ("": none).
	heapProfiles string
}

// story is one run of the demo: the work directory, the display and the
// report being filled phase by phase.
type story struct {
	e    *env
	cfg  storyConfig
	disp *display
	rep  *demoReport
	log  io.Writer // demo.log: every command's own output
	// start is when the run began.
	start time.Time
	// mem samples the heap and resident set for each phase's peaks.
	mem *memSampler
	// tables are the tables read centrally (demo_sample.go).
	tables tableCache

	mu sync.Mutex
}

// runCommand is run, set at init: the command table refers to the demo, which
// runs commands from the table.
var runCommand func(ctx context.Context, args []string, stdout, stderr io.Writer) error

func init() { runCommand = run }

func (s *story) path(parts ...string) string {
	return filepath.Join(append([]string{s.cfg.out}, parts...)...)
}

// cli runs a sextant command line in process, as a user would type it; its
// output goes to demo.log and its standard output is returned. The
// display's "command" line names the command while it runs, with a
// training's steps (and epochs) as a bar.
func (s *story) cli(ctx context.Context, args ...string) ([]byte, error) {
	var out bytes.Buffer
	errb := &cmdOutput{disp: s.disp, label: commandLabel(args)}
	if e, err := strconv.Atoi(flagValue(args, "--epochs")); err == nil {
		errb.epochs = e
	}
	fmt.Fprintf(s.log, "$ sextant %s\n", quoteArgs(args))
	s.disp.show("command", errb.label)
	err := runCommand(ctx, args, &out, errb)
	s.disp.show("command", "")
	s.log.Write(out.Bytes())
	s.log.Write(errb.Bytes())
	if err != nil {
		return nil, fmt.Errorf("sextant %s: %w", args[0], err)
	}
	return out.Bytes(), nil
}

// cmdOutput is an in-process command's standard error: its text goes to
// demo.log; a progress bar it draws shows in the display instead.
type cmdOutput struct {
	bytes.Buffer
	disp   *display
	label  string
	epochs int
}

func (c *cmdOutput) progress(done, total int, detail string) {
	ep := ""
	if c.epochs > 0 && total > 0 {
		ep = fmt.Sprintf(", epoch %d/%d", min(done*c.epochs/total+1, c.epochs), c.epochs)
	}
	c.disp.show("command", fmt.Sprintf("%s %s steps%s  %s", c.label, bar(done, total), ep, detail))
}

// commandLabel names a command line for the display: "sextant train
// next-destination", "sextant eval next-destination-1.1.0.sxm".
func commandLabel(args []string) string {
	n := 1 // the command, with its subcommand for data
	if len(args) > 1 && args[0] == "data" {
		n = 2
	}
	l := "sextant " + strings.Join(args[:min(len(args), n)], " ")
	for _, f := range []string{"--arch", "--kind", "--model"} {
		if v := flagValue(args, f); v != "" {
			return l + " " + filepath.Base(v)
		}
	}
	return l
}

// flagValue is the value following flag in args ("" when absent).
func flagValue(args []string, flag string) string {
	for i, a := range args[:max(len(args)-1, 0)] {
		if a == flag {
			return args[i+1]
		}
	}
	return ""
}

func quoteArgs(args []string) string {
	var b bytes.Buffer
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		if a == "" || bytes.ContainsAny([]byte(a), " \t'\"*") {
			a = strconv.Quote(a)
		}
		b.WriteString(a)
	}
	return b.String()
}

// phase runs fn as the named phase, timing it into the report and showing
// it on the display.
func (s *story) phase(name string, fn func() (string, error)) error {
	s.disp.begin(name)
	s.mem.begin(name)
	t0 := time.Now()
	summary, err := fn()
	d := time.Since(t0)
	heap, rss := s.mem.peaks()
	budget := phaseBudget(name, s.cfg.devices)
	s.rep.Phases = append(s.rep.Phases, demoPhase{Name: name, Seconds: d.Seconds(), Summary: summary, PeakHeapBytes: heap, PeakRSSBytes: rss,
		BudgetSeconds: budget.Seconds()})
	s.disp.end(name, summary+overBudget(d, budget), d, err)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// population generates the city's synthetic people (one per device) and
// derives the flagship models' tables: the next-destination training split
// of every user (their own phone's data, used by federated learning) and of
// the donor cohort (the DP-SGD prior), the held-out weeks, and the ETA trips.
func (s *story) population(ctx context.Context) (string, error) {
	mob := s.path("data", "mobility")
	if _, err := s.cli(ctx, "data", "generate", "--users", strconv.Itoa(s.cfg.devices), "--weeks", strconv.Itoa(s.cfg.weeks),
		"--seed", strconv.FormatUint(s.cfg.seed, 10), "--city", s.cfg.city, "-o", mob, "-q"); err != nil {
		return "", err
	}
	for _, t := range []struct {
		kind, dir string
		donors    float64
	}{{"next-destination", "nd", 1}, {"next-destination", "nd-donors", s.cfg.donors}, {"eta", "eta", 1}} {
		if _, err := s.cli(ctx, "data", "features", "--kind", t.kind, "--in", mob, "-o", s.path("data", t.dir),
			"--holdout-weeks", "1", "--donors", strconv.FormatFloat(t.donors, 'g', -1, 64)); err != nil {
			return "", err
		}
	}
	// The donor tables' held-out split is nd's (every user's last week),
	// which the demo reads instead: a copy is disk for nothing (6 GB at
	// 100,000 users).
	if err := os.Remove(s.path("data", "nd-donors", "test.parquet")); err != nil && !os.IsNotExist(err) {
		return "", err
	}
	return fmt.Sprintf("%d people × %d weeks on OpenStreetMap geography (last week held out)", s.cfg.devices, s.cfg.weeks), nil
}

// train trains the three flagship models: the next-destination prior with
// DP-SGD on the donor cohort, and the ETA models on trips.
func (s *story) train(ctx context.Context) (string, error) {
	seed := strconv.FormatUint(s.cfg.seed, 10)
	eta, err := s.table("eta", "train")
	if err != nil {
		return "", err
	}
	// User-level DP-SGD (docs/design-train.md): about a quarter of the
	// donors sampled per step, each donor's contribution clipped to 1,
	// σ = 2.5, about 4 steps an epoch (as models/flagship/bar.sh).
	// Past maxDPBatch donors a step (10,000 phones) a step samples at most
	// that many and the run takes as many steps as 25 epochs of four steps
	// would: a smaller sampling rate over the same number of steps, so
	// the memory (one batch) and time stay those of 10,000 phones and
	// the ε the accountant reports for them is lower.
	donors := float64(s.cfg.devices) * s.cfg.donors
	users := max(4, int(math.Round(donors/4)))
	dpEpochs := 25
	if s.cfg.fast {
		dpEpochs = 12
	}
	length := []string{"--epochs", strconv.Itoa(dpEpochs)}
	if users > maxDPBatch {
		users = maxDPBatch
		length = []string{"--steps", strconv.Itoa(4 * dpEpochs)}
	}
	runs := [][]string{
		append([]string{"train", "--arch", "next-destination", "--data", s.path("data", "nd-donors", "train.parquet"), "--optimizer", "adam",
			"--lr", "0.01", "--batch", strconv.Itoa(users)}, append(length, "--dp-noise", "2.5", "--dp-clip", "1.0", "--delta", "1e-5",
			"--dp-user-column", "user_id", "--dp-max-per-user", "16", "--name", "next-destination", "--version", "1.0.0", "--seed", seed, "-o", s.path("models", "nd-trained.sxm"))...),
		{"train", "--arch", "eta-small", "--data", eta.path, "--labels", "log_ratio", "--loss", "mse",
			"--optimizer", "adam", "--lr", "0.003", "--batch", "256", "--epochs", "1", "--name", "eta", "--version", "1.0.0",
			"--seed", seed, "-o", s.path("models", "eta-trained.sxm")},
		{"train", "--arch", "eta-server", "--data", eta.path, "--labels", "log_ratio", "--loss", "mse",
			"--optimizer", "adam", "--lr", "0.001", "--batch", "256", "--epochs", "2", "--name", "eta-server", "--version", "1.0.0",
			"--seed", seed, "-o", s.path("models", "eta-server.sxm")},
	}
	for _, args := range runs {
		if _, err := s.cli(ctx, args...); err != nil {
			return "", err
		}
	}
	cost, err := privacyOf(s.path("models", "nd-trained.sxm"))
	if err != nil {
		return "", err
	}
	s.rep.Privacy = append(s.rep.Privacy, demoPrivacy{Version: "next-destination 1.0.0", Source: "user-level DP-SGD on the donor cohort",
		Epsilon: cost.Epsilon, Delta: cost.Delta})
	sampled := ""
	if users == maxDPBatch {
		sampled = fmt.Sprintf(", %d of %.0f donors sampled a step over %d steps", users, donors, 4*dpEpochs)
	}
	etaNote := ""
	if eta.sampled() {
		etaNote = " on the trips of " + eta.note()
	}
	return fmt.Sprintf("next destination (user-level DP-SGD on a %.0f%% donor cohort%s, ε %.2f, δ %g per user), ETA small and server%s",
		100*s.cfg.donors, sampled, cost.Epsilon, cost.Delta, etaNote), nil
}

// maxDPBatch is the most donors the prior's DP-SGD samples a step
// (expected): the batch is what its training holds in memory.
const maxDPBatch = 500

// evaluate scores a next-destination bundle on the held-out week against
// the Markov baseline and the users' predictability bound, and records it.
func (s *story) evaluate(ctx context.Context, label, model string) (*demoQuality, error) {
	tab, err := s.whole("nd", "test")
	if err != nil {
		return nil, err
	}
	test := tab.path
	out, err := s.cli(ctx, "eval", "--model", model, "--data", test, "--task", "ranking", "--baseline", "markov",
		"--metrics", "acc@1,acc@5,mrr", "--bootstrap", "200", "--json")
	if err != nil {
		return nil, err
	}
	var rep eval.Report
	if err := json.Unmarshal(out, &rep); err != nil {
		return nil, fmt.Errorf("eval output: %w", err)
	}
	q := &demoQuality{Label: label, Model: rep.Model.Name, Version: rep.Model.Version, Examples: rep.Data.Examples, Scored: tab.scope()}
	for _, sl := range rep.Slices {
		if sl.Key != "all" {
			continue
		}
		get := func(m string) (float64, float64) {
			e := sl.Metrics[m]
			b := 0.0
			if e.Baseline != nil {
				b = float64(*e.Baseline)
			}
			return float64(e.Candidate), b
		}
		q.Acc1, q.MarkovAcc1 = get("acc@1")
		q.Acc5, q.MarkovAcc5 = get("acc@5")
		q.MRR, _ = get("mrr")
	}
	out, err = s.cli(ctx, "predictability", "--data", test, "--model", model, "--json")
	if err != nil {
		return nil, err
	}
	var p eval.PredictabilitySummary
	if err := json.Unmarshal(out, &p); err != nil {
		return nil, fmt.Errorf("predictability output: %w", err)
	}
	q.PiMax = float64(p.MeanPiMax)
	if p.MeanAcc1 != nil {
		q.MeanUserAcc1 = float64(*p.MeanAcc1)
	}
	s.mu.Lock()
	s.rep.Quality = append(s.rep.Quality, *q)
	s.mu.Unlock()
	return q, nil
}

// etaQuality scores an ETA bundle's travel times on the held-out trips
// against the free-flow estimate and the simulator's noise floor.
func (s *story) etaQuality(ctx context.Context, label, model string) error {
	tab, err := s.whole("eta", "test")
	if err != nil {
		return err
	}
	test := tab.path
	q := demoETA{Label: label, Scored: tab.scope()}
	for _, b := range []struct {
		col string
		dst *float64
	}{{"free_flow_s", &q.FreeFlowMAE}, {"expected_s", &q.FloorMAE}} {
		out, err := s.cli(ctx, "eval", "--model", model, "--data", test, "--labels", "travel_s", "--task", "regression",
			"--baseline", "column:"+b.col, "--metrics", "mae", "--bootstrap", "100", "--json")
		if err != nil {
			return err
		}
		var rep eval.Report
		if err := json.Unmarshal(out, &rep); err != nil {
			return fmt.Errorf("eval output: %w", err)
		}
		e := rep.Slices[0].Metrics["mae"]
		q.MAE = float64(e.Candidate)
		if e.Baseline != nil {
			*b.dst = float64(*e.Baseline)
		}
	}
	if gap := q.FreeFlowMAE - q.FloorMAE; gap > 0 {
		q.GapClosed = (q.FreeFlowMAE - q.MAE) / gap
	}
	s.mu.Lock()
	s.rep.ETA = append(s.rep.ETA, q)
	s.mu.Unlock()
	return nil
}

// openLog prepares the work directory and creates demo.log. A directory
// of an earlier run (it holds demo.log) is cleared of that run's data,
// models and fleet state; any other non-empty directory is refused, so the
// demo never deletes files it did not write.
func openLog(dir string) (*os.File, error) {
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	if len(ents) > 0 {
		if _, err := os.Stat(filepath.Join(dir, "demo.log")); err != nil {
			return nil, fmt.Errorf("%s is not empty and holds no earlier demo run (demo.log); choose another --out", dir)
		}
		for _, sub := range []string{"data", "models", "fleet", "report.html", "report.json"} {
			if err := os.RemoveAll(filepath.Join(dir, sub)); err != nil {
				return nil, err
			}
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "models"), 0o755); err != nil {
		return nil, err
	}
	return os.Create(filepath.Join(dir, "demo.log"))
}
