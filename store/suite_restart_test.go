package store

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/delivery"
)

// snapshot is everything a store holds, read through its API.
type snapshot struct {
	Models    []delivery.Model
	Versions  map[string][]delivery.Version
	Artifacts map[string][]delivery.Artifact
	Lineage   []delivery.Version
	Current   delivery.Version
	Tokens    []delivery.Token
	Devices   []delivery.Device
	Audit     []delivery.AuditEvent
}

func takeSnapshot(t *testing.T, db *DB) snapshot {
	t.Helper()
	ctx := t.Context()
	s := snapshot{Versions: map[string][]delivery.Version{}, Artifacts: map[string][]delivery.Artifact{}}
	var err error
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	s.Models, err = db.ListModels(ctx)
	must(err)
	for _, m := range s.Models {
		vs, err := db.ListVersions(ctx, m.Name)
		must(err)
		s.Versions[m.Name] = vs
		for _, v := range vs {
			as, err := db.ListArtifacts(ctx, m.Name, v.Version)
			must(err)
			s.Artifacts[m.Name+"@"+v.Version] = as
		}
	}
	s.Lineage, err = db.Lineage(ctx, "eta", "1.1.0")
	must(err)
	s.Current, err = db.GetCurrent(ctx, "eta")
	must(err)
	s.Tokens, err = db.ListTokens(ctx)
	must(err)
	for _, id := range []string{"dev-1", "dev-2"} {
		d, err := db.GetDevice(ctx, id)
		must(err)
		s.Devices = append(s.Devices, d)
	}
	s.Audit, err = db.ListAudit(ctx, delivery.AuditQuery{})
	must(err)
	return s
}

// testRestartLosesNothing fills every table, closes the store, reopens it
// (as a restarted server does) and finds everything as it was; the rules
// that depend on stored state (monotonic versions, uniqueness) still hold.
func testRestartLosesNothing(t *testing.T, e *env) {
	ctx := t.Context()
	mustModel(t, e.db, "eta")
	mustModel(t, e.db, "next-destination")
	v := version("eta", "1.0.0", "")
	v.Manifest = json.RawMessage(`{"name":"eta"}`)
	v.Lineage = delivery.Lineage{TrainingRun: "r", Privacy: &delivery.Privacy{Epsilon: 2.5, Delta: 1e-7}}
	mustPublish(t, e.db, v)
	e.clock.Advance(time.Second)
	mustPublish(t, e.db, version("eta", "1.1.0", "1.0.0"))
	if _, err := e.db.PutArtifact(ctx, delivery.Artifact{SHA256: sum("d"), Length: 9, Kind: delivery.KindDelta,
		MediaType: delivery.MediaDelta, Model: "eta", Version: "1.1.0", From: "1.0.0"}); err != nil {
		t.Fatal(err)
	}
	if err := e.db.SetCurrent(ctx, "eta", "1.0.0"); err != nil {
		t.Fatal(err)
	}
	for i, scope := range []delivery.Scope{delivery.ScopePublish, delivery.ScopeRollout} {
		if _, err := e.db.CreateToken(ctx, delivery.Token{ID: string(scope), Hash: sum(string(scope)), Scope: scope}); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Duration(i+1) * time.Second)
	}
	if err := e.db.RevokeToken(ctx, "rollout"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"dev-1", "dev-2"} {
		if _, err := e.db.RegisterDevice(ctx, delivery.Device{ID: id, CredentialHash: sum(id),
			Attributes: delivery.Attributes{Region: "CH"}}); err != nil {
			t.Fatal(err)
		}
	}
	e.clock.Advance(time.Minute)
	if _, err := e.db.CheckIn(ctx, "dev-2", delivery.Attributes{Region: "DE", Custom: map[string]string{"k": "v"}}); err != nil {
		t.Fatal(err)
	}
	for _, what := range []string{"publish", "set-current"} {
		if _, err := e.db.AppendAudit(ctx, delivery.AuditEvent{Who: "publish", What: what, Details: json.RawMessage(`{"a":1}`)}); err != nil {
			t.Fatal(err)
		}
	}

	before := takeSnapshot(t, e.db)
	e.restart(t)
	after := takeSnapshot(t, e.db)
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("restart changed the store:\nbefore %+v\nafter  %+v", before, after)
	}

	// State-dependent rules survive the restart.
	_, err := e.db.PublishVersion(ctx, version("eta", "1.0.5", ""))
	var ve *delivery.VersionError
	if !errors.As(err, &ve) || ve.Have != "1.1.0" {
		t.Fatalf("after restart, publishing 1.0.5 over 1.1.0: %v", err)
	}
	mustPublish(t, e.db, version("eta", "1.2.0", "1.1.0"))
	vs, _ := e.db.ListVersions(ctx, "eta")
	if len(vs) != 3 || vs[2].Version != "1.2.0" {
		t.Fatalf("versions after restart = %+v", vs)
	}
	_, err = e.db.CreateModel(ctx, delivery.Model{Name: "eta"})
	wantKind(t, err, delivery.ErrConflict, "model after restart")
	_, err = e.db.RegisterDevice(ctx, delivery.Device{ID: "dev-1", CredentialHash: sum("new")})
	wantKind(t, err, delivery.ErrConflict, "device after restart")
	ev, err := e.db.AppendAudit(ctx, delivery.AuditEvent{Who: "x", What: "y"})
	if err != nil || ev.ID <= before.Audit[0].ID {
		t.Fatalf("audit IDs must keep increasing across restarts: %+v after %+v (%v)", ev, before.Audit[0], err)
	}
}
