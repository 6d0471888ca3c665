package onnx

import "github.com/sextant-ml/sextant/graph"

// DecodeUnchecked is Decode without the operator check: the graph may hold
// ops Sextant cannot run. Tools that report on models (conformance, inspect)
// use it to list a model's ops before saying which are unsupported.
func DecodeUnchecked(data []byte) (*graph.Graph, error) { return decodeModel(data) }
