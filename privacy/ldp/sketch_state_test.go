package ldp

import (
	"math/rand/v2"
	"testing"
)

// TestSketchStateRoundTrip: a sketch restored from its encoding estimates
// exactly as the original, and keeps doing so as reports are added to
// both.
func TestSketchStateRoundTrip(t *testing.T) {
	for _, mech := range []Mechanism{CMS, HCMS} {
		r := rand.New(rand.NewPCG(1, 2))
		p, err := NewParams(mech, 2, 64, 8, r)
		if err != nil {
			t.Fatal(err)
		}
		a := NewSketch(p)
		items := []string{"a", "b", "c"}
		for i := range 500 {
			if err := a.Add(p.Encode(items[i%3], r)); err != nil {
				t.Fatal(err)
			}
		}
		enc, _ := a.MarshalBinary()
		b := NewSketch(p)
		if err := b.UnmarshalBinary(enc); err != nil {
			t.Fatal(err)
		}
		rep := p.Encode("a", r)
		a.Add(rep)
		b.Add(rep)
		for _, it := range items {
			if ea, eb := a.Estimate(it), b.Estimate(it); ea != eb || a.Count() != b.Count() {
				t.Fatalf("%v %s: estimate %v vs restored %v", mech, it, ea, eb)
			}
		}
		if err := b.UnmarshalBinary(enc[:len(enc)-1]); err == nil {
			t.Fatalf("%v: short state accepted", mech)
		}
		if b.Count() != 501 {
			t.Fatalf("failed restore changed the sketch")
		}
	}
}

// FuzzSketchState: any bytes either restore or are refused; never panic.
func FuzzSketchState(f *testing.F) {
	p, _ := NewParams(CMS, 2, 16, 2, rand.New(rand.NewPCG(1, 2)))
	enc, _ := NewSketch(p).MarshalBinary()
	f.Add(enc)
	f.Fuzz(func(t *testing.T, b []byte) {
		s := NewSketch(p)
		if s.UnmarshalBinary(b) == nil {
			s.Estimate("x")
		}
	})
}
