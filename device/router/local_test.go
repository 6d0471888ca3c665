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
