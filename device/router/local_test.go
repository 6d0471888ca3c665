package router

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/device/store"
	"github.com/sextant-ml/sextant/engine"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// writeDouble writes a bundle y = 2x (x float32[1,2], private) at path.
func writeDouble(t *testing.T, path string) {
	t.Helper()
	x := &graph.Value{Name: "x", Type: graph.ShapeOf(tensor.Float32, tensor.Shape{1, 2})}
	w := &graph.Value{Name: "w", Type: graph.ShapeOf(tensor.Float32, tensor.Shape{1, 2}), Const: tensor.From([]float32{2, 2}, 1, 2)}
	y := &graph.Value{Name: "y", Type: graph.ShapeOf(tensor.Float32, tensor.Shape{1, 2})}
	n := &graph.Node{Name: "mul", Op: "Mul", Inputs: []*graph.Value{x, w}, Outputs: []*graph.Value{y}}
	y.Producer = n
	g := &graph.Graph{Name: "d", Opset: 17, Inputs: []*graph.Value{x}, Outputs: []*graph.Value{y}, Initializers: []*graph.Value{w}, Nodes: []*graph.Node{n}}
	m := &bundle.Manifest{Name: "double", Version: "1.2.0", Signature: bundle.SignatureOf(g)}
	if err := bundle.WriteFile(path, g, m); err != nil {
		t.Fatal(err)
	}
}

// TestLoadFromStoreOffline loads the installed model from the device store
// and answers on device while offline.
func TestLoadFromStoreOffline(t *testing.T) {
	root := t.TempDir()
	st, err := store.Open(store.OS, root, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(root, "incoming.sxm")
	writeDouble(t, src)
	fi, _ := os.Stat(src)
	if err := st.Install("double", store.Version{Version: "1.2.0", Size: fi.Size()}, src); err != nil {
		t.Fatal(err)
	}
	if err := st.Commit("double", "1.2.0"); err != nil {
		t.Fatal(err)
	}
	inst, err := Load(st, "double", PreferServer, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Bundle.Close()
	if inst.Model.WeightBytes != 8 {
		t.Errorf("weight bytes %d, want 8", inst.Model.WeightBytes)
	}
	r := New(Config{ServerURL: "http://unused", Poster: &fakeServer{status: 200}, Host: &hostState{HostState{Online: false}}})
	if err := r.Register("double", inst.Model); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		res, err := r.Predict(context.Background(), "double", map[string]*tensor.Tensor{"x": tensor.From([]float32{float32(i), 3}, 1, 2)})
		if err != nil {
			t.Fatal(err)
		}
		got := tensor.Data[float32](res.Outputs["y"])
		if res.Source != SourceDevice || res.Version != "1.2.0" || got[0] != float32(2*i) || got[1] != 6 {
			t.Fatalf("request %d: %s %s %v", i, res.Source, res.Version, got)
		}
	}
}

// TestNoNetHTTP holds the router to the device rule: no net/http in its
// dependencies.
func TestNoNetHTTP(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if p == "net/http" || strings.HasPrefix(p, "github.com/sextant-ml/sextant/server") {
			t.Errorf("device/router links %s", p)
		}
	}
}

// TestLoadScoreConfidence: a model with an output named "confidence" (a
// regressor's deferral head) is loaded with the Score measure, and the
// cascade escalates exactly the requests whose confidence is below the
// manifest's threshold.
func TestLoadScoreConfidence(t *testing.T) {
	b := graph.NewBuilder("reg", 17)
	b.Input("x", tensor.Float32, 1, 1)
	b.Initializer("two", tensor.From([]float32{2}, 1, 1))
	b.Initializer("one", tensor.From([]float32{1}, 1, 1))
	b.Node("Mul", []string{"x", "two"}, []string{"y"}, nil)
	b.Node("Mul", []string{"x", "one"}, []string{"confidence"}, nil)
	b.Output("y", "confidence")
	g := b.Graph()
	if err := graph.Infer(g, nil); err != nil {
		t.Fatal(err)
	}
	m := &bundle.Manifest{Name: "reg", Version: "1.0.0", Signature: bundle.SignatureOf(g),
		Calibration:   &bundle.Calibration{CascadeThreshold: 0.5},
		ServerVariant: &bundle.ServerVariant{Model: "reg-server", Inputs: []string{"x"}}}
	m.Signature.Inputs[0].Privacy = bundle.Public
	root := t.TempDir()
	src := filepath.Join(root, "in.sxm")
	if err := bundle.WriteFile(src, g, m); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(store.OS, root, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(src)
	if err := st.Install("reg", store.Version{Version: "1.0.0", Size: fi.Size()}, src); err != nil {
		t.Fatal(err)
	}
	if err := st.Commit("reg", "1.0.0"); err != nil {
		t.Fatal(err)
	}
	inst, err := Load(st, "reg", Cascade, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Bundle.Close()
	if inst.Model.Measure != Score || inst.Model.ConfidenceOutput != "confidence" {
		t.Fatalf("measure %v on %q, want score on confidence", inst.Model.Measure, inst.Model.ConfidenceOutput)
	}
	srv := &fakeServer{status: 200}
	r := New(Config{ServerURL: "http://unused", Poster: srv})
	if err := r.Register("reg", inst.Model); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		x    float32
		want Source
	}{{0.9, SourceDevice}, {0.5, SourceDevice}, {0.49, SourceServer}, {0.1, SourceServer}} {
		res, err := r.Predict(context.Background(), "reg", map[string]*tensor.Tensor{"x": tensor.From([]float32{c.x}, 1, 1)})
		if err != nil || res.Source != c.want || res.Escalated != (c.want == SourceServer) {
			t.Fatalf("confidence %v: %v %+v, want %s", c.x, err, res, c.want)
		}
	}
	if srv.count() != 2 {
		t.Fatalf("%d server calls, want 2", srv.count())
	}
}
