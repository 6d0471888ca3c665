package tables

import (
	"path/filepath"
	"testing"

	"github.com/sextant-ml/sextant/dataset"
	"github.com/sextant-ml/sextant/features"
)

// Cold-start candidates (--cold-start-candidates) make first visits to
// nearby public places predictable: new users' held-out examples are
// dropped less often, and some labels point at public candidates. The
// coverage file accounts for every held-out example either way.
func TestNextDestinationColdStart(t *testing.T) {
	in := generate(t, 16, 4)
	plain, cold := t.TempDir(), t.TempDir()
	base := Config{HoldoutWeeks: 1, NewUsers: 1, NewUserDays: 7}
	stPlain, err := NextDestination(in, plain, base)
	if err != nil {
		t.Fatal(err)
	}
	withCity := base
	withCity.ColdStart = true
	stCold, err := NextDestination(in, cold, withCity)
	if err != nil {
		t.Fatal(err)
	}
	// The same held-out events, fewer dropped.
	if a, b := stPlain.Test+stPlain.UncoveredTest, stCold.Test+stCold.UncoveredTest; a != b {
		t.Fatalf("held-out examples %d without, %d with cold-start candidates", a, b)
	}
	if stCold.CoverageNew() <= stPlain.CoverageNew() || stPlain.CoverageNew() != stPlain.Coverage() {
		t.Errorf("new users' coverage %.4f with cold-start candidates, %.4f without (all %.4f)",
			stCold.CoverageNew(), stPlain.CoverageNew(), stPlain.Coverage())
	}
	f := features.CandidateFeatures
	public := func(dir string) (labelled, slots int) {
		d, err := dataset.Read(filepath.Join(dir, "test.parquet"))
		if err != nil {
			t.Fatal(err)
		}
		x, _ := column[float32](t, d, "candidates")
		mask, _ := column[float32](t, d, "candidate_mask")
		labels, _ := column[int64](t, d, "label")
		for i, y := range labels {
			for c := range features.K {
				if x[(i*features.K+c)*f+10] < 0 {
					slots++
					if mask[i*features.K+c] != 1 {
						t.Fatalf("row %d: public candidate %d masked out", i, c)
					}
					if int64(c) == y {
						labelled++
					}
				}
			}
		}
		return labelled, slots
	}
	if l, s := public(plain); l != 0 || s != 0 {
		t.Errorf("without the option: %d public candidates, %d labels", s, l)
	}
	l, s := public(cold)
	if l == 0 || s == 0 {
		t.Errorf("with the option: %d public candidates, %d labels", s, l)
	}
	// The slicing column marks those labels.
	d, err := dataset.Read(filepath.Join(cold, "test.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	marks, _ := column[int64](t, d, "public_label")
	var marked int
	for _, m := range marks {
		marked += int(m)
	}
	if marked != l {
		t.Errorf("public_label marks %d rows, %d labels are public candidates", marked, l)
	}
	for _, c := range []struct {
		dir string
		st  Stats
	}{{plain, stPlain}, {cold, stCold}} {
		d, err := dataset.Read(filepath.Join(c.dir, UncoveredFile))
		if err != nil {
			t.Fatal(err)
		}
		written, _ := column[int64](t, d, "test_examples")
		dropped, _ := column[int64](t, d, "test_uncovered")
		var w, u int64
		for i := range written {
			w, u = w+written[i], u+dropped[i]
		}
		if d.N != 16 || int(w) != c.st.Test || int(u) != c.st.UncoveredTest {
			t.Errorf("%s: %d users, %d written, %d dropped; stats %+v", UncoveredFile, d.N, w, u, c.st)
		}
	}
	if _, err := NextDestination(in, t.TempDir(), Config{HoldoutWeeks: 1, ColdStart: true, ColdStartPrior: "oracle"}); err == nil {
		t.Error("an unknown prior was accepted")
	}
}
