package graph

import (
	"container/heap"
	"errors"
	"fmt"
	"strings"
)

// ErrCycle is wrapped by the error Sort returns for a graph whose nodes
// depend on each other in a cycle.
var ErrCycle = errors.New("graph has a cycle")

// Sort orders g.Nodes topologically: every node comes after the producers of
// its inputs. The sort is stable: among the nodes that are ready, the one
// earliest in the current order goes first, so an already sorted graph is
// left as it is. A cycle is an error (wrapping ErrCycle) naming a node on it.
//
// Producers are found from the nodes' Outputs, not from Value.Producer, so a
// value whose Producer is stale does not mislead the sort.
func Sort(g *Graph) error {
	n := len(g.Nodes)
	producer := make(map[*Value]int, n)
	for i, nd := range g.Nodes {
		for _, v := range nd.Outputs {
			if v != nil {
				producer[v] = i
			}
		}
	}
	pending := make([]int, n) // inputs whose producer has not been placed
	succ := make([][]int, n)  // consumers of each node, one entry per edge
	for i, nd := range g.Nodes {
		for _, v := range nd.Inputs {
			if p, ok := producer[v]; ok && v != nil {
				pending[i]++
				succ[p] = append(succ[p], i)
			}
		}
	}
	ready := &intHeap{}
	for i := range n {
		if pending[i] == 0 {
			*ready = append(*ready, i)
		}
	}
	heap.Init(ready)
	order := make([]*Node, 0, n)
	for ready.Len() > 0 {
		i := heap.Pop(ready).(int)
		order = append(order, g.Nodes[i])
		for _, s := range succ[i] {
			pending[s]--
			if pending[s] == 0 {
				heap.Push(ready, s)
			}
		}
	}
	if len(order) < n {
		return cycleError(g.Nodes, producer, pending)
	}
	copy(g.Nodes, order)
	return nil
}

// cycleError walks back from an unplaced node through unplaced producers
// until a node repeats; that node is on a cycle.
func cycleError(nodes []*Node, producer map[*Value]int, pending []int) error {
	start := -1
	for i, p := range pending {
		if p > 0 {
			start = i
			break
		}
	}
	seen := map[int]int{} // node → position in path
	var path []int
	for i := start; ; {
		if at, ok := seen[i]; ok {
			names := make([]string, 0, len(path)-at+1)
			for _, j := range path[at:] {
				names = append(names, nodeLabel(nodes[j]))
			}
			names = append(names, nodeLabel(nodes[i]))
			return &NodeError{Node: nodes[i], Err: fmt.Errorf("%w: %s", ErrCycle, strings.Join(names, " <- "))}
		}
		seen[i] = len(path)
		path = append(path, i)
		next := -1
		for _, v := range nodes[i].Inputs {
			if p, ok := producer[v]; ok && v != nil && pending[p] > 0 {
				next = p
				break
			}
		}
		if next < 0 { // cannot happen: an unplaced node has an unplaced producer
			return &NodeError{Node: nodes[i], Err: ErrCycle}
		}
		i = next
	}
}

// nodeLabel is a short name for a node in a list.
func nodeLabel(n *Node) string {
	if n.Name != "" {
		return n.Name
	}
	if len(n.Outputs) > 0 && n.Outputs[0] != nil {
		return n.Op + "(" + n.Outputs[0].Name + ")"
	}
	return n.Op
}

// intHeap is a min-heap of node positions.
type intHeap []int

func (h intHeap) Len() int           { return len(h) }
func (h intHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h intHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *intHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *intHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
