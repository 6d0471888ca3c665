package main

/*
#include <stdlib.h>
#define SEXTANT_TYPES_ONLY
#include "sextant.h"

struct sextant_model {
	uintptr_t handle;
};
*/
import "C"

import (
	"runtime/cgo"
	"unsafe"
)

// handle is what a sextant_model refers to: the model and the C strings the
// introspection calls return, freed by sextant_close.
type handle struct {
	m                 *model
	name, version     *C.char
	inNames, outNames []*C.char
}

// statusStrings are sextant_status_string's results, allocated once.
var statusStrings = func() map[status]*C.char {
	s := make(map[status]*C.char, len(statusText))
	for k, v := range statusText {
		s[k] = C.CString(v)
	}
	return s
}()

var unknownStatus = C.CString("unknown status")

// lookup returns the handle behind m, nil for NULL.
func lookup(m *C.sextant_model) *handle {
	if m == nil {
		return nil
	}
	return cgo.Handle(m.handle).Value().(*handle)
}

// writeErr writes msg, truncated and NUL-terminated, to the caller's buffer.
func writeErr(buf *C.char, n C.size_t, msg string) {
	if buf == nil || n == 0 {
		return
	}
	dst := unsafe.Slice((*byte)(unsafe.Pointer(buf)), int(n))
	k := copy(dst[:len(dst)-1], msg)
	dst[k] = 0
}

// report writes err's message and returns its status.
func report(err error, buf *C.char, n C.size_t) C.int {
	if err == nil {
		return C.int(statusOK)
	}
	writeErr(buf, n, err.Error())
	return C.int(codeOf(err))
}

//export sextant_status_string
func sextant_status_string(code C.int) *C.char {
	if s, ok := statusStrings[status(code)]; ok {
		return s
	}
	return unknownStatus
}

//export sextant_open
func sextant_open(path *C.char, out **C.sextant_model, err *C.char, errlen C.size_t) C.int {
	if out == nil {
		return report(fail(statusArgument, "sextant_open: out is NULL"), err, errlen)
	}
	*out = nil
	if path == nil {
		return report(fail(statusArgument, "sextant_open: path is NULL"), err, errlen)
	}
	m, e := openModel(C.GoString(path))
	if e != nil {
		return report(e, err, errlen)
	}
	h := &handle{m: m, name: C.CString(m.name), version: C.CString(m.version)}
	for _, p := range m.inputs {
		h.inNames = append(h.inNames, C.CString(p.name))
	}
	for _, p := range m.outputs {
		h.outNames = append(h.outNames, C.CString(p.name))
	}
	c := (*C.sextant_model)(C.malloc(C.size_t(unsafe.Sizeof(C.sextant_model{}))))
	c.handle = C.uintptr_t(cgo.NewHandle(h))
	*out = c
	return C.int(statusOK)
}

//export sextant_close
func sextant_close(m *C.sextant_model) {
	h := lookup(m)
	if h == nil {
		return
	}
	cgo.Handle(m.handle).Delete()
	C.free(unsafe.Pointer(m))
	h.m.close()
	C.free(unsafe.Pointer(h.name))
	C.free(unsafe.Pointer(h.version))
	for _, s := range append(h.inNames, h.outNames...) {
		C.free(unsafe.Pointer(s))
	}
}

//export sextant_model_name
func sextant_model_name(m *C.sextant_model) *C.char {
	if h := lookup(m); h != nil {
		return h.name
	}
	return nil
}

//export sextant_model_version
func sextant_model_version(m *C.sextant_model) *C.char {
	if h := lookup(m); h != nil {
		return h.version
	}
	return nil
}

//export sextant_input_count
func sextant_input_count(m *C.sextant_model) C.size_t {
	if h := lookup(m); h != nil {
		return C.size_t(len(h.m.inputs))
	}
	return 0
}

//export sextant_output_count
func sextant_output_count(m *C.sextant_model) C.size_t {
	if h := lookup(m); h != nil {
		return C.size_t(len(h.m.outputs))
	}
	return 0
}

//export sextant_input_name
func sextant_input_name(m *C.sextant_model, i C.size_t) *C.char {
	if h := lookup(m); h != nil && uint64(i) < uint64(len(h.inNames)) {
		return h.inNames[i]
	}
	return nil
}

//export sextant_output_name
func sextant_output_name(m *C.sextant_model, i C.size_t) *C.char {
	if h := lookup(m); h != nil && uint64(i) < uint64(len(h.outNames)) {
		return h.outNames[i]
	}
	return nil
}

//export sextant_input_dtype
func sextant_input_dtype(m *C.sextant_model, i C.size_t) C.int {
	if p := portAt(m, i, true); p != nil {
		return C.int(p.dtype)
	}
	return 0
}

//export sextant_output_dtype
func sextant_output_dtype(m *C.sextant_model, i C.size_t) C.int {
	if p := portAt(m, i, false); p != nil {
		return C.int(p.dtype)
	}
	return 0
}

//export sextant_input_shape
func sextant_input_shape(m *C.sextant_model, i C.size_t, dims *C.int64_t, capacity C.size_t, rank *C.size_t) C.int {
	return shapeOf(portAt(m, i, true), dims, capacity, rank)
}

//export sextant_output_shape
func sextant_output_shape(m *C.sextant_model, i C.size_t, dims *C.int64_t, capacity C.size_t, rank *C.size_t) C.int {
	return shapeOf(portAt(m, i, false), dims, capacity, rank)
}

// portAt returns input (or output) i of m, nil when m is NULL or i is out
// of range.
func portAt(m *C.sextant_model, i C.size_t, input bool) *port {
	h := lookup(m)
	if h == nil {
		return nil
	}
	ps := h.m.outputs
	if input {
		ps = h.m.inputs
	}
	if uint64(i) >= uint64(len(ps)) {
		return nil
	}
	return &ps[i]
}

// shapeOf writes p's declared shape to dims and its rank to *rank.
func shapeOf(p *port, dims *C.int64_t, capacity C.size_t, rank *C.size_t) C.int {
	if p == nil || rank == nil || (dims == nil && capacity > 0) {
		return C.int(statusArgument)
	}
	if p.shape == nil {
		*rank = 0
		return C.int(statusInput)
	}
	*rank = C.size_t(len(p.shape))
	if uint64(len(p.shape)) > uint64(capacity) {
		return C.int(statusBufferTooSmall)
	}
	if len(p.shape) > 0 {
		copy(unsafe.Slice((*int64)(unsafe.Pointer(dims)), len(p.shape)), p.shape)
	}
	return C.int(statusOK)
}
