package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/tensor"
)

// sharedPadBundle is goldenBundle with a given pad, so that two versions
// share most of their bytes (a fine-tuned model's unchanged weights).
func sharedPadBundle(t testing.TB, dir, version, parent string, scale float32, pad []byte) (string, []byte) {
	t.Helper()
	g := scaleGraph("x", scale)
	m := &bundle.Manifest{Name: "eta", Version: version, ParentVersion: parent, Signature: bundle.SignatureOf(g),
		Golden: &bundle.Golden{
			Inputs:    []bundle.TensorRef{{Name: "x", Tensor: "golden/in/x"}},
			Outputs:   []bundle.TensorRef{{Name: "y", Tensor: "golden/out/y"}},
			Tolerance: bundle.Tolerance{Abs: 1e-6, Rel: 1e-5},
		},
		Provenance: bundle.Provenance{CreatedAt: time.Unix(1700000000, 0).UTC(), DataSnapshot: "sha256:feed", TrainingRun: "run-1"}}
	var buf bytes.Buffer
	err := bundle.Write(&buf, g, m,
		bundle.Extra{Name: "golden/in/x", Tensor: tensor.From([]float32{1, 2, 3, 4}, 1, 4)},
		bundle.Extra{Name: "golden/out/y", Tensor: tensor.From([]float32{scale, 2 * scale, 3 * scale, 4 * scale}, 1, 4)},
		bundle.Extra{Name: "pad", Tensor: tensor.From(pad, len(pad))})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "eta-"+version+".sxm")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, buf.Bytes()
}

// TestDeviceUpdaterDeltaEndToEnd: publishing a version that shares most
// bytes with its predecessor records a delta artifact far smaller than the
// bundle; a device with the predecessor installed is offered it, fetches it
// instead of the bundle, rebuilds and installs the exact bundle. A device
// with nothing installed is offered no delta and fetches the bundle. The
// offer is not signed: a delta tampered with on the server rebuilds
// nothing that verifies, and the device falls back to the whole bundle.
func TestDeviceUpdaterDeltaEndToEnd(t *testing.T) {
	ctx := context.Background()
	kd, tk := keyDir(t)
	state := t.TempDir()
	r := start(t, "sqlite:"+filepath.Join(t.TempDir(), "sextant.db"), state, kd, nil)
	_, pub := r.token(t, delivery.ScopePublish)
	_, roll := r.token(t, delivery.ScopeRollout)
	_, enroll := r.token(t, delivery.ScopeEnroll)
	imgRoot, dirRoot := roots(t, kd)

	pad := make([]byte, 200_000)
	rand.Read(pad)
	p1, _ := sharedPadBundle(t, t.TempDir(), "1.0.0", "", 2, pad)
	publish(t, r.client(pub), kd, tk, p1, "eta")
	if arts, err := r.db.ListArtifacts(ctx, "eta", "1.0.0"); err != nil || slices.ContainsFunc(arts, func(a delivery.Artifact) bool { return a.Kind == delivery.KindDelta }) {
		t.Fatalf("first version has a delta (%v): %+v", err, arts)
	}
	if _, err := r.client(roll).SetCurrent(ctx, "eta", "1.0.0"); err != nil {
		t.Fatal(err)
	}
	dev := newRealDevice(t, r, enroll, imgRoot, dirRoot)
	if _, err := dev.up.CheckIn(ctx); err != nil || dev.current(t) != "1.0.0" {
		t.Fatalf("first install: %v, current %q", err, dev.current(t))
	}

	pad2 := bytes.Clone(pad)
	copy(pad2[1000:], []byte("fine-tuned weights"))
	p2, data2 := sharedPadBundle(t, t.TempDir(), "1.1.0", "1.0.0", 3, pad2)
	publish(t, r.client(pub), kd, tk, p2, "eta")
	arts, err := r.db.ListArtifacts(ctx, "eta", "1.1.0")
	if err != nil {
		t.Fatal(err)
	}
	var d *delivery.Artifact
	for i := range arts {
		if arts[i].Kind == delivery.KindDelta {
			d = &arts[i]
		}
	}
	if d == nil || d.From != "1.0.0" || d.Length*10 > int64(len(data2)) || d.MediaType != delivery.MediaDelta {
		t.Fatalf("delta artifact %+v for a %d-byte bundle", d, len(data2))
	}
	t.Logf("delta 1.0.0→1.1.0: %d bytes for a %d-byte bundle", d.Length, len(data2))
	if _, err := r.client(roll).SetCurrent(ctx, "eta", "1.1.0"); err != nil {
		t.Fatal(err)
	}

	before := dev.up.Fetched()
	rep, err := dev.up.CheckIn(ctx)
	if err != nil || len(rep.Outcomes) != 1 || !rep.Outcomes[0].Installed {
		t.Fatalf("delta check-in: %+v, %v", rep, err)
	}
	if got := dev.up.Fetched() - before; got != d.Length {
		t.Errorf("fetched %d bytes, want the delta's %d", got, d.Length)
	}
	if !slices.Contains(dev.phases, "1.1.0:decoding") {
		t.Errorf("phases %v: no delta decode", dev.phases)
	}
	if installed, _ := os.ReadFile(dev.st.Path("eta", "1.1.0")); !bytes.Equal(installed, data2) || dev.current(t) != "1.1.0" {
		t.Fatal("the rebuilt 1.1.0 differs from the published bundle")
	}

	fresh := newRealDevice(t, r, enroll, imgRoot, dirRoot)
	if _, err := fresh.up.CheckIn(ctx); err != nil || fresh.current(t) != "1.1.0" {
		t.Fatalf("fresh device: %v", err)
	}
	if got := fresh.up.Fetched(); got != int64(len(data2)) {
		t.Errorf("a device with nothing installed fetched %d bytes, want the bundle's %d", got, len(data2))
	}

	// A tampered delta: the device falls back to the bundle and installs
	// the genuine version.
	pad3 := bytes.Clone(pad2)
	copy(pad3[5000:], []byte("more fine-tuning"))
	p3, data3 := sharedPadBundle(t, t.TempDir(), "1.2.0", "1.1.0", 4, pad3)
	publish(t, r.client(pub), kd, tk, p3, "eta")
	arts, err = r.db.ListArtifacts(ctx, "eta", "1.2.0")
	if err != nil || len(arts) == 0 {
		t.Fatalf("1.2.0 artifacts %+v, %v", arts, err)
	}
	var d3 delivery.Artifact
	for _, a := range arts {
		if a.Kind == delivery.KindDelta {
			d3 = a
		}
	}
	blob := filepath.Join(state, "blobs", "sha256", d3.SHA256)
	onDisk, err := os.ReadFile(blob)
	if err != nil {
		t.Fatal(err)
	}
	onDisk[len(onDisk)/2] ^= 0xff
	if err := os.WriteFile(blob, onDisk, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := r.client(roll).SetCurrent(ctx, "eta", "1.2.0"); err != nil {
		t.Fatal(err)
	}
	before = dev.up.Fetched()
	if rep, err := dev.up.CheckIn(ctx); err != nil || len(rep.Outcomes) != 1 || !rep.Outcomes[0].Installed {
		t.Fatalf("check-in with a tampered delta: %+v, %v", rep, err)
	}
	if got := dev.up.Fetched() - before; got != d3.Length+int64(len(data3)) {
		t.Errorf("fetched %d bytes, want the delta's %d and then the bundle's %d", got, d3.Length, len(data3))
	}
	if installed, _ := os.ReadFile(dev.st.Path("eta", "1.2.0")); !bytes.Equal(installed, data3) || dev.current(t) != "1.2.0" {
		t.Fatal("installed 1.2.0 differs from the published bundle")
	}
}

// countKind counts the artifacts of one kind (a version may also have
// deltas).
func countKind(arts []delivery.Artifact, k delivery.ArtifactKind) int {
	n := 0
	for _, a := range arts {
		if a.Kind == k {
			n++
		}
	}
	return n
}
