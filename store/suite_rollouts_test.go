package store

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/delivery/rollout"
)

// testRollouts: SaveRollout inserts, then replaces by ID; LoadRollouts
// returns every rollout ordered by ID, equal to what was saved, across a
// restart; malformed rollouts are refused.
func testRollouts(t *testing.T, e *env) {
	ctx := t.Context()
	if got, err := e.db.LoadRollouts(ctx); err != nil || len(got) != 0 {
		t.Fatalf("empty store: %+v, %v", got, err)
	}
	at := e.clock.Now().UTC().Truncate(time.Microsecond)
	b := rollout.Saved{ID: "eta-2", Model: "eta", State: rollout.Pending,
		Document: json.RawMessage(`{"spec":{"id":"eta-2"},"state":"pending"}`), Updated: at}
	a := rollout.Saved{ID: "eta-1", Model: "eta", State: rollout.RolledBack,
		Document: json.RawMessage(`{"spec":{"id":"eta-1"},"state":"rolled-back"}`), Updated: at}
	for _, s := range []rollout.Saved{b, a} {
		if err := e.db.SaveRollout(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	b.State, b.Updated = rollout.Baking, at.Add(90*time.Second)
	b.Document = json.RawMessage(`{"spec":{"id":"eta-2"},"state":"baking","stage":1}`)
	if err := e.db.SaveRollout(ctx, b); err != nil {
		t.Fatalf("replace: %v", err)
	}
	want := []rollout.Saved{a, b}
	got, err := e.db.LoadRollouts(ctx)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("load = %+v, %v\nwant %+v", got, err, want)
	}

	e.restart(t)
	got, err = e.db.LoadRollouts(ctx)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("after restart load = %+v, %v\nwant %+v", got, err, want)
	}

	for name, s := range map[string]rollout.Saved{
		"no id":    {Model: "eta", Document: json.RawMessage(`{}`)},
		"no model": {ID: "x", Document: json.RawMessage(`{}`)},
		"not JSON": {ID: "x", Model: "eta", Document: json.RawMessage(`{`)},
	} {
		if err := e.db.SaveRollout(ctx, s); !errors.Is(err, delivery.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if got, _ := e.db.LoadRollouts(ctx); len(got) != 2 {
		t.Fatalf("refused rollouts were stored: %+v", got)
	}
}
