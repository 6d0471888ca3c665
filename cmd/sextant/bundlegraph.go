package main

import (
	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/graph"
)

// openBundleGraph opens a .sxm bundle; its graph's weights stay in the
// mapping until close.
func openBundleGraph(path string) (*graph.Graph, func() error, error) {
	b, err := bundle.Open(path)
	if err != nil {
		return nil, nil, err
	}
	return b.Graph, b.Close, nil
}
