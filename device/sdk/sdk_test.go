package sdk

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/device/router"
	"github.com/sextant-ml/sextant/device/updater"
	"github.com/sextant-ml/sextant/tensor"
)

func input() map[string]*tensor.Tensor {
	return map[string]*tensor.Tensor{"x": tensor.From([]float32{1, 2, 3, 4}, 1, 4)}
}

func checkAnswer(t *testing.T, r *Result, version string, scale float32) {
	t.Helper()
	if r.Source != router.SourceDevice || r.Version != version || r.Latency <= 0 {
		t.Fatalf("source %q version %q latency %v, want device %q >0", r.Source, r.Version, r.Latency, version)
	}
	got := tensor.Data[float32](r.Outputs["y"])
	if want := []float32{scale, 2 * scale, 3 * scale, 4 * scale}; !slices.Equal(got, want) {
		t.Fatalf("y = %v, want %v", got, want)
	}
}

func TestEmptyStoreNoServer(t *testing.T) {
	base := runtime.NumGoroutine()
	s, err := Open(context.Background(), Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if a := s.Availability("eta"); a != Unavailable {
		t.Fatalf("availability %v, want unavailable", a)
	}
	if _, err := s.Predict(context.Background(), "eta", input()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Predict: %v, want ErrUnavailable", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Predict(context.Background(), "eta", input()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Predict after Close: %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	checkNoLeak(t, base)
}

func TestInstalledModelAnswersOnDevice(t *testing.T) {
	dir := t.TempDir()
	install(t, dir, "1.2.0", makeBundle(t, "1.2.0", 3))
	base := runtime.NumGoroutine()
	s, err := Open(context.Background(), Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if a := s.Availability("eta"); a != Available {
		t.Fatalf("availability %v, want available", a)
	}
	r, err := s.Predict(context.Background(), "eta", input())
	if err != nil {
		t.Fatal(err)
	}
	checkAnswer(t, r, "1.2.0", 3)
	if _, err := s.Predict(context.Background(), "other", input()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Predict(other): %v, want ErrUnavailable", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	checkNoLeak(t, base)
}

// TestDownloadableStartsDownload: the server offers a model the device lacks;
// Predict returns ErrDownloading at once and wakes the updater, which
// downloads, self-tests and loads it, after which Predict answers on device.
func TestDownloadableStartsDownload(t *testing.T) {
	data := makeBundle(t, "2.0.0", 5)
	bl := &blobs{data: data}
	v := &offer{targets: []updater.Target{{Name: "eta", Version: "2.0.0", Length: int64(len(data)), SHA256: hexSHA256(data), Ops: []string{"Mul"}}}}
	var unmetered atomic.Bool
	base := runtime.NumGoroutine()
	s, err := Open(context.Background(), Config{
		Dir: t.TempDir(), Verifier: v, Transport: bl,
		// Every download waits for an unmetered network, which comes
		// only after the first Predict.
		LargeBytes:    1,
		Conditions:    func() updater.Conditions { return updater.Conditions{Unmetered: unmetered.Load(), Charging: true} },
		BlobURL:       func(h string) string { return "mem://" + h },
		CheckInterval: time.Hour, // only the first check-in and Predict's request run
		Logger:        slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	// The first check-in defers the download: offered, not installed.
	eventually(t, "downloadable", func() bool { return s.Availability("eta") == Downloadable })
	if n := v.checkIns.Load(); n != 1 {
		t.Fatalf("%d check-ins before Predict, want 1", n)
	}
	if n := bl.gets.Load(); n != 0 {
		t.Fatalf("%d fetches before Predict, want 0", n)
	}
	unmetered.Store(true)
	start := time.Now()
	_, err = s.Predict(context.Background(), "eta", input())
	if !errors.Is(err, ErrDownloading) {
		t.Fatalf("Predict: %v, want ErrDownloading", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Predict of a downloadable model took %v; it must not wait", d)
	}
	eventually(t, "available", func() bool { return s.Availability("eta") == Available })
	if n := v.checkIns.Load(); n != 2 {
		t.Fatalf("%d check-ins, want 2 (Open's and Predict's)", n)
	}
	r, err := s.Predict(context.Background(), "eta", input())
	if err != nil {
		t.Fatal(err)
	}
	checkAnswer(t, r, "2.0.0", 5)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	checkNoLeak(t, base)
	// Close stopped the loop: a trigger now is not served.
	gets := bl.gets.Load()
	s.checkInSoon()
	time.Sleep(20 * time.Millisecond)
	if bl.gets.Load() != gets || v.checkIns.Load() != 2 {
		t.Fatal("the updater ran after Close")
	}
}

func TestServerNeedsTransport(t *testing.T) {
	_, err := Open(context.Background(), Config{Dir: t.TempDir(), ServerURL: "https://example.invalid"})
	if err == nil {
		t.Fatal("Open with a server and no transport succeeded")
	}
}

func TestAvailabilityString(t *testing.T) {
	for a, want := range map[Availability]string{Available: "available", Downloadable: "downloadable", Unavailable: "unavailable"} {
		if a.String() != want {
			t.Errorf("%d.String() = %q, want %q", int(a), a.String(), want)
		}
	}
}
