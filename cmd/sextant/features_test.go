package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// `data features --cold-start-candidates` fills short histories' empty
// candidate slots with public places: the new users' coverage, printed,
// goes up.
func TestDataFeaturesColdStart(t *testing.T) {
	dir := t.TempDir()
	mob := filepath.Join(dir, "mob")
	runCLI(t, "data", "generate", "--users", "20", "--weeks", "3", "--seed", "5", "--city", "../../mobility/wilmington/wilmington-newark.city.gz", "-o", mob, "-q")
	re := regexp.MustCompile(`\(new users ([0-9.]+)\)`)
	coverage := func(extra ...string) float64 {
		args := append([]string{"data", "features", "--in", mob, "-o", filepath.Join(dir, "nd"), "--holdout-weeks", "1", "--new-users", "1"}, extra...)
		out, _ := runCLI(t, args...)
		m := re.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no new users' coverage in %q", out)
		}
		c, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	plain, cold := coverage(), coverage("--cold-start-candidates")
	uniform := coverage("--cold-start-candidates", "--cold-start-prior", "uniform")
	if !(cold > plain) || !(uniform > plain) {
		t.Errorf("new users' coverage %.4f without, %.4f (relevance) and %.4f (uniform) with cold-start candidates", plain, cold, uniform)
	}
}

// `data features --workers N` writes the same bytes for any N: 1 and 3
// workers over chunks of a few hundred visits (--chunk-rows, so that the
// small population makes many chunks), for both kinds.
func TestDataFeaturesWorkers(t *testing.T) {
	dir := t.TempDir()
	mob := filepath.Join(dir, "mob")
	runCLI(t, "data", "generate", "--users", "30", "--weeks", "3", "--seed", "7", "--city", "../../mobility/wilmington/wilmington-newark.city.gz", "-o", mob, "-q")
	for _, kind := range []string{"next-destination", "eta"} {
		outs := map[string]string{}
		for _, w := range []string{"1", "3"} {
			outs[w] = filepath.Join(dir, kind+"-"+w)
			args := []string{"data", "features", "--kind", kind, "--in", mob, "-o", outs[w], "--holdout-weeks", "1", "--workers", w, "--chunk-rows", "250"}
			if kind == "next-destination" {
				args = append(args, "--donors", "0.5", "--new-users", "0.3", "--new-user-days", "2-6", "--cold-start-candidates")
			}
			runCLI(t, args...)
		}
		files := []string{"train.parquet", "test.parquet"}
		if kind == "next-destination" {
			files = append(files, "coverage.parquet")
		}
		for _, f := range files {
			a, err := os.ReadFile(filepath.Join(outs["1"], f))
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(outs["3"], f))
			if err != nil {
				t.Fatal(err)
			}
			if len(a) == 0 || !bytes.Equal(a, b) {
				t.Errorf("%s %s: %d bytes with 1 worker, %d different bytes with 3", kind, f, len(a), len(b))
			}
		}
	}
}

// --new-user-days takes N or LO-HI whole days, and says what is wrong
// with anything else.
func TestDayRange(t *testing.T) {
	for _, c := range []struct {
		in     string
		lo, hi int
		ok     bool
	}{
		{"7", 0, 7, true}, {"1-7", 1, 7, true}, {" 2 - 5 ", 2, 5, true}, {"3-3", 3, 3, true},
		{"0", 0, 0, false}, {"7-1", 0, 0, false}, {"0-4", 0, 0, false}, {"x", 0, 0, false},
		{"1-", 0, 0, false}, {"-3", 0, 0, false}, {"", 0, 0, false}, {"1-2-3", 0, 0, false},
	} {
		lo, hi, err := dayRange(c.in)
		if (err == nil) != c.ok || (c.ok && (lo != c.lo || hi != c.hi)) {
			t.Errorf("dayRange(%q) = %d, %d, %v; want %d, %d, ok %v", c.in, lo, hi, err, c.lo, c.hi, c.ok)
		}
	}
}
