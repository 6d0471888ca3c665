package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/sextant-ml/sextant/engine"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/onnx"
)

// loaded is a model opened from a file and compiled.
type loaded struct {
	model   *engine.Model
	graph   *graph.Graph
	openDur time.Duration // read + decode (or mmap) of the file
	compile time.Duration
	close   func() error
}

// loadModel opens an .onnx or .sxm file and compiles it.
func loadModel(path string, opts engine.Options) (*loaded, error) {
	t0 := time.Now()
	var (
		g     *graph.Graph
		close = func() error { return nil }
		err   error
	)
	switch strings.ToLower(filepath.Ext(path)) {
	case ".onnx":
		g, err = onnx.ReadFile(path)
	case ".sxm":
		g, close, err = openBundleGraph(path)
	default:
		return nil, fmt.Errorf("%s: unknown model format (want .onnx or .sxm)", path)
	}
	if err != nil {
		return nil, err
	}
	t1 := time.Now()
	m, err := engine.Compile(g, opts)
	if err != nil {
		close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &loaded{model: m, graph: g, openDur: t1.Sub(t0), compile: time.Since(t1), close: close}, nil
}
