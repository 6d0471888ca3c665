package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDataGenerate(t *testing.T) {
	dir := t.TempDir()
	out, err := sextant(t, "data", "generate", "-q", "--users", "20", "--weeks", "1", "--seed", "3",
		"--city", "../../mobility/wilmington/wilmington-newark.city.gz", "-o", dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "20 users × 1 weeks") || !strings.Contains(out, "laws:") {
		t.Fatalf("unexpected report:\n%s", out)
	}
	for _, f := range []string{"visits.parquet", "trips.parquet", "places.parquet", "users.parquet"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Fatalf("%s: %v", f, err)
		}
	}
	if _, err := sextant(t, "data", "generate", "--users", "0", "-o", dir, "--city", "../../mobility/wilmington/wilmington-newark.city.gz"); err == nil {
		t.Fatal("--users 0 accepted")
	}
	if _, err := sextant(t, "data", "city", "--pbf", "x.pbf", "--bbox", "1,2,3", "-o", "y"); err == nil {
		t.Fatal("a three-number bbox accepted")
	}
}
