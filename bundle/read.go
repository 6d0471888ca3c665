package bundle

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// Bundle is an open .sxm file. Its graph's initializers are read-only views
// of the file's memory: they stay valid until Close, and writing to them
// faults. A Bundle is safe for concurrent reads.
type Bundle struct {
	// Header is the decoded file header.
	Header Header
	// Manifest is the decoded manifest. Callers may read it; changing it
	// does not change the file.
	Manifest *Manifest
	// Graph is the model, with initializers over the file's memory.
	Graph *graph.Graph

	infos   []TensorInfo
	index   map[tableKey]int // (name, layout) → position in infos
	tensors []*tensor.Tensor // parallel to infos
	inGraph []bool           // parallel to infos: referenced by the graph
	data    []byte           // the whole file

	closeOnce sync.Once
	unmap     func() error
}

// Open memory-maps the bundle at path read-only and decodes it without
// copying weights. It checks the file's structure but not its content hash
// (see VerifyFile). On platforms without mmap the file is read into aligned
// memory instead.
func Open(path string) (*Bundle, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	size := st.Size()
	if size < HeaderSize {
		return nil, formatErr(inHeader, nil, "file %s is %d bytes, shorter than the %d-byte header", path, size, HeaderSize)
	}
	if int64(int(size)) != size {
		return nil, formatErr(inHeader, nil, "file %s of %d bytes does not fit in memory", path, size)
	}
	data, unmap, err := mapFile(f, int(size))
	if err != nil {
		return nil, fmt.Errorf("bundle: map %s: %w", path, err)
	}
	b, err := open(data)
	if err != nil {
		unmap()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	b.unmap = unmap
	return b, nil
}

// OpenBytes decodes a bundle held in memory, as Open does a mapped file. The
// tensors alias b when b's first byte is tensor.Alignment-aligned (as
// tensor.AlignedBytes and mmap give); otherwise b is copied once into
// aligned memory. The caller must not modify b while the bundle is in use.
func OpenBytes(b []byte) (*Bundle, error) {
	if !tensor.IsAligned(b, alignment) {
		c := tensor.AlignedBytes(len(b))
		copy(c, b)
		b = c
	}
	return open(b)
}

func open(data []byte) (*Bundle, error) {
	h, err := parseHeader(data)
	if err != nil {
		return nil, err
	}
	if h.Size != uint64(len(data)) {
		return nil, formatErr(inHeader, nil, "file is %d bytes, header says %d (truncated or extended)", len(data), h.Size)
	}
	b := &Bundle{Header: h, data: data}
	b.infos, b.index, err = parseTable(h.slice(data, SectionTable), h.Sections[SectionData])
	if err != nil {
		return nil, err
	}
	b.tensors = make([]*tensor.Tensor, len(b.infos))
	// String tensors are decoded into the heap; entries may overlap, so cap
	// their total at the data section's size, or a file could make Open
	// decode the same bytes once per entry.
	strBudget := h.Sections[SectionData].Length
	for i, in := range b.infos {
		t := &tensor.Tensor{DType: in.DType, Shape: in.Shape}
		raw := data[in.Offset : in.Offset+in.Length : in.Offset+in.Length]
		if in.DType == tensor.String && in.Layout == PlainLayout {
			if in.Length > strBudget {
				return nil, formatErr(SectionTable, nil, "string tensors total more bytes than the data section holds")
			}
			strBudget -= in.Length
			t.Strs, err = parseStrings(raw, in.Shape.NumElements())
			if err != nil {
				return nil, formatErr(SectionData, err, "string tensor %q", in.Name)
			}
		} else {
			t.Raw = raw
		}
		b.tensors[i] = t
	}
	plain := make([]*tensor.Tensor, len(b.tensors))
	for i, in := range b.infos {
		if in.Layout == PlainLayout {
			plain[i] = b.tensors[i]
		}
	}
	b.Graph, err = decodeGraph(h.slice(data, SectionGraph), b.infos, plain)
	if err != nil {
		return nil, err
	}
	b.markGraphTensors()
	b.attachLayouts()
	m := &Manifest{}
	if err := json.Unmarshal(h.slice(data, SectionManifest), m); err != nil {
		return nil, formatErr(SectionManifest, err, "bad JSON")
	}
	if err := m.Validate(b.Graph); err != nil {
		return nil, formatErr(SectionManifest, err, "invalid manifest")
	}
	if err := checkGolden(m, b.infos); err != nil {
		return nil, formatErr(SectionManifest, err, "invalid manifest")
	}
	b.Manifest = m
	return b, nil
}

// attachLayouts gives each initializer the packed variants the table holds
// for it (entries with the initializer's name and a non-plain layout), so
// kernels can use them in place.
func (b *Bundle) attachLayouts() {
	byName := make(map[string]*graph.Value, len(b.Graph.Initializers))
	for _, v := range b.Graph.Initializers {
		byName[v.Name] = v
	}
	for i, in := range b.infos {
		v, ok := byName[in.Name]
		if !ok || in.Layout == PlainLayout || b.inGraph[i] {
			continue
		}
		if v.Layouts == nil {
			v.Layouts = map[string]*tensor.Tensor{}
		}
		v.Layouts[in.Layout] = b.tensors[i]
	}
}

func (b *Bundle) markGraphTensors() {
	index := make(map[*tensor.Tensor]int, len(b.tensors))
	for i, t := range b.tensors {
		index[t] = i
	}
	b.inGraph = make([]bool, len(b.tensors))
	mark := func(t *tensor.Tensor) {
		if i, ok := index[t]; ok && t != nil {
			b.inGraph[i] = true
		}
	}
	g := b.Graph
	for _, v := range g.Initializers {
		mark(v.Const)
	}
	for _, n := range g.Nodes {
		for _, v := range n.Inputs {
			if v != nil {
				mark(v.Const)
			}
		}
		for _, v := range n.Outputs {
			if v != nil {
				mark(v.Const)
			}
		}
		for _, a := range n.Attrs {
			mark(a.Tensor)
		}
	}
	for _, v := range g.Inputs {
		mark(v.Const)
	}
	for _, v := range g.Outputs {
		mark(v.Const)
	}
}

// Close releases the file's memory. The graph's tensors must not be used
// afterwards. Close is idempotent.
func (b *Bundle) Close() error {
	var err error
	b.closeOnce.Do(func() {
		if b.unmap != nil {
			err = b.unmap()
		}
	})
	return err
}

// Size is the file's length in bytes.
func (b *Bundle) Size() int64 { return int64(len(b.data)) }

// Tensors describes every entry of the tensor table, in file order. The
// slice is shared; do not modify it.
func (b *Bundle) Tensors() []TensorInfo { return b.infos }

// Tensor returns the stored tensor with the given name and layout, e.g.
// (weight name, "f32-panel-avx512-16") for a pre-packed variant, or
// ("golden/in/x", "") for a golden input. Its Raw aliases the file. For a
// layout other than PlainLayout, Raw holds the packed bytes and DType and
// Shape the logical tensor, so Check does not apply.
func (b *Bundle) Tensor(name, layout string) (*tensor.Tensor, bool) {
	i, ok := b.index[tableKey{name, layout}]
	if !ok {
		return nil, false
	}
	return b.tensors[i], true
}

// Layouts returns the layouts in which the tensor name is stored.
func (b *Bundle) Layouts(name string) []string {
	var ls []string
	for _, in := range b.infos {
		if in.Name == name {
			ls = append(ls, in.Layout)
		}
	}
	return ls
}

// Extras returns the table's tensors that the graph does not reference
// (golden tensors, packed variants, tensors of unknown purpose), so that
// Write(w, b.Graph, b.Manifest, b.Extras()...) rewrites the bundle whole.
func (b *Bundle) Extras() []Extra {
	var out []Extra
	for i, in := range b.infos {
		if !b.inGraph[i] {
			out = append(out, Extra{Name: in.Name, Layout: in.Layout, Tensor: b.tensors[i]})
		}
	}
	return out
}

// Verify checks the content hash over the bundle's bytes. It reads every
// page of the file.
func (b *Bundle) Verify() error {
	return verifyBytes(b.data, b.Header)
}
