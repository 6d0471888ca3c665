// Package peer runs Sextant and ONNX Runtime side by side on the same ONNX
// models, for the peer comparison in bench/compare.
//
// The model set (Set) lives in bench/models: small files exported by
// bench/models/export.py and committed, plus the 1024-wide MLP, whose ~6 MB
// of weights are generated here at run time (LargeMLP) instead of committed.
// Both runtimes read the same bytes. ONNX Runtime is reached through its C
// API (github.com/yalue/onnxruntime_go, cgo), which is why bench/ is a module
// of its own: the product never links cgo.
package peer

import (
	"fmt"
	"os"
	"path/filepath"
)

// Model is one entry of the comparison set.
type Model struct {
	Name  string // short name, also the file's base name
	Title string // what it is, for tables
	// File is the .onnx file in the models directory; empty when Generate
	// makes the model instead.
	File     string
	Generate func() ([]byte, error)
	// FLOPs per run, for models whose efficiency is reported (0 otherwise).
	FLOPs float64
}

// Set is the comparison's model set, in table order.
func Set() []Model {
	return []Model{
		{Name: "mlp_small", Title: "MLP 32→256→256→64", File: "mlp_small.onnx"},
		{Name: "mlp_large", Title: "MLP 256→1024→1024→256", Generate: LargeMLP},
		{Name: "gru", Title: "GRU 32→128, 20 steps", File: "gru.onnx"},
		{Name: "lstm", Title: "LSTM 32→128, 20 steps", File: "lstm.onnx"},
		{Name: "transformer", Title: "Transformer enc. 2×(d64,h4), seq 32", File: "transformer.onnx"},
		{Name: "conv1d", Title: "Conv1d net 16×128", File: "conv1d.onnx"},
		{Name: "identity", Title: "Identity 1×16 (per-call)", File: "identity.onnx"},
		{Name: "matmul256", Title: "MatMul 256³", File: "matmul256.onnx", FLOPs: 2 * 256 * 256 * 256},
	}
}

// Lookup returns the model of the set called name.
func Lookup(name string) (Model, bool) {
	for _, m := range Set() {
		if m.Name == name {
			return m, true
		}
	}
	return Model{}, false
}

// Load returns the model's ONNX bytes: its file in dir, or the generated
// model.
func (m Model) Load(dir string) ([]byte, error) {
	if m.Generate != nil {
		b, err := m.Generate()
		if err != nil {
			return nil, fmt.Errorf("peer: generate %s: %w", m.Name, err)
		}
		return b, nil
	}
	b, err := os.ReadFile(filepath.Join(dir, m.File))
	if err != nil {
		return nil, fmt.Errorf("peer: %w (export it with /usr/bin/python3 bench/models/export.py %s)", err, m.Name)
	}
	return b, nil
}
