package ldp

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func testSFP(r *rand.Rand, epsFrag, epsWord float64) SFP {
	frag, _ := NewParams(CMS, epsFrag, 1024, 16, r)
	words, _ := NewParams(CMS, epsWord, 1024, 16, r)
	return SFP{
		Alphabet: "abcdefghijklmnopqrstuvwxyz", Pad: '_',
		Length: 10, FragmentLen: 2, PuzzleBits: 8, PuzzleSeed: r.Uint64(),
		Fragments: frag, Words: words, TopFragments: 8,
	}
}

// TestSFPRecoversPlantedWords plants 5 words that are in no dictionary among
// n = 200,000 devices (8%, 7%, 6%, 5% and 4% of them); every other device
// holds a random string of 3–10 letters (almost all unique). Each device
// spends ε = 4: ε_f = 2 on its fragment and ε_w = 2 on its word; sketches
// have m = 1024, k = 16; words up to 10 characters in 5 fragments of 2; an
// 8-bit puzzle; thresholds at z = 5 noise standard deviations. All five
// words must be discovered, nothing else, each estimate within 5 standard
// deviations of its true count.
func TestSFPRecoversPlantedWords(t *testing.T) {
	const n = 200_000
	r := rand.New(rand.NewPCG(2017, 4))
	p := testSFP(r, 2, 2)
	planted := []string{"zorbaxite", "quindle", "flumpet", "vantrelo", "brisk"}
	shares := []float64{0.08, 0.07, 0.06, 0.05, 0.04}
	srv, err := NewSFPServer(p)
	if err != nil {
		t.Fatal(err)
	}
	truth := map[string]int{}
	start := time.Now()
	buf := make([]byte, 10)
	for i := 0; i < n; i++ {
		u := float64(i) / n
		word := ""
		acc := 0.0
		for j, s := range shares {
			if acc += s; u < acc {
				word = planted[j]
				break
			}
		}
		if word == "" {
			l := 3 + r.IntN(8)
			for k := range l {
				buf[k] = byte('a' + r.IntN(26))
			}
			word = string(buf[:l])
		}
		truth[word]++
		rep, err := p.Encode(word, r)
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Add(rep); err != nil {
			t.Fatal(err)
		}
	}
	encoded := time.Since(start)
	found := srv.Discover(5)
	t.Logf("encode+aggregate %v, discover %v", encoded, time.Since(start)-encoded)
	got := map[string]float64{}
	for _, d := range found {
		got[d.Word] = d.Estimate
		t.Logf("discovered %q: estimate %.0f, true %d", d.Word, d.Estimate, truth[d.Word])
	}
	for _, w := range planted {
		est, ok := got[w]
		if !ok {
			t.Errorf("planted %q (count %d) not discovered", w, truth[w])
			continue
		}
		sd := math.Sqrt(AnalyticVariance(CMS, 2, 1024, 16, n, float64(truth[w]), 0))
		if math.Abs(est-float64(truth[w])) > 5*sd {
			t.Errorf("%q: estimate %.0f, true %d (sd %.0f)", w, est, truth[w], sd)
		}
	}
	if len(found) != len(planted) {
		t.Errorf("%d discoveries, want the %d planted words", len(found), len(planted))
	}
}

func TestSFPEncodeRejects(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	p := testSFP(r, 2, 2)
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"", "elevenchars", "Caps", "with space", "pad_"} {
		if _, err := p.Encode(w, r); err == nil {
			t.Errorf("Encode(%q) accepted", w)
		}
	}
	bad := p
	bad.Alphabet += "_"
	if bad.Validate() == nil {
		t.Error("alphabet containing the pad accepted")
	}
	bad = p
	bad.Length = 9
	if bad.Validate() == nil {
		t.Error("length not a multiple of the fragment length accepted")
	}
	// The position is uniform over the 5 fragments.
	var counts [5]int
	for range 50_000 {
		rep, _ := p.Encode("hello", r)
		counts[rep.Position]++
	}
	for l, c := range counts {
		if math.Abs(float64(c)-10_000) > 5*math.Sqrt(50_000*0.2*0.8) {
			t.Errorf("position %d chosen %d times of 50,000", l, c)
		}
	}
	if got, _ := unpad("ab_c______", '_'); got != "" {
		t.Errorf("padding inside a word accepted: %q", got)
	}
}
