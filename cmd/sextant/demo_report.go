package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/sextant-ml/sextant/delivery/rollout"
)

// demoReport is everything one demo run measured; report.json holds it and
// report.html draws it. Every number comes from this run.
type demoReport struct {
	Seed    uint64  `json:"seed"`
	Devices int     `json:"devices"`
	Weeks   int     `json:"weeks"`
	Fast    bool    `json:"fast"`
	Started string  `json:"started"`
	Seconds float64 `json:"seconds"`

	Phases  []demoPhase   `json:"phases"`
	Quality []demoQuality `json:"next_destination"`
	ETA     []demoETA     `json:"eta"`
	Privacy []demoPrivacy `json:"privacy"`
	Bundles []demoBundle  `json:"bundles"`
	Fleet   []demoServe   `json:"serving"`
	Mix     []demoMix     `json:"version_mix"`
	// FL is the federated rounds that produced v2.
	FL []demoRound `json:"federated_rounds"`
	// Rollouts are the staged rollouts, day by day.
	Rollouts []demoRollout `json:"rollouts"`
	// PeakHeapBytes is the process's largest sampled Go heap (server and
	// every device share it); DiskBytes the devices' state on disk.
	PeakHeapBytes uint64 `json:"peak_heap_bytes"`
	DiskBytes     int64  `json:"device_disk_bytes"`
}

type demoPhase struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
	Summary string  `json:"summary"`
	// PeakHeapBytes and PeakRSSBytes are the largest Go heap in use and
	// resident set sampled during the phase (every 100 ms).
	PeakHeapBytes uint64 `json:"peak_heap_bytes"`
	PeakRSSBytes  uint64 `json:"peak_rss_bytes"`
	// BudgetSeconds is the phase's time budget for this fleet
	// (phaseBudget), 0 for a phase without one.
	BudgetSeconds float64 `json:"budget_seconds"`
}

// demoQuality is a next-destination version's quality on the held-out week.
type demoQuality struct {
	Label      string  `json:"label"`
	Model      string  `json:"model"`
	Version    string  `json:"version"`
	Examples   int     `json:"examples"`
	Acc1       float64 `json:"acc@1"`
	Acc5       float64 `json:"acc@5"`
	MRR        float64 `json:"mrr"`
	MarkovAcc1 float64 `json:"markov_acc@1"`
	MarkovAcc5 float64 `json:"markov_acc@5"`
	// PiMax is the mean per-user predictability bound (Song et al. 2010)
	// and MeanUserAcc1 the mean per-user Acc@1 it bounds.
	PiMax        float64 `json:"mean_pi_max"`
	MeanUserAcc1 float64 `json:"mean_user_acc@1"`
	// Scored says whose held-out weeks were scored ("all 100000 users
	// (2012345 rows)").
	Scored string `json:"scored,omitempty"`
}

// demoETA is an ETA model's error on the held-out trips.
type demoETA struct {
	Label       string  `json:"label"`
	MAE         float64 `json:"mae_s"`
	FreeFlowMAE float64 `json:"free_flow_mae_s"`
	FloorMAE    float64 `json:"noise_floor_mae_s"`
	// GapClosed is the share of the free-flow − floor gap the model
	// closes.
	GapClosed float64 `json:"gap_closed"`
	// Scored says whose held-out trips were scored.
	Scored string `json:"scored,omitempty"`
}

type demoPrivacy struct {
	Version string  `json:"version"`
	Source  string  `json:"source"`
	Epsilon float64 `json:"epsilon"`
	Delta   float64 `json:"delta"`
}

type demoBundle struct {
	Model   string `json:"model"`
	Version string `json:"version"`
	Bytes   int64  `json:"bytes"`
	Where   string `json:"where"`
}

// demoServe is what the fleet measured serving one version.
type demoServe struct {
	Label   string `json:"label"`
	Model   string `json:"model"`
	Version string `json:"version"`
	// Requests answered, by source (device, server, cache), and failures.
	Requests int            `json:"requests"`
	Sources  map[string]int `json:"sources"`
	Failures int            `json:"failures"`
	// Acc1 is the on-device top-1 hit rate (next destination); MAE the
	// absolute error in seconds (ETA).
	Acc1 float64 `json:"acc@1,omitempty"`
	MAE  float64 `json:"mae_s,omitempty"`
	// Latency percentiles in milliseconds: device answers modelled by the
	// profile's speed factor, server answers measured on loopback.
	DeviceP50 float64 `json:"device_p50_ms"`
	DeviceP95 float64 `json:"device_p95_ms"`
	ServerP50 float64 `json:"server_p50_ms,omitempty"`
	ServerP95 float64 `json:"server_p95_ms,omitempty"`
	// DeviceLatencies and ServerLatencies are the samples (ms) the plots
	// draw.
	DeviceLatencies []float64 `json:"device_latencies_ms,omitempty"`
	ServerLatencies []float64 `json:"server_latencies_ms,omitempty"`
}

// demoMix is the fleet's version mix of a model at one moment.
type demoMix struct {
	At       string         `json:"at"`
	Model    string         `json:"model"`
	Versions map[string]int `json:"versions"`
}

// demoRound is one committed federated round.
type demoRound struct {
	Round   int     `json:"round"`
	Joined  int     `json:"joined"`
	Reports int     `json:"reports"`
	Dropped int     `json:"dropped"`
	Epsilon float64 `json:"epsilon"`
	Delta   float64 `json:"delta"`
}

// demoRollout is one staged rollout's story.
type demoRollout struct {
	ID        string `json:"id"`
	Model     string `json:"model"`
	Candidate string `json:"candidate"`
	Current   string `json:"current"`
	// Final is the rollout's state at the end (completed, rolled_back…).
	Final   string           `json:"final"`
	Days    []demoRolloutDay `json:"days"`
	History []demoTransition `json:"history"`
	// FinalShare is the candidate's share (percent) at the end, after any
	// operator action; EndMix the fleet's versions after the last check-in.
	FinalShare float64        `json:"final_share_percent"`
	EndMix     map[string]int `json:"end_mix"`
	// AB is the A/B test at the 50 % stage, when the rollout reached it.
	AB *demoAB `json:"ab_test,omitempty"`
}

type demoRolloutDay struct {
	Day   int                  `json:"day"`
	State string               `json:"state"`
	Share float64              `json:"share_percent"`
	Mix   map[string]int       `json:"mix"`
	Gates []rollout.GateResult `json:"gates"`
}

// demoTransition is one recorded transition, At in simulated days from
// the rollout's creation.
type demoTransition struct {
	At     float64 `json:"day"`
	To     string  `json:"to"`
	Share  float64 `json:"share_percent"`
	Actor  string  `json:"actor"`
	Reason string  `json:"reason"`
}

// demoAB is an A/B test of on-device quality between a rollout's arms,
// over the health reports of the day served at the stage of Share percent
// (Day of the rollout).
type demoAB struct {
	Share            float64 `json:"share_percent"`
	Day              int     `json:"day"`
	Metric           string  `json:"metric"`
	Control          string  `json:"control"`
	Treatment        string  `json:"treatment"`
	ControlDevices   float64 `json:"control_devices"`
	TreatmentDevices float64 `json:"treatment_devices"`
	// ControlReporting and TreatmentReporting are the DP-released counts
	// of phones in each arm that reported labelled predictions in the
	// window (the units of the means).
	ControlReporting   float64 `json:"control_reporting_phones"`
	TreatmentReporting float64 `json:"treatment_reporting_phones"`
	// ControlMean and TreatmentMean are the arms' raw means of the
	// phones' rates in the window (for reading; the effect is adjusted).
	ControlMean   float64 `json:"control_mean"`
	TreatmentMean float64 `json:"treatment_mean"`
	// Adjustment describes the covariate adjustment behind Effect (empty:
	// none, the raw rates); ControlChange and TreatmentChange are then the
	// arms' mean adjusted values (a phone's change from its pre-period).
	Adjustment      string  `json:"adjustment,omitempty"`
	ControlChange   float64 `json:"control_change,omitempty"`
	TreatmentChange float64 `json:"treatment_change,omitempty"`
	// Effect, Low, High and P are treatment − control of the adjusted
	// values (of the raw rates without an adjustment).
	Effect  float64 `json:"effect"`
	Low     float64 `json:"ci_low"`
	High    float64 `json:"ci_high"`
	P       float64 `json:"p_value"`
	SeqLow  float64 `json:"sequential_ci_low"`
	SeqHigh float64 `json:"sequential_ci_high"`
	SRMChi2 float64 `json:"srm_chi2"`
	SRMP    float64 `json:"srm_p_value"`
}

// writeJSON writes the report as DIR/report.json.
func (r *demoReport) writeJSON(dir string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "report.json"), append(b, '\n'), 0o644)
}

// summary prints the terminal summary.
func (r *demoReport) summary(w io.Writer, dir string) {
	fmt.Fprintf(w, "\nSextant demo: %d devices, %d weeks of synthetic mobility, seed %d — %s\n", r.Devices, r.Weeks, r.Seed,
		(time.Duration(r.Seconds * float64(time.Second))).Round(time.Second))
	for _, q := range r.Quality {
		fmt.Fprintf(w, "  next destination %-14s v%-6s Acc@1 %.3f (Markov %.3f)  Acc@5 %.3f  MRR %.3f  mean user Acc@1 %.3f of Π_max %.3f%s\n",
			q.Label, q.Version, q.Acc1, q.MarkovAcc1, q.Acc5, q.MRR, q.MeanUserAcc1, q.PiMax, scoredText("held-out week", q.Scored))
	}
	for _, e := range r.ETA {
		fmt.Fprintf(w, "  ETA %-10s MAE %.1f s (free-flow %.1f s, noise floor %.1f s): closes %.0f%% of the gap%s\n",
			e.Label, e.MAE, e.FreeFlowMAE, e.FloorMAE, 100*e.GapClosed, scoredText("held-out trips", e.Scored))
	}
	for _, p := range r.Privacy {
		fmt.Fprintf(w, "  privacy %-28s (ε %.2f, δ %g) — %s\n", p.Version, p.Epsilon, p.Delta, p.Source)
	}
	for _, f := range r.Fleet {
		fmt.Fprintf(w, "  serving %-22s %d requests %v, %d failed", f.Label, f.Requests, f.Sources, f.Failures)
		if f.Acc1 > 0 {
			fmt.Fprintf(w, ", on-device Acc@1 %.3f", f.Acc1)
		}
		if f.MAE > 0 {
			fmt.Fprintf(w, ", MAE %.1f s", f.MAE)
		}
		fmt.Fprintf(w, "; device p50/p95 %.2f/%.2f ms", f.DeviceP50, f.DeviceP95)
		if f.ServerP95 > 0 {
			fmt.Fprintf(w, ", server p50/p95 %.2f/%.2f ms", f.ServerP50, f.ServerP95)
		}
		fmt.Fprintln(w)
	}
	if n := len(r.FL); n > 0 {
		last := r.FL[n-1]
		fmt.Fprintf(w, "  federated: %d rounds committed (reports per round:", n)
		for _, f := range r.FL {
			fmt.Fprintf(w, " %d", f.Reports)
		}
		fmt.Fprintf(w, "), ε %.2f (δ %g) after the last\n", last.Epsilon, last.Delta)
	}
	for _, ro := range r.Rollouts {
		fmt.Fprintf(w, "  rollout %s: v%s over v%s — %s after %d days; phones then %s\n", ro.ID, ro.Candidate, ro.Current, ro.Final,
			len(ro.Days), mixText(ro.EndMix))
		if ab := ro.AB; ab != nil {
			fmt.Fprintf(w, "    A/B at %.0f%% (day %d): %s %+.3f [%.3f, %.3f], p %.3f; SRM p %.3f (%.0f vs %.0f phones)\n", ab.Share, ab.Day,
				ab.Metric, ab.Effect, ab.Low, ab.High, ab.P, ab.SRMP, ab.ControlDevices, ab.TreatmentDevices)
		}
	}
	fmt.Fprintf(w, "  peak Go heap %.0f MiB; device state on disk %.1f MiB (%.0f KiB per device)\n",
		float64(r.PeakHeapBytes)/(1<<20), float64(r.DiskBytes)/(1<<20), float64(r.DiskBytes)/1024/float64(max(r.Devices, 1)))
	if len(r.Phases) > 0 {
		fmt.Fprintf(w, "  peak resident set by phase:")
		for i, p := range r.Phases {
			sep := ","
			if i == 0 {
				sep = ""
			}
			fmt.Fprintf(w, "%s %s %.1f GiB", sep, p.Name, float64(p.PeakRSSBytes)/(1<<30))
		}
		fmt.Fprintln(w)
	}
	writeBudgets(w, r)
	fmt.Fprintf(w, "Report: %s (numbers: %s)\n", filepath.Join(dir, "report.html"), filepath.Join(dir, "report.json"))
}

// scoredText is a summary line's note of what was evaluated: " — what
// of scored".
func scoredText(what, scored string) string {
	if scored == "" {
		return ""
	}
	return " — " + what + " of " + scored
}
