package bundle

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"

	"github.com/sextant-ml/sextant/internal/cputime"
)

const (
	bigTensors   = 50
	bigTensorLen = 1 << 20 // bytes
)

// writeBigBundle writes a bundle of 50 one-megabyte float32 weights feeding
// a chain of MatMuls and returns its path.
func writeBigBundle(tb testing.TB) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "big.sxm")
	const cols = bigTensorLen / 4 / 512
	x := &graph.Value{Name: "x", Type: graph.Type{DType: tensor.Float32, Shape: []graph.Dim{graph.Symbol("batch"), graph.Fixed(512)}, Known: true}}
	g := &graph.Graph{Name: "big", Opset: 17, Inputs: []*graph.Value{x}}
	cur := x
	for i := range bigTensors {
		w := tensor.New(tensor.Float32, 512, cols)
		for j := range w.Raw {
			w.Raw[j] = byte(i + j)
		}
		wv := &graph.Value{Name: fmt.Sprintf("layer%d/w", i), Type: graph.ShapeOf(tensor.Float32, w.Shape), Const: w}
		g.Initializers = append(g.Initializers, wv)
		out := &graph.Value{Name: fmt.Sprintf("h%d", i), Type: graph.Type{DType: tensor.Float32, Shape: []graph.Dim{graph.Symbol("batch"), graph.Fixed(cols)}, Known: true}}
		n := &graph.Node{Op: "MatMul", Inputs: []*graph.Value{cur, wv}, Outputs: []*graph.Value{out}}
		out.Producer = n
		g.Nodes = append(g.Nodes, n)
		cur = out
	}
	g.Outputs = []*graph.Value{cur}
	if err := WriteFile(path, g, &Manifest{Name: "big", Version: "1.0.0", Signature: SignatureOf(g)}); err != nil {
		tb.Fatal(err)
	}
	return path
}

func BenchmarkOpen50MB(b *testing.B) {
	path := writeBigBundle(b)
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(st.Size())/1e6, "MB/file")
	b.ReportAllocs()
	cpu0, haveCPU := cputime.Process()
	n := 0
	for b.Loop() {
		bd, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		bd.Close()
		n++
	}
	// On a shared machine wall time includes waiting for a core; CPU time
	// per Open is the cost itself.
	if cpu1, ok := cputime.Process(); ok && haveCPU {
		b.ReportMetric(float64(cpu1-cpu0)/float64(n), "cpu-ns/op")
	}
}

// sink keeps the loops that touch pages from being optimized away.
var sink byte

// rss reads the process's resident anonymous and file-backed memory from
// /proc/self/status.
func rss(t *testing.T) (anon, file int64) {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		k, v, _ := strings.Cut(line, ":")
		f := strings.Fields(v)
		if len(f) < 1 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "RssAnon":
			anon = n << 10
		case "RssFile":
			file = n << 10
		}
	}
	return anon, file
}

// TestOpenRSS shows that opening maps the weights without reading or
// copying them: resident memory grows by the pages Open parses and the
// pages a caller touches, not by the file's size — until the caller reads
// every weight. The kernel maps file pages at its own granularity (fault-
// around, and on recent kernels whole large folios of the page cache, up to
// 2 MiB), so "the pages touched" is bounded by that granularity.
func TestOpenRSS(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/self/status")
	}
	if testing.Short() {
		t.Skip("writes a 50 MB file")
	}
	path := writeBigBundle(t)
	runtime.GC()
	anon0, file0 := rss(t)
	b, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	anon1, file1 := rss(t)
	const touches = 5
	for _, v := range b.Graph.Initializers[:touches] { // one byte of five weights
		sink += v.Const.Raw[len(v.Const.Raw)/2]
	}
	anon2, file2 := rss(t)
	page := os.Getpagesize()
	for _, v := range b.Graph.Initializers { // every page
		for i := 0; i < len(v.Const.Raw); i += page {
			sink += v.Const.Raw[i]
		}
	}
	anon3, file3 := rss(t)
	kb := func(n int64) int64 { return n >> 10 }
	t.Logf("file %d MB; RSS growth (anon+file KB): after Open %d+%d, after touching %d bytes %d+%d, after reading all %d+%d",
		b.Size()>>20, kb(anon1-anon0), kb(file1-file0), touches, kb(anon2-anon0), kb(file2-file0), kb(anon3-anon0), kb(file3-file0))
	// Open reads the header, manifest, graph and table at the front of the
	// file: at most one large folio of file pages, plus a little heap.
	const slack = 1 << 20
	if grew := (anon1 - anon0) + (file1 - file0); grew > slack+2<<20 {
		t.Errorf("Open grew RSS by %d KB, want under %d KB", kb(grew), kb(slack+2<<20))
	}
	if grew := (file2 - file0); grew > slack+touches*(2<<20) {
		t.Errorf("touching %d bytes grew file-backed RSS by %d KB, want at most %d × 2 MiB", touches, kb(grew), touches)
	}
	if grew := anon3 - anon0; grew > slack {
		t.Errorf("reading every weight grew anonymous RSS by %d KB: something copied them", kb(grew))
	}
	if grew := file3 - file0; grew < int64(bigTensors*bigTensorLen)*9/10 {
		t.Errorf("reading all weights grew file RSS by only %d KB: the measurement does not see mapped pages", kb(grew))
	}
}

func BenchmarkVerify50MB(b *testing.B) {
	path := writeBigBundle(b)
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(st.Size())
	for b.Loop() {
		if err := VerifyFile(path); err != nil {
			b.Fatal(err)
		}
	}
}
