package graph

import "fmt"

// OptimizeOptions configures Optimize. The zero value runs every pass and
// keeps symbolic dimensions symbolic.
type OptimizeOptions struct {
	// Bindings fixes symbolic dimensions (e.g. "batch": 1) before inference,
	// which lets Fold collapse shape computations that depend on them.
	Bindings map[string]int64
	// NoFold, NoFuse skip constant folding and fusion.
	NoFold, NoFuse bool
}

// OptimizeStats counts what each pass of Optimize did.
type OptimizeStats struct {
	NodesBefore, NodesAfter int
	Folded                  int // nodes replaced by constants
	Dead                    int // nodes removed by the two DCE runs
	Fused                   int // fusion rewrites
}

func (s OptimizeStats) String() string {
	return fmt.Sprintf("%d → %d nodes (folded %d, dead %d, fused %d)",
		s.NodesBefore, s.NodesAfter, s.Folded, s.Dead, s.Fused)
}

// Optimize runs the standard pipeline on g in place: Sort, Infer (with
// opts.Bindings), Fold (with ev; nil folds only what needs no evaluator),
// Infer again so shapes that folded constants decide become fixed, DCE,
// Fuse, and DCE again. It returns what each pass did.
func Optimize(g *Graph, ev Evaluator, opts OptimizeOptions) (OptimizeStats, error) {
	st := OptimizeStats{NodesBefore: len(g.Nodes)}
	if err := Sort(g); err != nil {
		return st, fmt.Errorf("sort: %w", err)
	}
	if err := Infer(g, opts.Bindings); err != nil {
		return st, fmt.Errorf("infer: %w", err)
	}
	if !opts.NoFold {
		n, err := Fold(g, ev)
		st.Folded = n
		if err != nil {
			return st, fmt.Errorf("fold: %w", err)
		}
		if err := Infer(g, nil); err != nil {
			return st, fmt.Errorf("infer after folding: %w", err)
		}
	}
	st.Dead = DCE(g)
	if !opts.NoFuse {
		n, err := Fuse(g)
		st.Fused = n
		if err != nil {
			return st, fmt.Errorf("fuse: %w", err)
		}
		st.Dead += DCE(g)
	}
	st.NodesAfter = len(g.Nodes)
	return st, nil
}
