package server

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/clock"
	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/delivery/experiment"
	"github.com/sextant-ml/sextant/delivery/rollout"
	"github.com/sextant-ml/sextant/fl"
	"github.com/sextant-ml/sextant/privacy/telemetry"
	"github.com/sextant-ml/sextant/server/console"
	"github.com/sextant-ml/sextant/server/console/consoletest"
)

// armsByRollout is a fixed gate source: each rollout's arms, as the
// telemetry pipeline would report them.
type armsByRollout map[string]rollout.Arms

func (a armsByRollout) Arms(_ context.Context, id, _ string) (rollout.Arms, error) { return a[id], nil }

// staticTasks is the federated-task list a demo's coordinators would give.
type staticTasks []console.Task

func (s staticTasks) Tasks(context.Context) ([]console.Task, error) { return s, nil }

// lineageBundle writes a small bundle with the given lineage.
func lineageBundle(t *testing.T, model, version, parent string, priv *bundle.PrivacyCost, rounds []string) string {
	t.Helper()
	g := scaleGraph("x", 2)
	m := &bundle.Manifest{Name: model, Version: version, ParentVersion: parent, Signature: bundle.SignatureOf(g),
		Provenance: bundle.Provenance{CreatedAt: time.Unix(1700000000, 0).UTC(), DataSnapshot: "sha256:5eed" + version,
			TrainingRun: "run-" + version, FederatedRounds: rounds, Privacy: priv}}
	var buf bytes.Buffer
	if err := bundle.Write(&buf, g, m); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), model+"-"+version+".sxm")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// consoleWorld is a server holding a bit of everything the console shows.
type consoleWorld struct {
	r                 *running
	read, roll, enrol string
	api               *Client
}

func newConsoleWorld(t *testing.T) *consoleWorld {
	ctx := context.Background()
	kd, tk := keyDir(t)
	arms := armsByRollout{
		// eta-2: the candidate's error rate is no worse: the gate passes.
		"eta-2": {Current: experiment.Summary{N: 4000, Sum: 40}, Candidate: experiment.Summary{N: 4000, Sum: 38}},
		// ner-11: five times the errors: the gate fails, the controller
		// rolls back.
		"ner-11": {Current: experiment.Summary{N: 4000, Sum: 40}, Candidate: experiment.Summary{N: 4000, Sum: 200}},
	}
	ctl := rollout.New(clock.Real, arms, rollout.Options{})
	reg, err := telemetry.NewRegistry(telemetry.Schema{Name: console.InferenceStream,
		Fields: []telemetry.Field{{Name: console.InferenceField, Type: telemetry.String}}, Mechanism: telemetry.None, Retention: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	board := &console.ExperimentBoard{}
	ctrl, treat := experiment.Summary{N: 5000, Sum: 1550}, experiment.Summary{N: 5040, Sum: 1664}
	res, err := experiment.Analyze(experiment.MetricProportion, ctrl, treat, experiment.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srm, err := experiment.SRM([]float64{ctrl.N, treat.N}, nil)
	if err != nil {
		t.Fatal(err)
	}
	board.Put(console.Experiment{ID: "eta-ab", Model: "eta", Metric: "acc@1", Control: "1.0.0", Treatment: "2.0.0",
		ControlUnits: ctrl.N, TreatmentUnits: treat.N, Result: res, SRM: srm, Decision: "ship"})
	tasks := staticTasks{{Name: "eta-fl", Model: "eta", Phase: string(fl.PhaseIdle), Rounds: 2, Population: 1000, Target: 40,
		MinReports: 20, EpsilonBudget: 8, SecureAggregation: true, History: []fl.RoundRecord{
			{Round: 1, Attempt: 1, Committed: true, Selected: 52, Reports: 44, Dropped: 8, ClipNorm: 1, Epsilon: 1.21, Delta: 1e-3},
			{Round: 2, Attempt: 2, Committed: false, Failure: "too few reports", Selected: 30, Reports: 12, Dropped: 18, ClipNorm: 1, Epsilon: 1.21, Delta: 1e-3},
			{Round: 2, Attempt: 3, Committed: true, Selected: 55, Reports: 47, Dropped: 8, ClipNorm: 0.9, Epsilon: 1.84, Delta: 1e-3},
		}}}
	r := start(t, "sqlite:"+filepath.Join(t.TempDir(), "sextant.db"), t.TempDir(), kd, func(c *Config) {
		c.Rollouts, c.Telemetry, c.Experiments, c.Tasks = ctl, TelemetryConfig{Registry: reg}, board, tasks
	})
	w := &consoleWorld{r: r}
	_, pub := r.token(t, delivery.ScopePublish)
	_, w.roll = r.token(t, delivery.ScopeRollout)
	_, w.read = r.token(t, delivery.ScopeRead)
	_, w.enrol = r.token(t, delivery.ScopeEnroll)
	w.api = r.client(w.read)

	for _, b := range []struct {
		model, version, parent string
		priv                   *bundle.PrivacyCost
		rounds                 []string
	}{
		{"eta", "1.0.0", "", &bundle.PrivacyCost{Epsilon: 1.5, Delta: 1e-6}, nil},
		{"eta", "2.0.0", "1.0.0", &bundle.PrivacyCost{Epsilon: 3.25, Delta: 1e-6}, []string{"eta-fl/1", "eta-fl/3"}},
		{"ner", "1.0.0", "", nil, nil},
		{"ner", "1.1.0", "1.0.0", &bundle.PrivacyCost{Epsilon: 0.5, Delta: 1e-7}, nil},
	} {
		publish(t, r.client(pub), kd, tk, lineageBundle(t, b.model, b.version, b.parent, b.priv, b.rounds), b.model)
	}
	for _, m := range []string{"eta", "ner"} {
		if _, err := r.client(w.roll).SetCurrent(ctx, m, "1.0.0"); err != nil {
			t.Fatal(err)
		}
	}
	// Five devices: three on eta 1.0.0, two on 2.0.0, one also on ner.
	for i, inst := range []map[string]string{{"eta": "1.0.0"}, {"eta": "1.0.0"}, {"eta": "1.0.0", "ner": "1.0.0"}, {"eta": "2.0.0"}, {"eta": "2.0.0"}} {
		d, err := r.client(w.enrol).Register(ctx, DeviceInfo{Class: "mid-2022", Region: "CH"})
		if err != nil {
			t.Fatal(err)
		}
		ci := manifest
		ci.Installed = inst
		if _, err := r.client(d.Credential).CheckIn(ctx, d.ID, ci); err != nil {
			t.Fatalf("device %d check-in: %v", i, err)
		}
	}
	// Where 40 predictions ran, as the devices' routers report it.
	ledger, err := telemetry.OpenLedger(filepath.Join(t.TempDir(), "ledger.json"))
	if err != nil {
		t.Fatal(err)
	}
	enc, err := telemetry.NewEncoder(reg, ledger, clock.Real, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	var batch []byte
	for i := range 40 {
		src := "device"
		if i%4 == 3 {
			src = "server"
		}
		rep, err := enc.Append(nil, console.InferenceStream, map[string]any{console.InferenceField: src})
		if err != nil {
			t.Fatal(err)
		}
		batch = telemetry.AppendBatchItem(batch, rep)
	}
	if st := postBatch(t, r.url, batch); st != http.StatusNoContent {
		t.Fatalf("telemetry batch: status %d", st)
	}

	// Rollouts: eta-2 bakes at 10 % with its gate passing, then an
	// operator advances it to 50 %; ner-11's gate fails and the
	// controller rolls it back.
	gate := []rollout.Gate{{Metric: "inference_errors", Kind: experiment.MetricProportion, Direction: rollout.LowerIsBetter,
		MaxRegression: 0.01, MinUnits: 100}}
	for _, spec := range []rollout.Spec{
		{ID: "eta-2", Model: "eta", Version: "2.0.0", Current: "1.0.0", Gates: gate,
			Stages: []rollout.Stage{{Share: 1000, Bake: time.Hour}, {Share: 5000, Bake: time.Hour}}},
		{ID: "ner-11", Model: "ner", Version: "1.1.0", Current: "1.0.0", Gates: gate,
			Stages: []rollout.Stage{{Share: 2500, Bake: time.Hour}}},
	} {
		if _, err := r.client(w.roll).CreateRollout(ctx, spec); err != nil {
			t.Fatal(err)
		}
	}
	ctl.EvaluateAll(ctx)
	if _, err := r.client(w.roll).RolloutAct(ctx, "eta-2", "advance", "gate green at 10 %"); err != nil {
		t.Fatal(err)
	}
	ctl.EvaluateAll(ctx)
	if st, err := w.api.Rollout(ctx, "ner-11"); err != nil || st.State != rollout.RolledBack {
		t.Fatalf("ner-11 after a failing gate: %+v, %v", st, err)
	}
	return w
}

func pct(bp uint32) string { return console.Num(float64(bp)/100) + " %" }

// TestConsoleBrowser drives Debian's chromium through the console: sign-in,
// every page, numbers equal to the admin API's JSON, the rollback arriving
// live over the event stream, a phone-width layout, sign-out.
func TestConsoleBrowser(t *testing.T) {
	dir := consoletest.ScreenshotDir(t, "console")
	t.Logf("screenshots in %s", dir)
	p := consoletest.Open(t, dir, 30*time.Second) // skips without chromium
	w := newConsoleWorld(t)
	ctx := context.Background()
	base := w.r.url + console.Prefix

	// Signed out, a page sends the browser to the sign-in form; a wrong
	// token is refused, an admin token lets it through to the page asked.
	p.Open(base + "rollouts/eta-2")
	loc := p.Location()
	if !strings.Contains(loc, "/console/login") {
		t.Fatalf("signed out, the rollout page lands on %s", loc)
	}
	p.Shot("login")
	p.Run(chromedp.SendKeys(chromedp.CSS("#token"), "not-a-token"), chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS("#login-error")))
	p.SignIn(w.read, "#stages") // the refusal re-rendered an empty form
	if loc = p.Location(); !strings.HasSuffix(loc, "/console/rollouts/eta-2") {
		t.Fatalf("after sign-in the browser is at %s", loc)
	}

	// The rollout page, then the rollback arriving without a reload.
	st, err := w.api.Rollout(ctx, "eta-2")
	if err != nil {
		t.Fatal(err)
	}
	p.Want("#summary [data-k=state]", st.State.String(), "the admin API")
	p.Want("#summary [data-k=share]", pct(st.Share), "the admin API")
	p.Shot("rollout-baking")
	if _, err := w.r.client(w.roll).RolloutAct(ctx, "eta-2", "rollback", "console test rollback"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for p.Text("#summary [data-k=state]") != "rolled-back" {
		if time.Now().After(deadline) {
			t.Fatal("the rollback did not reach the open rollout page over the event stream")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if consoletest.Eval[string](p, `document.body.dataset.refreshed || ""`) == "" {
		t.Error("the page changed without the live-update script (it reloaded?)")
	}
	p.Shot("rollout-rolled-back")

	for _, id := range []string{"eta-2", "ner-11"} {
		st, err := w.api.Rollout(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		p.Open(base + "rollouts/" + id)
		p.Want("#summary [data-k=state]", st.State.String(), "the admin API")
		p.Want("#summary [data-k=share]", pct(st.Share), "the admin API")
		tos, actors, shares := p.Texts("#history > li [data-k=to]"), p.Texts("#history > li [data-k=actor]"), p.Texts("#history > li > p [data-k=share]")
		if len(tos) != len(st.History) || len(actors) != len(st.History) || len(shares) != len(st.History) {
			t.Fatalf("%s: page shows %d transitions, the API %d", id, len(tos), len(st.History))
		}
		for i, h := range st.History {
			if tos[i] != h.To.String() || actors[i] != h.Actor || shares[i] != pct(h.Share) {
				t.Errorf("%s transition %d: page %s/%s/%s, API %s/%s/%s", id, i, tos[i], actors[i], shares[i], h.To, h.Actor, pct(h.Share))
			}
		}
		last := st.History[len(st.History)-1]
		if last.To != rollout.RolledBack {
			t.Errorf("%s: last transition %s, want rolled-back", id, last.To)
		}
		if len(st.LastGates) != 1 {
			t.Fatalf("%s: API has %d gate results", id, len(st.LastGates))
		}
		g := st.LastGates[0]
		row := "#gates tr[data-metric=" + g.Metric + "] "
		p.Want(row+"[data-k=verdict]", g.Verdict.String(), "the admin API")
		p.Want(row+"[data-k=regression]", console.Num(g.Regression), "the admin API")
		p.Want(row+"[data-k=interval]", "["+console.Num(g.Low)+", "+console.Num(g.High)+"]", "the admin API")
		p.Want(row+"[data-k=max]", console.Num(st.Spec.Gates[0].MaxRegression), "the admin API")
		p.Want(row+"[data-k=units]", console.Num(g.CurrentN)+" / "+console.Num(g.CandidateN), "the admin API")
		if n := len(p.Texts("svg.chart title")); n < 2 {
			t.Errorf("%s: %d labelled charts, want the timeline and the gates", id, n)
		}
		p.Shot("rollout-" + id)
	}
	if st, _ := w.api.Rollout(ctx, "ner-11"); st.History[len(st.History)-1].Actor != rollout.Actor {
		t.Errorf("ner-11 was not rolled back by the controller: %+v", st.History)
	}
	if g, _ := w.api.Rollout(ctx, "ner-11"); g.LastGates[0].Verdict != rollout.Fail {
		t.Errorf("ner-11's gate %+v, want fail", g.LastGates[0])
	}

	rs, err := w.api.Rollouts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p.Open(base + "rollouts")
	for _, s := range rs {
		row := "#rollouts tr[data-rollout=" + s.Spec.ID + "] "
		p.Want(row+"[data-k=state]", s.State.String(), "the admin API")
		p.Want(row+"[data-k=share]", pct(s.Share), "the admin API")
		p.Want(row+"[data-k=stage]", fmt.Sprintf("%d of %d", s.Stage+1, len(s.Spec.Stages)), "the admin API")
	}
	p.Shot("rollouts")

	// Models and versions with lineage and privacy cost.
	ms, err := w.api.ListModels(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p.Open(base + "models")
	for _, m := range ms {
		md, err := w.api.Model(ctx, m.Name)
		if err != nil {
			t.Fatal(err)
		}
		row := "#models tr[data-model=" + m.Name + "] "
		p.Want(row+"[data-k=current]", m.Current, "the admin API")
		p.Want(row+"[data-k=latest]", m.Latest, "the admin API")
		p.Want(row+"[data-k=versions]", fmt.Sprint(len(md.Versions)), "the admin API")
	}
	p.Shot("models")
	for _, m := range ms {
		md, _ := w.api.Model(ctx, m.Name)
		p.Open(base + "models/" + m.Name)
		for _, v := range md.Versions {
			lin, err := w.api.Lineage(ctx, m.Name, v.Version)
			if err != nil {
				t.Fatal(err)
			}
			var chain []string
			for _, l := range lin {
				chain = append(chain, l.Version)
			}
			row := "#versions tr[data-version=\"" + v.Version + "\"] "
			p.Want(row+"[data-k=lineage]", strings.Join(chain, " ← "), "the admin API")
			p.Want(row+"[data-k=rounds]", fmt.Sprint(len(v.Lineage.FederatedRounds)), "the admin API")
			p.Want(row+"[data-k=run]", v.Lineage.TrainingRun, "the admin API")
			if pr := v.Lineage.Privacy; pr != nil {
				p.Want(row+"[data-k=epsilon]", console.Num(pr.Epsilon), "the admin API")
				p.Want(row+"[data-k=delta]", console.Num(pr.Delta), "the admin API")
			} else {
				p.Want(row+"[data-k=epsilon]", "none recorded", "the admin API")
			}
		}
		p.Shot("model-" + m.Name)
	}

	// The fleet: version mix and the on-device share.
	fleet, err := w.api.Fleet(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fleet.Devices != 5 || fleet.Inference == nil || fleet.Inference.Device != 30 || fleet.Inference.Server != 10 {
		t.Fatalf("fleet API %+v", fleet)
	}
	p.Open(base + "fleet")
	p.Want("[data-k=fleet-devices]", fmt.Sprint(fleet.Devices), "the admin API")
	p.Want("[data-k=server-inferences]", fmt.Sprint(fleet.ServerInferences), "the admin API")
	for _, m := range fleet.Models {
		for _, v := range m.Versions {
			p.Want(".mix[data-model="+m.Model+"] tr[data-version=\""+v.Version+"\"] [data-k=devices]", fmt.Sprint(v.Devices), "the admin API")
		}
	}
	p.Want("[data-k=device-share]", console.Num(100*fleet.Inference.DeviceShare)+" %", "the admin API")
	p.Shot("fleet")

	// Federated tasks and experiments.
	ts, err := w.api.FederatedTasks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p.Open(base + "federated")
	for _, task := range ts {
		sec := "section[data-task=" + task.Name + "] "
		p.Want(sec+"[data-k=rounds]", fmt.Sprint(task.Rounds), "the admin API")
		for _, h := range task.History {
			row := fmt.Sprintf("%str[data-attempt=\"%d\"] ", sec, h.Attempt)
			p.Want(row+"[data-k=selected]", fmt.Sprint(h.Selected), "the admin API")
			p.Want(row+"[data-k=reports]", fmt.Sprint(h.Reports), "the admin API")
			p.Want(row+"[data-k=dropped]", fmt.Sprint(h.Dropped), "the admin API")
			p.Want(row+"[data-k=epsilon]", console.Num(h.Epsilon), "the admin API")
		}
	}
	p.Shot("federated")
	xs, err := w.api.Experiments(ctx)
	if err != nil || len(xs) != 1 {
		t.Fatalf("experiments API: %+v, %v", xs, err)
	}
	p.Open(base + "experiments")
	for _, x := range xs {
		row := "#experiments tr[data-experiment=" + x.ID + "] "
		p.Want(row+"[data-k=effect]", console.Num(x.Result.Effect), "the admin API")
		p.Want(row+"[data-k=ci]", "["+console.Num(x.Result.CILow)+", "+console.Num(x.Result.CIHigh)+"]", "the admin API")
		p.Want(row+"[data-k=units]", console.Num(x.ControlUnits)+" / "+console.Num(x.TreatmentUnits), "the admin API")
		if !strings.HasSuffix(p.Text(row+"[data-k=srm]"), "p = "+console.Num(x.SRM.PValue)) {
			t.Errorf("SRM cell %q, API p = %g", p.Text(row+"[data-k=srm]"), x.SRM.PValue)
		}
	}
	p.Shot("experiments")

	// The overview, then a phone-width screen: nothing wider than it.
	p.Open(base)
	p.Want("[data-k=models]", fmt.Sprint(len(ms)), "the admin API")
	nv := 0
	for _, m := range ms {
		md, _ := w.api.Model(ctx, m.Name)
		nv += len(md.Versions)
	}
	p.Want("[data-k=versions]", fmt.Sprint(nv), "the admin API")
	p.Want("[data-k=rollouts-rolled-back]", "2", "the admin API")
	p.Want("[data-k=devices]", fmt.Sprint(fleet.Devices), "the admin API")
	// The audit list: what the API returned, after the event of that very
	// call (the audit entry is written once the answer is sent).
	events, err := w.api.Audit(ctx, delivery.AuditQuery{Limit: 24})
	if err != nil {
		t.Fatal(err)
	}
	p.Open(base)
	var ids, whats []string
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		// The entry may land just after the answer: the page then
		// updates itself.
		ids, whats = p.Texts("#audit [data-k=id]"), p.Texts("#audit [data-k=what]")
		if len(whats) == 25 && whats[0] == "audit.list" {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("overview audit list: %v %v", ids, whats)
		}
	}
	for i, e := range events {
		if ids[i+1] != fmt.Sprint(e.ID) || whats[i+1] != e.What {
			t.Errorf("overview audit row %d: %s %s, API %d %s", i+1, ids[i+1], whats[i+1], e.ID, e.What)
		}
	}
	p.Shot("overview")
	p.Run(chromedp.EmulateViewport(390, 844))
	for _, path := range []string{"", "rollouts/ner-11", "fleet", "federated"} {
		p.Open(base + path)
		if consoletest.Eval[bool](p, `document.documentElement.scrollWidth > window.innerWidth + 1`) {
			t.Errorf("page /console/%s is wider than a 390 px phone screen", path)
		}
		name := strings.ReplaceAll(path, "/", "-")
		if name == "" {
			name = "overview"
		}
		p.Shot("phone-" + name)
	}
	p.Run(chromedp.EmulateViewport(1280, 900))

	// Sign out: the session is gone.
	p.Run(chromedp.Click(chromedp.CSS(".who button")), chromedp.WaitVisible(chromedp.CSS("#token")))
	p.Open(base + "fleet")
	if loc = p.Location(); !strings.Contains(loc, "/console/login") {
		t.Errorf("after sign-out the fleet page is at %s", loc)
	}
}

// TestConsoleAuth: the console's sign-in without a browser: enroll tokens
// and cross-site posts are refused, the cookie is HttpOnly, Secure and
// SameSite=Strict, a revoked token ends its session, and the event stream
// needs a session.
func TestConsoleAuth(t *testing.T) {
	kd, _ := keyDir(t)
	r := start(t, "sqlite:"+filepath.Join(t.TempDir(), "sextant.db"), t.TempDir(), kd, nil)
	readTok, read := r.token(t, delivery.ScopeRead)
	_, enrol := r.token(t, delivery.ScopeEnroll)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	login := func(token, origin string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, r.url+"/console/login",
			strings.NewReader(url.Values{"token": {token}, "next": {"/console/fleet"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := login(enrol, ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("enroll token sign-in: %d", resp.StatusCode)
	}
	if resp := login(read, "http://evil.example"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site sign-in: %d", resp.StatusCode)
	}
	resp := login(read, r.url)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/fleet" {
		t.Fatalf("sign-in: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	cks := resp.Cookies()
	if len(cks) != 1 || !cks[0].HttpOnly || !cks[0].Secure || cks[0].SameSite != http.SameSiteStrictMode || cks[0].Path != "/console/" {
		t.Fatalf("session cookie %+v", cks)
	}
	get := func(path string) int {
		req, _ := http.NewRequest(http.MethodGet, r.url+path, nil)
		req.AddCookie(&http.Cookie{Name: cks[0].Name, Value: cks[0].Value})
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK && resp.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("%s has no content security policy", path)
		}
		return resp.StatusCode
	}
	if c := get("/console/fleet"); c != http.StatusOK {
		t.Fatalf("fleet with a session: %d", c)
	}
	if c := get("/console/models/nope"); c != http.StatusNotFound {
		t.Errorf("unknown model: %d", c)
	}
	if err := r.db.RevokeToken(context.Background(), readTok.ID); err != nil {
		t.Fatal(err)
	}
	if c := get("/console/fleet"); c != http.StatusSeeOther {
		t.Errorf("fleet after the token was revoked: %d", c)
	}
	if c := get("/console/events"); c != http.StatusUnauthorized {
		t.Errorf("event stream without a session: %d", c)
	}
	es, err := r.client(enrol).Audit(context.Background(), delivery.AuditQuery{})
	if httpStatus(err) != http.StatusForbidden {
		t.Errorf("enroll token reading the audit log: %v %v", es, err)
	}
}
