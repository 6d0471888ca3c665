package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sextant-ml/sextant/clock"
	"github.com/sextant-ml/sextant/delivery/targeting"
)

// memPersister keeps saved rollouts in memory, failing when told to.
type memPersister struct {
	mu    sync.Mutex
	saved map[string]Saved
	saves int
	err   error
}

func (p *memPersister) SaveRollout(_ context.Context, s Saved) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	if p.saved == nil {
		p.saved = map[string]Saved{}
	}
	s.Document = append(json.RawMessage(nil), s.Document...)
	p.saved[s.ID] = s
	p.saves++
	return nil
}

func (p *memPersister) LoadRollouts(context.Context) ([]Saved, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Saved, 0, len(p.saved))
	for _, s := range p.saved {
		out = append(out, s)
	}
	return out, p.err
}

// sameStatus compares snapshots through their JSON, which drops the
// monotonic clock readings a round trip cannot keep.
func sameStatus(t *testing.T, got, want Status) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		t.Fatalf("restored status differs:\ngot  %s\nwant %s", g, w)
	}
}

// TestRestoreResumes: a controller restored from its Persister has the
// same rollouts, assigns every device the same version, and counts the
// bake time from the recorded stage start, not from the restore.
func TestRestoreResumes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		src := &fixedSource{arms: good}
		p := &memPersister{}
		c1 := New(clock.Real, src, Options{Persister: p})
		if _, err := c1.Create(testSpec()); err != nil {
			t.Fatal(err)
		}
		if err := c1.Start("r1", "op"); err != nil {
			t.Fatal(err)
		}
		if _, err := c1.Evaluate(ctx, "r1"); err != nil {
			t.Fatal(err)
		}
		other := testSpec()
		other.ID, other.Model = "r2", "poi"
		if _, err := c1.Create(other); err != nil {
			t.Fatal(err)
		}
		if err := c1.Kill("r2", "op", "no"); err != nil {
			t.Fatal(err)
		}
		if p.saves != 4 {
			t.Fatalf("saves = %d, want 4 (create, start, create, kill; a holding evaluation writes nothing)", p.saves)
		}
		time.Sleep(3 * time.Minute)

		c2, err := Restore(ctx, clock.Real, src, Options{Persister: p})
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"r1", "r2"} {
			want, _ := c1.Status(id)
			// A holding evaluation is not saved (it is redone every
			// Interval), so the restored rollout has not been evaluated.
			want.LastEvaluated, want.LastGates = time.Time{}, nil
			got, err := c2.Status(id)
			if err != nil {
				t.Fatal(err)
			}
			sameStatus(t, got, want)
		}
		dev := targeting.Attributes{Region: "CH"}
		var members int
		for i := range 2000 {
			unit := fmt.Sprint("dev-", i)
			v1, v2 := c1.Version("eta", dev, unit), c2.Version("eta", dev, unit)
			if v1 != v2 {
				t.Fatalf("unit %s: %s before the restart, %s after", unit, v1, v2)
			}
			if v2 == "2.0.0" {
				members++
			}
		}
		if members == 0 {
			t.Fatal("no member at stage 0: the comparison does not discriminate")
		}

		// 3 of the 5 minutes have baked; 1 more is not enough, 2 are.
		time.Sleep(time.Minute)
		if st, _ := c2.Evaluate(ctx, "r1"); st != Baking {
			t.Fatalf("state %s", st)
		}
		if s, _ := c2.Status("r1"); s.Stage != 0 {
			t.Fatalf("advanced after 4 min of a 5 min bake: %+v", s)
		}
		time.Sleep(time.Minute)
		c2.Evaluate(ctx, "r1")
		s, _ := c2.Status("r1")
		if s.Stage != 1 || s.Share != 1000 {
			t.Fatalf("after 5 min of bake across the restart: stage %d share %d", s.Stage, s.Share)
		}
		// The advance was saved: a second restart sees stage 1.
		c3, err := Restore(ctx, clock.Real, src, Options{Persister: p})
		if err != nil {
			t.Fatal(err)
		}
		s3, _ := c3.Status("r1")
		sameStatus(t, s3, s)
		// The model still has one active rollout after a restore.
		dup := testSpec()
		dup.ID = "r3"
		if _, err := c3.Create(dup); err == nil {
			t.Fatal("a second active rollout of eta was created after a restore")
		}
	})
}

// TestRestoreLatestPerModel: with a finished and an active rollout of one
// model, the restored controller assigns through the active one.
func TestRestoreLatestPerModel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &memPersister{}
		c1 := New(clock.Real, &fixedSource{arms: good}, Options{Persister: p})
		old := testSpec()
		old.ID = "z-old" // sorts after the new one: ids must not decide
		c1.Create(old)
		c1.Start("z-old", "op")
		c1.Rollback("z-old", "op", "bad")
		time.Sleep(time.Second)
		s := testSpec()
		s.ID, s.Stages = "a-new", []Stage{{Share: 9999}}
		c1.Create(s)
		c1.Start("a-new", "op")
		c2, err := Restore(t.Context(), clock.Real, &fixedSource{arms: good}, Options{Persister: p})
		if err != nil {
			t.Fatal(err)
		}
		var got int
		for i := range 100 {
			if c2.Version("eta", targeting.Attributes{}, fmt.Sprint(i)) == "2.0.0" {
				got++
			}
		}
		if got < 95 {
			t.Fatalf("%d of 100 devices on the candidate at 99.99 %%: the rolled-back rollout assigns", got)
		}
	})
}

// TestPersistFailures: a failed save refuses the Create; a failed save of
// a transition is returned; a document that does not decode or disagrees
// with its row fails the restore.
func TestPersistFailures(t *testing.T) {
	p := &memPersister{err: errors.New("disk full")}
	c := New(clock.Real, &fixedSource{}, Options{Persister: p})
	if _, err := c.Create(testSpec()); err == nil {
		t.Fatal("create succeeded without a save")
	}
	if len(c.List()) != 0 {
		t.Fatal("an unsaved rollout was registered")
	}
	p.err = nil
	if _, err := c.Create(testSpec()); err != nil {
		t.Fatal(err)
	}
	p.err = errors.New("disk full")
	if err := c.Start("r1", "op"); err == nil {
		t.Fatal("start reported success without a save")
	}
	p.err = nil

	for name, mut := range map[string]func(*Saved){
		"not JSON":     func(s *Saved) { s.Document = json.RawMessage("{") },
		"other model":  func(s *Saved) { s.Model = "poi" },
		"other state":  func(s *Saved) { s.State = Killed },
		"invalid spec": func(s *Saved) { s.Document = json.RawMessage(`{"spec":{"id":"r1"}}`) },
		"no history":   func(s *Saved) { s.Document = json.RawMessage(`{"spec":` + string(mustJSON(t, testSpec())) + `}`) },
		"bad stage": func(s *Saved) {
			s.Document = json.RawMessage(`{"stage":7,"spec":` + string(mustJSON(t, testSpec())) + `}`)
		},
		"unknown state": func(s *Saved) { s.Document = json.RawMessage(`{"state":"melted"}`) },
	} {
		q := &memPersister{}
		q.SaveRollout(t.Context(), p.saved["r1"])
		s := q.saved["r1"]
		mut(&s)
		q.saved["r1"] = s
		if _, err := Restore(t.Context(), clock.Real, &fixedSource{}, Options{Persister: q}); err == nil {
			t.Errorf("%s: restore succeeded", name)
		}
	}
	if _, err := Restore(t.Context(), clock.Real, &fixedSource{}, Options{Persister: &memPersister{err: errors.New("down")}}); err == nil {
		t.Error("restore succeeded with the persister down")
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
