package wilmington

import (
	"os"
	"testing"

	"github.com/sextant-ml/sextant/mobility"
)

// The embedded city is the committed file, decoded: the fixture the
// README describes.
func TestCity(t *testing.T) {
	c, err := City()
	if err != nil {
		t.Fatal(err)
	}
	f, err := mobility.LoadCity(Name)
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != f.Name || c.Name == "" {
		t.Fatalf("embedded city %q, file %q", c.Name, f.Name)
	}
	raw, err := os.ReadFile(Name)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) != len(cityFile) {
		t.Fatalf("embedded %d bytes, file %d", len(cityFile), len(raw))
	}
}
