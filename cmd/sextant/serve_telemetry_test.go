package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestLoadTelemetry: --telemetry reads a declaration file, refuses a bad
// one, and declares nothing without the flag.
func TestLoadTelemetry(t *testing.T) {
	reg, err := loadTelemetry("")
	if err != nil || len(reg.Names()) != 0 {
		t.Fatalf("no flag: %v %v", reg, err)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	os.WriteFile(good, []byte(`[{"name":"app_opened","fields":[{"name":"screen","type":"string"}],"mechanism":"none","retention":"24h"}]`), 0o644)
	if reg, err = loadTelemetry(good); err != nil || len(reg.Names()) != 1 || reg.Names()[0] != "app_opened" {
		t.Fatalf("good file: %v %v", reg, err)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`[{"name":"x","fields":[],"mechanism":"none","retention":"24h","typo":1}]`), 0o644)
	if _, err := loadTelemetry(bad); err == nil {
		t.Fatal("a file with an unknown key was accepted")
	}
	if _, err := loadTelemetry(filepath.Join(dir, "missing.json")); err == nil {
		t.Fatal("a missing file was accepted")
	}
}
