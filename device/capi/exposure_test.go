package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExposureState: the state file round-trips, and oversized, overlong
// or corrupt files are refused with SEXTANT_ERR_OPEN.
func TestExposureState(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "exposure.json")
	seen, err := loadExposures(path)
	if err != nil || len(seen) != 0 {
		t.Fatalf("missing file: %v, %v", seen, err)
	}
	if err := saveExposures(path, map[string]bool{"eta@2.0.0": true, "eta@1.0.0": true}); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	if string(raw) != `{"exposed":["eta@1.0.0","eta@2.0.0"]}` {
		t.Fatalf("state %s", raw)
	}
	if seen, err = loadExposures(path); err != nil || !seen["eta@1.0.0"] || !seen["eta@2.0.0"] || len(seen) != 2 {
		t.Fatalf("reloaded %v, %v", seen, err)
	}
	many := `{"exposed":["` + strings.Repeat(`x","`, maxExposureEntries) + `y"]}`
	for name, body := range map[string]string{
		"corrupt":  `{"exposed": [`,
		"oversize": `{"exposed":["` + strings.Repeat("x", maxExposureFile) + `"]}`,
		"overlong": many,
		"wrong":    `{"exposed": 3}`,
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := loadExposures(p); codeOf(err) != statusOpen {
			t.Errorf("%s: %v (status %d), want SEXTANT_ERR_OPEN", name, err, codeOf(err))
		}
	}
}

// FuzzLoadExposures: any bytes in the state file load or fail cleanly,
// within the bounds.
func FuzzLoadExposures(f *testing.F) {
	f.Add([]byte(`{"exposed":["eta@1.0.0"]}`))
	f.Add([]byte(`{"exposed": [`))
	f.Add([]byte(`null`))
	path := filepath.Join(f.TempDir(), "state.json")
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		seen, err := loadExposures(path)
		if err == nil && len(seen) > maxExposureEntries {
			t.Fatalf("%d entries loaded", len(seen))
		}
		if err != nil && codeOf(err) != statusOpen {
			t.Fatalf("status %d for %v", codeOf(err), err)
		}
	})
}
