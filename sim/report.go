package sim

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// Report is what a simulated fleet measured.
type Report struct {
	Devices  int    `json:"devices"`
	Seed     uint64 `json:"seed"`
	Enrolled int    `json:"enrolled"`
	// Profiles counts the devices of each profile.
	Profiles map[string]int `json:"profiles"`
	// BundleBytes is the size of each published version.
	BundleBytes map[string]int `json:"bundle_bytes"`
	// OnV1 is the devices on v1 after the first check-in; OnV2 the
	// devices on v2 at the end.
	OnV1 int `json:"on_v1"`
	OnV2 int `json:"on_v2"`
	// Installs counts installed bundles; InstallFailures check-ins or
	// targets that failed (FailureSamples quotes a few).
	Installs        int      `json:"installs"`
	InstallFailures int      `json:"install_failures"`
	FailureSamples  []string `json:"failure_samples,omitempty"`
	// Convergence is the fleet's fraction on v2 after each check-in round
	// of the v2 rollout (round 0: when v2 became current);
	// RoundsToConverge is the first round with every device on v2, -1 if
	// none within MaxRounds.
	Convergence      []Round `json:"convergence"`
	RoundsToConverge int     `json:"rounds_to_converge"`
	// Predictions and PredictionFailures count on-device predictions;
	// Latency holds their modelled latency per profile.
	Predictions        int                      `json:"predictions"`
	PredictionFailures int                      `json:"prediction_failures"`
	Latency            map[string]*LatencyStats `json:"latency"`
	// BytesDownloaded is what the devices' updaters received; DiskBytes what
	// the devices' directories hold at the end.
	BytesDownloaded int64 `json:"bytes_downloaded"`
	DiskBytes       int64 `json:"disk_bytes"`
	// Wall is the run's wall time, Phases each phase's; PeakHeapBytes the
	// largest Go heap in use sampled every 100 ms (server and devices share
	// the process).
	Wall          time.Duration `json:"wall_ns"`
	Phases        []Phase       `json:"phases"`
	PeakHeapBytes uint64        `json:"peak_heap_bytes"`
}

// Round is one check-in round of the rollout.
type Round struct {
	Round    int           `json:"round"`
	SimTime  time.Duration `json:"sim_time_ns"`
	CheckIns int           `json:"check_ins"`
	OnV2     int           `json:"on_v2"`
	Fraction float64       `json:"fraction"`
}

// Phase is one phase's wall time.
type Phase struct {
	Name string        `json:"name"`
	Wall time.Duration `json:"wall_ns"`
}

// LatencyStats summarises one profile's modelled prediction latencies.
type LatencyStats struct {
	SpeedFactor float64       `json:"speed_factor"`
	N           int           `json:"n"`
	P50         time.Duration `json:"p50_ns"`
	P95         time.Duration `json:"p95_ns"`
	Max         time.Duration `json:"max_ns"`
}

func latencyStats(lat []time.Duration, speed float64) *LatencyStats {
	s := &LatencyStats{SpeedFactor: speed, N: len(lat)}
	if len(lat) == 0 {
		return s
	}
	lat = slices.Clone(lat)
	slices.Sort(lat)
	s.P50, s.P95, s.Max = quantile(lat, 0.5), quantile(lat, 0.95), lat[len(lat)-1]
	return s
}

// quantile is the nearest-rank q-quantile of sorted.
func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// Write prints the report for a terminal.
func (r *Report) Write(w io.Writer) {
	fmt.Fprintf(w, "Fleet: %d devices (seed %d):", r.Devices, r.Seed)
	for _, name := range sortedKeys(r.Profiles) {
		fmt.Fprintf(w, " %s %d", name, r.Profiles[name])
	}
	fmt.Fprintln(w)
	for _, v := range sortedKeys(r.BundleBytes) {
		fmt.Fprintf(w, "  bundle v%s: %d B\n", v, r.BundleBytes[v])
	}
	fmt.Fprintf(w, "  enrolled %d; on v1 after the first check-in %d; %d installs, %d failures\n",
		r.Enrolled, r.OnV1, r.Installs, r.InstallFailures)
	for _, s := range r.FailureSamples {
		fmt.Fprintf(w, "    %s\n", s)
	}
	var curve []string
	for _, c := range r.Convergence {
		// Floor, so that 100% means the whole fleet.
		curve = append(curve, fmt.Sprintf("%.0f%%", math.Floor(100*c.Fraction)))
	}
	if r.RoundsToConverge >= 0 && len(r.Convergence) > r.RoundsToConverge {
		fmt.Fprintf(w, "  v2 rollout: whole fleet on v2 after %d check-in rounds (%s simulated)\n",
			r.RoundsToConverge, r.Convergence[r.RoundsToConverge].SimTime)
	} else {
		fmt.Fprintf(w, "  v2 rollout: %d of %d devices on v2 after %d rounds\n", r.OnV2, r.Devices, len(r.Convergence)-1)
	}
	fmt.Fprintf(w, "    fraction on v2 by round: %s\n", strings.Join(curve, " "))
	fmt.Fprintf(w, "  predictions on device: %d, %d failed\n", r.Predictions, r.PredictionFailures)
	for _, name := range sortedKeys(r.Latency) {
		l := r.Latency[name]
		fmt.Fprintf(w, "    %-10s ×%-4g n=%-6d p50 %-10s p95 %-10s max %s\n", name, l.SpeedFactor, l.N,
			l.P50.Round(time.Microsecond), l.P95.Round(time.Microsecond), l.Max.Round(time.Microsecond))
	}
	fmt.Fprintf(w, "  downloaded %d B (%.0f B per device); device state on disk %d B (%.0f B per device)\n",
		r.BytesDownloaded, float64(r.BytesDownloaded)/float64(max(r.Devices, 1)), r.DiskBytes, float64(r.DiskBytes)/float64(max(r.Devices, 1)))
	var ph []string
	for _, p := range r.Phases {
		ph = append(ph, fmt.Sprintf("%s %s", p.Name, p.Wall.Round(time.Millisecond)))
	}
	fmt.Fprintf(w, "  wall %s (%s); peak Go heap %.1f MiB\n", r.Wall.Round(time.Millisecond), strings.Join(ph, ", "), float64(r.PeakHeapBytes)/(1<<20))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
