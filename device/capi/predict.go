package main

/*
#define SEXTANT_TYPES_ONLY
#include "sextant.h"
*/
import "C"

import (
	"unsafe"

	"github.com/sextant-ml/sextant/tensor"
)

//export sextant_predict
func sextant_predict(m *C.sextant_model, inputs *C.sextant_input, nIn C.size_t, outputs *C.sextant_output, nOut C.size_t, err *C.char, errlen C.size_t) (rc C.int) {
	h := lookup(m)
	if h == nil {
		return report(fail(statusArgument, "sextant_predict: model is NULL"), err, errlen)
	}
	// Deferred first, so it runs last: after the handle's lock is released.
	defer func() {
		if rc == C.int(statusOK) {
			expose(h)
		}
	}()
	md := h.m
	if uint64(nIn) != uint64(len(md.inputs)) || (nIn > 0 && inputs == nil) {
		return report(fail(statusInput, "sextant_predict: got %d inputs, the model has %d", nIn, len(md.inputs)), err, errlen)
	}
	if uint64(nOut) != uint64(len(md.outputs)) || (nOut > 0 && outputs == nil) {
		return report(fail(statusInput, "sextant_predict: got %d outputs, the model has %d", nOut, len(md.outputs)), err, errlen)
	}
	ins := unsafe.Slice(inputs, int(nIn))
	outs := unsafe.Slice(outputs, int(nOut))

	md.mu.Lock()
	defer md.mu.Unlock()
	// Views of the caller's memory; the scratch slices are reused so a
	// steady-state call allocates nothing.
	data, shapes := md.scratch()
	defer clear(shapes)
	defer clear(data) // drop the views of the caller's memory
	for i, in := range ins {
		if in.rank > C.size_t(maxRank) || (in.rank > 0 && in.shape == nil) {
			return report(fail(statusInput, "sextant_predict: input %q: rank %d with shape %p", md.inputs[i].name, in.rank, in.shape), err, errlen)
		}
		shapes[i] = unsafe.Slice((*int64)(unsafe.Pointer(in.shape)), int(in.rank))
		n, e := elems(shapes[i])
		if e != nil {
			return report(fail(statusInput, "sextant_predict: input %q: %v", md.inputs[i].name, e), err, errlen)
		}
		if in.data == nil {
			return report(fail(statusArgument, "sextant_predict: input %q: data is NULL", md.inputs[i].name), err, errlen)
		}
		data[i] = unsafe.Slice((*float32)(unsafe.Pointer(in.data)), n)
	}
	res, e := md.run(data, shapes)
	if e != nil {
		return report(e, err, errlen)
	}
	var small error
	for i, t := range res {
		o := &outs[i]
		o.len = C.size_t(t.Len())
		o.rank = C.size_t(len(t.Shape))
		for j, d := range t.Shape {
			o.shape[j] = C.int64_t(d)
		}
		if small == nil && o.len > 0 && (o.len > o.capacity || o.data == nil) {
			small = fail(statusBufferTooSmall, "sextant_predict: output %q needs %d floats, the buffer holds %d", md.outputs[i].name, t.Len(), o.capacity)
		}
	}
	if small != nil {
		return report(small, err, errlen)
	}
	for i, t := range res {
		if n := t.Len(); n > 0 {
			copy(unsafe.Slice((*float32)(unsafe.Pointer(outs[i].data)), n), tensor.Data[float32](t))
		}
	}
	return C.int(statusOK)
}
