// Package models embeds the small models the repository ships for
// `sextant demo`: PyTorch 1.13 exports (torch.onnx.export, opset 17) with
// their inputs and PyTorch's outputs as .npy files, produced by
// testdata/torch/export.py.
package models

import "embed"

// Torch holds torch/<name>.onnx and torch/<name>/<tensor>.npy for each
// shipped model.
//
//go:embed torch
var Torch embed.FS

// Shipped describes one embedded model.
type Shipped struct {
	Name        string // file stem under torch/
	Description string
}

// Demo lists the models `sextant demo` runs, in order.
var Demo = []Shipped{
	{"block_op17", "Linear(16→32) → LayerNorm → GELU → Linear(32→8) → Softmax"},
	{"gru_op17", "batch-first GRU, input 8, hidden 16, 5 steps"},
}
