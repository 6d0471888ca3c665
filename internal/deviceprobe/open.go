package main

import (
	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/graph"
)

// open maps a bundle; its weights stay in the mapping until the returned
// function closes it.
func open(path string) (*graph.Graph, func() error, error) {
	b, err := bundle.Open(path)
	if err != nil {
		return nil, nil, err
	}
	return b.Graph, b.Close, nil
}
