package onnx

import (
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/sextant-ml/sextant/tensor"
)

// maxSeedSize keeps large files out of the seed corpus: the fuzzer
// minimizes interesting inputs, which is slow for big ones, and big tensors
// exercise no more code than small ones.
const maxSeedSize = 16 << 10

// addSeedFiles adds about limit files matching pattern as fuzz seeds, when
// they exist (Debian's test data is read in place, never copied here).
func addSeedFiles(f *testing.F, pattern string, limit int) {
	files, _ := filepath.Glob(pattern)
	stride := max(1, len(files)/limit) // spread the seeds over all the ops
	for i := 0; i < len(files); i += stride {
		if b, err := os.ReadFile(files[i]); err == nil && len(b) <= maxSeedSize {
			f.Add(b)
		}
	}
}

// FuzzDecode feeds arbitrary bytes to the model decoder. It must not panic;
// whatever it accepts must encode, and decode again to an equal graph.
func FuzzDecode(f *testing.F) {
	data, err := Encode(sampleGraph())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add(model(input("x"), node("Relu", []string{"x"}, []string{"y"}), output("y")))
	addSeedFiles(f, filepath.Join(nodeTestRoot, "test_*", "model.onnx"), 150)
	addSeedFiles(f, filepath.Join("..", "testdata", "torch", "*.onnx"), 20)
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := decodeModel(data)
		if err != nil {
			return
		}
		_ = CheckOps(g)
		enc, err := Encode(g)
		if err != nil {
			t.Fatalf("decoded graph does not encode: %v", err)
		}
		g2, err := decodeModel(enc)
		if err != nil {
			t.Fatalf("encoded graph does not decode: %v", err)
		}
		if d := diffGraphs(g, g2); d != "" {
			t.Fatalf("round trip: %s", d)
		}
	})
}

// FuzzDecodeTensor feeds arbitrary bytes to the TensorProto decoder. It must
// not panic; what it accepts must be a consistent, aligned tensor that
// round-trips through EncodeTensor.
func FuzzDecodeTensor(f *testing.F) {
	for _, tt := range []*tensor.Tensor{
		tensor.From([]float32{1, 2, 3}, 3),
		tensor.From([]int64{-1, 1 << 40}, 1, 2),
		tensor.From([]bool{true}, 1),
		{DType: tensor.String, Shape: tensor.Shape{2}, Strs: []string{"a", "b"}},
	} {
		b, err := EncodeTensor("t", tt)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(typedTensor(tensor.Float16, []int{2}, tpInt32Data, protowire.VarintType, []uint64{0x3c00, 1}, true))
	f.Add(typedTensor(tensor.Float64, []int{1}, tpDoubleData, protowire.Fixed64Type, []uint64{7}, false))
	addSeedFiles(f, filepath.Join(nodeTestRoot, "test_*", "test_data_set_0", "*.pb"), 150)
	f.Fuzz(func(t *testing.T, data []byte) {
		name, tt, err := DecodeTensor(data)
		if err != nil {
			return
		}
		if err := tt.Check(); err != nil {
			t.Fatalf("decoded an inconsistent tensor: %v", err)
		}
		if !tensor.IsAligned(tt.Raw, tensor.Alignment) {
			t.Fatal("decoded data is not aligned")
		}
		if tt.DType != tensor.String && len(tt.Raw) > len(data)*8 {
			t.Fatalf("%d bytes of input decoded to %d bytes of data", len(data), len(tt.Raw))
		}
		enc, err := EncodeTensor(name, tt)
		if err != nil {
			t.Fatalf("decoded tensor does not encode: %v", err)
		}
		name2, tt2, err := DecodeTensor(enc)
		if err != nil || name2 != name {
			t.Fatalf("encoded tensor does not decode: %q %v", name2, err)
		}
		if d := diffTensors(tt, tt2); d != "" {
			t.Fatalf("round trip: %s", d)
		}
	})
}
