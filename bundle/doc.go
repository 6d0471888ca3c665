// Package bundle reads and writes Sextant's on-device model file, the .sxm
// bundle: a model graph, its weights and a manifest in one file that the
// device memory-maps and runs in place.
//
// # File layout
//
// All integers are little-endian. A bundle is
//
//	offset  size  field
//	0       8     magic "\x89SXM\r\n\x1a\n"
//	8       4     format version (FormatVersion)
//	12      4     flags (bits 0-15: features a reader must understand, none
//	              defined yet; bits 16-31: hints a reader may ignore)
//	16      4     header length (HeaderSize = 128)
//	20      4     reserved, zero
//	24      16    manifest section: offset, length (uint64 each)
//	40      16    graph section: offset, length
//	56      16    tensor table section: offset, length
//	72      16    tensor data section: offset, length
//	88      8     file size in bytes
//	96      32    SHA-256 over every byte of the file except these 32
//	128           sections: manifest, graph, table, then data at a
//	              64-byte aligned offset
//
// The manifest section is the JSON encoding of a Manifest. The graph and the
// tensor table are protocol-buffer wire format written with protowire under
// field numbers this package defines (see graphcodec.go and table.go); there
// is no .proto file because nothing else parses them. The data section holds
// every tensor's bytes, each at a 64-byte aligned offset (tensor.Alignment)
// from the section start, which is itself 64-byte aligned in the file, so a
// mapping of the file (page aligned) yields aligned weights.
//
// # Tensors and layouts
//
// The tensor table lists every stored tensor: the graph's initializers and
// folded constants, tensor-valued node attributes, and extra tensors such as
// the golden inputs and outputs of the self-test ("golden/in/<input>",
// "golden/out/<output>") and weights pre-packed for a kernel family. Each
// entry has a layout: "" is plain row-major data whose length matches its
// dtype and shape; any other string (e.g. "f32-panel-avx512-16") names a
// kernel-specific packing whose bytes this package stores and returns without
// interpreting. The graph's initializers always reference plain entries; a
// packed variant of a weight is an extra entry with the same name and its own
// layout (see Bundle.Tensor).
//
// # Opening
//
// Open maps the file read-only and builds the graph over the mapping: the
// initializers' Raw slices point into it, nothing is copied (string tensors,
// which are decoded into Go strings, are the exception). Open checks
// structure — section and tensor bounds, alignment, dtypes, lengths against
// shapes, counts — so a corrupt or hostile file yields a *FormatError, never
// a panic or an allocation larger than the file can back. It does not check
// the content hash, which would read every page; Verify and VerifyFile do, in
// one streaming pass, when a bundle is installed. The mapped file must not be
// modified or truncated while it is open (the device's model store writes a
// new file and renames it; see WriteFile).
package bundle
