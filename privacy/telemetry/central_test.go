package telemetry

import (
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCentralSchema(t *testing.T) {
	ok := Schema{Name: "health.inference", Fields: []Field{{Name: "errors", Type: Int}},
		Mechanism: Central, Epsilon: 0.5, DailyBudget: 50, Retention: 24 * time.Hour}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*Schema){
		"no ε":           func(s *Schema) { s.Epsilon = 0 },
		"budget below ε": func(s *Schema) { s.DailyBudget = 0.1 },
		"sketch":         func(s *Schema) { s.M = 8 },
	} {
		s := ok
		mut(&s)
		if err := s.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	reg, err := NewRegistry(ok)
	if err != nil {
		t.Fatal(err)
	}
	l, err := OpenLedger(filepath.Join(t.TempDir(), "ledger.json"))
	if err != nil {
		t.Fatal(err)
	}
	enc, err := NewEncoder(reg, l, &fakeClock{t: time.Unix(0, 0)}, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	b, err := enc.Append(nil, "health.inference", map[string]any{"errors": 3})
	if err == nil || len(b) != 0 || !strings.Contains(err.Error(), "centrally") {
		t.Fatalf("encoder sent a central stream as a local report: %x, %v", b, err)
	}
}
