package bundle

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/sextant-ml/sextant/graph"
)

func placeManifest(c *Coarsening) *Manifest {
	return &Manifest{Name: "eta", Version: "1.0.0", Signature: Signature{
		Inputs: []Input{{Name: "place", DType: "float64", Shape: Shape{graph.Symbol("batch"), graph.Fixed(2)},
			Privacy: Sensitive, Coarsening: c}},
		Outputs: []Output{{Name: "y", DType: "float32", Shape: Shape{graph.Symbol("batch")}}},
	}}
}

func TestS2CoarseningJSON(t *testing.T) {
	for _, tc := range []struct {
		in    string
		level int
		set   bool
	}{
		{`{"kind":"s2"}`, DefaultS2Level, false},
		{`{"kind":"s2","level":0}`, 0, true},
		{`{"kind":"s2","level":17,"x_future":{"a":1}}`, 17, true},
	} {
		var c Coarsening
		if err := json.Unmarshal([]byte(tc.in), &c); err != nil {
			t.Fatal(err)
		}
		if c.Kind != CoarsenS2 || c.S2Level() != tc.level || (c.Level != nil) != tc.set {
			t.Fatalf("%s decoded to kind %q level %d (set %v)", tc.in, c.Kind, c.S2Level(), c.Level != nil)
		}
		out, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != tc.in {
			t.Fatalf("%s re-encoded as %s", tc.in, out)
		}
	}
}

func TestValidateS2Coarsening(t *testing.T) {
	if err := placeManifest(&Coarsening{Kind: CoarsenS2}).Validate(nil); err != nil {
		t.Fatalf("default level: %v", err)
	}
	for _, l := range []int{0, 12, MaxS2Level} {
		if err := placeManifest(&Coarsening{Kind: CoarsenS2, Level: new(l)}).Validate(nil); err != nil {
			t.Fatalf("level %d: %v", l, err)
		}
	}
	cases := []struct {
		field string
		edit  func(m *Manifest)
	}{
		{"signature.inputs[0].coarsening.level", func(m *Manifest) { m.Signature.Inputs[0].Coarsening.Level = new(31) }},
		{"signature.inputs[0].coarsening.level", func(m *Manifest) { m.Signature.Inputs[0].Coarsening.Level = new(-1) }},
		{"signature.inputs[0].dtype", func(m *Manifest) { m.Signature.Inputs[0].DType = "int64" }},
		{"signature.inputs[0].shape", func(m *Manifest) { m.Signature.Inputs[0].Shape[1] = graph.Fixed(3) }},
		{"signature.inputs[0].coarsening", func(m *Manifest) { m.Signature.Inputs[0].Privacy = Public }},
	}
	for _, c := range cases {
		m := placeManifest(&Coarsening{Kind: CoarsenS2})
		c.edit(m)
		err := m.Validate(nil)
		if err == nil || !strings.Contains(err.Error(), "manifest "+c.field+":") {
			t.Errorf("%s: Validate = %v", c.field, err)
		}
	}
	// A symbolic last axis is checked when the tensor arrives.
	m := placeManifest(&Coarsening{Kind: CoarsenS2})
	m.Signature.Inputs[0].Shape[1] = graph.Symbol("k")
	if err := m.Validate(nil); err != nil {
		t.Errorf("symbolic last axis: %v", err)
	}
}
