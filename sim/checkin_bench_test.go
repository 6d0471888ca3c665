package sim

import (
	"context"
	"testing"
)

// BenchmarkCheckInNoChange is one phone's check-in that finds nothing new
// (v1 installed and still assigned): the check-in post, the director's and
// the image repository's metadata verified from the device's trust store,
// the target found up to date. The in-process server's side is included,
// in ns/op (wall) and in cpu-ns/op (the process's CPU time: device,
// server and HTTP on both sides).
func BenchmarkCheckInNoChange(b *testing.B) {
	ctx := context.Background()
	v1, err := buildBundle(ctx, "1.0.0", "", 1)
	if err != nil {
		b.Fatal(err)
	}
	f, err := StartFleet(ctx, Config{Devices: 1, Seed: 3}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := f.Publish(ctx, ModelName, v1.version, v1.data, true); err != nil {
		b.Fatal(err)
	}
	d := f.Devices()[0]
	if err := d.CheckIn(ctx, f); err != nil || d.Version(ModelName) != v1.version {
		b.Fatalf("install: %v, on %q", err, d.Version(ModelName))
	}
	b.ReportAllocs()
	cpu := processCPU()
	n := 0
	for b.Loop() {
		if err := d.CheckIn(ctx, f); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(processCPU()-cpu)/float64(n), "cpu-ns/op")
	if d.Installs() != 1 || d.Failures() != 0 {
		b.Fatalf("%d installs, %d failures: %v", d.Installs(), d.Failures(), d.Err())
	}
}
