package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/delivery"
)

// env is one suite test's database: its DSN (to reopen it, as a restarted
// server would), the clock the store stamps times with, and the open DB.
type env struct {
	dsn   string
	clock *testClock
	db    *DB
}

// open opens (or reopens) the test's database.
func (e *env) open(t *testing.T) *DB {
	t.Helper()
	db, err := Open(t.Context(), e.dsn, WithClock(e.clock))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// restart closes the store and opens it again.
func (e *env) restart(t *testing.T) {
	t.Helper()
	if err := e.db.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	e.db = e.open(t)
}

// runSuite is the one store test suite; fresh returns the DSN of a new,
// empty database for each test.
func runSuite(t *testing.T, fresh func(t *testing.T) string) {
	tests := []struct {
		name string
		fn   func(t *testing.T, e *env)
	}{
		{"Migrations", testMigrations},
		{"Models", testModels},
		{"Publish", testPublish},
		{"PublishRefusesNonIncreasing", testPublishRefusesNonIncreasing},
		{"ConcurrentPublishers", testConcurrentPublishers},
		{"ConcurrentSameVersion", testConcurrentSameVersion},
		{"Lineage", testLineage},
		{"Current", testCurrent},
		{"Artifacts", testArtifacts},
		{"Tokens", testTokens},
		{"Devices", testDevices},
		{"DeviceLookups", testDeviceLookups}, // devices_batch_test.go
		{"DeviceUpserts", testDeviceUpserts}, // devices_batch_test.go
		{"FencedPublish", testFencedPublish}, // devices_batch_test.go
		{"Audit", testAudit},
		{"RestartLosesNothing", testRestartLosesNothing},
		{"Rollouts", testRollouts},
		{"TelemetryAggregates", testTelemetryAggregates},
		{"FLTasks", testFLTasks},                           // fl_test.go
		{"FLBoard", testFLBoard},                           // fl_test.go
		{"FLConcurrentCheckIns", testFLConcurrentCheckIns}, // fl_test.go
		{"FLGoneSeats", testFLGoneSeats},                   // fl_test.go
		{"FLMessagesBatched", testFLMessagesBatched},       // fl_test.go
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := &env{dsn: fresh(t), clock: newTestClock()}
			e.db = e.open(t)
			tc.fn(t, e)
		})
	}
}

// sum returns a content address for test content s.
func sum(s string) string { return delivery.HashSecret(s) }

// mustModel creates a model or fails.
func mustModel(t *testing.T, db *DB, name string) delivery.Model {
	t.Helper()
	m, err := db.CreateModel(t.Context(), delivery.Model{Name: name, CreatedBy: "tok-admin"})
	if err != nil {
		t.Fatalf("create model %s: %v", name, err)
	}
	return m
}

// version returns a valid version of model for publishing.
func version(model, v, parent string) delivery.Version {
	return delivery.Version{
		Model: model, Version: v, Parent: parent,
		SHA256: sum(model + "@" + v), Length: int64(1000 + len(v)),
		PublishedBy: "tok-publisher",
	}
}

func mustPublish(t *testing.T, db *DB, v delivery.Version) delivery.Version {
	t.Helper()
	got, err := db.PublishVersion(t.Context(), v)
	if err != nil {
		t.Fatalf("publish %s@%s: %v", v.Model, v.Version, err)
	}
	return got
}

func wantKind(t *testing.T, err, kind error, what string) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("%s: got error %v, want %v", what, err, kind)
	}
}

func testMigrations(t *testing.T, e *env) {
	ctx := t.Context()
	count := func() int {
		var n int
		if err := e.db.db.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	ms, err := e.db.d.loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	if got := count(); got != len(ms) {
		t.Fatalf("schema_migrations has %d rows, want %d", got, len(ms))
	}
	// Restarts apply nothing again, and replicas opening together both
	// succeed with each migration recorded once.
	e.restart(t)
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			db, err := Open(ctx, e.dsn, WithClock(e.clock))
			if err == nil {
				db.Close()
			}
			errs <- err
		}()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent open: %v", err)
		}
	}
	if got := count(); got != len(ms) {
		t.Fatalf("after restarts schema_migrations has %d rows, want %d", got, len(ms))
	}
	// A database migrated by a newer binary is refused, not corrupted.
	if _, err := e.db.db.ExecContext(ctx,
		`INSERT INTO schema_migrations (version, name, applied_us) VALUES (9999, '9999_future.sql', 0)`); err != nil {
		t.Fatal(err)
	}
	if db, err := Open(ctx, e.dsn); err == nil || !strings.Contains(err.Error(), "newer") {
		if db != nil {
			db.Close()
		}
		t.Fatalf("open of a newer schema: err = %v, want a 'newer' error", err)
	}
}

func testModels(t *testing.T, e *env) {
	ctx := t.Context()
	m := mustModel(t, e.db, "next-destination")
	if !m.CreatedAt.Equal(e.clock.Now().Truncate(time.Microsecond)) || m.Latest != "" || m.Current != "" {
		t.Fatalf("created model = %+v", m)
	}
	e.clock.Advance(time.Minute)
	mustModel(t, e.db, "eta")
	_, err := e.db.CreateModel(ctx, delivery.Model{Name: "eta"})
	wantKind(t, err, delivery.ErrConflict, "duplicate model")
	_, err = e.db.CreateModel(ctx, delivery.Model{Name: "../etc"})
	wantKind(t, err, delivery.ErrInvalid, "bad name")
	_, err = e.db.GetModel(ctx, "nope")
	wantKind(t, err, delivery.ErrNotFound, "missing model")
	got, err := e.db.GetModel(ctx, "next-destination")
	if err != nil || !reflect.DeepEqual(got, m) {
		t.Fatalf("GetModel = %+v, %v; want %+v", got, err, m)
	}
	ms, err := e.db.ListModels(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].Name != "eta" || ms[1].Name != "next-destination" {
		t.Fatalf("ListModels = %+v", ms)
	}
}

func testPublish(t *testing.T, e *env) {
	ctx := t.Context()
	mustModel(t, e.db, "eta")
	_, err := e.db.PublishVersion(ctx, version("ghost", "1.0.0", ""))
	wantKind(t, err, delivery.ErrNotFound, "publish to a missing model")
	bad := version("eta", "1.0.0", "")
	bad.SHA256 = "xyz"
	_, err = e.db.PublishVersion(ctx, bad)
	wantKind(t, err, delivery.ErrInvalid, "bad sha256")

	v1 := version("eta", "1.0.0", "")
	v1.Manifest = json.RawMessage(`{"name":"eta","version":"1.0.0","x-unknown":[1,2]}`)
	v1.Notes = "first"
	v1.Lineage = delivery.Lineage{
		DataSnapshot: sum("data"), TrainingRun: "run-7",
		FederatedRounds: []string{"r1", "r2"},
		Privacy:         &delivery.Privacy{Epsilon: 0, Delta: 1e-6},
		EvalReport:      json.RawMessage(`{"top1":0.61}`),
	}
	p1 := mustPublish(t, e.db, v1)
	if !p1.PublishedAt.Equal(e.clock.Now().Truncate(time.Microsecond)) {
		t.Fatalf("PublishedAt = %v, want the clock's %v", p1.PublishedAt, e.clock.Now())
	}
	e.clock.Advance(time.Hour)
	v2 := version("eta", "1.1.0-rc.1", "1.0.0")
	p2 := mustPublish(t, e.db, v2)

	got, err := e.db.GetVersion(ctx, "eta", "1.0.0")
	if err != nil || !reflect.DeepEqual(got, p1) {
		t.Fatalf("GetVersion = %+v, %v\nwant %+v", got, err, p1)
	}
	if string(got.Manifest) != string(v1.Manifest) {
		t.Fatalf("manifest not kept verbatim: %s", got.Manifest)
	}
	if got.Lineage.Privacy == nil || got.Lineage.Privacy.Epsilon != 0 {
		t.Fatalf("ε = 0 must survive as a recorded cost: %+v", got.Lineage.Privacy)
	}
	g2, err := e.db.GetVersion(ctx, "eta", "1.1.0-rc.1")
	if err != nil || g2.Lineage.Privacy != nil || g2.Lineage.FederatedRounds != nil {
		t.Fatalf("version without lineage = %+v, %v", g2, err)
	}
	_, err = e.db.GetVersion(ctx, "eta", "9.9.9")
	wantKind(t, err, delivery.ErrNotFound, "missing version")

	vs, err := e.db.ListVersions(ctx, "eta")
	if err != nil || !reflect.DeepEqual(vs, []delivery.Version{p1, p2}) {
		t.Fatalf("ListVersions = %+v, %v", vs, err)
	}
	m, _ := e.db.GetModel(ctx, "eta")
	if m.Latest != "1.1.0-rc.1" {
		t.Fatalf("Latest = %q", m.Latest)
	}
	as, err := e.db.ListArtifacts(ctx, "eta", "1.0.0")
	if err != nil || len(as) != 1 || as[0].Kind != delivery.KindBundle || as[0].SHA256 != v1.SHA256 ||
		as[0].Length != v1.Length || as[0].MediaType != delivery.MediaBundle {
		t.Fatalf("bundle artifact = %+v, %v", as, err)
	}
	mustModel(t, e.db, "empty")
	if vs, err := e.db.ListVersions(ctx, "empty"); err != nil || len(vs) != 0 {
		t.Fatalf("ListVersions of a model without versions = %v, %v", vs, err)
	}
	_, err = e.db.ListVersions(ctx, "ghost")
	wantKind(t, err, delivery.ErrNotFound, "versions of a missing model")
}

func testPublishRefusesNonIncreasing(t *testing.T, e *env) {
	ctx := t.Context()
	mustModel(t, e.db, "eta")
	mustPublish(t, e.db, version("eta", "1.2.0", ""))
	for _, v := range []string{"1.2.0", "1.1.9", "1.2.0-rc.1", "1.2.0+build.2", "0.0.1"} {
		_, err := e.db.PublishVersion(ctx, version("eta", v, ""))
		var ve *delivery.VersionError
		if !errors.As(err, &ve) || ve.Have != "1.2.0" || ve.Got != v || ve.Model != "eta" {
			t.Fatalf("publish %s over 1.2.0: err = %v, want *VersionError{Have 1.2.0}", v, err)
		}
		wantKind(t, err, delivery.ErrVersionNotIncreasing, v)
		wantKind(t, err, delivery.ErrConflict, v)
	}
	// Refusals leave no trace: the next good version gets the next slot.
	mustPublish(t, e.db, version("eta", "1.2.1", "1.2.0"))
	vs, _ := e.db.ListVersions(ctx, "eta")
	if len(vs) != 2 || vs[1].Version != "1.2.1" {
		t.Fatalf("versions = %+v", vs)
	}
}

// testConcurrentPublishers races publishers offering random versions: the
// accepted ones, in publish order, must strictly increase, and every
// refusal must be a *VersionError.
func testConcurrentPublishers(t *testing.T, e *env) {
	ctx := t.Context()
	mustModel(t, e.db, "eta")
	const workers, each = 6, 12
	type result struct {
		v   string
		err error
	}
	results := make(chan result, workers*each)
	start := make(chan struct{})
	for w := range workers {
		go func() {
			<-start
			for i := range each {
				// Distinct across workers, interleaved in value.
				v := fmt.Sprintf("1.%d.%d", (i*7+w*3)%10, w*each+i)
				_, err := e.db.PublishVersion(ctx, version("eta", v, ""))
				results <- result{v, err}
			}
		}()
	}
	close(start)
	accepted := 0
	for range workers * each {
		r := <-results
		switch {
		case r.err == nil:
			accepted++
		case errors.Is(r.err, delivery.ErrVersionNotIncreasing):
		default:
			t.Errorf("publish %s: unexpected error %v", r.v, r.err)
		}
	}
	vs, err := e.db.ListVersions(ctx, "eta")
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != accepted || accepted == 0 {
		t.Fatalf("%d versions stored, %d publishes accepted", len(vs), accepted)
	}
	for i := 1; i < len(vs); i++ {
		if delivery.CheckIncreases("eta", vs[i-1].Version, vs[i].Version) != nil {
			t.Fatalf("publish order breaks monotonicity: %s then %s", vs[i-1].Version, vs[i].Version)
		}
	}
	m, _ := e.db.GetModel(ctx, "eta")
	if m.Latest != vs[len(vs)-1].Version {
		t.Fatalf("Latest = %s, last published %s", m.Latest, vs[len(vs)-1].Version)
	}
	t.Logf("%s: %d of %d racing publishes accepted", e.db.Dialect(), accepted, workers*each)
}

// testConcurrentSameVersion: many publishers of one version, one wins.
func testConcurrentSameVersion(t *testing.T, e *env) {
	mustModel(t, e.db, "eta")
	const n = 8
	errs := make(chan error, n)
	start := make(chan struct{})
	for i := range n {
		go func() {
			<-start
			v := version("eta", "2.0.0", "")
			v.SHA256 = sum(fmt.Sprint("build ", i))
			_, err := e.db.PublishVersion(t.Context(), v)
			errs <- err
		}()
	}
	close(start)
	won := 0
	for range n {
		err := <-errs
		switch {
		case err == nil:
			won++
		case !errors.Is(err, delivery.ErrConflict):
			t.Errorf("loser got %v, want a conflict", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d publishers of 2.0.0 succeeded, want 1", won)
	}
}

func testLineage(t *testing.T, e *env) {
	ctx := t.Context()
	mustModel(t, e.db, "eta")
	for _, p := range [][2]string{{"1.0.0", "0.9.0"}, {"1.1.0", "1.0.0"}, {"2.0.0", "1.1.0"}, {"2.1.0", "1.0.0"}, {"3.0.0", ""}} {
		mustPublish(t, e.db, version("eta", p[0], p[1]))
	}
	_, err := e.db.PublishVersion(ctx, version("eta", "4.0.0", "4.0.0"))
	wantKind(t, err, delivery.ErrInvalid, "self parent")
	_, err = e.db.PublishVersion(ctx, version("eta", "4.0.0", "5.0.0"))
	wantKind(t, err, delivery.ErrInvalid, "future parent")
	for v, want := range map[string][]string{
		"2.0.0": {"2.0.0", "1.1.0", "1.0.0"}, // 1.0.0's parent predates the registry
		"2.1.0": {"2.1.0", "1.0.0"},
		"3.0.0": {"3.0.0"},
	} {
		vs, err := e.db.Lineage(ctx, "eta", v)
		if err != nil {
			t.Fatalf("Lineage(%s): %v", v, err)
		}
		var got []string
		for _, x := range vs {
			got = append(got, x.Version)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Lineage(%s) = %v, want %v", v, got, want)
		}
	}
	full, _ := e.db.Lineage(ctx, "eta", "2.0.0")
	if full[1].SHA256 != sum("eta@1.1.0") {
		t.Errorf("lineage entries carry the versions: %+v", full[1])
	}
	_, err = e.db.Lineage(ctx, "eta", "7.0.0")
	wantKind(t, err, delivery.ErrNotFound, "lineage of a missing version")
}

func testCurrent(t *testing.T, e *env) {
	ctx := t.Context()
	mustModel(t, e.db, "eta")
	_, err := e.db.GetCurrent(ctx, "eta")
	wantKind(t, err, delivery.ErrNotFound, "current before any is set")
	_, err = e.db.GetCurrent(ctx, "ghost")
	wantKind(t, err, delivery.ErrNotFound, "current of a missing model")
	p1 := mustPublish(t, e.db, version("eta", "1.0.0", ""))
	p2 := mustPublish(t, e.db, version("eta", "1.1.0", "1.0.0"))
	wantKind(t, e.db.SetCurrent(ctx, "eta", "1.2.0"), delivery.ErrNotFound, "current to a missing version")
	wantKind(t, e.db.SetCurrent(ctx, "ghost", "1.0.0"), delivery.ErrNotFound, "current of a missing model")
	for _, want := range []delivery.Version{p2, p1} { // forward, then back (a rollback)
		if err := e.db.SetCurrent(ctx, "eta", want.Version); err != nil {
			t.Fatal(err)
		}
		got, err := e.db.GetCurrent(ctx, "eta")
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("GetCurrent = %+v, %v; want %+v", got, err, want)
		}
		if m, _ := e.db.GetModel(ctx, "eta"); m.Current != want.Version || m.Latest != "1.1.0" {
			t.Fatalf("model = %+v", m)
		}
	}
}

func testArtifacts(t *testing.T, e *env) {
	ctx := t.Context()
	mustModel(t, e.db, "eta")
	mustPublish(t, e.db, version("eta", "1.0.0", ""))
	mustPublish(t, e.db, version("eta", "1.1.0", "1.0.0"))
	e.clock.Advance(time.Minute)
	delta := delivery.Artifact{SHA256: sum("delta"), Length: 77, MediaType: delivery.MediaDelta,
		Kind: delivery.KindDelta, Model: "eta", Version: "1.1.0", From: "1.0.0"}
	got, err := e.db.PutArtifact(ctx, delta)
	if err != nil {
		t.Fatal(err)
	}
	want := delta
	want.CreatedAt = e.clock.Now().Truncate(time.Microsecond)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("PutArtifact = %+v, want %+v", got, want)
	}
	e.clock.Advance(time.Minute)
	again, err := e.db.PutArtifact(ctx, delta)
	if err != nil || !reflect.DeepEqual(again, want) {
		t.Fatalf("PutArtifact again = %+v, %v; want the first record", again, err)
	}
	liar := delta
	liar.Length = 78
	_, err = e.db.PutArtifact(ctx, liar)
	wantKind(t, err, delivery.ErrConflict, "same artifact, other length")
	report := delivery.Artifact{SHA256: sum("report"), Length: 5, MediaType: "application/json",
		Kind: delivery.KindMetadata, Model: "eta", Version: "1.1.0"}
	if _, err := e.db.PutArtifact(ctx, report); err != nil {
		t.Fatal(err)
	}
	as, err := e.db.ListArtifacts(ctx, "eta", "1.1.0")
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, a := range as {
		kinds = append(kinds, string(a.Kind)+":"+a.From)
	}
	if !reflect.DeepEqual(kinds, []string{"bundle:", "delta:1.0.0", "metadata:"}) {
		t.Fatalf("artifacts = %v", kinds)
	}
	orphan := delta
	orphan.From = "0.5.0"
	_, err = e.db.PutArtifact(ctx, orphan)
	wantKind(t, err, delivery.ErrNotFound, "delta from an unknown version")
	orphan = report
	orphan.Version = "3.0.0"
	_, err = e.db.PutArtifact(ctx, orphan)
	wantKind(t, err, delivery.ErrNotFound, "artifact of an unknown version")
	bad := delta
	bad.From = ""
	_, err = e.db.PutArtifact(ctx, bad)
	wantKind(t, err, delivery.ErrInvalid, "delta without from")
	_, err = e.db.ListArtifacts(ctx, "eta", "3.0.0")
	wantKind(t, err, delivery.ErrNotFound, "artifacts of an unknown version")
}

// ctxDone is a cancelled context, for checking that calls honour it.
func ctxDone() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}
