package console

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/http"
	"time"

	"github.com/sextant-ml/sextant/delivery"
)

// keepAlive is the longest an event stream stays silent (proxies drop
// idle connections).
const keepAlive = 15 * time.Second

// events is the server-sent event stream /console/events: an event
// "change" whenever what the pages show changed — a new audit event, a
// rollout transition or evaluation, a fleet check-in that moved the
// version mix, a federated round, an experiment update. It polls the
// Source (Config.Poll), so it sees changes from every writer: the admin
// API, the rollout controller and the demo alike.
func (c *Console) events(w http.ResponseWriter, r *http.Request, _ delivery.Token) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	ctx, cancel := context.WithTimeout(r.Context(), c.cfg.StreamLifetime)
	defer cancel()
	last, err := c.revision(ctx)
	if err != nil {
		c.log.WarnContext(ctx, "console events", slog.Any("err", err))
	}
	if _, err := fmt.Fprintf(w, "retry: 2000\nevent: hello\ndata: %x\n\n", last); err != nil {
		return
	}
	if rc.Flush() != nil {
		return
	}
	idle := 0
	for c.wait(ctx, c.cfg.Poll) {
		rev, err := c.revision(ctx)
		if err != nil {
			if ctx.Err() == nil {
				c.log.WarnContext(ctx, "console events", slog.Any("err", err))
			}
			continue
		}
		var out string
		idle++
		switch {
		case rev != last:
			out, last, idle = fmt.Sprintf("event: change\ndata: %x\n\n", rev), rev, 0
		case time.Duration(idle)*c.cfg.Poll >= keepAlive:
			out, idle = ": keep-alive\n\n", 0
		default:
			continue
		}
		if _, err := fmt.Fprint(w, out); err != nil {
			return
		}
		if rc.Flush() != nil {
			return
		}
	}
}

// revision is a fingerprint of everything the pages show that changes.
func (c *Console) revision(ctx context.Context) (uint64, error) {
	h := fnv.New64a()
	es, err := c.src.ListAudit(ctx, delivery.AuditQuery{Limit: 1})
	if err != nil {
		return 0, err
	}
	if len(es) > 0 {
		fmt.Fprintf(h, "a%d;", es[0].ID)
	}
	rs, err := c.src.Rollouts(ctx)
	if err != nil {
		return 0, err
	}
	for _, s := range rs {
		fmt.Fprintf(h, "r%s:%s:%d:%d:%d:%d;", s.Spec.ID, s.State, s.Stage, s.Share, len(s.History), s.LastEvaluated.UnixNano())
	}
	f, err := c.src.Fleet(ctx)
	if err != nil {
		return 0, err
	}
	fmt.Fprintf(h, "f%d:%d;", f.Devices, f.ServerInferences)
	for _, m := range f.Models {
		for _, v := range m.Versions {
			fmt.Fprintf(h, "%s@%s=%d;", m.Model, v.Version, v.Devices)
		}
	}
	if f.Inference != nil {
		fmt.Fprintf(h, "i%d;", f.Inference.Reports)
	}
	ts, err := c.src.Tasks(ctx)
	if err != nil {
		return 0, err
	}
	for _, t := range ts {
		fmt.Fprintf(h, "t%s:%s:%d:%d;", t.Name, t.Phase, t.Rounds, len(t.History))
	}
	xs, err := c.src.Experiments(ctx)
	if err != nil {
		return 0, err
	}
	for _, x := range xs {
		fmt.Fprintf(h, "x%s:%g:%g:%s;", x.ID, x.ControlUnits, x.TreatmentUnits, x.Decision)
	}
	return h.Sum64(), nil
}
