package server

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/tensor"
)

// inferServer starts a server with model "eta" (y = 2x, x float32[1,4])
// current, and returns it with a device credential.
func inferServer(t *testing.T, rate Rate) (*running, string) {
	r, d, _ := inferServerDevices(t, rate)
	return r, d.reg.Credential
}

// inferServerDevices is inferServer with the enrolled device and a
// function that enrols another.
func inferServerDevices(t *testing.T, rate Rate) (*running, *device, func() *device) {
	t.Helper()
	kd, tk := keyDir(t)
	r := start(t, "sqlite:"+filepath.Join(t.TempDir(), "s.db"), t.TempDir(), kd, func(c *Config) {
		c.InferRate = rate
	})
	_, pub := r.token(t, delivery.ScopePublish)
	_, roll := r.token(t, delivery.ScopeRollout)
	_, enroll := r.token(t, delivery.ScopeEnroll)
	p := inferBundle(t)
	publish(t, r.client(pub), kd, tk, p, "eta")
	if _, err := r.client(roll).SetCurrent(context.Background(), "eta", "1.0.0"); err != nil {
		t.Fatal(err)
	}
	another := func() *device { return enrol(t, r, kd, enroll) }
	return r, another(), another
}

// inferBundle writes eta@1.0.0: y = 2x with x public.
func inferBundle(t *testing.T) string {
	g := scaleGraph("x", 2)
	m := &bundle.Manifest{Name: "eta", Version: "1.0.0", Signature: bundle.SignatureOf(g)}
	m.Signature.Inputs[0].Privacy = bundle.Public
	path := filepath.Join(t.TempDir(), "eta.sxm")
	if err := bundle.WriteFile(path, g, m); err != nil {
		t.Fatal(err)
	}
	return path
}

func postInfer(t *testing.T, url, cred, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url+"/v1/infer/eta", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+cred)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestInferValidation(t *testing.T) {
	r, cred := inferServer(t, Rate{PerSecond: 1000, Burst: 1000})
	x := base64.StdEncoding.EncodeToString(tensor.Bytes([]float32{1, 2, 3, 4}))
	ok := `{"inputs":{"x":{"dtype":"float32","shape":[1,4],"data":"` + x + `"}}}`
	st, body := postInfer(t, r.url, cred, ok)
	if st != 200 {
		t.Fatalf("%d %s", st, body)
	}
	want := base64.StdEncoding.EncodeToString(tensor.Bytes([]float32{2, 4, 6, 8}))
	if !strings.Contains(body, want) || !strings.Contains(body, `"version":"1.0.0"`) {
		t.Fatalf("answer %s, want y=%s", body, want)
	}
	for _, tc := range []struct{ body, reason string }{
		{`{"inputs":{}}`, `input \"x\" is missing`},
		{`{"inputs":{"x":{"dtype":"float64","shape":[1,4],"data":"` + x + `"}}}`, "dtype float64, want float32"},
		{`{"inputs":{"x":{"dtype":"float32","shape":[1,3],"data":"` + x + `"}}}`, "shape [1 3]"},
		{`{"inputs":{"x":{"dtype":"float32","shape":[4],"data":"` + x + `"}}}`, "rank 1, want 2"},
		{`{"inputs":{"x":{"dtype":"float32","shape":[1,4],"data":"AAAA"}}}`, "data bytes"},
		{`{"inputs":{"x":{"dtype":"float32","shape":[1,4],"data":"` + x + `"},"z":{"dtype":"float32","shape":[1],"data":"AAAAAA=="}}}`, `\"z\" is not in the model's signature`},
	} {
		st, body := postInfer(t, r.url, cred, tc.body)
		if st != 400 || !strings.Contains(body, tc.reason) {
			t.Errorf("%s: %d %s, want 400 with %q", tc.body, st, body, tc.reason)
		}
	}
	if st, _ := postInfer(t, r.url, "nope", ok); st != 401 {
		t.Errorf("unknown credential: %d", st)
	}
	if st, _ := postInfer(t, r.url, cred, `{"inputs":{"x":{"dtype":"float32","shape":[1,4],"data":"`+strings.Repeat("A", 2<<20)+`"}}}`); st != 413 {
		t.Errorf("2 MiB body: %d, want 413", st)
	}
}

// TestInferRateLimitPerDevice: inference has its own per-device bucket.
// A device that exhausts it gets 429 with Retry-After on /v1/infer, while
// its check-ins (the device limit) still pass and another device's
// inference is untouched.
func TestInferRateLimitPerDevice(t *testing.T) {
	r, dev, another := inferServerDevices(t, Rate{PerSecond: 0.001, Burst: 3})
	x := base64.StdEncoding.EncodeToString(tensor.Bytes([]float32{1, 2, 3, 4}))
	body := `{"inputs":{"x":{"dtype":"float32","shape":[1,4],"data":"` + x + `"}}}`
	var got []int
	for range 5 {
		st, _ := postInfer(t, r.url, dev.reg.Credential, body)
		got = append(got, st)
	}
	if got[0] != 200 || got[2] != 200 || got[3] != 429 || got[4] != 429 {
		t.Fatalf("statuses %v, want 3 × 200 then 429", got)
	}
	req, _ := http.NewRequest("POST", r.url+"/v1/infer/eta", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+dev.reg.Credential)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("limited request: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// The device's other calls draw on the device limit, not this one.
	for i := range 5 {
		if _, err := dev.client.CheckIn(context.Background(), dev.reg.ID, manifest); err != nil {
			t.Fatalf("check-in %d after the inference limit: %v", i, err)
		}
	}
	other := another()
	if st, b := postInfer(t, r.url, other.reg.Credential, body); st != 200 {
		t.Fatalf("another device: %d %s", st, b)
	}
}
