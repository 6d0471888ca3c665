package engine

import (
	"sort"
	"time"
)

// Profile is a session's time per node, accumulated over runs.
type Profile struct {
	m     *Model
	total []time.Duration // per node
	runs  int
}

func newProfile(m *Model) *Profile {
	return &Profile{m: m, total: make([]time.Duration, len(m.nodes))}
}

func (p *Profile) add(node int, d time.Duration) { p.total[node] += d }

// Profile returns the session's profile, or nil when Options.Profile was not
// set.
func (s *Session) Profile() *Profile { return s.prof }

// NodeTime is the mean time of one node per run.
type NodeTime struct {
	Node string
	Op   string
	Mean time.Duration
}

// OpTime is the mean time per run spent in one op type.
type OpTime struct {
	Op    string
	Count int // nodes of this op
	Mean  time.Duration
	Share float64 // of the total
}

// Runs is the number of runs profiled.
func (p *Profile) Runs() int { return p.runs }

// Reset clears the accumulated times.
func (p *Profile) Reset() {
	clear(p.total)
	p.runs = 0
}

// Nodes returns the mean time per node, slowest first.
func (p *Profile) Nodes() []NodeTime {
	out := make([]NodeTime, len(p.total))
	for i, d := range p.total {
		n := p.m.nodes[i].n
		out[i] = NodeTime{Node: n.String(), Op: n.Op, Mean: p.mean(d)}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Mean > out[j].Mean })
	return out
}

// Ops returns the mean time per op type, slowest first.
func (p *Profile) Ops() []OpTime {
	idx := map[string]int{}
	var out []OpTime
	var sum time.Duration
	for i, d := range p.total {
		op := p.m.nodes[i].n.Op
		j, ok := idx[op]
		if !ok {
			j = len(out)
			idx[op] = j
			out = append(out, OpTime{Op: op})
		}
		out[j].Count++
		out[j].Mean += d
		sum += d
	}
	for i := range out {
		if sum > 0 {
			out[i].Share = float64(out[i].Mean) / float64(sum)
		}
		out[i].Mean = p.mean(out[i].Mean)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Mean > out[j].Mean })
	return out
}

func (p *Profile) mean(d time.Duration) time.Duration {
	if p.runs == 0 {
		return 0
	}
	return d / time.Duration(p.runs)
}
