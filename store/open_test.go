package store

import (
	"strings"
	"testing"

	"github.com/sextant-ml/sextant/delivery"
)

func TestOpenMemory(t *testing.T) {
	db, err := Open(t.Context(), "sqlite::memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.Dialect() != "sqlite" {
		t.Fatalf("dialect %q", db.Dialect())
	}
	if _, err := db.CreateModel(t.Context(), delivery.Model{Name: "eta"}); err != nil {
		t.Fatal(err)
	}
	// One connection holds the database: a second query sees the first.
	if _, err := db.GetModel(t.Context(), "eta"); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRejects(t *testing.T) {
	for _, dsn := range []string{"", "mysql://x", "sqlite:", "/var/lib/sextant.db"} {
		if db, err := Open(t.Context(), dsn); err == nil {
			db.Close()
			t.Errorf("Open(%q) succeeded", dsn)
		}
	}
}

func TestOpenHidesPassword(t *testing.T) {
	_, err := Open(t.Context(), "postgres://admin:hunter2@127.0.0.1:1/test?connect_timeout=1")
	if err == nil {
		t.Fatal("Open of a closed port succeeded")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error shows the password: %v", err)
	}
}
