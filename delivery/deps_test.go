package delivery

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDomainStaysLean: the device side may link this package, so it must
// not pull in database drivers, SQL or network stacks (DESIGN.md,
// "Contracts": the device side links nothing server-only).
func TestDomainStaysLean(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	forbidden := map[string]string{
		"database/sql":                        "persistence belongs to package store",
		"net":                                 "I/O belongs to the adapters",
		"net/http":                            "HTTP belongs to package server",
		"modernc.org/sqlite":                  "server-side store",
		"github.com/jackc/pgx/v5":             "server-side store",
		"github.com/sextant-ml/sextant/store": "the adapter must depend on the domain, not the reverse",
	}
	for _, p := range strings.Fields(string(out)) {
		for f, why := range forbidden {
			if p == f || strings.HasPrefix(p, f+"/") {
				t.Errorf("delivery depends on %s: %s", p, why)
			}
		}
	}
}
