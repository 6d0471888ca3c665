package eval

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/sextant-ml/sextant/dataset"
	"github.com/sextant-ml/sextant/tensor"
)

// MaxCategories bounds the distinct values of a column sliced without edges.
const MaxCategories = 64

// SliceSpec says how to cut a data set by one column. A column of strings,
// booleans or integers with no Edges is categorical: one slice per distinct
// value. A numeric column with Edges e_0 < … < e_{k−1} is binned into
// (−inf, e_0), [e_0, e_1), …, [e_{k−1}, +inf). The column "len(NAME)" is
// derived: the number of elements of the sequence column NAME that are not
// Pad (e.g. history length).
type SliceSpec struct {
	Column string    `yaml:"column" json:"column"`
	Edges  []float64 `yaml:"edges,omitempty" json:"edges,omitempty"`
	// Pad is the padding value len(NAME) skips; nil means -1.
	Pad *float64 `yaml:"pad,omitempty" json:"pad,omitempty"`
}

// ParseSliceSpec reads "COL" or "COL:E0,E1,…".
func ParseSliceSpec(s string) (SliceSpec, error) {
	col, edges, ok := strings.Cut(s, ":")
	spec := SliceSpec{Column: strings.TrimSpace(col)}
	if spec.Column == "" {
		return spec, fmt.Errorf("eval: slice %q names no column", s)
	}
	if ok {
		for _, e := range strings.Split(edges, ",") {
			x, err := strconv.ParseFloat(strings.TrimSpace(e), 64)
			if err != nil {
				return spec, fmt.Errorf("eval: slice %q: edge %q: %w", s, e, err)
			}
			spec.Edges = append(spec.Edges, x)
		}
	}
	return spec, spec.check()
}

func (s SliceSpec) check() error {
	for i := 1; i < len(s.Edges); i++ {
		if !(s.Edges[i] > s.Edges[i-1]) {
			return fmt.Errorf("eval: slice %s: edges must increase, got %v", s.Column, s.Edges)
		}
	}
	return nil
}

// String is the spec in flag form.
func (s SliceSpec) String() string {
	if len(s.Edges) == 0 {
		return s.Column
	}
	e := make([]string, len(s.Edges))
	for i, x := range s.Edges {
		e[i] = fmtNum(x)
	}
	return s.Column + ":" + strings.Join(e, ",")
}

// Slice is a subset of the examples.
type Slice struct {
	// Column is the column sliced by; empty for the whole data set.
	Column string
	// Value is the category or bin, e.g. "explorer" or "[6,12)"; "all"
	// for the whole data set.
	Value string
	// Index lists the examples, increasing.
	Index []int
}

// Key is "all" for the whole data set and "COLUMN=VALUE" otherwise.
func (s Slice) Key() string {
	if s.Column == "" {
		return "all"
	}
	return s.Column + "=" + s.Value
}

// All is the slice of every example.
func All(n int) Slice {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return Slice{Value: "all", Index: idx}
}

// Slices cuts d by spec; empty slices are left out.
func Slices(d *dataset.Dataset, spec SliceSpec) ([]Slice, error) {
	c, err := newSlicer(spec)
	if err != nil {
		return nil, err
	}
	if err := c.add(d, 0); err != nil {
		return nil, err
	}
	return c.slices(), nil
}

// slicer cuts a data set by one spec a chunk of rows at a time: Slices
// over the chunks in order is Slices over the whole.
type slicer struct {
	spec   SliceSpec
	groups map[string][]int
	order  []string           // keys in order of first appearance
	vals   map[string]float64 // categorical numbers: each key's value
	kind   string             // "strings", "edges" or "categories", from the first chunk
}

func newSlicer(spec SliceSpec) (*slicer, error) {
	if err := spec.check(); err != nil {
		return nil, err
	}
	return &slicer{spec: spec, groups: map[string][]int{}, vals: map[string]float64{}}, nil
}

// add cuts the chunk d, whose first row is row lo of the whole.
func (c *slicer) add(d *dataset.Dataset, lo int) error {
	spec := c.spec
	t, err := sliceColumn(d, spec)
	if err != nil {
		return err
	}
	if dataset.Width(t) != 1 {
		return fmt.Errorf("eval: slice column %q has %d values per example; want a scalar (or len(%s))", spec.Column, dataset.Width(t), spec.Column)
	}
	add := func(key string, i int) {
		if _, ok := c.groups[key]; !ok {
			c.order = append(c.order, key)
		}
		c.groups[key] = append(c.groups[key], lo+i)
	}
	kind := "categories"
	switch {
	case t.DType == tensor.String:
		kind = "strings"
	case len(spec.Edges) > 0:
		kind = "edges"
	}
	if c.kind != "" && c.kind != kind {
		return fmt.Errorf("eval: slice column %q changes type between rows", spec.Column)
	}
	c.kind = kind
	switch kind {
	case "strings":
		if len(spec.Edges) > 0 {
			return fmt.Errorf("eval: slice column %q holds strings; edges apply to numbers", spec.Column)
		}
		for i, s := range t.Strs {
			add(s, i)
		}
	case "edges":
		e := spec.Edges
		for i := range d.N {
			x := t.Float64At(i)
			if math.IsNaN(x) {
				add("NaN", i)
				continue
			}
			b := sort.Search(len(e), func(j int) bool { return e[j] > x }) // bins below x's
			add(binLabel(e, b), i)
		}
	default:
		for i := range d.N {
			x := t.Float64At(i)
			k := fmtNum(x)
			c.vals[k] = x
			add(k, i)
			if len(c.groups) > MaxCategories {
				return fmt.Errorf("eval: slice column %q has more than %d distinct values; give bin edges (%s:E0,E1,…)", spec.Column, MaxCategories, spec.Column)
			}
		}
	}
	return nil
}

// slices returns the non-empty slices, sorted by value.
func (c *slicer) slices() []Slice {
	order := c.order
	switch c.kind {
	case "strings":
		sort.Strings(order)
	case "edges":
		e := c.spec.Edges
		sort.Slice(order, func(a, b int) bool { return binRank(e, order[a]) < binRank(e, order[b]) })
	default:
		sort.Slice(order, func(a, b int) bool { return c.vals[order[a]] < c.vals[order[b]] })
	}
	out := make([]Slice, len(order))
	for i, k := range order {
		out[i] = Slice{Column: c.spec.Column, Value: k, Index: c.groups[k]}
	}
	return out
}

// sliceColumn returns the column spec names, deriving len(NAME).
func sliceColumn(d *dataset.Dataset, spec SliceSpec) (*tensor.Tensor, error) {
	name := spec.Column
	if inner, ok := strings.CutPrefix(name, "len("); ok && strings.HasSuffix(inner, ")") {
		inner = strings.TrimSuffix(inner, ")")
		src, ok := d.Column(inner)
		if !ok {
			return nil, fmt.Errorf("eval: slice %s: no column %q", name, inner)
		}
		if src.DType == tensor.String {
			return nil, fmt.Errorf("eval: slice %s: column %q holds strings", name, inner)
		}
		pad := -1.0
		if spec.Pad != nil {
			pad = *spec.Pad
		}
		w := dataset.Width(src)
		out := tensor.New(tensor.Int64, d.N)
		o := tensor.Data[int64](out)
		for i := range d.N {
			for j := range w {
				if src.Float64At(i*w+j) != pad {
					o[i]++
				}
			}
		}
		return out, nil
	}
	t, ok := d.Column(name)
	if !ok {
		return nil, fmt.Errorf("eval: no slice column %q (columns: %v)", name, d.Columns())
	}
	return t, nil
}

// binLabel names bin b of edges e: b = 0 is below e[0], b = len(e) is at or
// above the last edge.
func binLabel(e []float64, b int) string {
	switch {
	case b == 0:
		return "(-inf," + fmtNum(e[0]) + ")"
	case b == len(e):
		return "[" + fmtNum(e[b-1]) + ",inf)"
	}
	return "[" + fmtNum(e[b-1]) + "," + fmtNum(e[b]) + ")"
}

func binRank(e []float64, label string) int {
	for b := 0; b <= len(e); b++ {
		if binLabel(e, b) == label {
			return b
		}
	}
	return len(e) + 1 // NaN last
}

// fmtNum prints a number briefly: integers without a point.
func fmtNum(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
