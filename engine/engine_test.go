package engine

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// mlp builds y = Relu(x·W1 + b1)·W2 + b2 with a symbolic batch dim.
func mlp(t testing.TB, in, hidden, out int) *graph.Graph {
	t.Helper()
	w := func(name string, shape ...int) *graph.Value {
		c := tensor.New(tensor.Float32, shape...)
		for i := range tensor.Data[float32](c) {
			tensor.Data[float32](c)[i] = float32((i*7)%13-6) / 13
		}
		return &graph.Value{Name: name, Const: c, Type: graph.ShapeOf(tensor.Float32, c.Shape)}
	}
	x := &graph.Value{Name: "x", Type: graph.Type{DType: tensor.Float32, Known: true, Shape: []graph.Dim{graph.Symbol("batch"), graph.Fixed(int64(in))}}}
	w1, b1, w2, b2 := w("w1", in, hidden), w("b1", hidden), w("w2", hidden, out), w("b2", out)
	h0 := &graph.Value{Name: "h0"}
	h1 := &graph.Value{Name: "h1"}
	h2 := &graph.Value{Name: "h2"}
	y := &graph.Value{Name: "y"}
	nodes := []*graph.Node{
		{Op: "MatMul", Name: "mm1", Inputs: []*graph.Value{x, w1}, Outputs: []*graph.Value{h0}},
		{Op: "Add", Name: "add1", Inputs: []*graph.Value{h0, b1}, Outputs: []*graph.Value{h1}},
		{Op: "Relu", Name: "relu", Inputs: []*graph.Value{h1}, Outputs: []*graph.Value{h2}},
		{Op: "Gemm", Name: "gemm2", Inputs: []*graph.Value{h2, w2, b2}, Outputs: []*graph.Value{y}},
	}
	for _, n := range nodes {
		for _, o := range n.Outputs {
			o.Producer = n
		}
	}
	return &graph.Graph{Opset: 17, Nodes: nodes, Inputs: []*graph.Value{x}, Outputs: []*graph.Value{y}, Initializers: []*graph.Value{w1, b1, w2, b2}}
}

// reference computes the mlp of the test graph in float64.
func reference(g *graph.Graph, x []float32, batch int) []float64 {
	consts := map[string]*tensor.Tensor{}
	for _, v := range g.Initializers {
		consts[v.Name] = v.Const
	}
	lin := func(in []float64, w, b *tensor.Tensor) []float64 {
		k, n := w.Shape[0], w.Shape[1]
		rows := len(in) / k
		out := make([]float64, rows*n)
		for r := 0; r < rows; r++ {
			for j := 0; j < n; j++ {
				s := b.Float64At(j)
				for i := 0; i < k; i++ {
					s += in[r*k+i] * w.Float64At(i*n+j)
				}
				out[r*n+j] = s
			}
		}
		return out
	}
	in := make([]float64, len(x))
	for i, v := range x {
		in[i] = float64(v)
	}
	h := lin(in, consts["w1"], consts["b1"])
	for i := range h {
		h[i] = max(h[i], 0)
	}
	return lin(h, consts["w2"], consts["b2"])
}

func input(batch, n int, seed float32) *tensor.Tensor {
	x := tensor.New(tensor.Float32, batch, n)
	for i := range tensor.Data[float32](x) {
		tensor.Data[float32](x)[i] = float32(i%11)/11*seed - 0.3
	}
	return x
}

func TestRunMatchesReference(t *testing.T) {
	g := mlp(t, 8, 16, 4)
	ref := mlp(t, 8, 16, 4)
	m, err := Compile(g, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if m.ArenaBytes() <= 0 {
		t.Fatalf("static plan arena %d, want > 0 for a batch-1 plan", m.ArenaBytes())
	}
	s := m.NewSession()
	for _, batch := range []int{1, 3, 1, 7} {
		x := input(batch, 8, 1.5)
		outs, err := s.Run(context.Background(), []*tensor.Tensor{x})
		if err != nil {
			t.Fatal(err)
		}
		want := reference(ref, tensor.Data[float32](x), batch)
		got := outs[0]
		if !got.Shape.Equal(tensor.Shape{batch, 4}) {
			t.Fatalf("batch %d: output shape %v", batch, got.Shape)
		}
		for i, w := range want {
			if d := float64(tensor.Data[float32](got)[i]) - w; d > 1e-5 || d < -1e-5 {
				t.Fatalf("batch %d: y[%d] = %v, want %v", batch, i, tensor.Data[float32](got)[i], w)
			}
		}
	}
	if n := len(*m.plans.Load()); n != 3 {
		t.Errorf("%d plans cached, want 3 (batch 1, 3, 7)", n)
	}
}

func TestRunZeroAllocs(t *testing.T) {
	m, err := Compile(mlp(t, 32, 64, 16), Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := m.NewSession()
	ins := []*tensor.Tensor{input(4, 32, 1)}
	ctx := context.Background()
	if _, err := s.Run(ctx, ins); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := s.Run(ctx, ins); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Run allocates %v times per call in steady state, want 0", allocs)
	}
}

// TestArenaSharesMemory checks that values whose lifetimes do not overlap
// share arena bytes: the arena is smaller than the sum of intermediates.
func TestArenaSharesMemory(t *testing.T) {
	// Unoptimized, so the four intermediates stay separate values.
	m, err := Compile(mlp(t, 64, 256, 64), Options{Dims: map[string]int{"batch": 8}, NoOptimize: true})
	if err != nil {
		t.Fatal(err)
	}
	// Intermediates: h0, h1, h2 of 8×256 floats and y of 8×64.
	sum := int64(3*8*256*4 + 8*64*4)
	if m.ArenaBytes() >= sum {
		t.Fatalf("arena %d bytes, not smaller than the %d bytes of all intermediates", m.ArenaBytes(), sum)
	}
	// h0 and h1 are live at once at the Add.
	if min := int64(2 * 8 * 256 * 4); m.ArenaBytes() < min {
		t.Fatalf("arena %d bytes is below the %d bytes live at once", m.ArenaBytes(), min)
	}
}

// TestCompileOptimizes checks that Compile runs the graph passes: the
// MatMul+Add+Relu chain fuses into one node.
func TestCompileOptimizes(t *testing.T) {
	m, err := Compile(mlp(t, 8, 16, 4), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, n := range m.Graph().Nodes {
		ops = append(ops, n.Op)
	}
	if len(ops) != 2 || ops[0] != "FusedMatMul" {
		t.Fatalf("optimized ops %v, want [FusedMatMul Gemm/FusedGemm]", ops)
	}
}

func TestArenaBudget(t *testing.T) {
	_, err := Compile(mlp(t, 64, 256, 64), Options{MaxArenaBytes: 1024})
	var be *ArenaBudgetError
	if !errors.As(err, &be) {
		t.Fatalf("Compile error %v, want *ArenaBudgetError", err)
	}
	if be.Planned <= 1024 || be.Budget != 1024 {
		t.Fatalf("budget error %+v", be)
	}
}

func TestDeadline(t *testing.T) {
	m, err := Compile(mlp(t, 8, 16, 4), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	_, err = m.NewSession().Run(ctx, []*tensor.Tensor{input(1, 8, 1)})
	var de *DeadlineError
	if !errors.As(err, &de) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run error %v, want *DeadlineError wrapping DeadlineExceeded", err)
	}
}

func TestBadInputs(t *testing.T) {
	m, err := Compile(mlp(t, 8, 16, 4), Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := m.NewSession()
	for name, ins := range map[string][]*tensor.Tensor{
		"none":       {},
		"nil":        {nil},
		"dtype":      {tensor.New(tensor.Float64, 1, 8)},
		"fixed dim":  {tensor.New(tensor.Float32, 1, 9)},
		"rank":       {tensor.New(tensor.Float32, 8)},
		"short data": {{DType: tensor.Float32, Shape: tensor.Shape{1, 8}, Raw: make([]byte, 4)}},
	} {
		if _, err := s.Run(context.Background(), ins); !errors.Is(err, ErrInput) {
			t.Errorf("%s: error %v, want ErrInput", name, err)
		}
	}
}

// TestConcurrentSessions runs many sessions of one model at once (run with
// -race) and checks every result.
func TestConcurrentSessions(t *testing.T) {
	m, err := Compile(mlp(t, 16, 32, 8), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ref := mlp(t, 16, 32, 8)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			s := m.NewSession()
			for i := 0; i < 50; i++ {
				batch := 1 + (w+i)%3
				x := input(batch, 16, float32(w+1))
				outs, err := s.Run(context.Background(), []*tensor.Tensor{x})
				if err != nil {
					t.Error(err)
					return
				}
				want := reference(ref, tensor.Data[float32](x), batch)
				for j, v := range want {
					if d := float64(tensor.Data[float32](outs[0])[j]) - v; d > 1e-4 || d < -1e-4 {
						t.Errorf("worker %d: y[%d] = %v, want %v", w, j, tensor.Data[float32](outs[0])[j], v)
						return
					}
				}
			}
		}(w)
	}
	wg.Wait()
}

func TestProfile(t *testing.T) {
	m, err := Compile(mlp(t, 8, 16, 4), Options{Profile: true})
	if err != nil {
		t.Fatal(err)
	}
	s := m.NewSession()
	for i := 0; i < 10; i++ {
		if _, err := s.Run(context.Background(), []*tensor.Tensor{input(2, 8, 1)}); err != nil {
			t.Fatal(err)
		}
	}
	p := s.Profile()
	if p.Runs() != 10 {
		t.Fatalf("profile counted %d runs, want 10", p.Runs())
	}
	ops := p.Ops()
	var share float64
	for _, o := range ops {
		share += o.Share
	}
	if len(ops) == 0 || share < 0.99 || share > 1.01 {
		t.Fatalf("op shares %v sum to %v, want 1", ops, share)
	}
	if len(p.Nodes()) != m.NumNodes() {
		t.Fatalf("%d node times for %d nodes", len(p.Nodes()), m.NumNodes())
	}
}

func BenchmarkMLP(b *testing.B) {
	m, err := Compile(mlp(b, 32, 256, 64), Options{})
	if err != nil {
		b.Fatal(err)
	}
	s := m.NewSession()
	ins := []*tensor.Tensor{input(1, 32, 1)}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Run(ctx, ins); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCompileToleratesDataErrors: a model whose zero-filled trial inputs are
// invalid data (index 0 into an empty axis) still compiles; the error comes
// from Run, with the node named, only for inputs that are actually bad.
func TestCompileToleratesDataErrors(t *testing.T) {
	b := graph.NewBuilder("gather", 17)
	b.Input("data", tensor.Float32, "n", 3)
	b.Input("idx", tensor.Int64, 1)
	b.Output(b.Op("Gather", nil, "data", "idx"))
	m, err := Compile(b.Graph(), Options{Dims: map[string]int{"n": 0}})
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	if m.ArenaBytes() != -1 {
		t.Errorf("ArenaBytes %d, want -1 (no compile-time plan)", m.ArenaBytes())
	}
	s := m.NewSession()
	data := tensor.From([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	outs, err := s.Run(context.Background(), []*tensor.Tensor{data, tensor.From([]int64{1}, 1)})
	if err != nil {
		t.Fatal(err)
	}
	if got := tensor.Data[float32](outs[0]); got[0] != 4 || got[2] != 6 {
		t.Fatalf("Gather row 1 = %v", got)
	}
	if _, err := s.Run(context.Background(), []*tensor.Tensor{data, tensor.From([]int64{5}, 1)}); err == nil {
		t.Fatal("Gather index 5 of 2 rows succeeded")
	}
}

func TestRunInto(t *testing.T) {
	m, err := Compile(mlp(t, 8, 16, 4), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ref := mlp(t, 8, 16, 4)
	s := m.NewSession()
	x := input(3, 8, 2)
	out := tensor.New(tensor.Float32, 3, 4)
	ctx := context.Background()
	if err := s.RunInto(ctx, []*tensor.Tensor{x}, []*tensor.Tensor{out}); err != nil {
		t.Fatal(err)
	}
	want := reference(ref, tensor.Data[float32](x), 3)
	for i, w := range want {
		if d := float64(tensor.Data[float32](out)[i]) - w; d > 1e-5 || d < -1e-5 {
			t.Fatalf("y[%d] = %v, want %v", i, tensor.Data[float32](out)[i], w)
		}
	}
	// The arena view is restored: a plain Run still returns arena memory,
	// and it does not clobber the caller's tensor.
	keep := out.Clone()
	res, err := s.Run(ctx, []*tensor.Tensor{input(3, 8, -1)})
	if err != nil {
		t.Fatal(err)
	}
	if &res[0].Raw[0] == &out.Raw[0] {
		t.Fatal("Run returned the caller's RunInto buffer")
	}
	for i := range out.Raw {
		if out.Raw[i] != keep.Raw[i] {
			t.Fatal("Run wrote into the tensor of an earlier RunInto")
		}
	}
	allocs := testing.AllocsPerRun(50, func() {
		if err := s.RunInto(ctx, []*tensor.Tensor{x}, []*tensor.Tensor{out}); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("RunInto allocates %v times per call, want 0", allocs)
	}
	for _, bad := range [][]*tensor.Tensor{{}, {nil}, {tensor.New(tensor.Float32, 3, 5)}, {tensor.New(tensor.Float64, 3, 4)}} {
		if err := s.RunInto(ctx, []*tensor.Tensor{x}, bad); !errors.Is(err, ErrInput) {
			t.Errorf("RunInto with outputs %v: error %v, want ErrInput", bad, err)
		}
	}
}
