package graph

// DCE removes dead code: nodes none of whose outputs reaches a graph output,
// and initializers no live node reads (and that are not graph outputs). It
// returns the number of nodes removed. Graph inputs are kept even when
// unused: they are the model's signature. Node order is otherwise kept.
//
// Liveness is traced back from the graph outputs through the nodes'
// producers, so DCE does not depend on the nodes being sorted.
func DCE(g *Graph) int {
	producer := make(map[*Value]*Node, len(g.Nodes))
	for _, n := range g.Nodes {
		for _, v := range n.Outputs {
			if v != nil {
				producer[v] = n
			}
		}
	}
	liveVal := map[*Value]bool{}
	liveNode := map[*Node]bool{}
	var work []*Value
	mark := func(v *Value) {
		if v != nil && !liveVal[v] {
			liveVal[v] = true
			work = append(work, v)
		}
	}
	for _, v := range g.Outputs {
		mark(v)
	}
	for len(work) > 0 {
		v := work[len(work)-1]
		work = work[:len(work)-1]
		n := producer[v]
		if n == nil || liveNode[n] {
			continue
		}
		liveNode[n] = true
		for _, in := range n.Inputs {
			mark(in)
		}
	}
	kept := g.Nodes[:0]
	for _, n := range g.Nodes {
		if liveNode[n] {
			kept = append(kept, n)
		}
	}
	removed := len(g.Nodes) - len(kept)
	clear(g.Nodes[len(kept):])
	g.Nodes = kept
	inits := g.Initializers[:0]
	for _, v := range g.Initializers {
		if liveVal[v] {
			inits = append(inits, v)
		}
	}
	clear(g.Initializers[len(inits):])
	g.Initializers = inits
	return removed
}

// uses indexes, for each value, the nodes that read it and whether it is a
// graph output. Passes that rewrite the graph rebuild it after each change.
type uses struct {
	readers map[*Value][]*Node
	output  map[*Value]bool
}

func indexUses(g *Graph) *uses {
	u := &uses{readers: map[*Value][]*Node{}, output: map[*Value]bool{}}
	for _, n := range g.Nodes {
		for _, v := range n.Inputs {
			if v != nil {
				u.readers[v] = append(u.readers[v], n)
			}
		}
	}
	for _, v := range g.Outputs {
		u.output[v] = true
	}
	return u
}

// only returns the single node that reads v when v is read by exactly one
// node (once) and is not a graph output: the condition for folding v's
// producer into a fused node.
func (u *uses) only(v *Value) *Node {
	r := u.readers[v]
	if v == nil || u.output[v] || len(r) != 1 {
		return nil
	}
	return r[0]
}

// private reports whether v is read only by the nodes in set (any number of
// times) and is not a graph output.
func (u *uses) private(v *Value, set ...*Node) bool {
	if v == nil || u.output[v] {
		return false
	}
	for _, r := range u.readers[v] {
		found := false
		for _, s := range set {
			if r == s {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
