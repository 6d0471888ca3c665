package server

import (
	"bytes"
	"context"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/delivery"
	devtelemetry "github.com/sextant-ml/sextant/device/telemetry"
	"github.com/sextant-ml/sextant/device/transport/httptransport"
	"github.com/sextant-ml/sextant/privacy/telemetry"
)

func telemetryRegistry(t testing.TB) *telemetry.Registry {
	t.Helper()
	seeds := make([]uint64, 16)
	for i := range seeds {
		seeds[i] = uint64(i)*0x9e3779b97f4a7c15 + 1
	}
	reg, err := telemetry.NewRegistry(
		telemetry.Schema{Name: "road", Fields: []telemetry.Field{{Name: "kind", Type: telemetry.String}},
			Mechanism: telemetry.CMS, Epsilon: 4, DailyBudget: 1e9, Retention: 24 * time.Hour, M: 1024, K: 16, Seeds: seeds},
		telemetry.Schema{Name: "app_opened", Fields: []telemetry.Field{{Name: "screen", Type: telemetry.String}},
			Mechanism: telemetry.None, Retention: 24 * time.Hour},
	)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

func postBatch(t testing.TB, url string, body []byte) int {
	t.Helper()
	resp, err := http.Post(url+"/v1/telemetry", telemetry.BatchContentType, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestTelemetryEstimatesFromDeviceReports: reports privatized by the device
// encoder, posted anonymously in batches, come out of the admin estimate
// close to the truth; the logs hold no address; metrics count them.
func TestTelemetryEstimatesFromDeviceReports(t *testing.T) {
	kd, _ := keyDir(t)
	reg := telemetryRegistry(t)
	r := start(t, "sqlite:"+filepath.Join(t.TempDir(), "s.db"), t.TempDir(), kd, func(c *Config) {
		c.Telemetry = TelemetryConfig{Registry: reg}
	})
	ledger, err := telemetry.OpenLedger(filepath.Join(t.TempDir(), "ledger.json"))
	if err != nil {
		t.Fatal(err)
	}
	enc, err := telemetry.NewEncoder(reg, ledger, fixedClock{time.Unix(1800000000, 0)}, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	truth := map[string]int{"motorway": 1500, "primary": 900, "residential": 600, "track": 0}
	var batch []byte
	n := 0
	for kind, c := range truth {
		for range c {
			rep, err := enc.Append(nil, "road", map[string]any{"kind": kind})
			if err != nil {
				t.Fatal(err)
			}
			batch = telemetry.AppendBatchItem(batch, rep)
			if n++; n%200 == 0 {
				if st := postBatch(t, r.url, batch); st != http.StatusNoContent {
					t.Fatalf("batch: status %d", st)
				}
				batch = nil
			}
		}
	}
	for range 3 {
		rep, _ := enc.Append(nil, "app_opened", map[string]any{"screen": "map"})
		batch = telemetry.AppendBatchItem(batch, rep)
	}
	if st := postBatch(t, r.url, batch); st != http.StatusNoContent {
		t.Fatalf("last batch: status %d", st)
	}

	_, read := r.token(t, delivery.ScopeRead)
	var cands []map[string]any
	for kind := range truth {
		cands = append(cands, map[string]any{"kind": kind})
	}
	est, err := r.client(read).TelemetryEstimates(context.Background(), "road", cands)
	if err != nil {
		t.Fatal(err)
	}
	if est.Reports != 3000 || len(est.Estimates) != len(truth) || est.NoiseSD <= 0 {
		t.Fatalf("estimates %+v", est)
	}
	for _, e := range est.Estimates {
		want := float64(truth[e.Values["kind"].(string)])
		if math.Abs(e.Estimate-want) > 5*est.NoiseSD+0.05*want {
			t.Errorf("%v: estimate %.0f, truth %.0f (noise sd %.1f)", e.Values, e.Estimate, want, est.NoiseSD)
		}
	}
	pub, err := r.client(read).TelemetryEstimates(context.Background(), "app_opened", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(pub.Estimates) != 1 || pub.Estimates[0].Estimate != 3 || pub.Estimates[0].Values["screen"] != "map" {
		t.Errorf("public counts %+v", pub)
	}
	if _, err := r.client(read).TelemetryEstimates(context.Background(), "nope", nil); delivery.Code(err) != "not_found" {
		t.Errorf("undeclared stream estimate: %v", err)
	}

	resp, err := http.Get(r.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(m), `sextant_telemetry_reports_total{outcome="accepted",stream="road"} 3000`) {
		t.Errorf("metrics lack the accepted report count:\n%s", grepLines(string(m), "telemetry"))
	}
	if strings.Contains(r.logs.String(), "127.0.0.1") {
		t.Fatal("request log holds an address")
	}
	if !strings.Contains(r.logs.String(), "POST /v1/telemetry") {
		t.Fatal("request log lacks the telemetry route")
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestTelemetryRefusals: an undeclared stream or a malformed report → 400
// and nothing aggregated; too many reports or bytes → 413; an empty global
// bucket → 429.
func TestTelemetryRefusals(t *testing.T) {
	kd, _ := keyDir(t)
	reg := telemetryRegistry(t)
	r := start(t, "sqlite:"+filepath.Join(t.TempDir(), "s.db"), t.TempDir(), kd, func(c *Config) {
		c.Telemetry = TelemetryConfig{Registry: reg, MaxBatchReports: 4, MaxBatchBytes: 4096,
			Rate: Rate{PerSecond: 0.001, Burst: 5}}
	})
	public := func(screen string) []byte {
		return telemetry.AppendReport(nil, &telemetry.Report{Stream: "app_opened", Mechanism: telemetry.None, Item: []byte(screen)})
	}
	good := telemetry.AppendBatchItem(nil, public("map"))
	undeclared := telemetry.AppendBatchItem(append([]byte(nil), good...),
		telemetry.AppendReport(nil, &telemetry.Report{Stream: "secret", Mechanism: telemetry.None, Item: []byte("x")}))
	if st := postBatch(t, r.url, undeclared); st != http.StatusBadRequest {
		t.Errorf("undeclared stream: status %d, want 400", st)
	}
	if st := postBatch(t, r.url, append(append([]byte(nil), good...), 3, 1, 0)); st != http.StatusBadRequest {
		t.Errorf("malformed report: status %d, want 400", st)
	}
	var five []byte
	for range 5 {
		five = append(five, good...)
	}
	if st := postBatch(t, r.url, five); st != http.StatusRequestEntityTooLarge {
		t.Errorf("5 reports over a bound of 4: status %d, want 413", st)
	}
	big := telemetry.AppendBatchItem(nil, public(strings.Repeat("x", 4000)))
	big = telemetry.AppendBatchItem(big, public(strings.Repeat("y", 100)))
	if st := postBatch(t, r.url, big); st != http.StatusRequestEntityTooLarge {
		t.Errorf("body over 4096 bytes: status %d, want 413", st)
	}
	if st := postBatch(t, r.url, good); st != http.StatusNoContent {
		t.Errorf("good batch: status %d", st)
	}
	if st := postBatch(t, r.url, good); st != http.StatusTooManyRequests {
		t.Errorf("6th batch with a burst of 5: status %d, want 429", st)
	}
	_, read := r.token(t, delivery.ScopeRead)
	est, err := r.client(read).TelemetryEstimates(context.Background(), "app_opened", nil)
	if err != nil {
		t.Fatal(err)
	}
	if est.Reports != 1 {
		t.Errorf("aggregate holds %d reports, want 1 (refused batches add nothing)", est.Reports)
	}
}

// TestTelemetrySenderEndToEnd: the device SDK's sender, over the HTTP
// transport, delivers encoded reports that the server aggregates.
func TestTelemetrySenderEndToEnd(t *testing.T) {
	kd, _ := keyDir(t)
	reg := telemetryRegistry(t)
	r := start(t, "sqlite:"+filepath.Join(t.TempDir(), "s.db"), t.TempDir(), kd, func(c *Config) {
		c.Telemetry = TelemetryConfig{Registry: reg}
	})
	s, err := devtelemetry.New(devtelemetry.Config{Poster: httptransport.New(nil), URL: r.url + "/v1/telemetry",
		Rand: rand.New(rand.NewPCG(3, 3)), MaxDelay: time.Millisecond, MaxBatch: 50})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := reg.Lookup("app_opened")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 120 {
		item, err := sc.Item(map[string]any{"screen": []string{"map", "search", "nav"}[i%3]})
		if err != nil {
			t.Fatal(err)
		}
		rep := telemetry.AppendReport(nil, &telemetry.Report{Stream: "app_opened", Mechanism: telemetry.None, Item: []byte(item)})
		if err := s.Enqueue(rep); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	go s.Run(ctx)
	for s.Stats().Sent < 120 && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	if st := s.Stats(); st.Sent != 120 || st.Refused != 0 {
		t.Fatalf("sender stats %+v", st)
	}
	_, read := r.token(t, delivery.ScopeRead)
	est, err := r.client(read).TelemetryEstimates(context.Background(), "app_opened", nil)
	if err != nil {
		t.Fatal(err)
	}
	if est.Reports != 120 || len(est.Estimates) != 3 || est.Estimates[0].Estimate != 40 {
		t.Errorf("aggregate %+v", est)
	}
}
