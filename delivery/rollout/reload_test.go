package rollout

import (
	"context"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/clock"
)

type noArms struct{}

func (noArms) Arms(context.Context, string, string) (Arms, error) { return Arms{}, nil }

// TestReloadFollowsAnotherController: a follower's controller sees the
// rollout another one created, started and advanced once it reloads, and
// keeps assigning by it.
func TestReloadFollowsAnotherController(t *testing.T) {
	p := &memPersister{} // shared, as a database is by two replicas
	leader := New(clock.Real, noArms{}, Options{Persister: p})
	follower := New(clock.Real, noArms{}, Options{Persister: p})
	spec := Spec{ID: "r1", Model: "eta", Version: "2.0.0", Current: "1.0.0",
		Stages: []Stage{{Share: 100, Bake: time.Hour}, {Share: 9000, Bake: time.Hour}}}
	if _, err := leader.Create(spec); err != nil {
		t.Fatal(err)
	}
	if err := leader.Start("r1", "op"); err != nil {
		t.Fatal(err)
	}
	if err := leader.Advance(t.Context(), "r1", "op", "looks good"); err != nil {
		t.Fatal(err)
	}
	if _, err := follower.Status("r1"); err == nil {
		t.Fatal("follower knows r1 before reloading")
	}
	if err := follower.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	st, err := follower.Status("r1")
	if err != nil || st.State != Baking || st.Stage != 1 || len(st.History) != 3 {
		t.Fatalf("follower after reload: %+v %v", st, err)
	}
	// An operator acting through the follower is seen by the leader.
	if err := follower.Pause("r1", "op2", "investigating"); err != nil {
		t.Fatal(err)
	}
	if err := leader.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st, _ := leader.Status("r1"); st.State != Paused {
		t.Fatalf("leader after reload: %s", st.State)
	}
}
