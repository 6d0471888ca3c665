// Package mobtest writes small simulated mobility populations for tests.
package mobtest

import (
	"context"
	"testing"

	"github.com/sextant-ml/sextant/mobility"
	mdata "github.com/sextant-ml/sextant/mobility/dataset"
)

// Population simulates cfg's population in the city stored at cityPath,
// writes it as mobility/dataset does (visits, trips, places, users) to a
// fresh temporary directory of t and returns that directory.
func Population(t testing.TB, cityPath string, cfg mobility.Config) string {
	t.Helper()
	city, err := mobility.LoadCity(cityPath)
	if err != nil {
		t.Fatal(err)
	}
	g, err := mobility.NewGenerator(city, cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	w, err := mdata.Create(dir, city, mobility.DefaultStart)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Run(context.Background(), w.Add); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}
