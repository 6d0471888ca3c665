package main

import (
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
