package bundle

import (
	"bufio"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// Extra is a tensor stored in the table beside the graph's own: a golden
// input or output, or a weight pre-packed for a kernel family.
type Extra struct {
	// Name and Layout identify the tensor; together they must be unique in
	// the bundle. A packed variant of an initializer uses the initializer's
	// name.
	Name   string
	Layout string
	// Tensor holds the logical dtype and shape, and the bytes in Layout in
	// Raw (Strs for a plain string tensor). For a packed layout Raw may have
	// any length.
	Tensor *tensor.Tensor
}

// pending is a tensor planned for the data section.
type pending struct {
	info TensorInfo
	data []byte
}

// planner assigns table entries.
type planner struct {
	entries []pending
	keys    map[tableKey]int
	byPtr   map[*tensor.Tensor]int
}

// add plans tensor t under name and layout. With share set, a tensor
// already planned (the same pointer, plain) is stored once and shared.
func (p *planner) add(name, layout string, t *tensor.Tensor, share bool) (int, error) {
	if i, ok := p.byPtr[t]; ok && share && layout == PlainLayout {
		return i, nil
	}
	if t == nil {
		return 0, fmt.Errorf("tensor %q is nil", name)
	}
	k := tableKey{name, layout}
	if _, dup := p.keys[k]; dup {
		return 0, fmt.Errorf("two tensors named %q with layout %q", name, layout)
	}
	if !t.DType.Valid() {
		return 0, fmt.Errorf("tensor %q: unsupported dtype %v", name, t.DType)
	}
	if len(t.Shape) > maxRank {
		return 0, fmt.Errorf("tensor %q: rank %d above %d", name, len(t.Shape), maxRank)
	}
	for _, d := range t.Shape {
		if d < 0 || d > math.MaxInt32 {
			return 0, fmt.Errorf("tensor %q: dimension %d out of range", name, d)
		}
	}
	data := t.Raw
	if layout == PlainLayout {
		if err := t.Check(); err != nil {
			return 0, fmt.Errorf("tensor %q: %w", name, err)
		}
		if t.DType == tensor.String {
			data = appendStrings(nil, t.Strs)
		}
	}
	i := len(p.entries)
	p.entries = append(p.entries, pending{
		info: TensorInfo{Name: name, DType: t.DType, Shape: t.Shape.Clone(), Length: uint64(len(data)), Layout: layout},
		data: data,
	})
	p.keys[k] = i
	if layout == PlainLayout {
		p.byPtr[t] = i
	}
	return i, nil
}

func align(n uint64) uint64 { return (n + alignment - 1) &^ (alignment - 1) }

// Write writes a bundle of g, m and the extra tensors to w. It validates m
// against g, fills m's Ops from the graph in the copy it writes (m itself is
// not modified), checks that every golden tensor the manifest names is among
// the extras, and computes the content hash. The tensors' data is read
// twice (to hash, then to write) and never copied.
func Write(w io.Writer, g *graph.Graph, m *Manifest, extra ...Extra) error {
	if g == nil || m == nil {
		return errors.New("bundle: write needs a graph and a manifest")
	}
	mc := *m
	mc.Ops = OpsUsed(g)
	if err := mc.Validate(g); err != nil {
		return fmt.Errorf("bundle: invalid manifest: %w", err)
	}
	p := &planner{keys: map[tableKey]int{}, byPtr: map[*tensor.Tensor]int{}}
	graphBytes, err := encodeGraph(g, func(name string, t *tensor.Tensor) (int, error) {
		return p.add(name, PlainLayout, t, true)
	})
	if err != nil {
		return fmt.Errorf("bundle: encode graph: %w", err)
	}
	for _, e := range extra {
		if _, err := p.add(e.Name, e.Layout, e.Tensor, false); err != nil {
			return fmt.Errorf("bundle: extra tensor: %w", err)
		}
	}
	infos := make([]TensorInfo, len(p.entries))
	for i, e := range p.entries {
		infos[i] = e.info
	}
	if err := checkGolden(&mc, infos); err != nil {
		return err
	}
	manifestBytes, err := json.MarshalIndent(&mc, "", "  ")
	if err != nil {
		return fmt.Errorf("bundle: encode manifest: %w", err)
	}

	// Lay out: header, manifest, graph, table, then aligned data. The
	// table's offsets are relative to the data section, so its size does
	// not depend on where the data section starts.
	var h Header
	h.Version = FormatVersion
	var dataLen uint64
	for i := range p.entries {
		e := &p.entries[i]
		e.info.Offset = align(dataLen)
		dataLen = e.info.Offset + e.info.Length
	}
	for i := range infos {
		infos[i].Offset = p.entries[i].info.Offset
	}
	tableBytes := appendTable(nil, infos, 0)
	off := uint64(HeaderSize)
	for s, b := range [][]byte{manifestBytes, graphBytes, tableBytes} {
		h.Sections[s] = Span{off, uint64(len(b))}
		off += uint64(len(b))
	}
	dataOff := align(off)
	h.Sections[SectionData] = Span{dataOff, dataLen}
	h.Size = dataOff + dataLen

	emit := func(out io.Writer, hdr []byte) error {
		var pos uint64
		put := func(b []byte) error {
			_, err := out.Write(b)
			pos += uint64(len(b))
			return err
		}
		pad := func(to uint64) error {
			var zeros [alignment]byte
			if to < pos || to-pos > alignment {
				return fmt.Errorf("bundle: internal layout error at %d (want %d)", pos, to)
			}
			return put(zeros[:to-pos])
		}
		for _, b := range [][]byte{hdr, manifestBytes, graphBytes, tableBytes} {
			if err := put(b); err != nil {
				return err
			}
		}
		for _, e := range p.entries {
			if err := pad(dataOff + e.info.Offset); err != nil {
				return err
			}
			if err := put(e.data); err != nil {
				return err
			}
		}
		if err := pad(h.Size); err != nil {
			return err
		}
		if pos != h.Size {
			return fmt.Errorf("bundle: internal layout error: wrote %d bytes, planned %d", pos, h.Size)
		}
		return nil
	}
	hdr := make([]byte, HeaderSize)
	h.encode(hdr)
	hs := sha256.New()
	if err := emit(&skipHash{h: hs}, hdr); err != nil {
		return err
	}
	hs.Sum(h.SHA256[:0])
	h.encode(hdr)
	if err := emit(w, hdr); err != nil {
		return fmt.Errorf("bundle: write: %w", err)
	}
	return nil
}

// skipHash feeds a hash every byte written to it except those at the
// header's hash field, [offHash, offHash+hashLen) of the stream.
type skipHash struct {
	h   hash.Hash
	pos uint64
}

func (s *skipHash) Write(b []byte) (int, error) {
	n := len(b)
	start, end := s.pos, s.pos+uint64(n)
	s.pos = end
	if end <= offHash || start >= offHash+hashLen {
		return s.h.Write(b)
	}
	if start < offHash {
		s.h.Write(b[:offHash-start])
	}
	if end > offHash+hashLen {
		s.h.Write(b[offHash+hashLen-start:])
	}
	return n, nil
}

// checkGolden checks that the manifest's golden tensors are in the table.
func checkGolden(m *Manifest, infos []TensorInfo) error {
	if m.Golden == nil {
		return nil
	}
	plain := make(map[string]bool)
	for _, t := range infos {
		if t.Layout == PlainLayout {
			plain[t.Name] = true
		}
	}
	for _, r := range slices.Concat(m.Golden.Inputs, m.Golden.Outputs) {
		if !plain[r.Tensor] {
			return &ManifestError{Field: "golden", Reason: fmt.Sprintf("tensor %q for %q is not in the bundle", r.Tensor, r.Name)}
		}
	}
	return nil
}

// WriteFile writes a bundle to path atomically: to a temporary file in the
// same directory, synced, then renamed over path, and the directory synced,
// so a crash leaves either the old file or the new one.
func WriteFile(path string, g *graph.Graph, m *Manifest, extra ...Extra) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := Write(bw, g, m, extra...); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("bundle: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("bundle: sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("bundle: close %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() // best effort: not every platform can sync a directory
		d.Close()
	}
	return nil
}
