package engine

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// constant returns a deterministic float32 constant value.
func constant(name string, seed int, shape ...int) *graph.Value {
	c := tensor.New(tensor.Float32, shape...)
	for i := range tensor.Data[float32](c) {
		tensor.Data[float32](c)[i] = float32((i*7+seed)%17-8) / 64
	}
	return &graph.Value{Name: name, Const: c, Type: graph.ShapeOf(tensor.Float32, c.Shape)}
}

// layers builds an MLP widths[0]→widths[1]→…: Gemm + Relu per layer (no Relu
// after the last), with a symbolic batch dim.
func layers(widths ...int) *graph.Graph {
	g := &graph.Graph{Opset: 17}
	x := &graph.Value{Name: "x", Type: graph.Type{DType: tensor.Float32, Known: true, Shape: []graph.Dim{graph.Symbol("batch"), graph.Fixed(int64(widths[0]))}}}
	g.Inputs = []*graph.Value{x}
	h := x
	for i := 1; i < len(widths); i++ {
		w := constant(fmt.Sprintf("w%d", i), i, widths[i-1], widths[i])
		b := constant(fmt.Sprintf("b%d", i), i+5, widths[i])
		g.Initializers = append(g.Initializers, w, b)
		y := &graph.Value{Name: fmt.Sprintf("y%d", i)}
		g.Nodes = append(g.Nodes, &graph.Node{Op: "Gemm", Name: fmt.Sprintf("fc%d", i), Inputs: []*graph.Value{h, w, b}, Outputs: []*graph.Value{y}})
		h = y
		if i < len(widths)-1 {
			r := &graph.Value{Name: fmt.Sprintf("r%d", i)}
			g.Nodes = append(g.Nodes, &graph.Node{Op: "Relu", Name: fmt.Sprintf("relu%d", i), Inputs: []*graph.Value{y}, Outputs: []*graph.Value{r}})
			h = r
		}
	}
	for _, n := range g.Nodes {
		n.Outputs[0].Producer = n
	}
	g.Outputs = []*graph.Value{h}
	return g
}

// matmul256 is y = x·W for x [256, 256] and a constant W [256, 256].
func matmul256() *graph.Graph {
	x := &graph.Value{Name: "x", Type: graph.ShapeOf(tensor.Float32, tensor.Shape{256, 256})}
	w := constant("w", 3, 256, 256)
	y := &graph.Value{Name: "y"}
	n := &graph.Node{Op: "MatMul", Name: "mm", Inputs: []*graph.Value{x, w}, Outputs: []*graph.Value{y}}
	y.Producer = n
	return &graph.Graph{Opset: 17, Nodes: []*graph.Node{n}, Inputs: []*graph.Value{x}, Outputs: []*graph.Value{y}, Initializers: []*graph.Value{w}}
}

// conv2d is a 3×3 Conv with bias: X [1, 16, 32, 32] → [1, 32, 30, 30].
func conv2d() *graph.Graph {
	x := &graph.Value{Name: "x", Type: graph.ShapeOf(tensor.Float32, tensor.Shape{1, 16, 32, 32})}
	w, b := constant("w", 1, 32, 16, 3, 3), constant("b", 2, 32)
	y := &graph.Value{Name: "y"}
	n := &graph.Node{Op: "Conv", Name: "conv", Inputs: []*graph.Value{x, w, b}, Outputs: []*graph.Value{y}}
	y.Producer = n
	return &graph.Graph{Opset: 17, Nodes: []*graph.Node{n}, Inputs: []*graph.Value{x}, Outputs: []*graph.Value{y}, Initializers: []*graph.Value{w, b}}
}

// conv1d is a width-5 1-D Conv with bias: X [1, 64, 512] → [1, 64, 508].
func conv1d() *graph.Graph {
	x := &graph.Value{Name: "x", Type: graph.ShapeOf(tensor.Float32, tensor.Shape{1, 64, 512})}
	w, b := constant("w", 4, 64, 64, 5), constant("b", 5, 64)
	y := &graph.Value{Name: "y"}
	n := &graph.Node{Op: "Conv", Name: "conv", Inputs: []*graph.Value{x, w, b}, Outputs: []*graph.Value{y}}
	y.Producer = n
	return &graph.Graph{Opset: 17, Nodes: []*graph.Node{n}, Inputs: []*graph.Value{x}, Outputs: []*graph.Value{y}, Initializers: []*graph.Value{w, b}}
}

// threadCases are models whose products are large enough to be split.
var threadCases = []struct {
	name  string
	graph func() *graph.Graph
	in    []int
}{
	{"mlp-wide/batch1", func() *graph.Graph { return layers(256, 1024, 1024, 256) }, []int{1, 256}},
	{"mlp-wide/batch32", func() *graph.Graph { return layers(256, 1024, 1024, 256) }, []int{32, 256}},
	{"matmul256", matmul256, []int{256, 256}},
	{"conv3x3", conv2d, []int{1, 16, 32, 32}},
	{"conv1d", conv1d, []int{1, 64, 512}},
}

func randomInput(shape []int, seed float64) *tensor.Tensor {
	x := tensor.New(tensor.Float32, shape...)
	for i := range tensor.Data[float32](x) {
		tensor.Data[float32](x)[i] = float32(math.Sin(float64(i)*0.37+seed)) * 0.5
	}
	return x
}

// TestThreadsMatchOneThread checks that a model compiled with Threads: 2
// computes bit for bit what the one-thread model does, and that its Run
// stays allocation-free.
func TestThreadsMatchOneThread(t *testing.T) {
	ctx := context.Background()
	for _, tc := range threadCases {
		t.Run(tc.name, func(t *testing.T) {
			one, err := Compile(tc.graph(), Options{})
			if err != nil {
				t.Fatal(err)
			}
			two, err := Compile(tc.graph(), Options{Threads: 2})
			if err != nil {
				t.Fatal(err)
			}
			if one.Threads() != 1 || two.Threads() != 2 {
				t.Fatalf("Threads() = %d and %d, want 1 and 2", one.Threads(), two.Threads())
			}
			s1, s2 := one.NewSession(), two.NewSession()
			ins := []*tensor.Tensor{randomInput(tc.in, 1)}
			want, err := s1.Run(ctx, ins)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s2.Run(ctx, ins)
			if err != nil {
				t.Fatal(err)
			}
			a, b := tensor.Data[float32](want[0]), tensor.Data[float32](got[0])
			if len(a) != len(b) {
				t.Fatalf("outputs of %d and %d floats", len(a), len(b))
			}
			nonzero := 0
			for i := range a {
				if a[i] != b[i] {
					t.Fatalf("y[%d] = %v with 2 threads, %v with 1", i, b[i], a[i])
				}
				if a[i] != 0 {
					nonzero++
				}
			}
			if nonzero < len(a)/4 {
				t.Fatalf("only %d of %d outputs are non-zero: the comparison proves little", nonzero, len(a))
			}
			allocs := testing.AllocsPerRun(20, func() {
				if _, err := s2.Run(ctx, ins); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Fatalf("Run with 2 threads allocates %v times per call, want 0", allocs)
			}
		})
	}
}

// TestThreadsConcurrentSessions runs sessions of one two-thread model from
// several goroutines: they share the pool (a busy pool runs an op inline)
// and every result stays right.
func TestThreadsConcurrentSessions(t *testing.T) {
	one, err := Compile(layers(256, 1024, 256), Options{})
	if err != nil {
		t.Fatal(err)
	}
	two, err := Compile(layers(256, 1024, 256), Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s1, s2 := one.NewSession(), two.NewSession()
			for i := 0; i < 20; i++ {
				ins := []*tensor.Tensor{randomInput([]int{1 + (w+i)%3, 256}, float64(w*100+i))}
				want, err1 := s1.Run(ctx, ins)
				got, err2 := s2.Run(ctx, ins)
				if err1 != nil || err2 != nil {
					t.Error(err1, err2)
					return
				}
				a, b := tensor.Data[float32](want[0]), tensor.Data[float32](got[0])
				for j := range a {
					if a[j] != b[j] {
						t.Errorf("worker %d run %d: y[%d] = %v, want %v", w, i, j, b[j], a[j])
						return
					}
				}
			}
		}()
	}
	wg.Wait()
}

// poolWorkers counts the live goroutines started by parallel.New (whether
// or not they have run yet).
func poolWorkers() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Count(string(buf), "created by github.com/sextant-ml/sextant/kernels/parallel.New")
}

// settleWorkers collects garbage until no pool workers remain (models of
// earlier tests are unreachable) or the deadline passes, and returns how
// many are left.
func settleWorkers() int {
	deadline := time.Now().Add(10 * time.Second)
	for poolWorkers() > 0 && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(5 * time.Millisecond)
	}
	return poolWorkers()
}

// TestThreadsWorkersStop checks that a two-thread model starts one worker,
// a one-thread model none, and that the worker stops once its model is
// unreachable.
func TestThreadsWorkersStop(t *testing.T) {
	if n := settleWorkers(); n != 0 {
		t.Fatalf("%d pool workers of earlier, unreachable models never stopped", n)
	}
	one, err := Compile(layers(16, 16), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := poolWorkers(); n != 0 {
		t.Fatalf("a one-thread model started %d workers", n)
	}
	runtime.KeepAlive(one)
	two, err := Compile(layers(16, 16), Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	if n := poolWorkers(); n != 1 {
		t.Fatalf("Compile with Threads 2 started %d workers, want 1", n)
	}
	runtime.KeepAlive(two)
	if n := settleWorkers(); n != 0 {
		t.Fatalf("%d workers still running after the model became unreachable", n)
	}
}

// BenchmarkThreads times models on one and two threads in the same run:
// the 256³ MatMul and the wide MLP 256→1024→1024→256 at batch 1. Compare
// pairs with benchstat.
func BenchmarkThreads(b *testing.B) {
	for _, tc := range threadCases {
		if tc.name == "mlp-wide/batch32" {
			continue
		}
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/threads=%d", tc.name, threads), func(b *testing.B) {
				m, err := Compile(tc.graph(), Options{Threads: threads})
				if err != nil {
					b.Fatal(err)
				}
				s := m.NewSession()
				ins := []*tensor.Tensor{randomInput(tc.in, 1)}
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					if _, err := s.Run(ctx, ins); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkThreadsRatio alternates rounds on one and two threads within each
// op, on the same input, and reports the best round of each ("µs/run-1t",
// "µs/run-2t") and their ratio ("speedup"). Other processes only slow a
// round down, so on shared cores the best rounds are the least disturbed,
// and alternation exposes both to the same machine state.
func BenchmarkThreadsRatio(b *testing.B) {
	for _, tc := range threadCases {
		if tc.name == "mlp-wide/batch32" {
			continue
		}
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			ins := []*tensor.Tensor{randomInput(tc.in, 1)}
			var sessions [2]*Session
			for i := range sessions {
				m, err := Compile(tc.graph(), Options{Threads: i + 1})
				if err != nil {
					b.Fatal(err)
				}
				sessions[i] = m.NewSession()
				if _, err := sessions[i].Run(ctx, ins); err != nil {
					b.Fatal(err)
				}
			}
			const runs = 10
			best := [2]time.Duration{time.Hour, time.Hour}
			for b.Loop() {
				for i, s := range sessions {
					start := time.Now()
					for range runs {
						if _, err := s.Run(ctx, ins); err != nil {
							b.Fatal(err)
						}
					}
					best[i] = min(best[i], time.Since(start)/runs)
				}
			}
			b.ReportMetric(float64(best[0].Nanoseconds())/1e3, "µs/run-1t")
			b.ReportMetric(float64(best[1].Nanoseconds())/1e3, "µs/run-2t")
			b.ReportMetric(float64(best[0])/float64(best[1]), "speedup")
		})
	}
}
