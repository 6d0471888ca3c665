package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sextant-ml/sextant/clock"
	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/delivery/rollout"
	"github.com/sextant-ml/sextant/delivery/targeting"
)

// noArms is a gate source with no data: every gate is inconclusive.
type noArms struct{}

func (noArms) Arms(context.Context, string, string) (rollout.Arms, error) { return rollout.Arms{}, nil }

// directorVersion checks a device in and returns the version of model its
// check-in answer and its signed director document assign.
func directorVersion(t *testing.T, r *running, reg Registration, region string) string {
	t.Helper()
	ctx := context.Background()
	c := r.client(reg.Credential)
	ci := manifest
	ci.DeviceInfo.Region = region
	resp, err := c.CheckIn(ctx, reg.ID, ci)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Targets) != 1 {
		t.Fatalf("check-in targets %+v", resp.Targets)
	}
	v := resp.Targets[0].Version
	req, _ := http.NewRequest(http.MethodGet, r.url+resp.Director.URL, nil)
	req.Header.Set("Authorization", "Bearer "+reg.Credential)
	hr, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := io.ReadAll(hr.Body)
	hr.Body.Close()
	if hr.StatusCode != http.StatusOK || !bytes.Contains(doc, []byte(`"eta/`+v+`.sxm"`)) ||
		bytes.Count(doc, []byte(`"eta/`)) != 1 {
		t.Fatalf("director document (%d) does not assign exactly eta %s: %s", hr.StatusCode, v, doc)
	}
	return v
}

// TestRolloutDirector: a rollout of 2.0.0 at 50 % of region CH serves the
// candidate in the director document to exactly the matching devices in
// the share, 1.0.0 to the others; manual overrides are recorded with the
// token as actor and audited; a rollback sends everyone back to 1.0.0.
func TestRolloutDirector(t *testing.T) {
	ctx := context.Background()
	kd, tk := keyDir(t)
	ctl := rollout.New(clock.Real, noArms{}, rollout.Options{})
	r := start(t, "sqlite:"+filepath.Join(t.TempDir(), "sextant.db"), t.TempDir(), kd, func(c *Config) { c.Rollouts = ctl })
	_, pub := r.token(t, delivery.ScopePublish)
	rollTok, roll := r.token(t, delivery.ScopeRollout)
	_, read := r.token(t, delivery.ScopeRead)
	_, enroll := r.token(t, delivery.ScopeEnroll)

	p1, _ := testBundle(t, t.TempDir(), "eta", "1.0.0", "", 100)
	publish(t, r.client(pub), kd, tk, p1, "eta")
	p2, _ := testBundle(t, t.TempDir(), "eta", "2.0.0", "1.0.0", 100)
	publish(t, r.client(pub), kd, tk, p2, "eta")
	if _, err := r.client(roll).SetCurrent(ctx, "eta", "1.0.0"); err != nil {
		t.Fatal(err)
	}

	const n = 40
	regs := make([]Registration, n)
	region := func(i int) string { return []string{"CH", "DE"}[i%2] }
	for i := range regs {
		var err error
		if regs[i], err = r.client(enroll).Register(ctx, DeviceInfo{Class: "mid-2022", Region: region(i)}); err != nil {
			t.Fatal(err)
		}
		if v := directorVersion(t, r, regs[i], region(i)); v != "1.0.0" {
			t.Fatalf("before the rollout device %d gets %s", i, v)
		}
	}

	spec := rollout.Spec{ID: "eta-2", Model: "eta", Version: "2.0.0", Current: "1.0.0",
		Rule:   targeting.Rule{Region: []string{"CH"}},
		Stages: []rollout.Stage{{Share: 5000}, {Share: 9000}}}
	// Reading tokens may look but not create; unknown versions are refused.
	if _, err := r.client(read).CreateRollout(ctx, spec); httpStatus(err) != http.StatusForbidden {
		t.Fatalf("create with a read token: %v", err)
	}
	bad := spec
	bad.Version = "3.0.0"
	if _, err := r.client(roll).CreateRollout(ctx, bad); httpStatus(err) != http.StatusNotFound {
		t.Fatalf("create of an unknown version: %v", err)
	}
	st, err := r.client(roll).CreateRollout(ctx, spec)
	if err != nil || st.State != rollout.Baking || st.Share != 5000 {
		t.Fatalf("create: %+v, %v", st, err)
	}

	bucket := targeting.NewSaltedBucketer("rollout/eta-2")
	var in, out int
	for i, reg := range regs {
		want := "1.0.0"
		if region(i) == "CH" && bucket.Bucket(reg.ID) < 5000 {
			want = "2.0.0"
			in++
		} else if region(i) == "CH" {
			out++
		}
		if got := directorVersion(t, r, reg, region(i)); got != want {
			t.Errorf("device %d (region %s): got %s, want %s", i, region(i), got, want)
		}
	}
	if in == 0 || out == 0 {
		t.Fatalf("the 50%% stage split the %d CH devices %d/%d: the test does not discriminate", n/2, in, out)
	}

	act := func(action string, want rollout.State) {
		t.Helper()
		st, err := r.client(roll).RolloutAct(ctx, "eta-2", action, "test "+action)
		if err != nil || st.State != want {
			t.Fatalf("%s: %+v, %v", action, st.State, err)
		}
		last := st.History[len(st.History)-1]
		if last.Actor != rollTok.ID || !strings.Contains(last.Reason, "test "+action) || last.To != want {
			t.Fatalf("%s recorded as %+v", action, last)
		}
	}
	act("pause", rollout.Paused)
	if _, err := r.client(roll).RolloutAct(ctx, "eta-2", "pause", ""); httpStatus(err) != http.StatusConflict {
		t.Fatalf("pausing a paused rollout: %v", err)
	}
	act("resume", rollout.Baking)
	act("rollback", rollout.RolledBack)
	for i, reg := range regs {
		if got := directorVersion(t, r, reg, region(i)); got != "1.0.0" {
			t.Errorf("after rollback device %d gets %s", i, got)
		}
	}
	if _, err := r.client(roll).RolloutAct(ctx, "eta-2", "explode", ""); httpStatus(err) != http.StatusNotFound {
		t.Fatalf("unknown action: %v", err)
	}

	// A second rollout of the model, killed.
	spec.ID = "eta-2b"
	if _, err := r.client(roll).CreateRollout(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if st, err := r.client(roll).RolloutAct(ctx, "eta-2b", "kill", "bad"); err != nil || st.State != rollout.Killed {
		t.Fatalf("kill: %+v, %v", st, err)
	}
	all, err := r.client(read).Rollouts(ctx)
	if err != nil || len(all) != 2 || all[0].Spec.ID != "eta-2" || all[1].State != rollout.Killed {
		t.Fatalf("list: %+v, %v", all, err)
	}
	got, err := r.client(read).Rollout(ctx, "eta-2")
	if err != nil || got.State != rollout.RolledBack || len(got.History) != 5 {
		t.Fatalf("status: %+v, %v", got, err)
	}
	ev, err := r.client(read).Audit(ctx, delivery.AuditQuery{What: "rollouts.action"})
	if err != nil || len(ev) != 6 {
		t.Fatalf("audit of rollout actions: %d events, %v", len(ev), err)
	}
	var targets []string
	for _, e := range ev {
		targets = append(targets, e.Target)
	}
	if s := fmt.Sprint(targets); !strings.Contains(s, "eta-2:rollback") || !strings.Contains(s, "eta-2b:kill") {
		t.Errorf("audit targets %s", s)
	}
}
