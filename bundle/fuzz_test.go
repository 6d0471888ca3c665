package bundle

import (
	"bytes"
	"testing"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// minimalBundle is the smallest useful bundle: one input, one node, no
// weights.
func minimalBundle(t testing.TB) []byte {
	x := &graph.Value{Name: "x", Type: graph.ShapeOf(tensor.Float32, tensor.Shape{2})}
	y := &graph.Value{Name: "y", Type: x.Type}
	n := &graph.Node{Op: "Relu", Inputs: []*graph.Value{x}, Outputs: []*graph.Value{y}}
	y.Producer = n
	g := &graph.Graph{Inputs: []*graph.Value{x}, Outputs: []*graph.Value{y}, Nodes: []*graph.Node{n}}
	var buf bytes.Buffer
	if err := Write(&buf, g, &Manifest{Name: "m", Version: "0.0.1", Signature: SignatureOf(g)}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzOpenBytes feeds arbitrary files to OpenBytes and Verify. Neither may
// panic; a file that opens must have every tensor inside the file and
// aligned, and must survive a rewrite: when Write accepts what Open
// returned, the result opens to the same graph.
func FuzzOpenBytes(f *testing.F) {
	f.Add(writeFixture(f))
	f.Add(minimalBundle(f))
	fx := writeFixture(f)
	f.Add(fx[:len(fx)/2])
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = Verify(bytes.NewReader(data))
		b, err := OpenBytes(data)
		if err != nil {
			return
		}
		defer b.Close()
		var sum byte
		for i, in := range b.Tensors() {
			tt := b.tensors[i]
			if !within(tt.Raw, b.data) || !tensor.IsAligned(tt.Raw, tensor.Alignment) {
				t.Fatalf("tensor %q escapes the file or is misaligned", in.Name)
			}
			for _, c := range tt.Raw {
				sum += c
			}
			if in.Layout == PlainLayout {
				if err := tt.Check(); err != nil {
					t.Fatalf("plain tensor %q fails Check: %v", in.Name, err)
				}
			}
		}
		_ = sum
		_ = b.Verify()
		var buf bytes.Buffer
		if err := Write(&buf, b.Graph, b.Manifest, b.Extras()...); err != nil {
			return
		}
		b2, err := OpenBytes(buf.Bytes())
		if err != nil {
			t.Fatalf("rewritten bundle does not open: %v", err)
		}
		if d := diffGraphs(b.Graph, b2.Graph); d != "" {
			t.Fatalf("graph changed in rewrite: %s", d)
		}
		if err := b2.Verify(); err != nil {
			t.Fatalf("rewritten bundle fails Verify: %v", err)
		}
	})
}
