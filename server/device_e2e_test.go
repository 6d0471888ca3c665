package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/clock"
	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/delivery/signing"
	devstore "github.com/sextant-ml/sextant/device/store"
	"github.com/sextant-ml/sextant/device/transport/httptransport"
	"github.com/sextant-ml/sextant/device/updater"
	"github.com/sextant-ml/sextant/device/verify"
	"github.com/sextant-ml/sextant/tensor"
)

// goldenBundle writes a bundle of model@version computing y = x · scale,
// with golden data for the updater's self-test and pad random bytes.
func goldenBundle(t testing.TB, dir, model, version, parent string, scale float32, pad int) (string, []byte) {
	t.Helper()
	g := scaleGraph("x", scale)
	m := &bundle.Manifest{Name: model, Version: version, ParentVersion: parent, Signature: bundle.SignatureOf(g),
		Golden: &bundle.Golden{
			Inputs:    []bundle.TensorRef{{Name: "x", Tensor: "golden/in/x"}},
			Outputs:   []bundle.TensorRef{{Name: "y", Tensor: "golden/out/y"}},
			Tolerance: bundle.Tolerance{Abs: 1e-6, Rel: 1e-5},
		},
		Provenance: bundle.Provenance{CreatedAt: time.Unix(1700000000, 0).UTC(), DataSnapshot: "sha256:feed", TrainingRun: "run-1"}}
	p := make([]byte, pad)
	rand.Read(p)
	var buf bytes.Buffer
	err := bundle.Write(&buf, g, m,
		bundle.Extra{Name: "golden/in/x", Tensor: tensor.From([]float32{1, 2, 3, 4}, 1, 4)},
		bundle.Extra{Name: "golden/out/y", Tensor: tensor.From([]float32{scale, 2 * scale, 3 * scale, 4 * scale}, 1, 4)},
		bundle.Extra{Name: "pad", Tensor: tensor.From(p, pad)})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, model+"-"+version+".sxm")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, buf.Bytes()
}

// realDevice is a device running the SDK's own updater against the server:
// check-in and metadata through updater.UptaneVerifier, blobs and metadata
// over httptransport, bundles in a device/store.
type realDevice struct {
	reg    Registration
	st     *devstore.Store
	up     *updater.Updater
	phases []string
}

func newRealDevice(t *testing.T, r *running, enrollSecret string, imgRoot, dirRoot []byte) *realDevice {
	t.Helper()
	reg, err := r.client(enrollSecret).Register(context.Background(), DeviceInfo{Class: "mid-2022", OS: "android 14"})
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	st, err := devstore.Open(nil, filepath.Join(t.TempDir(), "models"), 0)
	if err != nil {
		t.Fatal(err)
	}
	trust := verify.DirStore{Dir: filepath.Join(t.TempDir(), "trust")}
	tr := httptransport.New(nil)
	v, err := updater.NewUptaneVerifier(updater.UptaneConfig{ServerURL: r.url, DeviceID: reg.ID, Credential: reg.Credential,
		ImageRoot: imgRoot, DirectorRoot: dirRoot, Store: trust, Transport: tr, Clock: clock.Real})
	if err != nil {
		t.Fatal(err)
	}
	d := &realDevice{reg: reg, st: st}
	d.up, err = updater.New(st, updater.Config{Verifier: v, Transport: tr, BlobURL: v.BlobURL, RequireGolden: true,
		Device:   updater.Device{Class: "mid-2022", OS: "android 14", Region: "CH", Locale: "de-CH"},
		Progress: func(p updater.Progress) { d.phases = append(d.phases, p.Version+":"+p.Phase.String()) }})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (d *realDevice) current(t *testing.T) string {
	t.Helper()
	s, err := d.st.State("eta")
	if err != nil {
		t.Fatal(err)
	}
	return s.Current
}

// roots reads the trusted roots the app would ship with.
func roots(t *testing.T, kd signing.KeyDir) ([]byte, []byte) {
	t.Helper()
	img, err := os.ReadFile(filepath.Join(kd.MetadataDir(), "1.root.json"))
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.ReadFile(filepath.Join(kd.DirectorMetadataDir(), "1.root.json"))
	if err != nil {
		t.Fatal(err)
	}
	return img, dir
}

// TestDeviceUpdaterEndToEnd: publish and sign → set current → a device
// enrols, and the real updater (UptaneVerifier + httptransport) checks in,
// verifies both repositories, downloads, installs, self-tests on the
// golden data and commits; a second version installs on the next
// check-in; a listed bundle whose blob was tampered with on the server's
// disk is refused with a *VerificationError and the previous version stays
// current.
func TestDeviceUpdaterEndToEnd(t *testing.T) {
	ctx := context.Background()
	kd, tk := keyDir(t)
	state := t.TempDir()
	r := start(t, "sqlite:"+filepath.Join(t.TempDir(), "sextant.db"), state, kd, nil)
	_, pub := r.token(t, delivery.ScopePublish)
	_, roll := r.token(t, delivery.ScopeRollout)
	_, enroll := r.token(t, delivery.ScopeEnroll)
	imgRoot, dirRoot := roots(t, kd)

	p1, data1 := goldenBundle(t, t.TempDir(), "eta", "1.0.0", "", 2, 30_000)
	publish(t, r.client(pub), kd, tk, p1, "eta")
	if _, err := r.client(roll).SetCurrent(ctx, "eta", "1.0.0"); err != nil {
		t.Fatal(err)
	}

	dev := newRealDevice(t, r, enroll, imgRoot, dirRoot)
	rep, err := dev.up.CheckIn(ctx)
	if err != nil {
		t.Fatalf("first check-in: %v", err)
	}
	if len(rep.Outcomes) != 1 || !rep.Outcomes[0].Installed || rep.Outcomes[0].Target.Version != "1.0.0" ||
		rep.Outcomes[0].Target.Length != int64(len(data1)) {
		t.Fatalf("first check-in report %+v", rep.Outcomes)
	}
	if got := dev.current(t); got != "1.0.0" {
		t.Fatalf("current %q after the first check-in, want 1.0.0", got)
	}
	if !slices.Contains(dev.phases, "1.0.0:self-testing") || !slices.Contains(dev.phases, "1.0.0:committed") {
		t.Fatalf("phases %v: want a self-test and a commit", dev.phases)
	}
	if installed, err := os.ReadFile(dev.st.Path("eta", "1.0.0")); err != nil || !bytes.Equal(installed, data1) {
		t.Fatalf("installed bundle differs from the published one (%v)", err)
	}
	// The manifest reached the server with the check-in.
	if d, err := r.db.GetDevice(ctx, dev.reg.ID); err != nil || d.Attributes.Region != "CH" || d.LastCheckIn.IsZero() {
		t.Fatalf("server's device record %+v, %v", d, err)
	}

	// Nothing new: up to date, nothing fetched.
	fetched := dev.up.Fetched()
	if rep, err = dev.up.CheckIn(ctx); err != nil || len(rep.Outcomes) != 1 || !rep.Outcomes[0].UpToDate {
		t.Fatalf("unchanged check-in: %+v, %v", rep, err)
	}
	if dev.up.Fetched() != fetched {
		t.Errorf("an unchanged check-in fetched %d bundle bytes", dev.up.Fetched()-fetched)
	}

	// A second version, set current, installs on the next check-in.
	p2, data2 := goldenBundle(t, t.TempDir(), "eta", "1.1.0", "1.0.0", 3, 20_000)
	publish(t, r.client(pub), kd, tk, p2, "eta")
	if _, err := r.client(roll).SetCurrent(ctx, "eta", "1.1.0"); err != nil {
		t.Fatal(err)
	}
	rep, err = dev.up.CheckIn(ctx)
	if err != nil || len(rep.Outcomes) != 1 || !rep.Outcomes[0].Installed || rep.Outcomes[0].Target.Version != "1.1.0" {
		t.Fatalf("second check-in: %+v, %v", rep, err)
	}
	if got := dev.current(t); got != "1.1.0" {
		t.Fatalf("current %q after 1.1.0, want 1.1.0", got)
	}
	if installed, _ := os.ReadFile(dev.st.Path("eta", "1.1.0")); !bytes.Equal(installed, data2) {
		t.Fatal("installed 1.1.0 differs from the published one")
	}

	// A third version is signed and assigned, but its blob on the server's
	// disk is then tampered with (same length, one byte flipped).
	p3, data3 := goldenBundle(t, t.TempDir(), "eta", "1.2.0", "1.1.0", 4, 20_000)
	publish(t, r.client(pub), kd, tk, p3, "eta")
	sum := sha256.Sum256(data3)
	blob := filepath.Join(state, "blobs", "sha256", hex.EncodeToString(sum[:]))
	onDisk, err := os.ReadFile(blob)
	if err != nil || !bytes.Equal(onDisk, data3) {
		t.Fatalf("blob of 1.2.0 not at %s (%v)", blob, err)
	}
	onDisk[len(onDisk)/2] ^= 0xff
	if err := os.WriteFile(blob, onDisk, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := r.client(roll).SetCurrent(ctx, "eta", "1.2.0"); err != nil {
		t.Fatal(err)
	}
	rep, err = dev.up.CheckIn(ctx)
	var ve *updater.VerificationError
	if !errors.As(err, &ve) {
		t.Fatalf("tampered blob: check-in error %v, want a *VerificationError", err)
	}
	t.Logf("tampered blob refused: %v", err)
	if len(rep.Outcomes) != 1 || rep.Outcomes[0].Installed || rep.Outcomes[0].Target.Version != "1.2.0" ||
		!errors.As(rep.Outcomes[0].Err, &ve) || ve.Version != "1.2.0" {
		t.Fatalf("tampered blob: outcomes %+v", rep.Outcomes)
	}
	if got := dev.current(t); got != "1.1.0" {
		t.Fatalf("current %q after a tampered 1.2.0, want 1.1.0", got)
	}
	if _, err := os.Stat(dev.st.Path("eta", "1.2.0")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the tampered bundle is in the store (%v)", err)
	}
	if parts, _ := os.ReadDir(dev.st.DownloadDir()); len(parts) != 0 {
		t.Errorf("partial downloads left behind: %v", parts)
	}
}

// TestDeviceUpdaterExpiredMetadata: a device whose clock is past the
// metadata's expiry gets updater.ErrExpired (not a verification failure),
// and installs nothing.
func TestDeviceUpdaterExpiredMetadata(t *testing.T) {
	ctx := context.Background()
	kd, tk := keyDir(t)
	r := start(t, "sqlite:"+filepath.Join(t.TempDir(), "sextant.db"), t.TempDir(), kd, nil)
	_, pub := r.token(t, delivery.ScopePublish)
	_, roll := r.token(t, delivery.ScopeRollout)
	_, enroll := r.token(t, delivery.ScopeEnroll)
	imgRoot, dirRoot := roots(t, kd)
	p1, _ := goldenBundle(t, t.TempDir(), "eta", "1.0.0", "", 2, 1000)
	publish(t, r.client(pub), kd, tk, p1, "eta")
	if _, err := r.client(roll).SetCurrent(ctx, "eta", "1.0.0"); err != nil {
		t.Fatal(err)
	}
	reg, err := r.client(enroll).Register(ctx, DeviceInfo{Class: "mid-2022"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := devstore.Open(nil, t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	late := clock.NewScaled(time.Now().AddDate(3, 0, 0), 1)
	tr := httptransport.New(nil)
	v, err := updater.NewUptaneVerifier(updater.UptaneConfig{ServerURL: r.url, DeviceID: reg.ID, Credential: reg.Credential,
		ImageRoot: imgRoot, DirectorRoot: dirRoot, Store: &verify.MemStore{}, Transport: tr, Clock: late})
	if err != nil {
		t.Fatal(err)
	}
	up, err := updater.New(st, updater.Config{Verifier: v, Transport: tr, BlobURL: v.BlobURL})
	if err != nil {
		t.Fatal(err)
	}
	_, err = up.CheckIn(ctx)
	var ve *updater.VerificationError
	if !errors.Is(err, updater.ErrExpired) || !errors.Is(err, verify.ErrExpired) || errors.As(err, &ve) {
		t.Fatalf("check-in with a clock past expiry: %v, want updater.ErrExpired", err)
	}
	t.Logf("expired: %v", err)
	if s, _ := st.State("eta"); s.Current != "" {
		t.Fatalf("installed %q from expired metadata", s.Current)
	}

	// A wrong credential fails the check-in itself, as a *NetworkError
	// carrying the status.
	bad, err := updater.NewUptaneVerifier(updater.UptaneConfig{ServerURL: r.url, DeviceID: reg.ID, Credential: "wrong",
		ImageRoot: imgRoot, DirectorRoot: dirRoot, Store: &verify.MemStore{}, Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad.Targets(ctx, &updater.Manifest{RuntimeVersion: updater.RuntimeVersion})
	var ne *updater.NetworkError
	if !errors.As(err, &ne) || ne.Status != 401 {
		t.Fatalf("wrong credential: %v, want a *NetworkError with status 401", err)
	}
}
