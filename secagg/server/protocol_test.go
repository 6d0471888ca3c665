package server

import (
	"fmt"
	"testing"

	"github.com/sextant-ml/sextant/secagg"
)

func TestAggregateEqualsPlaintextSum(t *testing.T) {
	for _, c := range []struct {
		n, degree   int
		consistency bool
	}{
		{3, 0, false}, {10, 0, false}, {100, 0, false},
		{10, 0, true}, {100, 12, false}, {100, 12, true},
	} {
		t.Run(fmt.Sprintf("n=%d/degree=%d/check=%v", c.n, c.degree, c.consistency), func(t *testing.T) {
			p := testParams(c.n, 257, c.degree)
			p.ConsistencyCheck = c.consistency
			s := newSim(t, p, c.n, uint64(c.n))
			res, err := s.run()
			if err != nil {
				t.Fatal(err)
			}
			s.check(res)
			if len(res.Dropped) != 0 || res.Sizes[4] != c.n {
				t.Errorf("no dropouts, but sizes %v, dropped %v", res.Sizes, res.Dropped)
			}
		})
	}
}

// dropAt returns count clients, spread over the ids, to drop.
func dropAt(ids []uint32, count, offset int) []uint32 {
	var out []uint32
	for i := range count {
		out = append(out, ids[(offset+i*len(ids)/count)%len(ids)])
	}
	return out
}

func TestDropoutsAtEachStep(t *testing.T) {
	steps := []secagg.Step{secagg.StepAdvertiseKeys, secagg.StepShareKeys, secagg.StepMaskedInput,
		secagg.StepConsistencyCheck, secagg.StepUnmask}
	for _, c := range []struct {
		name       string
		n, degree  int
		count      int
		consistent bool
	}{
		{"full/third", 30, 0, 10, true},
		{"full/third/no-check", 60, 0, 20, false},
		{"secagg+/5pct", 100, 20, 5, true},
	} {
		for _, st := range steps {
			if st == secagg.StepConsistencyCheck && !c.consistent {
				continue
			}
			t.Run(fmt.Sprintf("%s/%v", c.name, st), func(t *testing.T) {
				p := testParams(c.n, 33, c.degree)
				p.ConsistencyCheck = c.consistent
				s := newSim(t, p, c.n, uint64(100+int(st)))
				s.drop[st] = dropAt(s.ids, c.count, int(st))
				res, err := s.run()
				if err != nil {
					t.Fatal(err)
				}
				s.check(res)
				if st == secagg.StepMaskedInput && len(res.Dropped) != c.count {
					t.Errorf("dropped after sharing: %v, want %d clients", res.Dropped, c.count)
				}
			})
		}
	}
	t.Run("mixed 5pct at every step", func(t *testing.T) {
		p := testParams(100, 33, 20)
		p.ConsistencyCheck = true
		s := newSim(t, p, 100, 999)
		for i, st := range steps {
			s.drop[st] = []uint32{s.ids[i*19+1]}
		}
		res, err := s.run()
		if err != nil {
			t.Fatal(err)
		}
		s.check(res)
	})
}

func TestTooManyDropoutsFailCleanly(t *testing.T) {
	p := testParams(10, 4, 0) // t = 5 of 9 neighbours
	s := newSim(t, p, 10, 5)
	s.drop[secagg.StepUnmask] = s.ids[:6] // 4 respond < t
	_, err := s.run()
	if !errorsIs(err, secagg.ErrTooFewClients) {
		t.Fatalf("got %v, want ErrTooFewClients", err)
	}
	if _, err := s.srv.Result(); !errorsIs(err, secagg.ErrTooFewClients) {
		t.Errorf("Result after failure: %v", err)
	}
	if err := s.srv.Advance(); !errorsIs(err, secagg.ErrTooFewClients) {
		t.Errorf("Advance after failure: %v", err)
	}
}

func TestFloatEncodingAndClipReport(t *testing.T) {
	p := testParams(5, 4, 0)
	p.Encoding = secagg.Encoding{Clip: 1, Scale: 1 << 10}
	s := newSim(t, p, 5, 6)
	inputs := [][]float32{{0.5, -0.25, 3, 0}, {0.5, 0.25, -2, 1}, {0, 0, 0, 0}, {1, 1, 1, 1}, {-1, -1, 0.125, 0.5}}
	for i, id := range s.ids {
		if _, err := s.clients[id].SetInput(inputs[i]); err != nil {
			t.Fatal(err)
		}
	}
	res, err := s.run()
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{1, 0, 1 - 1 + 1 + 0.125, 2.5} // 3 → 1 and −2 → −1 clipped
	for i := range want {
		if res.Values[i] != want[i] {
			t.Errorf("value %d = %v, want %v", i, res.Values[i], want[i])
		}
	}
	if res.Overflow.Clipped != 2 || res.Overflow.MayWrap || res.Overflow.Coordinates != 20 {
		t.Errorf("overflow report %+v, want 2 clipped of 20", res.Overflow)
	}
}

func TestDeterministicWithSeededRand(t *testing.T) {
	run := func() ([]uint32, []uint32) {
		s := newSim(t, testParams(12, 16, 6), 12, 77)
		res, err := s.run()
		if err != nil {
			t.Fatal(err)
		}
		return res.Sum, s.masked[s.ids[0]]
	}
	a1, m1 := run()
	a2, m2 := run()
	if fmt.Sprint(a1, m1) != fmt.Sprint(a2, m2) {
		t.Error("same seeds gave different masked inputs or sums")
	}
}
