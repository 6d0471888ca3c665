package ldp

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
)

// SFP is the Sequence Fragment Puzzle (Apple, "Learning with Privacy at
// Scale", 2017, §"Sequence Fragment Puzzle"): discovery of frequent strings
// that are in no dictionary, e.g. new words or search terms.
//
// A device holding a word s (over Alphabet, at most Length characters,
// padded on the right with Pad to Length) computes the puzzle
// w = h(s) mod 2^PuzzleBits with a public keyed hash, picks a fragment
// position l uniformly among the Length/FragmentLen aligned positions, and
// sends l in the clear with two CMS reports: the fragment item w ‖ s[l·F :
// (l+1)·F] privatized with Fragments (ε_f), and s itself privatized with
// Words (ε_w). The device spends ε_f + ε_w.
//
// The server keeps one fragment sketch per position and one word sketch.
// For each position and each puzzle value it estimates every possible
// fragment (|Alphabet ∪ {Pad}|^F of them) and keeps those whose estimate
// exceeds Z standard deviations of the sketch's noise (at most TopFragments
// per position and puzzle value, the largest). For each puzzle value w the
// cartesian product of the kept fragments across positions gives candidate
// words; a candidate survives only if it is well formed (padding only at
// the end) and solves the puzzle, h(candidate) = w, which discards almost
// every cross-combination of two words' fragments. The word sketch then
// estimates each candidate, and those above Z standard deviations are the
// discoveries.
type SFP struct {
	Alphabet     string
	Pad          byte
	Length       int
	FragmentLen  int
	PuzzleBits   int
	PuzzleSeed   uint64
	Fragments    Params
	Words        Params
	TopFragments int
}

// Validate checks the parameters.
func (s *SFP) Validate() error {
	if len(s.Alphabet) == 0 || strings.IndexByte(s.Alphabet, s.Pad) >= 0 {
		return fmt.Errorf("ldp: sfp alphabet %q must be non-empty and exclude the pad %q", s.Alphabet, s.Pad)
	}
	if s.FragmentLen < 1 || s.Length < s.FragmentLen || s.Length%s.FragmentLen != 0 {
		return fmt.Errorf("ldp: sfp length %d must be a positive multiple of the fragment length %d", s.Length, s.FragmentLen)
	}
	if s.PuzzleBits < 1 || s.PuzzleBits > 16 {
		return fmt.Errorf("ldp: sfp puzzle bits %d outside [1, 16]", s.PuzzleBits)
	}
	if s.Fragments.Mechanism != CMS || s.Words.Mechanism != CMS {
		return fmt.Errorf("ldp: sfp uses CMS sketches (the server reads every cell)")
	}
	if len(s.Fragments.Seeds) != s.Fragments.K || len(s.Words.Seeds) != s.Words.K {
		return fmt.Errorf("ldp: sfp sketch parameters lack hash seeds")
	}
	if s.TopFragments < 1 {
		return fmt.Errorf("ldp: sfp needs TopFragments ≥ 1")
	}
	return nil
}

// Positions is the number of fragment positions, Length/FragmentLen.
func (s *SFP) Positions() int { return s.Length / s.FragmentLen }

// Puzzle returns w = h(word) mod 2^PuzzleBits for the unpadded word.
func (s *SFP) Puzzle(word string) int {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], s.PuzzleSeed)
	h := uint64(14695981039346656037)
	for _, c := range b {
		h = (h ^ uint64(c)) * 1099511628211
	}
	for i := 0; i < len(word); i++ {
		h = (h ^ uint64(word[i])) * 1099511628211
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	return int(h & (1<<s.PuzzleBits - 1))
}

// SFPReport is what a device sends: the position in the clear and two CMS
// reports. No device identifier.
type SFPReport struct {
	Position int
	Fragment Report
	Word     Report
}

// Encode privatizes word. It fails if word is empty, longer than Length or
// has characters outside Alphabet.
func (s *SFP) Encode(word string, r *rand.Rand) (SFPReport, error) {
	if len(word) == 0 || len(word) > s.Length {
		return SFPReport{}, fmt.Errorf("ldp: sfp word length %d outside [1, %d]", len(word), s.Length)
	}
	for i := 0; i < len(word); i++ {
		if strings.IndexByte(s.Alphabet, word[i]) < 0 {
			return SFPReport{}, fmt.Errorf("ldp: sfp word has byte %q outside the alphabet", word[i])
		}
	}
	padded := word + strings.Repeat(string(s.Pad), s.Length-len(word))
	l := r.IntN(s.Positions())
	frag := make([]byte, 0, 1+s.FragmentLen)
	frag = s.appendPuzzle(frag, s.Puzzle(word))
	frag = append(frag, padded[l*s.FragmentLen:(l+1)*s.FragmentLen]...)
	return SFPReport{
		Position: l,
		Fragment: s.Fragments.Encode(string(frag), r),
		Word:     s.Words.Encode(word, r),
	}, nil
}

func (s *SFP) appendPuzzle(b []byte, w int) []byte {
	if s.PuzzleBits > 8 {
		b = append(b, byte(w>>8))
	}
	return append(b, byte(w))
}

// SFPServer aggregates SFP reports.
type SFPServer struct {
	p     SFP
	frags []*Sketch
	words *Sketch
}

// NewSFPServer returns an empty aggregator.
func NewSFPServer(p SFP) (*SFPServer, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	srv := &SFPServer{p: p, words: NewSketch(p.Words)}
	for range p.Positions() {
		srv.frags = append(srv.frags, NewSketch(p.Fragments))
	}
	return srv, nil
}

// Add folds one report in.
func (srv *SFPServer) Add(rep SFPReport) error {
	if rep.Position < 0 || rep.Position >= len(srv.frags) {
		return fmt.Errorf("ldp: sfp position %d outside [0, %d)", rep.Position, len(srv.frags))
	}
	if err := srv.frags[rep.Position].Add(rep.Fragment); err != nil {
		return err
	}
	return srv.words.Add(rep.Word)
}

// Discovery is a discovered word and its estimated count.
type Discovery struct {
	Word     string
	Estimate float64
}

// noiseSD is the standard deviation of a CMS estimate of an item absent
// from n reports (AnalyticVariance with f = 0, ignoring the collision term,
// which the threshold's margin absorbs).
func noiseSD(p Params, n int) float64 {
	return math.Sqrt(AnalyticVariance(CMS, p.Epsilon, p.M, p.K, float64(n), 0, 0))
}

type scored struct {
	frag string
	est  float64
}

// Discover returns the words whose estimated count exceeds z standard
// deviations of the word sketch's noise, most frequent first.
func (srv *SFPServer) Discover(z float64) []Discovery {
	p := &srv.p
	symbols := p.Alphabet + string(p.Pad)
	nPuzzles := 1 << p.PuzzleBits
	// kept[l][w] are the fragments kept at position l for puzzle w.
	kept := make([][][]string, len(srv.frags))
	frag := make([]byte, p.FragmentLen)
	for l, sk := range srv.frags {
		kept[l] = make([][]string, nPuzzles)
		thr := z * noiseSD(p.Fragments, sk.Count())
		for w := 0; w < nPuzzles; w++ {
			var top []scored
			prefix := p.appendPuzzle(nil, w)
			forEachFragment(symbols, frag, 0, func(f []byte) {
				item := string(append(prefix[:len(prefix):len(prefix)], f...))
				if est := sk.Estimate(item); est > thr {
					top = append(top, scored{string(f), est})
				}
			})
			sort.Slice(top, func(i, j int) bool { return top[i].est > top[j].est })
			if len(top) > p.TopFragments {
				top = top[:p.TopFragments]
			}
			for _, t := range top {
				kept[l][w] = append(kept[l][w], t.frag)
			}
		}
	}
	thr := z * noiseSD(p.Words, srv.words.Count())
	var out []Discovery
	seen := map[string]bool{}
	for w := 0; w < nPuzzles; w++ {
		lists := make([][]string, len(kept))
		ok := true
		for l := range kept {
			if lists[l] = kept[l][w]; len(lists[l]) == 0 {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		product(lists, func(padded string) {
			word, valid := unpad(padded, p.Pad)
			if !valid || seen[word] || p.Puzzle(word) != w {
				return
			}
			seen[word] = true
			if est := srv.words.Estimate(word); est > thr {
				out = append(out, Discovery{Word: word, Estimate: est})
			}
		})
	}
	slices.SortFunc(out, func(a, b Discovery) int {
		if a.Estimate != b.Estimate {
			if a.Estimate > b.Estimate {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Word, b.Word)
	})
	return out
}

// forEachFragment calls fn with every string over symbols of len(buf).
func forEachFragment(symbols string, buf []byte, i int, fn func([]byte)) {
	if i == len(buf) {
		fn(buf)
		return
	}
	for j := 0; j < len(symbols); j++ {
		buf[i] = symbols[j]
		forEachFragment(symbols, buf, i+1, fn)
	}
}

// product calls fn with every concatenation of one element of each list.
func product(lists [][]string, fn func(string)) {
	var rec func(i int, acc string)
	rec = func(i int, acc string) {
		if i == len(lists) {
			fn(acc)
			return
		}
		for _, s := range lists[i] {
			rec(i+1, acc+s)
		}
	}
	rec(0, "")
}

// unpad strips trailing padding; a word with padding inside, or only
// padding, is not well formed.
func unpad(s string, pad byte) (string, bool) {
	w := strings.TrimRight(s, string(pad))
	if w == "" || strings.IndexByte(w, pad) >= 0 {
		return "", false
	}
	return w, true
}
