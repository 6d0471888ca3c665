package peer

import (
	"errors"
	"path/filepath"
	"testing"
)

// TestSextantInt8 quantizes the small MLP and checks the weight ratio, that
// its outputs stay close to float32's, and that a model without products is
// reported as not quantizable.
func TestSextantInt8(t *testing.T) {
	m, _ := Lookup("mlp_small")
	data, err := m.Load(filepath.Join("..", "models"))
	if err != nil {
		t.Fatal(err)
	}
	f32, err := NewSextant(data, 1)
	if err != nil {
		t.Fatal(err)
	}
	q, info, err := NewSextantInt8(data, 1)
	if err != nil {
		t.Fatal(err)
	}
	if info.Products != 3 {
		t.Errorf("%d products quantized, want 3", info.Products)
	}
	// Weights 32·256 + 256·256 + 256·64 floats, biases 576 floats: int8
	// weights with per-column float32 scales and float32 biases.
	const w, b = 32*256 + 256*256 + 256*64, 256 + 256 + 64
	if info.F32WeightBytes != 4*(w+b) {
		t.Errorf("f32 weight bytes %d, want %d", info.F32WeightBytes, 4*(w+b))
	}
	if r := info.Ratio(); r < 3.8 || r > 4 {
		t.Errorf("f32/int8 weight bytes %.3f (%d/%d), want in [3.8, 4]", r, info.F32WeightBytes, info.Int8WeightBytes)
	}
	sets, err := MakeInputs([]Shape{{1, 32}}, 4)
	if err != nil {
		t.Fatal(err)
	}
	e, err := RelMaxError(f32, q, sets)
	if err != nil {
		t.Fatal(err)
	}
	if e <= 0 || e > 0.05 {
		t.Errorf("int8 relative max error %g, want in (0, 0.05]", e)
	}
	if self, err := RelMaxError(f32, f32, sets); err != nil || self != 0 {
		t.Errorf("f32 against itself: %g, %v; want 0", self, err)
	}

	id, _ := Lookup("identity")
	data, err = id.Load(filepath.Join("..", "models"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := NewSextantInt8(data, 1); !errors.Is(err, ErrNotQuantizable) {
		t.Errorf("identity: err %v, want ErrNotQuantizable", err)
	}
}
