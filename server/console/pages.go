package console

import (
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"time"

	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/delivery/rollout"
)

// Each loader reads what its page shows from the Source and shapes it for
// the template; the numbers are the Source's, formatted by Num.

type overviewData struct {
	Models, Versions, Devices, Tasks, Experiments int
	RolloutStates                                 []stateCount
	Events                                        []delivery.AuditEvent
}

type stateCount struct {
	State string
	N     int
}

func (c *Console) overview(r *http.Request) (string, any, error) {
	ctx := r.Context()
	var d overviewData
	ms, err := c.src.ListModels(ctx)
	if err != nil {
		return "", nil, err
	}
	d.Models = len(ms)
	for _, m := range ms {
		vs, err := c.src.ListVersions(ctx, m.Name)
		if err != nil {
			return "", nil, err
		}
		d.Versions += len(vs)
	}
	rs, err := c.src.Rollouts(ctx)
	if err != nil {
		return "", nil, err
	}
	counts := map[string]int{}
	for _, s := range rs {
		counts[s.State.String()]++
	}
	for _, st := range []rollout.State{rollout.Pending, rollout.Baking, rollout.Paused, rollout.Completed, rollout.RolledBack, rollout.Killed} {
		if n := counts[st.String()]; n > 0 {
			d.RolloutStates = append(d.RolloutStates, stateCount{st.String(), n})
		}
	}
	f, err := c.src.Fleet(ctx)
	if err != nil {
		return "", nil, err
	}
	d.Devices = f.Devices
	ts, err := c.src.Tasks(ctx)
	if err != nil {
		return "", nil, err
	}
	d.Tasks = len(ts)
	xs, err := c.src.Experiments(ctx)
	if err != nil {
		return "", nil, err
	}
	d.Experiments = len(xs)
	if d.Events, err = c.src.ListAudit(ctx, delivery.AuditQuery{Limit: 25}); err != nil {
		return "", nil, err
	}
	return "Overview", d, nil
}

type modelRow struct {
	delivery.Model
	Versions int
}

func (c *Console) models(r *http.Request) (string, any, error) {
	ms, err := c.src.ListModels(r.Context())
	if err != nil {
		return "", nil, err
	}
	rows := make([]modelRow, 0, len(ms))
	for _, m := range ms {
		vs, err := c.src.ListVersions(r.Context(), m.Name)
		if err != nil {
			return "", nil, err
		}
		rows = append(rows, modelRow{Model: m, Versions: len(vs)})
	}
	return "Models", rows, nil
}

type modelData struct {
	Model    delivery.Model
	Versions []versionRow
	Epsilon  template.HTML
}

type versionRow struct {
	delivery.Version
	// Lineage is the version and its ancestors in the registry, newest
	// first (as GET …/lineage answers).
	Lineage []string
	Current bool
}

func (c *Console) model(r *http.Request) (string, any, error) {
	name := r.PathValue("name")
	ms, err := c.src.ListModels(r.Context())
	if err != nil {
		return "", nil, err
	}
	i := slices.IndexFunc(ms, func(m delivery.Model) bool { return m.Name == name })
	if i < 0 {
		return "", nil, delivery.Errorf(delivery.ErrNotFound, "no model %q", name)
	}
	vs, err := c.src.ListVersions(r.Context(), name)
	if err != nil {
		return "", nil, err
	}
	d := modelData{Model: ms[i]}
	byVersion := map[string]delivery.Version{}
	for _, v := range vs {
		byVersion[v.Version] = v
	}
	var eps []Bar
	for j := len(vs) - 1; j >= 0; j-- { // newest first
		v := vs[j]
		row := versionRow{Version: v, Current: v.Version == d.Model.Current}
		for at, seen := v, map[string]bool{}; ; {
			row.Lineage = append(row.Lineage, at.Version)
			seen[at.Version] = true
			p, ok := byVersion[at.Parent]
			if at.Parent == "" || !ok || seen[p.Version] {
				break
			}
			at = p
		}
		d.Versions = append(d.Versions, row)
	}
	for _, v := range vs {
		if p := v.Lineage.Privacy; p != nil {
			eps = append(eps, Bar{Label: v.Version, Value: p.Epsilon})
		}
	}
	d.Epsilon = BarChart("eps-"+name, "Privacy cost ε by version ("+name+")", "", eps)
	return name, d, nil
}

type rolloutRow struct {
	rollout.Status
	Stages int
}

func (c *Console) rolloutList(r *http.Request) (string, any, error) {
	rs, err := c.src.Rollouts(r.Context())
	if err != nil {
		return "", nil, err
	}
	rows := make([]rolloutRow, 0, len(rs))
	for _, s := range rs {
		rows = append(rows, rolloutRow{Status: s, Stages: len(s.Spec.Stages)})
	}
	return "Rollouts", rows, nil
}

// timeUnit picks the unit a span of d reads best in.
func timeUnit(d time.Duration) (string, time.Duration) {
	switch {
	case d >= 48*time.Hour:
		return "days", 24 * time.Hour
	case d >= 2*time.Hour:
		return "hours", time.Hour
	case d >= 2*time.Minute:
		return "minutes", time.Minute
	}
	return "seconds", time.Second
}

type rolloutData struct {
	S        rollout.Status
	Stages   []stageRow
	Timeline template.HTML
	Gates    template.HTML
}

type stageRow struct {
	N      int
	Share  uint32
	Bake   time.Duration
	Status string
}

func (c *Console) rollout(r *http.Request) (string, any, error) {
	id := r.PathValue("id")
	rs, err := c.src.Rollouts(r.Context())
	if err != nil {
		return "", nil, err
	}
	i := slices.IndexFunc(rs, func(s rollout.Status) bool { return s.Spec.ID == id })
	if i < 0 {
		return "", nil, delivery.Errorf(delivery.ErrNotFound, "no rollout %q", id)
	}
	s := rs[i]
	d := rolloutData{S: s}
	reached := -1
	for _, h := range s.History {
		if h.To == rollout.Baking || h.To == rollout.Paused {
			reached = max(reached, h.Stage)
		}
	}
	for j, st := range s.Spec.Stages {
		row := stageRow{N: j + 1, Share: st.Share, Bake: st.Bake, Status: "not reached"}
		switch {
		case s.State == rollout.Completed || (j < reached):
			row.Status = "passed"
		case j == s.Stage && s.State.Active():
			row.Status = s.State.String()
		case j == reached:
			row.Status = s.State.String()
		}
		d.Stages = append(d.Stages, row)
	}
	if len(s.History) > 0 {
		t0 := s.History[0].At
		unit, per := timeUnit(s.History[len(s.History)-1].At.Sub(t0))
		ser := Series{Name: "candidate share", Step: true, Marks: map[int]string{}}
		for j, h := range s.History {
			ser.Points = append(ser.Points, Point{X: float64(h.At.Sub(t0)) / float64(per), Y: float64(h.Share) / 100,
				Label: fmt.Sprintf("%s → %s at %s", h.From, h.To, fmtTime(h.At))})
			switch h.To {
			case rollout.RolledBack, rollout.Killed:
				ser.Marks[j] = "#d55e00"
			case rollout.Completed:
				ser.Marks[j] = "#009e73"
			}
		}
		d.Timeline = LineChart("tl-"+id, "Candidate share over time", unit+" since creation", "share (%)", nil, []Series{ser})
	}
	var iv []Interval
	for _, g := range s.LastGates {
		if g.Reason != "" {
			continue
		}
		iv = append(iv, Interval{Label: g.Metric, Estimate: g.Regression, Low: g.Low, High: g.High,
			Limit: g.MaxRegression, Verdict: g.Verdict.String()})
	}
	d.Gates = IntervalChart("gates-"+id, "Latest gate regressions against their tolerance", iv)
	return "Rollout " + id, d, nil
}

func (c *Console) experiments(r *http.Request) (string, any, error) {
	xs, err := c.src.Experiments(r.Context())
	if err != nil {
		return "", nil, err
	}
	return "Experiments", xs, nil
}

type taskData struct {
	Task
	Epsilon       template.HTML
	Participation template.HTML
	Committed     int
}

func (c *Console) federated(r *http.Request) (string, any, error) {
	ts, err := c.src.Tasks(r.Context())
	if err != nil {
		return "", nil, err
	}
	out := make([]taskData, 0, len(ts))
	for _, t := range ts {
		d := taskData{Task: t}
		eps := Series{Name: "ε"}
		sel, rep, drop := Series{Name: "selected"}, Series{Name: "reports"}, Series{Name: "dropped"}
		for i, h := range t.History {
			x := float64(i + 1)
			l := fmt.Sprintf("attempt %d (round %d)", h.Attempt, h.Round)
			if h.Committed {
				d.Committed++
				eps.Points = append(eps.Points, Point{X: float64(h.Round), Y: h.Epsilon, Label: fmt.Sprintf("round %d", h.Round)})
			}
			sel.Points = append(sel.Points, Point{X: x, Y: float64(h.Selected), Label: l})
			rep.Points = append(rep.Points, Point{X: x, Y: float64(h.Reports), Label: l})
			drop.Points = append(drop.Points, Point{X: x, Y: float64(h.Dropped), Label: l})
		}
		d.Epsilon = LineChart("eps-"+t.Name, "ε after each committed round ("+t.Name+")", "round", "ε", nil, []Series{eps})
		d.Participation = LineChart("part-"+t.Name, "Participation per round attempt ("+t.Name+")", "attempt", "devices", nil,
			[]Series{sel, rep, drop})
		out = append(out, d)
	}
	return "Federated tasks", out, nil
}

type fleetData struct {
	Fleet
	Mix   []mixView
	Share template.HTML
}

type mixView struct {
	ModelMix
	Total int
	Chart template.HTML
}

func (c *Console) fleet(r *http.Request) (string, any, error) {
	f, err := c.src.Fleet(r.Context())
	if err != nil {
		return "", nil, err
	}
	d := fleetData{Fleet: f}
	for _, m := range f.Models {
		v := mixView{ModelMix: m}
		var bars []Bar
		for _, vc := range m.Versions {
			v.Total += vc.Devices
			l := vc.Version
			if l == "" {
				l = "not installed"
			}
			bars = append(bars, Bar{Label: l, Value: float64(vc.Devices)})
		}
		v.Chart = BarChart("mix-"+m.Model, "Devices by installed version ("+m.Model+")", "", bars)
		d.Mix = append(d.Mix, v)
	}
	if in := f.Inference; in != nil && in.Device+in.Server > 0 {
		d.Share = BarChart("share", "Where predictions ran (estimated counts)", "",
			[]Bar{{Label: "on device", Value: in.Device}, {Label: "server", Value: in.Server}})
	}
	return "Fleet", d, nil
}
