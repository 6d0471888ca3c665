package store

import (
	"context"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/internal/pgtest"
)

// TestListenCurrentChanges: a replica listening on PostgreSQL hears a
// current-version move another replica commits, and nothing of one that
// rolled back.
func TestListenCurrentChanges(t *testing.T) {
	dsn := pgtest.Schema(t)
	ctx := t.Context()
	a, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	got := make(chan string, 16)
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go b.ListenChanges(lctx, ChangeCurrent, func(p string) { got <- p })
	next := func() (string, bool) {
		select {
		case p := <-got:
			return p, true
		case <-time.After(5 * time.Second):
			return "", false
		}
	}
	if p, ok := next(); !ok || p != "" {
		t.Fatalf("on connect: %q %v, want the catch-all \"\"", p, ok)
	}
	mustModel(t, a, "eta")
	mustPublish(t, a, version("eta", "1.0.0", ""))
	if err := a.SetCurrent(ctx, "eta", "9.9.9"); err == nil {
		t.Fatal("set current to an unpublished version succeeded")
	}
	if err := a.SetCurrent(ctx, "eta", "1.0.0"); err != nil {
		t.Fatal(err)
	}
	if p, ok := next(); !ok || p != "eta" {
		t.Fatalf("after SetCurrent: %q %v", p, ok)
	}
	select {
	case p := <-got:
		t.Fatalf("extra notification %q (the failed SetCurrent rolled back)", p)
	case <-time.After(200 * time.Millisecond):
	}
}
