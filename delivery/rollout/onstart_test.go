package rollout

import (
	"testing"

	"github.com/sextant-ml/sextant/clock"
)

// TestOnStart: the hook sees a rollout once, when Start begins its first
// stage (not at Create, nor when a start is refused).
func TestOnStart(t *testing.T) {
	var got []Status
	c := New(clock.Real, &fixedSource{}, Options{OnStart: func(s Status) { got = append(got, s) }})
	if _, err := c.Create(testSpec()); err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("OnStart called at Create: %+v", got)
	}
	if err := c.Start("r1", "alice"); err != nil {
		t.Fatal(err)
	}
	if err := c.Start("r1", "alice"); err == nil {
		t.Fatal("a second Start succeeded")
	}
	if len(got) != 1 || got[0].Spec.ID != "r1" || got[0].State != Baking || got[0].Stage != 0 {
		t.Fatalf("OnStart saw %+v, want r1 baking at stage 0 once", got)
	}
}
